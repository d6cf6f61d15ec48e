//! `kezek-mocks serve`: the mock registries for QA, on loopback by default.
//! `kezek-mocks example NAME`: a named example application, on the same day as `serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use kezek_mocks::Scenario;
use kezek_mocks::registry::{self, MockConfig, RegistryId};
use kezek_mocks::scenario::parse_day;
use time::Date;

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
        #[command(flatten)]
        data: Data,
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
        /// Also run the mock devices of `deploy/lanes/cn-nur-zholy.json` (two barriers, a
        /// board) and push the two cameras' heartbeats to this gateway push listener.
        #[arg(long, value_name = "PUSH_LISTENER", num_args = 0..=1, default_missing_value = "127.0.0.1:8450")]
        devices: Option<SocketAddr>,
        /// With --devices: make them misbehave on a timetable (a fault script, e.g.
        /// mocks/scenarios/device-faults.json).
        #[arg(long, value_name = "FILE", requires = "devices")]
        device_faults: Option<PathBuf>,
    },
    /// Print a named example application (JSON) as `serve` would serve it on that day.
    Example {
        /// Example name (e.g. `approved`, `refused`) or persona id.
        name: String,
        #[command(flatten)]
        data: Data,
    },
}

/// Which data, on which day.
#[derive(Debug, Args)]
struct Data {
    /// Scenario JSON file; the built-in default population when omitted.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Scenario file to add on top (repeatable), e.g. one that declares a registry and its
    /// personas: `--merge mocks/scenarios/adr-certificates.json`.
    #[arg(long, value_name = "FILE")]
    merge: Vec<PathBuf>,
    /// Day to put the scenario's dates on; today in Kazakhstan (UTC+05:00) when omitted.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = day_arg)]
    today: Option<Date>,
}

impl Data {
    /// The scenario as written, and the day to serve it on.
    fn load(&self) -> anyhow::Result<(Scenario, Date)> {
        let read = |path: &PathBuf| {
            Scenario::from_file(path)
                .with_context(|| format!("loading scenario {}", path.display()))
        };
        let scenario = match &self.scenario {
            Some(path) => read(path)?,
            None => Scenario::default_population(),
        };
        let scenario = self.merge.iter().try_fold(scenario, |base, path| {
            base.merged(&read(path)?, &path.display().to_string())
                .with_context(|| format!("merging scenario {}", path.display()))
        })?;
        // The only wall-clock read for the day in the mocks: library and tests take it as data.
        let today = self.today.unwrap_or_else(|| {
            time::OffsetDateTime::now_utc()
                .to_offset(time::macros::offset!(+5))
                .date()
        });
        Ok((scenario, today))
    }
}

fn day_arg(s: &str) -> Result<Date, String> {
    parse_day(s).ok_or_else(|| "expected a date as YYYY-MM-DD, e.g. 2026-11-21".into())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve {
            listen,
            data,
            sender_id,
            sender_password,
            devices,
            device_faults,
        } => {
            serve(
                listen,
                &data,
                sender_id,
                sender_password,
                devices.map(|push_to| (push_to, device_faults)),
            )
            .await
        }
        Command::Example { name, data } => {
            let (scenario, today) = data.load()?;
            let scenario = scenario.on(today);
            let Some(persona) = scenario.example(&name) else {
                // A usage mistake, not a failure: one line, no error chain or backtrace.
                eprintln!("kezek-mocks: {}", scenario.unknown_example(&name));
                std::process::exit(2);
            };
            let json = serde_json::to_string_pretty(&persona.request)
                .context("serialising the application")?;
            println!("{json}");
            Ok(())
        }
    }
}

async fn serve(
    listen: SocketAddr,
    data: &Data,
    sender_id: String,
    sender_password: String,
    devices: Option<(SocketAddr, Option<PathBuf>)>,
) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let (scenario, today) = data.load()?;
    let personas = scenario.personas.len();
    let scenario_registries: Vec<String> =
        scenario.registries.iter().map(|r| r.id.clone()).collect();
    let dates = match scenario.anchor {
        Some(anchor) => format!("dates moved from {anchor} to {today}"),
        None => "dates as written".to_string(),
    };
    let config = MockConfig {
        listen,
        sender_id,
        sender_password,
        today: Some(today),
        ..MockConfig::default()
    };
    let mocks = registry::start(scenario, config)?;
    println!(
        "kezek-mocks listening on http://{} ({personas} personas, {dates})",
        mocks.addr()
    );
    for r in RegistryId::ALL {
        println!("  {:<18} {}", r.as_str(), mocks.url(r));
    }
    for r in &scenario_registries {
        let url = mocks.declared_url(r).unwrap_or_default();
        println!("  {r:<18} {url} (declared by the scenario)");
    }
    println!("  {:<18} {}", "admin", mocks.admin_url());
    let _devices = match devices {
        Some((push_to, faults)) => {
            use kezek_mocks::devices::checkpoint::{
                DEV_BOARD, DEV_ISAPI_BARRIER, DEV_RELAY, DevAddresses, DevCheckpoint, FaultScript,
            };
            let script = match &faults {
                Some(path) => FaultScript::from_file(path)
                    .with_context(|| format!("reading the fault script {}", path.display()))?,
                None => FaultScript::default(),
            };
            let scripted = script.faults.len();
            let running = DevCheckpoint::start(
                DevAddresses::profile(),
                push_to,
                std::time::Duration::from_secs(10),
                script,
            )
            .await
            .context("starting the mock devices")?;
            println!("mock devices of deploy/lanes/cn-nur-zholy.json:");
            println!(
                "  {:<18} http://{DEV_ISAPI_BARRIER} (Hikvision ISAPI)",
                "barrier"
            );
            println!("  {:<18} {DEV_RELAY} (Modbus TCP)", "relay");
            println!("  {:<18} {DEV_BOARD} (text lines)", "board");
            println!(
                "  {:<18} heartbeats every 10 s to http://{push_to}",
                "cameras"
            );
            if let Some(path) = &faults {
                println!(
                    "  {:<18} {scripted} from {}",
                    "scripted faults",
                    path.display()
                );
            }
            Some(running)
        }
        None => None,
    };
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    mocks.shutdown();
    Ok(())
}
