//! The listeners: the public API (TLS, or plain behind a terminating proxy) and the admin API
//! (plain, loopback unless a token is set), served until shutdown.

use crate::config::ApiConfig;
use crate::{Services, Surface};
use anyhow::Context;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The sockets the gateway serves.
pub struct Listeners {
    pub api: TcpListener,
    /// `None` serves no admin API (tests that do not need it).
    pub admin: Option<TcpListener>,
    /// `None` serves the public API in plain HTTP.
    pub tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field("api", &self.api)
            .field("admin", &self.admin)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Listeners {
    /// Binds what the config says and prepares TLS.
    pub async fn bind(config: &ApiConfig) -> anyhow::Result<Self> {
        if config.admin_token.is_none() && !config.admin_listen.ip().is_loopback() {
            anyhow::bail!(
                "api.admin_listen {} is not loopback: set api.admin_token",
                config.admin_listen
            );
        }
        let api = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let admin = TcpListener::bind(config.admin_listen)
            .await
            .with_context(|| format!("binding {}", config.admin_listen))?;
        let tls = if config.plain_http {
            None
        } else {
            Some(tls::acceptor(config)?)
        };
        Ok(Self {
            api,
            admin: Some(admin),
            tls,
        })
    }
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listeners: Listeners,
    gateway: Services,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let Listeners { api, admin, tls } = listeners;
    tokio::pin!(shutdown);
    loop {
        let (stream, surface) = tokio::select! {
            accepted = api.accept() => (accepted, Surface::Public),
            accepted = accept(admin.as_ref()) => (accepted, Surface::Admin),
            () = &mut shutdown => break,
        };
        let stream = match stream {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let gateway = gateway.clone();
        let service = hyper::service::service_fn(move |req| {
            let gateway = gateway.clone();
            async move { Ok::<_, std::convert::Infallible>(crate::route(&gateway, surface, req).await) }
        });
        let builder = hyper::server::conn::http1::Builder::new();
        match (&tls, surface) {
            (Some(acceptor), Surface::Public) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls_stream)) => {
                            let connection =
                                builder.serve_connection(TokioIo::new(tls_stream), service);
                            if let Err(e) = watcher.watch(connection).await {
                                tracing::debug!(error = %e, "connection ended with an error");
                            }
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
            _ => {
                let connection =
                    graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
    graceful.shutdown().await;
    Ok(())
}

async fn accept(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

mod tls {
    use crate::config::ApiConfig;
    use anyhow::Context;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use std::sync::Arc;
    use tokio_rustls::TlsAcceptor;

    /// The configured certificate, or a self-signed development certificate for
    /// localhost/127.0.0.1 whose PEM is written to `dev_cert_out` for clients to trust.
    pub(super) fn acceptor(config: &ApiConfig) -> anyhow::Result<TlsAcceptor> {
        let (chain, key) = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => (
                CertificateDer::pem_file_iter(cert)
                    .with_context(|| format!("reading {}", cert.display()))?
                    .collect::<Result<Vec<_>, _>>()?,
                PrivateKeyDer::from_pem_file(key)
                    .with_context(|| format!("reading {}", key.display()))?,
            ),
            (None, None) => {
                let generated = rcgen::generate_simple_self_signed(vec![
                    "localhost".into(),
                    "127.0.0.1".into(),
                ])?;
                if let Some(out) = &config.dev_cert_out {
                    if let Some(dir) = out.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    std::fs::write(out, generated.cert.pem())
                        .with_context(|| format!("writing {}", out.display()))?;
                    tracing::warn!(cert = %out.display(), "serving TLS with a generated development certificate");
                }
                let key = PrivateKeyDer::try_from(generated.signing_key.serialize_der())
                    .map_err(|e| anyhow::anyhow!("development key: {e}"))?;
                (vec![generated.cert.der().clone()], key)
            }
            _ => anyhow::bail!("api.tls_cert and api.tls_key go together"),
        };
        let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(server)))
    }
}
