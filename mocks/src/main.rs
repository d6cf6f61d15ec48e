//! `kezek-mocks serve`: the mock registries for QA, on loopback by default.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kezek_mocks::Scenario;
use kezek_mocks::registry::{self, MockConfig, RegistryId};

#[derive(Debug, Parser)]
#[command(
    name = "kezek-mocks",
    version,
    about = "Mock state registries for Kezek"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve every mock registry on one HTTP/1.1 listener.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8700")]
        listen: SocketAddr,
        /// Scenario JSON file; the built-in default population when omitted.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Gateway sender id the mock accepts.
        #[arg(long, env = "KEZEK_MOCKS_SENDER_ID", default_value = "kezek-dev")]
        sender_id: String,
        /// Gateway sender password the mock accepts.
        #[arg(
            long,
            env = "KEZEK_MOCKS_SENDER_PASSWORD",
            default_value = "kezek-dev-secret"
        )]
        sender_password: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let Command::Serve {
        listen,
        scenario,
        sender_id,
        sender_password,
    } = Cli::parse().command;
    let scenario = match scenario {
        Some(path) => Scenario::from_file(&path)
            .with_context(|| format!("loading scenario {}", path.display()))?,
        None => Scenario::default_population(),
    };
    let personas = scenario.personas.len();
    let config = MockConfig {
        listen,
        sender_id,
        sender_password,
        ..MockConfig::default()
    };
    let mocks = registry::start(scenario, config)?;
    println!(
        "kezek-mocks listening on http://{} ({personas} personas)",
        mocks.addr()
    );
    for r in RegistryId::ALL {
        println!("  {:<18} {}", r.as_str(), mocks.url(r));
    }
    println!("  {:<18} {}", "admin", mocks.admin_url());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    mocks.shutdown();
    Ok(())
}
