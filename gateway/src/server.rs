//! The gateway process: builds the host, the catalogue and the pipeline from the config,
//! and serves the public API (TLS) and the admin API (plain, loopback). Testable by
//! construction: `run(listeners, gateway, shutdown)`.

use crate::adapters::Catalogue;
use crate::api::{self, Surface};
use crate::config::{ApiConfig, Config};
use crate::domain::clock::{Calendar, SharedClock, SystemClock};
use crate::egress::Egress;
use crate::host::{AdapterHost, HostSettings};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use anyhow::Context;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Everything a request needs, built once per process.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub host: Arc<AdapterHost>,
    pub catalogue: Arc<Catalogue>,
    pub pipeline: Arc<Pipeline>,
    pub metrics: Arc<Metrics>,
    /// Idempotency-Key → (SHA-256 of the body, verification id), for a day.
    pub idempotency: moka::sync::Cache<String, ([u8; 32], String)>,
    pub admin_token: Option<String>,
    /// The database: bookings and the audit log.
    pub store: Arc<crate::store::Store>,
    pub audit: crate::audit::AuditLog,
    /// The booking engine (issue 5); `None` when `booking.enabled = false`.
    pub booking: Option<Arc<crate::booking::BookingEngine>>,
}

impl Gateway {
    /// Builds the engine, the egress, the catalogue and the pipeline, and loads the adapters
    /// and rules. Refused packages are logged; the gateway starts with what loaded.
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        Self::start_with(config, StartOptions::default()).await
    }

    /// As [`Gateway::start`], with settings that are code, not configuration.
    pub async fn start_with(config: &Config, options: StartOptions) -> anyhow::Result<Self> {
        let egress = Arc::new(Egress::new(&config.egress)?);
        let clock = options.clock;
        let host = Arc::new(AdapterHost::new(
            HostSettings::from_config(config, clock.clone()),
            egress,
        )?);
        let catalogue = Arc::new(Catalogue::new(host.clone(), &config.adapters)?);
        let report = catalogue.reload().await?;
        tracing::info!(%report, "adapters loaded");
        let store = Arc::new(crate::store::Store::open(&config.store).await?);
        let audit = crate::audit::AuditLog::start(store.clone(), clock.clone());
        let metrics = Arc::new(Metrics::default());
        // One checkpoint catalogue for verification and booking: both judge dates on a
        // checkpoint's local calendar.
        let checkpoints = Arc::new(crate::checkpoints::Catalogue::open(
            config.booking.checkpoints.as_deref(),
        )?);
        let calendar = Arc::new(Calendar::new(
            clock.clone(),
            checkpoints
                .checkpoints
                .values()
                .map(|cp| (cp.code.clone(), cp.offset())),
            config.booking.horizon_days,
        ));
        let pipeline = Arc::new(
            Pipeline::with(
                catalogue.clone(),
                host.clone(),
                metrics.clone(),
                options.upstream,
                calendar,
            )
            .with_audit(Some(audit.clone())),
        );
        let admin_token = config
            .api
            .admin_token
            .as_ref()
            .map(|s| s.resolve())
            .transpose()?;
        // The booking engine verifies through this pipeline before it holds a slot (P20).
        let booking =
            crate::booking::start(config, checkpoints, store.clone(), pipeline.clone(), clock)
                .await?;
        Ok(Self {
            host,
            catalogue,
            pipeline,
            metrics,
            idempotency: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(Duration::from_secs(24 * 3600))
                .build(),
            booking,
            store,
            audit,
            admin_token,
        })
    }
}

/// What [`Gateway::start_with`] takes besides the config.
pub struct StartOptions {
    /// The one clock of this gateway (verification, booking, audit, sandbox); tests pin it.
    pub clock: SharedClock,
    pub upstream: crate::pipeline::upstream::UpstreamSettings,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            upstream: Default::default(),
        }
    }
}

impl std::fmt::Debug for StartOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartOptions")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

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
pub async fn run(
    listeners: Listeners,
    gateway: Gateway,
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
            async move { Ok::<_, std::convert::Infallible>(api::route(&gateway, surface, req).await) }
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
