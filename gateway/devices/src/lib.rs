//! The device side of a checkpoint (issue 13, ADR 0020, ADR 0021): lane profiles as data
//! ([`profile`]) and the runtime that runs every device of them ([`runtime`]).
//!
//! Architecture invariant: drivers are sans-I/O codecs in the sandbox (kezek-host); this room
//! owns every socket, timer, reconnect, restart and credential, and decides whether a lane
//! may open. It serves no HTTP: camera pushes reach it through kezek-api.

pub mod profile;
pub mod runtime;

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use profile::{DeviceProfile, DriverFacts, Lane, LaneProfile, LaneRole};
pub use runtime::{
    CommandError, DeviceEvent, DeviceHealth, DeviceRuntime, Happening, LaneHealth, PushAnswer,
};

/// `[devices]` of the gateway's config. Without `lanes`, the gateway runs no devices.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesConfig {
    /// The directory of lane profiles (`deploy/lanes`), one JSON file per checkpoint.
    pub lanes: Option<PathBuf>,
    /// Where cameras push their events (plain HTTP; each device only from its own address).
    pub push_listen: Option<SocketAddr>,
}

impl DevicesConfig {
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(path) = &mut self.lanes
            && path.is_relative()
        {
            *path = base.join(&*path);
        }
    }
}
