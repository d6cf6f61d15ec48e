//! Kezek: the verification gateway and queue core of Kazakhstan's paid electronic queue for
//! freight vehicles leaving the country (Order 707). See ARCHITECTURE.md for the map.
//!
//! This crate is the assembly and the command line: [`server::Gateway`] builds every room
//! (the crates `kezek-*` under `gateway/`) from one [`config::Config`], and [`cli`] is the
//! `kezek` command.

mod bookings_cli;
pub mod check_cli;
pub mod cli;
pub mod client;
pub mod config;
pub mod deploy;
mod deploy_cli;
pub mod scaffold;
pub mod server;
