//! Engine configuration, the epoch ticker and the precompiled-component cache.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

use kezek_domain::clock::SharedClock;

/// Engine-wide settings, from the operator's `[sandbox]` and `[adapters]` config.
#[derive(Debug, Clone)]
pub struct HostSettings {
    /// Adapter calls that may run at once (pool slots).
    pub max_concurrent_calls: u32,
    pub epoch_tick: Duration,
    /// Largest linear memory any adapter may have; the pool reserves this per slot.
    pub max_memory_bytes: usize,
    /// Where compiled components are kept between runs.
    pub precompiled_cache: Option<PathBuf>,
    /// The gateway's clock, which is also the guests' WASI wall clock.
    pub clock: SharedClock,
}

impl HostSettings {
    pub fn from_config(
        sandbox: &crate::config::SandboxConfig,
        precompiled_cache: Option<PathBuf>,
        clock: SharedClock,
    ) -> Self {
        Self {
            clock,
            max_concurrent_calls: sandbox.max_concurrent_calls,
            epoch_tick: Duration::from_millis(sandbox.epoch_tick_ms.max(1)),
            max_memory_bytes: (sandbox.max_memory_mib as usize) << 20,
            precompiled_cache,
        }
    }
}

/// Guest memory that stays mapped between calls. A Rust adapter touches about 1–2 MiB; with
/// less kept resident, every fresh instance page-faults its memory back in and two threads
/// run slower than one (DESIGN.md, measured).
const KEEP_RESIDENT: usize = 2 << 20;

pub fn build(settings: &HostSettings) -> anyhow::Result<Engine> {
    let slots = settings.max_concurrent_calls.max(1);
    let mut pool = PoolingAllocationConfig::default();
    // A Rust wasip2 component is a handful of core instances (the program, the WASI
    // adapter, shims) with two memories; leave room.
    pool.total_component_instances(slots)
        .total_core_instances(slots * 8)
        .total_memories(slots * 2)
        .total_tables(slots * 4)
        .total_stacks(slots)
        .max_core_instances_per_component(16)
        .max_memories_per_component(4)
        .max_tables_per_component(8)
        .max_memory_size(settings.max_memory_bytes)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(64 << 10);
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .wasm_component_model(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| anyhow::anyhow!("building the wasm engine: {e:#}"))
}

/// WASI with nothing in it: no preopened directories, no environment, no arguments, no
/// sockets or name lookups, and stdio that goes nowhere. A Rust guest built with std
/// imports these interfaces even when it does no I/O.
pub fn empty_wasi(clock: &SharedClock) -> WasiCtx {
    WasiCtxBuilder::new()
        .wall_clock(GuestWallClock(clock.clone()))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Compiles a component, or loads it from the precompiled cache. The cache file name holds
/// the component's hash and a hash of the engine's version and configuration, so a cached
/// artifact is only ever loaded by the engine that made it.
pub fn compile_cached(
    engine: &Engine,
    settings: &HostSettings,
    component: &[u8],
    sha: &str,
) -> anyhow::Result<Component> {
    let Some(dir) = &settings.precompiled_cache else {
        return Component::new(engine, component).map_err(|e| anyhow::anyhow!("{e:#}"));
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let path = dir.join(format!("{sha}-{:016x}.cwasm", hasher.finish()));
    if path.exists() {
        // SAFETY: the cache directory is written only by this function (atomically, via
        // rename) from bytes whose signature the caller verified, under a name bound to
        // those bytes' hash and to this engine's configuration. Operators must keep the
        // directory private to the gateway's user, as the README says.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(compiled) => return Ok(compiled),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding unusable precompiled component")
            }
        }
    }
    let compiled = engine
        .precompile_component(component)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{sha}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &compiled)?;
    std::fs::rename(&tmp, &path)?;
    #[allow(unsafe_code)]
    // SAFETY: the bytes were produced just now by this engine's precompile_component.
    let component = unsafe { Component::deserialize(engine, &compiled) }
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    Ok(component)
}

/// Advances the engine's epoch every tick on a thread of its own; stops when dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    pub fn start(engine: &Engine, tick: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("kezek-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The guests' `wasi:clocks/wall-clock`: the gateway's clock, so an adapter stamping a
/// request sees the same time as the pipeline that judges it.
struct GuestWallClock(SharedClock);

impl wasmtime_wasi::HostWallClock for GuestWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        let since_epoch = self.0.now() - time::OffsetDateTime::UNIX_EPOCH;
        since_epoch.try_into().unwrap_or(Duration::ZERO)
    }
}
