//! `kezek adapters deploy`: the command around [`crate::deploy`].

use crate::config::Config;
use kezek_catalogue::signing;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// A staged package folder (manifest.json, adapter.wasm), or a folder of them, as
    /// `scripts/package-adapters` writes them.
    pub staged: PathBuf,
    /// Ed25519 private key to sign with (as `kezek keygen` writes it); without it each
    /// package must already carry its adapter.sig.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The adapters directory to install into.
    #[arg(long)]
    pub to: Option<PathBuf>,
    /// Or the gateway config whose `[adapters] dir` to install into.
    #[arg(long, short, env = "KEZEK_CONFIG")]
    pub config: Option<PathBuf>,
    /// A running gateway's admin API: ask it to reload afterwards and print its report.
    #[arg(long)]
    pub url: Option<String>,
    /// Admin bearer token, if the gateway requires one.
    #[arg(long, env = "KEZEK_ADMIN_TOKEN")]
    pub token: Option<String>,
}

/// Exit 0 when everything was installed (and loaded), 2 when something was refused.
pub async fn run(args: DeployArgs) -> anyhow::Result<ExitCode> {
    let adapters = match (&args.to, &args.config) {
        (Some(to), _) => to.clone(),
        (None, Some(config)) => Config::from_file(config)?.adapters.dir,
        (None, None) => anyhow::bail!(
            "say where to install: --to <adapters directory> or --config <gateway config>"
        ),
    };
    let key = args
        .key
        .as_deref()
        .map(signing::read_signing_key)
        .transpose()?;
    let report = crate::deploy::deploy(&args.staged, &adapters, key.as_ref())?;
    println!("deployed into {}", adapters.display());
    print!("{report}");
    let mut code = if report.refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    };
    if let Some(url) = args.url {
        let admin = crate::cli::AdminArgs {
            url,
            token: args.token,
        };
        let reloaded = crate::cli::admin_call(&admin, "POST", "/admin/adapters/reload").await?;
        println!("the gateway reloaded:");
        if crate::cli::print_report(reloaded)? != ExitCode::SUCCESS {
            code = ExitCode::from(2);
        }
    }
    Ok(code)
}
