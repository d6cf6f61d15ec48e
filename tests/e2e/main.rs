//! End-to-end tests: one binary, one module per flow. Each test names the rule or the
//! DESIGN.md invariant it enforces.

mod adapter_packages;
mod amendment;
mod api;
mod audit;
mod booking;
mod clock;
mod decision_integrity;
mod declared_registries;
mod devices;
mod hot_reload;
mod integrator;
mod lanes;
mod layout;
mod logs;
mod personal_data;
mod registry_adapters;
mod sandbox_faults;
mod security;
mod verifications;
mod wit_versions;
