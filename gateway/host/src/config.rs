//! `[sandbox]`: the limits every adapter call runs under.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// Adapter calls running at once across the host (pooling allocator slots).
    #[serde(default = "default_slots")]
    pub max_concurrent_calls: u32,
    /// Epoch tick; CPU budgets are enforced to within one tick.
    #[serde(default = "default_tick")]
    pub epoch_tick_ms: u64,
    /// Largest memory cap any manifest may ask for (the pool reserves this per slot).
    #[serde(default = "default_max_memory")]
    pub max_memory_mib: u64,
}

fn default_slots() -> u32 {
    256
}
fn default_tick() -> u64 {
    5
}
fn default_max_memory() -> u64 {
    64
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            max_concurrent_calls: default_slots(),
            epoch_tick_ms: default_tick(),
            max_memory_mib: default_max_memory(),
        }
    }
}
