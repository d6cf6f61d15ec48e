//! The gateway process: builds every room from the config, in dependency order, and serves
//! them through the API (`kezek_api::serve`). Testable by construction:
//! `run(listeners, gateway, shutdown)`.

use crate::config::Config;
use kezek_api::{Listeners, Services};
use kezek_catalogue::Catalogue;
use kezek_domain::clock::{Calendar, SharedClock, SystemClock};
use kezek_egress::Egress;
use kezek_host::{AdapterHost, HostSettings};
use kezek_pipeline::Pipeline;
use kezek_pipeline::metrics::Metrics;
use std::future::Future;
use std::sync::Arc;

/// Memory for Idempotency-Keys kept a day (issue 11: bounded by bytes; a key is at most
/// `kezek_api::MAX_IDEMPOTENCY_KEY` characters): about 80 000 keys of UUID size.
const IDEMPOTENCY_BYTES: u64 = 32 << 20;
use std::time::Duration;

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
    /// Verifies the public API's bearer tokens (`[api.auth]`, ADR 0014).
    pub auth: kezek_api::auth::Authenticator,
    /// Which account each verification belongs to.
    pub owners: kezek_api::VerificationOwners,
    /// The database: bookings and the audit log.
    pub store: Arc<kezek_store::Store>,
    pub audit: kezek_store::audit::AuditLog,
    /// The booking engine (issue 5); `None` when `booking.enabled = false`.
    pub booking: Option<Arc<kezek_booking::BookingEngine>>,
    /// Verification rate limits, counted in the store (issue 11).
    pub limits: Arc<kezek_api::limits::VerificationLimits>,
    /// The devices of the lane profiles (issue 13); `None` without `[devices] lanes`.
    pub devices: Option<Arc<kezek_devices::DeviceRuntime>>,
}

impl Gateway {
    /// Builds the engine, the egress, the catalogue and the pipeline, and loads the adapters
    /// and rules. Refused packages are logged; the gateway starts with what loaded, but not
    /// without its rules, nor with rules naming a check no adapter serves (ADR 0018).
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        Self::start_with(config, StartOptions::default()).await
    }

    /// As [`Gateway::start`], with settings that are code, not configuration.
    pub async fn start_with(config: &Config, options: StartOptions) -> anyhow::Result<Self> {
        // Who may call is settled before anything is built (issue 11 item 6).
        let admin_token = admin_token(config)?;
        let clock = options.clock;
        let (host, catalogue, report) = load_adapters(config, clock.clone(), false).await?;
        tracing::info!(%report, "adapters loaded");
        let store = Arc::new(kezek_store::Store::open(&config.store).await?);
        let audit = kezek_store::audit::AuditLog::start(
            store.clone(),
            clock.clone(),
            &config.audit,
            anchoring(&config.audit)?,
        )
        .await?;
        let metrics = Arc::new(Metrics::default());
        // One checkpoint catalogue for verification and booking: both judge dates on a
        // checkpoint's local calendar.
        let checkpoints = Arc::new(kezek_booking::checkpoints::Catalogue::open(
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
        let auth = kezek_api::auth::Authenticator::from_config(config.api.auth.as_ref()).await?;
        let devices = start_devices(config, &host, &catalogue, &clock)?;
        // The booking engine verifies through this pipeline before it holds a slot (P20).
        let booking = kezek_booking::start(
            &config.booking,
            checkpoints,
            store.clone(),
            pipeline.clone(),
            clock,
        )
        .await?;
        Ok(Self {
            host,
            catalogue,
            pipeline,
            metrics,
            idempotency: moka::sync::Cache::builder()
                .max_capacity(IDEMPOTENCY_BYTES)
                .weigher(|key: &String, (_, id): &([u8; 32], String)| {
                    (kezek_pipeline::cache::ENTRY_OVERHEAD + key.len() + id.len()) as u32
                })
                .time_to_live(Duration::from_secs(24 * 3600))
                .build(),
            booking,
            limits: Arc::new(kezek_api::limits::VerificationLimits::new(
                &config.api.rate_limits,
                store.clone(),
            )),
            store,
            audit,
            admin_token,
            auth,
            owners: kezek_api::VerificationOwners::new(),
            devices,
        })
    }
}

/// The adapter host and the catalogue of `config`, with the adapters loaded: what a gateway
/// starts with, and all a one-off `kezek check` needs. `[egress]` is re-read from the config
/// file on every reload (issue 12). A `read_only` catalogue reads the record of the set in
/// force but never writes it (a check must not change what the gateway restarts with).
pub async fn load_adapters(
    config: &Config,
    clock: SharedClock,
    read_only: bool,
) -> anyhow::Result<(
    Arc<AdapterHost>,
    Arc<Catalogue>,
    kezek_catalogue::ReloadReport,
)> {
    let egress = Arc::new(Egress::new(&config.egress)?);
    let host = Arc::new(AdapterHost::new(
        HostSettings::from_config(
            &config.sandbox,
            config.adapters.precompiled_cache.clone(),
            clock,
        ),
        egress.clone(),
    )?);
    let mut catalogue = Catalogue::new(host.clone(), &config.adapters)?;
    if let Some(path) = config.source.clone() {
        catalogue = catalogue.with_egress_reload(Box::new(move || {
            egress.reconfigure(&Config::from_file(&path)?.egress)
        }));
    }
    if read_only {
        catalogue = catalogue.read_only();
    }
    let catalogue = Arc::new(catalogue);
    let report = catalogue.reload().await?;
    Ok((host, catalogue, report))
}

/// The devices of `[devices] lanes`, checked against the drivers the catalogue loaded: a
/// profile naming a driver that is not loaded, or broken otherwise, stops the start with
/// every problem named (a checkpoint must not run with lanes half configured).
fn start_devices(
    config: &Config,
    host: &Arc<AdapterHost>,
    catalogue: &Arc<Catalogue>,
    clock: &SharedClock,
) -> anyhow::Result<Option<Arc<kezek_devices::DeviceRuntime>>> {
    let Some(dir) = &config.devices.lanes else {
        return Ok(None);
    };
    let set = catalogue.snapshot();
    let facts = |id: &str| {
        set.driver(id).map(|d| kezek_devices::DriverFacts {
            kind: d.descriptor.kind,
            transport: d.descriptor.transport,
        })
    };
    let profiles = kezek_devices::profile::load_dir(dir, &facts).map_err(|problems| {
        anyhow::anyhow!(
            "[devices] lanes {}: {} problem(s):\n  {}",
            dir.display(),
            problems.len(),
            problems.join("\n  ")
        )
    })?;
    let runtime = kezek_devices::DeviceRuntime::start(
        &profiles,
        host.clone(),
        catalogue.clone(),
        clock.clone(),
    )?;
    tracing::info!(lanes = runtime.lanes().len(), "devices started");
    Ok(Some(Arc::new(runtime)))
}

/// The anchor key and file of `[audit]`: both or neither. Key files are read here, with
/// the one Ed25519 key reader the adapters' signatures use.
fn anchoring(
    config: &kezek_store::audit::AuditConfig,
) -> anyhow::Result<Option<kezek_store::audit::Anchoring>> {
    match (&config.anchor_key, config.anchors_file()) {
        (None, None) => {
            tracing::warn!("[audit] anchor_key is not set: the audit chain is not anchored");
            Ok(None)
        }
        (Some(key), Some(out)) => Ok(Some(kezek_store::audit::Anchoring {
            key: kezek_catalogue::signing::read_signing_key(key)?,
            out,
            every: config.anchor_every,
            interval: Duration::from_secs(config.anchor_interval_s),
        })),
        _ => anyhow::bail!("[audit] anchor_key and anchor_out go together: set both or neither"),
    }
}

/// `api.admin_token`, resolved. An empty one is refused: it would guard nothing.
fn admin_token(config: &Config) -> anyhow::Result<Option<String>> {
    let token = config
        .api
        .admin_token
        .as_ref()
        .map(|s| s.resolve())
        .transpose()?;
    if token.as_ref().is_some_and(|t| t.trim().is_empty()) {
        anyhow::bail!(
            "api.admin_token is empty: set a token, or remove it to keep the admin listener on loopback"
        );
    }
    Ok(token)
}

/// What [`Gateway::start_with`] takes besides the config.
pub struct StartOptions {
    /// The one clock of this gateway (verification, booking, audit, sandbox); tests pin it.
    pub clock: SharedClock,
    pub upstream: kezek_pipeline::upstream::UpstreamSettings,
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

impl Gateway {
    /// What the API's routes reach.
    pub fn services(&self) -> Services {
        Services {
            catalogue: self.catalogue.clone(),
            pipeline: self.pipeline.clone(),
            metrics: self.metrics.clone(),
            idempotency: self.idempotency.clone(),
            admin_token: self.admin_token.clone(),
            auth: self.auth.clone(),
            owners: self.owners.clone(),
            audit: self.audit.clone(),
            booking: self.booking.clone(),
            limits: self.limits.clone(),
            devices: self.devices.clone(),
        }
    }
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn run(
    listeners: Listeners,
    gateway: Gateway,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    kezek_api::serve(listeners, gateway.services(), shutdown).await
}
