//! The listeners: the public API (TLS, or plain behind a terminating proxy) and the admin API
//! (plain, loopback unless a token is set), served until shutdown. hyper drives each
//! connection with the listener's axum router as its service; the header read time, the TLS
//! handshake and the connections per listener are bounded here, the body and the request in
//! the routers' shared layers (DESIGN.md "Trust").

use crate::auth::ClientCertificate;
use crate::config::ApiConfig;
use crate::{Services, Surface};
use anyhow::Context;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

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

/// Longest a client may take to send a request's headers (slow-loris); hyper closes the
/// connection after it.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a TLS handshake may take.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections per listener; at the cap the listener stops accepting (the kernel's
/// backlog queues the rest) until one closes.
pub const MAX_CONNECTIONS: usize = 4096;

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listeners: Listeners,
    gateway: Services,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (public, admin_router) = crate::routes::routers(&gateway);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let Listeners { api, admin, tls } = listeners;
    let (api_slots, admin_slots) = (slots(), slots());
    let mut backoff = Backoff::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = accept(Some(&api), &api_slots) => (accepted, Surface::Public),
            accepted = accept(admin.as_ref(), &admin_slots) => (accepted, Surface::Admin),
            () = &mut shutdown => break,
        };
        let (stream, slot, surface) = match accepted {
            (Ok((stream, slot)), surface) => {
                backoff.reset();
                (stream, slot, surface)
            }
            // Out of file descriptors, or a connection reset before it was taken: retrying at
            // once would spin on the same error.
            (Err(e), _) => {
                let pause = backoff.next();
                tracing::warn!(error = %e, pause_ms = pause.as_millis() as u64, "accept failed");
                tokio::select! {
                    () = tokio::time::sleep(pause) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let router = match surface {
            Surface::Public => public.clone(),
            Surface::Admin => admin_router.clone(),
        };
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        match (&tls, surface) {
            (Some(acceptor), Surface::Public) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let _slot = slot;
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls_stream)) => {
                            // mTLS (ADR 0014): the client's verified certificate goes with
                            // every request of the connection; the auth layer judges it.
                            let certificate = tls_stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|chain| chain.first())
                                .map(|c| ClientCertificate(c.clone().into_owned()));
                            let service = TowerToHyperService::new(router.map_request(
                                move |mut req: axum::http::Request<hyper::body::Incoming>| {
                                    if let Some(c) = &certificate {
                                        req.extensions_mut().insert(c.clone());
                                    }
                                    req
                                },
                            ));
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
                let service = TowerToHyperService::new(router);
                let connection =
                    graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _slot = slot;
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

fn slots() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(MAX_CONNECTIONS))
}

/// A free connection slot, then the next connection; pending forever without a listener.
async fn accept(
    listener: Option<&TcpListener>,
    slots: &Arc<Semaphore>,
) -> std::io::Result<(TcpStream, OwnedSemaphorePermit)> {
    let Some(listener) = listener else {
        return std::future::pending().await;
    };
    let slot = slots
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    let (stream, _) = listener.accept().await?;
    Ok((stream, slot))
}

/// The pause after a failed accept: 10 ms, doubling to 100 ms while accepts keep failing.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_millis(100);

    fn next(&mut self) -> Duration {
        let pause = Self::FIRST.saturating_mul(1 << self.failures.min(16));
        self.failures += 1;
        pause.min(Self::MAX)
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_back_off_up_to_a_cap() {
        let mut backoff = Backoff::default();
        let pauses: Vec<u64> = (0..6).map(|_| backoff.next().as_millis() as u64).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 100, 100]);
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_millis(10));
    }
}

mod tls {
    use crate::config::ApiConfig;
    use anyhow::Context;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use std::path::Path;
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
            (None, None) => development_certificate(config.dev_cert_out.as_deref())?,
            _ => anyhow::bail!("api.tls_cert and api.tls_key go together"),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let client_ca = config.auth.as_ref().and_then(|a| a.client_ca_file.as_ref());
        let builder = match client_ca {
            // mTLS for system-to-system callers (ADR 0014): asked for, not required; a
            // certificate that does not chain to the bundle fails the handshake.
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(ca)
                    .with_context(|| format!("reading {}", ca.display()))?
                {
                    roots.add(cert?)?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .allow_unauthenticated()
                .build()?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut server = builder.with_single_cert(chain, key)?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(server)))
    }

    /// The development certificate at `out` with its key beside it (`.key`, mode 0600), made
    /// on first start and served again on every later one, so a client that trusts it keeps
    /// trusting it across restarts. Without `out`, a new one each start, written nowhere.
    fn development_certificate(
        out: Option<&Path>,
    ) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        if let Some(out) = out {
            let key_path = out.with_extension("key");
            if out.exists() && key_path.exists() {
                let chain = CertificateDer::pem_file_iter(out)
                    .with_context(|| format!("reading {}", out.display()))?
                    .collect::<Result<Vec<_>, _>>()?;
                let key = PrivateKeyDer::from_pem_file(&key_path)
                    .with_context(|| format!("reading {}", key_path.display()))?;
                tracing::warn!(cert = %out.display(), "serving TLS with the development certificate");
                return Ok((chain, key));
            }
        }
        let generated =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
        if let Some(out) = out {
            if let Some(dir) = out.parent() {
                std::fs::create_dir_all(dir)?;
            }
            crate::auth::dev::write_private(
                &out.with_extension("key"),
                generated.signing_key.serialize_pem().as_bytes(),
            )?;
            std::fs::write(out, generated.cert.pem())
                .with_context(|| format!("writing {}", out.display()))?;
            tracing::warn!(cert = %out.display(), "serving TLS with a new development certificate");
        }
        let key = PrivateKeyDer::try_from(generated.signing_key.serialize_der())
            .map_err(|e| anyhow::anyhow!("development key: {e}"))?;
        Ok((vec![generated.cert.der().clone()], key))
    }
}
