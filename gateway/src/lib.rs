//! Kezek: the verification gateway and queue core of Kazakhstan's paid electronic queue for
//! freight vehicles leaving the country (Order 707). See ARCHITECTURE.md for the map.

pub mod adapters;
pub mod api;
pub mod audit;
pub mod booking;
pub mod checkpoints;
pub mod cli;
pub mod client;
pub mod config;
pub mod domain;
pub mod egress;
pub mod host;
pub mod metrics;
pub mod pipeline;
pub mod rules;
pub mod schemas;
pub mod server;
pub mod store;
