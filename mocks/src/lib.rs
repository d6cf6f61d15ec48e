//! Mock state registries for Kezek, on loopback (DESIGN.md: "tests never reach the
//! network"). Libraries first, with a thin `kezek-mocks` binary on top (linkerd-style test
//! support). Protocols: `mocks/PROTOCOLS.md`; scenario format: `mocks/SCENARIOS.md`.

pub mod declared;
pub mod devices;
pub mod faults;
pub mod registry;
pub mod scenario;
pub mod soap;
pub mod xml;

pub use faults::{Fault, FaultMode};
pub use registry::{MockConfig, RecordedRequest, RegistryId, RegistryMocks, RegistryName};
pub use scenario::Scenario;
