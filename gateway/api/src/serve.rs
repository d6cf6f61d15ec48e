//! The listeners: the public API (TLS, or plain behind a terminating proxy), the admin API
//! (plain, loopback unless a token is set) and, when devices push, the device push listener
//! (plain; each connection's peer address goes with its requests), served until shutdown. hyper drives each
//! connection with the listener's axum router as its service; the header read time, the TLS
//! handshake and the connections per listener are bounded here, the body and the request in
//! the routers' shared layers (DESIGN.md "Trust").

use crate::auth::ClientCertificate;
use crate::config::ApiConfig;
use crate::lanes::PeerIp;
use crate::{Services, Surface};
use anyhow::Context;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::IpAddr;
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
    /// The device push listener (`devices.push_listen`); `None` when no device pushes.
    pub device_push: Option<TcpListener>,
    /// `None` serves the public API in plain HTTP.
    pub tls: Option<TlsAcceptor>,
    /// Connections one peer address may hold open on a listener (`api.max_connections_per_peer`).
    pub per_peer: usize,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field("api", &self.api)
            .field("admin", &self.admin)
            .field("device_push", &self.device_push)
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
            device_push: None,
            tls,
            per_peer: config.max_connections_per_peer,
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
    let routers = crate::routes::routers(&gateway);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let Listeners {
        api,
        admin,
        device_push,
        tls,
        per_peer,
    } = listeners;
    let (api_slots, admin_slots) = (Slots::new(per_peer), Slots::new(per_peer));
    let push_slots = Slots::new(per_peer);
    let mut backoff = Backoff::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = accept(Some(&api), &api_slots) => (accepted, Surface::Public),
            accepted = accept(admin.as_ref(), &admin_slots) => (accepted, Surface::Admin),
            accepted = accept(device_push.as_ref(), &push_slots) => (accepted, Surface::DevicePush),
            () = &mut shutdown => break,
        };
        let (stream, slot, surface) = match accepted {
            (Ok((stream, slot)), surface) => {
                if let Some(failed) = backoff.reset() {
                    tracing::warn!(failed, "accepting again after a burst of failed accepts");
                }
                (stream, slot, surface)
            }
            // Out of file descriptors, or a connection reset before it was taken: retrying at
            // once would spin on the same error. One log line per burst, not per error.
            (Err(e), _) => {
                if !backoff.in_burst() {
                    tracing::warn!(error = %e, "accept failed; backing off until accepts succeed");
                }
                let pause = backoff.next();
                tokio::select! {
                    () = tokio::time::sleep(pause) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let router = match surface {
            Surface::Public => routers.public.clone(),
            Surface::Admin => routers.admin.clone(),
            // A push is judged by the address it came from: the connection's, never a header.
            Surface::DevicePush => routers.device_push.clone(),
        };
        // Every request carries the address its connection came from (a device's push is
        // judged by it: the connection's, never a header).
        let peer = PeerIp(slot.peer);
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
                                    req.extensions_mut().insert(peer);
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
                let service = TowerToHyperService::new(router.map_request(
                    move |mut req: axum::http::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(peer);
                        req
                    },
                ));
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

/// A listener's connection slots: [`MAX_CONNECTIONS`] in all, and at most `per_peer` for
/// one peer address, so one client's idle connections cannot take every slot (issue 11).
#[derive(Debug, Clone)]
struct Slots {
    all: Arc<Semaphore>,
    per_peer: usize,
    by_peer: PeerCounts,
}

/// Connections held, per peer address.
type PeerCounts = Arc<std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>>;

/// A connection's hold on its slots, given back when the connection ends.
#[derive(Debug)]
struct Slot {
    _all: OwnedSemaphorePermit,
    peer: IpAddr,
    by_peer: PeerCounts,
}

impl Slots {
    fn new(per_peer: usize) -> Self {
        Self {
            all: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            per_peer: per_peer.max(1),
            by_peer: Arc::default(),
        }
    }

    /// A slot for a connection from `peer`; `None` when that peer holds its share.
    fn take(&self, all: OwnedSemaphorePermit, peer: IpAddr) -> Option<Slot> {
        let mut by_peer = self.by_peer.lock().expect("connection slots");
        let held = by_peer.entry(peer).or_insert(0);
        if *held >= self.per_peer {
            return None;
        }
        *held += 1;
        Some(Slot {
            _all: all,
            peer,
            by_peer: self.by_peer.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut by_peer = self.by_peer.lock().expect("connection slots");
        if let Some(held) = by_peer.get_mut(&self.peer) {
            *held -= 1;
            if *held == 0 {
                by_peer.remove(&self.peer);
            }
        }
    }
}

/// A free connection slot, then the next connection a peer may open; pending forever
/// without a listener. A connection past its peer's share is closed at once.
async fn accept(
    listener: Option<&TcpListener>,
    slots: &Slots,
) -> std::io::Result<(TcpStream, Slot)> {
    let Some(listener) = listener else {
        return std::future::pending().await;
    };
    loop {
        let all = slots
            .all
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (stream, peer) = listener.accept().await?;
        if let Some(slot) = slots.take(all, peer.ip()) {
            return Ok((stream, slot));
        }
        // Past its peer's share: closed at once, and the accept loop goes on unpaused.
        drop(stream);
    }
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

    fn in_burst(&self) -> bool {
        self.failures > 0
    }

    /// Ends a burst: how many accepts failed in it, if any did.
    fn reset(&mut self) -> Option<u32> {
        let failed = std::mem::take(&mut self.failures);
        (failed > 0).then_some(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11: one peer holds at most its share of a listener's slots; a slot comes back
    /// when its connection ends.
    #[test]
    fn each_peer_holds_at_most_its_share() {
        let slots = Slots::new(2);
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "127.0.0.1".parse().unwrap());
        let take = |peer| {
            let permit = slots.all.clone().try_acquire_owned().unwrap();
            slots.take(permit, peer)
        };
        let first = take(a).expect("a's first");
        let _second = take(a).expect("a's second");
        assert!(take(a).is_none(), "a's third is past its share");
        assert!(take(b).is_some(), "b is not a");
        assert_eq!(
            slots.all.available_permits(),
            MAX_CONNECTIONS - 2,
            "refused slots are given back"
        );
        drop(first);
        assert!(
            take(a).is_some(),
            "a's slot came back when its connection ended"
        );
    }

    #[test]
    fn accept_errors_back_off_up_to_a_cap() {
        let mut backoff = Backoff::default();
        let pauses: Vec<u64> = (0..6).map(|_| backoff.next().as_millis() as u64).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 100, 100]);
        assert!(backoff.in_burst());
        assert_eq!(
            backoff.reset(),
            Some(6),
            "the burst is reported once, with its size"
        );
        assert!(!backoff.in_burst());
        assert_eq!(backoff.reset(), None);
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
