//! The adapter host: the only crate that touches wasmtime.
//!
//! Each check call gets a fresh `Store` and a fresh instance from a pre-linked
//! `InstancePre`, drawn from the pooling allocator. A call is bounded three ways: a memory
//! cap (a `ResourceLimiter`), a guest-CPU budget (epoch interruption, outbound waits
//! excluded) and a wall-clock deadline (the caller's). Guests get WASI with nothing in it:
//! no preopens, no environment, no sockets. Their only way out is the `outbound` import,
//! which [`kezek_egress`] serves under the adapter's policy.
//!
//! The host speaks every released contract version side by side, one module per version
//! ([`v1_0`], [`v1_1`]), each converting its bindings to the host's one set of types; the
//! manifest's `wit` field says which one a component speaks, and its exports must agree. An
//! adapter is handed only the request parts it declares ([`Application::project`], the
//! same projection the finding cache keys on; ADR 0019).
//!
//! Device drivers (`kezek:device@1.0.0`, ADR 0020) run in the same sandbox: the same
//! engine, pool, slots, memory cap and CPU budget, a fresh instance per call ([`device`]).
//!
//! Architecture invariant: the only crate that depends on wasmtime (`tests/e2e/layout.rs`);
//! every wasmtime fault becomes a `CheckError` (a driver's, a `DriverError`), never a
//! finding or an event.

pub mod config;
#[macro_use]
mod conversions;
pub mod device;
mod engine;
pub mod v1_0;
pub mod v1_1;

use kezek_domain::{Application, CheckError, CheckId, Finding, RequestFields};
use kezek_egress::{Egress, EgressPolicy, Exchange, OutboundRequest, OutboundResponse};
use kezek_manifest::Manifest;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub use device::LoadedDriver;
pub use engine::{HostSettings, sha256_hex};

/// A released version of the `kezek:registry` contract this host speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WitVersion {
    V1_0,
    V1_1,
}

impl WitVersion {
    pub const ALL: [WitVersion; 2] = [WitVersion::V1_0, WitVersion::V1_1];

    /// The package, as a manifest's `wit` field names it.
    pub fn package(self) -> &'static str {
        match self {
            Self::V1_0 => "kezek:registry@1.0.0",
            Self::V1_1 => "kezek:registry@1.1.0",
        }
    }

    /// The interface every adapter of this version exports.
    fn checker(self) -> &'static str {
        match self {
            Self::V1_0 => "kezek:registry/checker@1.0.0",
            Self::V1_1 => "kezek:registry/checker@1.1.0",
        }
    }

    pub fn from_package(package: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.package() == package)
    }

    fn spoken() -> String {
        Self::ALL.map(Self::package).join(" and ")
    }
}

/// A component linked against one contract version, ready to instantiate.
enum Pre {
    V1_0(v1_0::AdapterPre<CallState>),
    V1_1(v1_1::AdapterPre<CallState>),
}

/// What an adapter says about itself (`describe()`), checked against its manifest at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub id: String,
    pub version: String,
    pub registry: String,
    pub checks: Vec<CheckId>,
    pub reads: RequestFields,
}

/// A compiled, linked and self-tested adapter, ready for calls. Cheap to share: calls
/// instantiate from it concurrently.
pub struct LoadedAdapter {
    pub manifest: Manifest,
    pub descriptor: Descriptor,
    /// SHA-256 of the component bytes: identifies exactly what runs.
    pub component_sha256: String,
    /// The contract version the component speaks.
    pub wit: WitVersion,
    pre: Pre,
    policy: Arc<EgressPolicy>,
}

impl std::fmt::Debug for LoadedAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedAdapter")
            .field("id", &self.descriptor.id)
            .field("version", &self.descriptor.version)
            .field("wit", &self.wit)
            .field("component_sha256", &self.component_sha256)
            .finish_non_exhaustive()
    }
}

/// Why a component could not be loaded. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a valid component for this engine: {0}")]
    Compile(String),
    #[error("{0}")]
    Contract(String),
    #[error("self-test failed: {0}")]
    SelfTest(String),
    #[error("egress configuration: {0}")]
    Egress(String),
}

/// The result of one call: the finding or error, and the registry exchanges it made.
#[derive(Debug)]
pub struct CallOutcome {
    pub result: Result<Finding, CheckError>,
    pub exchanges: Vec<Exchange>,
    pub duration: Duration,
}

/// Runs adapters. One per process; shared by every request.
pub struct AdapterHost {
    engine: Engine,
    /// One permit per pooled instance slot: a call waits here (within its deadline) instead
    /// of failing to instantiate when every slot is busy.
    slots: Arc<tokio::sync::Semaphore>,
    linker: Linker<CallState>,
    /// Device drivers import nothing: WASI with nothing in it, and no Kezek interface.
    driver_linker: Linker<CallState>,
    egress: Arc<Egress>,
    settings: HostSettings,
    _ticker: engine::EpochTicker,
}

impl std::fmt::Debug for AdapterHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdapterHost")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AdapterHost {
    pub fn new(settings: HostSettings, egress: Arc<Egress>) -> anyhow::Result<Self> {
        let engine = engine::build(&settings)?;
        let mut linker = Linker::<CallState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("linking WASI: {e}"))?;
        v1_0::Adapter::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
            .map_err(|e| anyhow::anyhow!("linking kezek:registry@1.0.0: {e}"))?;
        v1_1::Adapter::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
            .map_err(|e| anyhow::anyhow!("linking kezek:registry@1.1.0: {e}"))?;
        let mut driver_linker = Linker::<CallState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut driver_linker)
            .map_err(|e| anyhow::anyhow!("linking WASI: {e}"))?;
        let ticker = engine::EpochTicker::start(&engine, settings.epoch_tick);
        let slots = Arc::new(tokio::sync::Semaphore::new(
            settings.max_concurrent_calls.max(1) as usize,
        ));
        Ok(Self {
            engine,
            slots,
            linker,
            driver_linker,
            egress,
            settings,
            _ticker: ticker,
        })
    }

    /// Compiles (or loads from the precompiled cache), type-checks against the WIT version
    /// its manifest names and self-tests a component. The caller has already checked its
    /// signature.
    pub async fn load(
        &self,
        component: &[u8],
        manifest: Manifest,
    ) -> Result<LoadedAdapter, LoadError> {
        let wit = WitVersion::from_package(&manifest.wit).ok_or_else(|| {
            LoadError::Contract(format!(
                "the manifest names {}; this host speaks {}",
                manifest.wit,
                WitVersion::spoken()
            ))
        })?;
        let sha = engine::sha256_hex(component);
        let compiled = engine::compile_cached(&self.engine, &self.settings, component, &sha)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let contract = |e: wasmtime::Error| {
            LoadError::Contract(format!(
                "does not implement {} as its manifest says (built against another WIT version?): {e:#}",
                wit.package()
            ))
        };
        let exported = exported(&self.engine, &compiled, "kezek:registry/checker@");
        if !exported.iter().any(|e| e == wit.checker()) {
            let driver = exported_driver(&self.engine, &compiled);
            return Err(LoadError::Contract(format!(
                "the manifest says {} but the component exports {}; build it against the \
                 manifest's WIT or correct the manifest's \"wit\"{}",
                wit.package(),
                if exported.is_empty() {
                    "no kezek:registry checker".to_owned()
                } else {
                    exported.join(", ")
                },
                if driver {
                    format!(
                        " (it is a device driver, exporting {}: its manifest names {})",
                        device::DRIVER_EXPORT,
                        kezek_manifest::WIT_DEVICE
                    )
                } else {
                    String::new()
                }
            )));
        }
        let linked = self.linker.instantiate_pre(&compiled).map_err(contract)?;
        let pre = match wit {
            WitVersion::V1_0 => Pre::V1_0(v1_0::AdapterPre::new(linked).map_err(contract)?),
            WitVersion::V1_1 => Pre::V1_1(v1_1::AdapterPre::new(linked).map_err(contract)?),
        };
        let policy = Arc::new(
            self.egress
                .policy_for(&manifest)
                .map_err(|e| LoadError::Egress(format!("{e:#}")))?,
        );
        let descriptor = self.self_test(&pre, &manifest, &policy).await?;
        Ok(LoadedAdapter {
            manifest,
            descriptor,
            component_sha256: sha,
            wit,
            pre,
            policy,
        })
    }

    /// Calls `describe()` in a fresh sandbox and checks it against the manifest.
    async fn self_test(
        &self,
        pre: &Pre,
        manifest: &Manifest,
        policy: &Arc<EgressPolicy>,
    ) -> Result<Descriptor, LoadError> {
        let mut store = self.store(
            manifest.limits.memory_mib,
            manifest.limits.cpu_ms,
            Some(policy.clone()),
        );
        let described = match pre {
            Pre::V1_0(pre) => v1_0::describe(pre, &mut store).await,
            Pre::V1_1(pre) => v1_1::describe(pre, &mut store).await,
        };
        let descriptor = described
            .map_err(|e| {
                LoadError::SelfTest(format!("describe() failed: {}", self.fault(&store, e)))
            })?
            .map_err(LoadError::SelfTest)?;
        let mut declared = manifest.checks.clone();
        declared.sort_unstable();
        let mut described_checks = descriptor.checks.clone();
        described_checks.sort_unstable();
        if descriptor.id != manifest.id
            || descriptor.version != manifest.version
            || described_checks != declared
        {
            return Err(LoadError::SelfTest(format!(
                "the component describes itself as {} {} serving checks {:?}, the manifest says {} {} serving {:?}",
                descriptor.id,
                descriptor.version,
                described_checks,
                manifest.id,
                manifest.version,
                declared
            )));
        }
        Ok(descriptor)
    }

    /// Runs one check in a fresh sandbox on the parts of `application` the adapter declares
    /// (and no others). Never panics and never returns a pass it did not get from the
    /// adapter: every fault becomes a [`CheckError`].
    pub async fn check(
        &self,
        adapter: &LoadedAdapter,
        check: &CheckId,
        application: &Application,
        correlation_id: &str,
        deadline: Duration,
    ) -> CallOutcome {
        let started = Instant::now();
        let projection = application.project(adapter.descriptor.reads);
        // Declared before the store, so the slot is given back only after the store (and its
        // pooled instance) is dropped.
        let Ok(Ok(_slot)) =
            tokio::time::timeout(deadline, self.slots.clone().acquire_owned()).await
        else {
            return CallOutcome {
                result: Err(CheckError::Overloaded(format!(
                    "all {} sandbox slots stayed busy for {} ms",
                    self.settings.max_concurrent_calls,
                    deadline.as_millis()
                ))),
                exchanges: Vec::new(),
                duration: started.elapsed(),
            };
        };
        let deadline = deadline.saturating_sub(started.elapsed());
        let limits = &adapter.manifest.limits;
        let mut store = self.store(
            limits.memory_mib,
            limits.cpu_ms,
            Some(adapter.policy.clone()),
        );
        let call = async {
            match &adapter.pre {
                Pre::V1_0(pre) => {
                    v1_0::check(pre, &mut store, projection, check, correlation_id).await
                }
                Pre::V1_1(pre) => {
                    v1_1::check(pre, &mut store, projection, check, correlation_id).await
                }
            }
        };
        let result = match tokio::time::timeout(deadline, call).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(fault)) => Err(self.fault(&store, fault)),
            Err(_) => Err(CheckError::Timeout(format!(
                "adapter {} did not finish within {} ms",
                adapter.descriptor.id,
                deadline.as_millis()
            ))),
        };
        CallOutcome {
            result,
            exchanges: std::mem::take(&mut store.data_mut().exchanges),
            duration: started.elapsed(),
        }
    }

    /// A fresh store under a memory cap and a CPU budget; `policy` is an adapter's egress
    /// (a driver has none: it imports nothing).
    fn store(
        &self,
        memory_mib: u64,
        cpu_ms: u64,
        policy: Option<Arc<EgressPolicy>>,
    ) -> Store<CallState> {
        let state = CallState {
            wasi: engine::empty_wasi(&self.settings.clock),
            table: ResourceTable::new(),
            memory: MemoryCap {
                max_bytes: (memory_mib as usize) << 20,
                hit: false,
            },
            egress: self.egress.clone(),
            policy,
            started: Instant::now(),
            outbound: Duration::ZERO,
            exchanges: Vec::new(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        let budget = Duration::from_millis(cpu_ms);
        let tick = self.settings.epoch_tick;
        store.set_epoch_deadline(ticks(budget, tick));
        store.epoch_deadline_callback(move |ctx| {
            let state = ctx.data();
            let used = state.started.elapsed().saturating_sub(state.outbound);
            match budget.checked_sub(used) {
                Some(left) if !left.is_zero() => Ok(UpdateDeadline::Continue(ticks(left, tick))),
                _ => Err(wasmtime::Error::new(CpuBudgetExceeded(
                    budget.as_millis() as u64
                ))),
            }
        });
        store
    }

    /// Names a fault in the adapter's terms.
    fn fault(&self, store: &Store<CallState>, error: wasmtime::Error) -> CheckError {
        if let Some(CpuBudgetExceeded(ms)) = error.downcast_ref::<CpuBudgetExceeded>() {
            return CheckError::CpuBudgetExceeded(*ms);
        }
        if store.data().memory.hit {
            return CheckError::MemoryCapExceeded((store.data().memory.max_bytes >> 20) as u64);
        }
        match error.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => CheckError::Trapped(trap.to_string()),
            None => CheckError::Trapped(format!("{error:#}")),
        }
    }
}

fn ticks(span: Duration, tick: Duration) -> u64 {
    (span.as_nanos().div_ceil(tick.as_nanos().max(1)) as u64).max(1)
}

#[derive(Debug, thiserror::Error)]
#[error("CPU budget of {0} ms exceeded")]
struct CpuBudgetExceeded(u64);

/// Per-call state: WASI with nothing in it, the memory cap, and the egress policy.
struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    egress: Arc<Egress>,
    /// An adapter's egress policy; none for a device driver, which cannot link `outbound`.
    policy: Option<Arc<EgressPolicy>>,
    started: Instant,
    /// Time spent waiting on registries, which does not count against the CPU budget.
    outbound: Duration,
    exchanges: Vec<Exchange>,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Refuses memory growth past the cap and remembers that it did, so the resulting trap
/// can be reported as what it is.
struct MemoryCap {
    max_bytes: usize,
    hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

impl CallState {
    /// The `outbound` import of every contract version: the exchange under the adapter's
    /// egress policy, recorded for the audit log, its wait kept off the CPU budget.
    async fn send_out(
        &mut self,
        request: OutboundRequest,
    ) -> Result<OutboundResponse, kezek_egress::EgressError> {
        let Some(policy) = &self.policy else {
            return Err(kezek_egress::EgressError::Denied(
                "a device driver has no egress".into(),
            ));
        };
        let (result, exchange) = self.egress.send(policy, request).await;
        self.outbound += exchange.duration;
        self.exchanges.push(exchange);
        result
    }
}

/// The interfaces a component exports whose names start with `prefix`.
fn exported(
    engine: &Engine,
    component: &wasmtime::component::Component,
    prefix: &str,
) -> Vec<String> {
    component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name)
        .filter(|name| name.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// Whether a component exports the device driver interface.
fn exported_driver(engine: &Engine, component: &wasmtime::component::Component) -> bool {
    exported(engine, component, device::DRIVER_EXPORT)
        .iter()
        .any(|e| e == device::DRIVER_EXPORT)
}
