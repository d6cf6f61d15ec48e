//! Kezek: the verification gateway and queue core of Kazakhstan's paid electronic queue for
//! freight vehicles leaving the country (Order 707). See ARCHITECTURE.md for the map.
//!
//! The rooms that are crates of their own so far (issue 9) are re-exported under their
//! module names: `domain` (`gateway/domain`) and `store`, `audit` (`gateway/store`).

pub use kezek_domain as domain;
pub use kezek_store::{self as store, audit};

pub mod adapters;
pub mod api;
pub mod booking;
pub mod checkpoints;
pub mod cli;
pub mod client;
pub mod config;
pub mod egress;
pub mod host;
pub mod metrics;
pub mod pipeline;
pub mod rules;
pub mod schemas;
pub mod server;
