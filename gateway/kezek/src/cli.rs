//! The `kezek` command line: `serve`, `adapters …`, `devices …`, `check`, `keygen`, `dev-token`, `openapi`.

use crate::config::Config;
use crate::server::{self, Gateway};
use clap::{Parser, Subcommand};
use kezek_catalogue::signing;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "kezek",
    version,
    about = "Kezek verification gateway for the electronic border queue (Order 707)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        #[arg(long, short, env = "KEZEK_CONFIG")]
        config: PathBuf,
    },
    /// Inspect and change the adapters of a running gateway, or sign adapter packages.
    Adapters {
        #[command(subcommand)]
        command: AdaptersCommand,
    },
    /// Inspect the device drivers of a running gateway (ADR 0020). Drivers are packages of
    /// the adapters directory: `adapters deploy` installs them, `devices reload` (the same as
    /// `adapters reload`) loads them.
    Devices {
        #[command(subcommand)]
        command: DevicesCommand,
    },
    /// Call one adapter with an application (JSON, from a file or stdin) and print the finding:
    /// the adapter a running gateway serves (`--url`), or the packages on disk (`--config`).
    /// A refused adapter's reason is printed.
    Check {
        /// The gateway's config: load the adapters on disk as a cold start would.
        #[arg(long, short, env = "KEZEK_CONFIG")]
        config: Option<PathBuf>,
        /// Base URL of a running gateway's admin API: check through the adapter it runs
        /// (wins over --config).
        #[arg(long)]
        url: Option<String>,
        /// Admin bearer token, if the gateway requires one.
        #[arg(long, env = "KEZEK_ADMIN_TOKEN")]
        token: Option<String>,
        /// Adapter id, as in `adapters list`.
        #[arg(long)]
        adapter: String,
        /// P18 check; defaults to the adapter's first.
        #[arg(long)]
        check: Option<String>,
        /// Application JSON file; `-` or nothing reads stdin.
        request: Option<PathBuf>,
    },
    /// Bookings over the HTTP API: availability, create, get, reschedule, cancel.
    Bookings {
        #[command(subcommand)]
        command: crate::bookings_cli::BookingsCommand,
    },
    /// Check the audit log's hash chain (and its signed anchors) and name the first break.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Make an Ed25519 key pair for signing adapters: `<out>.key` and `<out>.pub`.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a development bearer token for the public API (ADR 0014), signed with the
    /// development key: made on first use beside the JWKS file `[api.auth]` reads
    /// (`target/dev-keys/token.jwks` for `deploy/dev/kezek.toml`), which it writes too.
    DevToken {
        #[arg(
            long,
            short,
            env = "KEZEK_CONFIG",
            default_value = "deploy/dev/kezek.toml"
        )]
        config: PathBuf,
        #[arg(long, default_value = "applicant",
              value_parser = ["applicant", "registrar", "officer", "operator"])]
        role: String,
        /// The token's subject: the applicant's account, the registrar's or officer's id.
        #[arg(long)]
        subject: String,
        /// For a registrar: the account it acts for.
        #[arg(long)]
        account: Option<String>,
        /// For an officer: the checkpoints it reads at, comma-separated (P4).
        #[arg(long, value_delimiter = ',')]
        checkpoints: Vec<String>,
        /// For an applicant: its own IIN/BIN, as the registrar knows it from the digital
        /// signature (P15); it then verifies only applications that name it.
        #[arg(long)]
        iin: Option<String>,
        /// Lifetime: seconds, or with a unit (`15m`, `8h`).
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: i64,
    },
    /// Print the OpenAPI document of both listeners, as `GET /openapi.json` serves it and
    /// `schemas/openapi.json` holds it.
    Openapi,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the whole chain in the configured store; with `--anchors`, check every signed
    /// anchor against it too, so a chain rewritten with recomputed hashes is found.
    Verify {
        #[arg(long, short, env = "KEZEK_CONFIG")]
        config: PathBuf,
        /// The anchors file, or the directory holding it (`[audit] anchor_out`).
        #[arg(long, requires = "pubkey")]
        anchors: Option<PathBuf>,
        /// The anchor key's public half (`<stem>.pub`, as `kezek keygen` writes it).
        #[arg(long, requires = "anchors")]
        pubkey: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum AdaptersCommand {
    /// List the adapters the gateway is running.
    List(AdminArgs),
    /// Show one adapter: manifest, descriptor, component hash.
    Inspect {
        #[command(flatten)]
        admin: AdminArgs,
        id: String,
    },
    /// Re-read the adapters directory and swap in what changed.
    Reload(AdminArgs),
    /// Restore the previous adapter set.
    Rollback(AdminArgs),
    /// Sign adapter packages (folders holding manifest.json and adapter.wasm).
    Sign {
        /// Ed25519 private key (PKCS#8 PEM), as `kezek keygen` writes it.
        #[arg(long)]
        key: PathBuf,
        #[arg(required = true)]
        packages: Vec<PathBuf>,
    },
    /// Validate, sign and install staged packages into the adapters directory, each in one
    /// step; then, with --url, have the gateway reload and print what it did.
    Deploy(crate::deploy_cli::DeployArgs),
    /// Make a new adapter crate: manifest, SDK calls for its family, unit tests, and a mock
    /// scenario to add to the mocks.
    New(crate::scaffold::NewArgs),
}

#[derive(Debug, Subcommand)]
enum DevicesCommand {
    /// List the device drivers the gateway is running.
    List(AdminArgs),
    /// Show one driver: what describe() says (capabilities, config fields), its manifest and
    /// component hash.
    Inspect {
        #[command(flatten)]
        admin: AdminArgs,
        id: String,
    },
    /// Re-read the adapters directory (adapters and drivers) and swap in what changed.
    Reload(AdminArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct AdminArgs {
    /// Base URL of the gateway's admin API.
    #[arg(long, env = "KEZEK_ADMIN_URL", default_value = "http://127.0.0.1:8444")]
    pub(crate) url: String,
    /// Admin bearer token, if the gateway requires one.
    #[arg(long, env = "KEZEK_ADMIN_TOKEN")]
    pub(crate) token: Option<String>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEZEK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .json()
        .try_init();
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { config } => serve(&config).await,
        Command::Adapters { command } => adapters(command).await,
        Command::Devices { command } => devices(command).await,
        Command::Check {
            config,
            url,
            token,
            adapter,
            check,
            request,
        } => {
            let target = match (&url, &config) {
                (Some(url), _) => crate::check_cli::Target::Gateway {
                    url,
                    token: token.as_deref(),
                },
                (None, Some(config)) => crate::check_cli::Target::Disk(config),
                (None, None) => anyhow::bail!(
                    "say what to check: --url (the running gateway's admin API) or --config (the packages on disk)"
                ),
            };
            let application = read_request(request.as_deref())?;
            let (code, text) =
                crate::check_cli::run(target, &adapter, check.as_deref(), &application).await?;
            print!("{text}");
            Ok(ExitCode::from(code))
        }
        Command::Bookings { command } => crate::bookings_cli::run(command).await,
        Command::Audit {
            command:
                AuditCommand::Verify {
                    config,
                    anchors,
                    pubkey,
                },
        } => audit_verify(&config, anchors.as_deref().zip(pubkey.as_deref())).await,
        Command::DevToken {
            config,
            role,
            subject,
            account,
            checkpoints,
            iin,
            ttl,
        } => {
            let config = Config::from_file(&config)?;
            let auth = config
                .api
                .auth
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("the config has no [api.auth]"))?;
            let jwks = auth.jwks_file.as_ref().ok_or_else(|| {
                anyhow::anyhow!(
                    "this config reads its keys from a JWKS URL: tokens come from that identity provider"
                )
            })?;
            let issuer = kezek_api::auth::dev::DevIssuer::open_or_create(jwks)?;
            let now = kezek_domain::clock::Clock::now(&kezek_domain::clock::SystemClock);
            let mut claims = kezek_api::auth::dev::claims(
                &auth.issuer,
                &auth.audience,
                &role,
                &subject,
                now.unix_timestamp(),
                ttl,
            );
            if let Some(account) = account {
                claims["account"] = account.into();
            }
            if !checkpoints.is_empty() {
                claims["checkpoints"] = checkpoints.into();
            }
            if let Some(iin) = iin {
                claims["iin"] = iin.into();
            }
            // A token whose claims name no caller would only earn 401s: say why now.
            kezek_api::auth::Caller::from_claims(serde_json::from_value(claims.clone())?)
                .map_err(anyhow::Error::msg)?;
            println!("{}", issuer.sign(&claims));
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi => {
            print!("{}", kezek_api::openapi::rendered());
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen { out } => {
            let key = signing::generate_key()?;
            signing::write_key_pair(&key, &out)?;
            println!(
                "wrote {} (keep private) and {}",
                out.with_extension("key").display(),
                out.with_extension("pub").display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `kezek audit verify`: exit 0 when the chain (and every anchor) holds, 2 at the first break.
async fn audit_verify(
    config_path: &Path,
    anchors: Option<(&Path, &Path)>,
) -> anyhow::Result<ExitCode> {
    let config = Config::from_file(config_path)?;
    let store = kezek_store::Store::open(&config.store).await?;
    let entries = match kezek_store::audit::verify(&store).await? {
        Ok(entries) => entries,
        Err(broken) => {
            println!("{broken}");
            return Ok(ExitCode::from(2));
        }
    };
    println!("audit chain intact: {entries} entries");
    if let Some((anchors, pubkey)) = anchors {
        let key = signing::read_verifying_key(pubkey)?;
        match kezek_store::audit::verify_anchors(&store, anchors, &key).await? {
            Ok(n) => println!("every anchor matches the chain: {n} anchors"),
            Err(broken) => {
                println!("{broken}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `90`, `90s`, `15m`, `8h`: seconds, between one and a day.
fn parse_ttl(text: &str) -> Result<i64, String> {
    let (number, unit) = match text.char_indices().last() {
        Some((i, 's')) => (&text[..i], 1),
        Some((i, 'm')) => (&text[..i], 60),
        Some((i, 'h')) => (&text[..i], 3600),
        _ => (text, 1),
    };
    let seconds = number
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("{text} is not a lifetime (90, 90s, 15m, 8h)"))?;
    if (1..=86_400).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(format!(
            "{text}: a development token lives between 1 s and 24 h"
        ))
    }
}

async fn serve(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::from_file(config_path)?;
    let gateway = Gateway::start(&config).await?;
    let _watcher = if config.adapters.watch {
        Some(kezek_catalogue::watch(gateway.catalogue.clone())?)
    } else {
        None
    };
    let mut listeners = kezek_api::Listeners::bind(&config.api).await?;
    if let Some(addr) = config.devices.push_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("binding devices.push_listen {addr}: {e}"))?;
        eprintln!("kezek: device pushes on http://{}", listener.local_addr()?);
        listeners.device_push = Some(listener);
    }
    let scheme = if listeners.tls.is_some() {
        "https"
    } else {
        "http"
    };
    eprintln!(
        "kezek: public API on {scheme}://{}",
        listeners.api.local_addr()?
    );
    if let Some(admin) = &listeners.admin {
        eprintln!("kezek: admin API on http://{}", admin.local_addr()?);
    }
    server::run(listeners, gateway, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn adapters(command: AdaptersCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdaptersCommand::List(admin) => {
            let list = admin_call(&admin, "GET", "/admin/adapters").await?;
            println!("generation {}", list["generation"]);
            println!("{:<28} {:<10} {:<10} REGISTRY", "ID", "VERSION", "CHECKS");
            for a in list["adapters"].as_array().into_iter().flatten() {
                let checks = strings(&a["checks"]);
                println!(
                    "{:<28} {:<10} {:<10} {}",
                    a["id"].as_str().unwrap_or("?"),
                    a["version"].as_str().unwrap_or("?"),
                    checks.join(","),
                    a["registry"].as_str().unwrap_or("?")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AdaptersCommand::Inspect { admin, id } => {
            let list = admin_call(&admin, "GET", "/admin/adapters").await?;
            let found = list["adapters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["id"] == id.as_str());
            match found {
                Some(a) => {
                    println!("{}", serde_json::to_string_pretty(a)?);
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("no adapter {id} is loaded (see `kezek adapters list`)");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AdaptersCommand::Reload(admin) => {
            print_report(admin_call(&admin, "POST", "/admin/adapters/reload").await?)
        }
        AdaptersCommand::Rollback(admin) => {
            print_report(admin_call(&admin, "POST", "/admin/adapters/rollback").await?)
        }
        AdaptersCommand::Sign { key, packages } => {
            let key = signing::read_signing_key(&key)?;
            for package in packages {
                let mut staged = crate::deploy::Staged::read(&package)
                    .map_err(|e| e.context(package.display().to_string()))?;
                staged.sign(&key);
                staged.write_signature()?;
                println!("signed {}", package.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        AdaptersCommand::Deploy(args) => crate::deploy_cli::run(args).await,
        AdaptersCommand::New(args) => crate::scaffold::run(&args),
    }
}

async fn devices(command: DevicesCommand) -> anyhow::Result<ExitCode> {
    match command {
        DevicesCommand::List(admin) => {
            let list = admin_call(&admin, "GET", "/admin/devices").await?;
            println!("generation {}", list["generation"]);
            println!(
                "{:<28} {:<10} {:<8} {:<13} {:<40} PROTOCOL",
                "ID", "VERSION", "KIND", "TRANSPORT", "CAPABILITIES"
            );
            for d in list["drivers"].as_array().into_iter().flatten() {
                let capabilities = strings(&d["capabilities"]);
                println!(
                    "{:<28} {:<10} {:<8} {:<13} {:<40} {}",
                    d["id"].as_str().unwrap_or("?"),
                    d["version"].as_str().unwrap_or("?"),
                    d["kind"].as_str().unwrap_or("?"),
                    d["transport"].as_str().unwrap_or("?"),
                    capabilities.join(","),
                    d["protocol"].as_str().unwrap_or("?")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        DevicesCommand::Inspect { admin, id } => {
            let found = admin_call(&admin, "GET", &format!("/admin/devices/{id}")).await;
            match found {
                Ok(d) => {
                    println!("{}", serde_json::to_string_pretty(&d)?);
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{e} (see `kezek devices list`)");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        DevicesCommand::Reload(admin) => {
            print_report(admin_call(&admin, "POST", "/admin/adapters/reload").await?)
        }
    }
}

/// The strings of a JSON array an admin route answered (none if it is not one).
fn strings(array: &serde_json::Value) -> Vec<&str> {
    let items = array.as_array().into_iter().flatten();
    items.filter_map(serde_json::Value::as_str).collect()
}

pub(crate) fn print_report(report: serde_json::Value) -> anyhow::Result<ExitCode> {
    let report: kezek_catalogue::ReloadReport = serde_json::from_value(report)?;
    print!("{report}");
    Ok(if report.refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

pub(crate) async fn admin_call(
    admin: &AdminArgs,
    method: &str,
    path: &str,
) -> anyhow::Result<serde_json::Value> {
    let headers: Vec<(&str, String)> = admin
        .token
        .iter()
        .map(|t| ("authorization", format!("Bearer {t}")))
        .collect();
    let (status, value) =
        crate::client::request_json(&admin.url, method, path, &headers, None, None).await?;
    if !status.is_success() {
        anyhow::bail!("{}", value["detail"].as_str().unwrap_or("request failed"));
    }
    Ok(value)
}

/// An application's JSON from a file, or stdin for `-` or nothing.
fn read_request(request: Option<&Path>) -> anyhow::Result<String> {
    match request {
        Some(p) if p != Path::new("-") => {
            std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display()))
        }
        _ => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            Ok(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;

    #[test]
    fn dev_token_lifetimes() {
        for (text, expect) in [
            ("90", Ok(90)),
            ("90s", Ok(90)),
            ("15m", Ok(900)),
            ("8h", Ok(28_800)),
            ("0", Err(())),
            ("25h", Err(())),
            ("h", Err(())),
            ("-5m", Err(())),
            ("9223372036854775807h", Err(())),
        ] {
            assert_eq!(parse_ttl(text).map_err(|_| ()), expect, "{text}");
        }
    }
}
