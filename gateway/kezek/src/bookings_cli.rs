//! `kezek bookings …`: availability, create, get, reschedule, cancel — over the HTTP API.

use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Api {
    /// Base URL of the gateway's public API.
    #[arg(long, env = "KEZEK_URL", default_value = "https://localhost:8443")]
    url: String,
    /// CA certificate (PEM) to trust for https, e.g. `target/dev-cert.pem`.
    #[arg(long, env = "KEZEK_CACERT")]
    cacert: Option<PathBuf>,
    /// Bearer token of the caller (`kezek dev-token …` in development): whose bookings.
    #[arg(long, env = "KEZEK_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BookingsCommand {
    /// Free capacity of a checkpoint (P16, P22).
    Availability {
        #[command(flatten)]
        api: Api,
        checkpoint: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long, default_value_t = 7)]
        days: u32,
    },
    /// Create a booking from a JSON body (schemas/booking-create.schema.json); `-` = stdin.
    Create {
        #[command(flatten)]
        api: Api,
        body: PathBuf,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Show a booking and its ticket.
    Get {
        #[command(flatten)]
        api: Api,
        id: String,
    },
    /// Move a booking to another date and hour, or the first free slot (P28).
    Reschedule {
        #[command(flatten)]
        api: Api,
        id: String,
        #[arg(long)]
        date: Option<String>,
        #[arg(long)]
        hour: Option<u8>,
        #[arg(long)]
        first_free: bool,
    },
    /// Validate a checkpoint catalogue an operator edited (schema, D22 bands) and list it.
    Checkpoints {
        /// The catalogue file; default: the one compiled in (deploy/checkpoints.json).
        file: Option<PathBuf>,
    },
    /// Cancel a booking (P28: the fee is kept).
    Cancel {
        #[command(flatten)]
        api: Api,
        id: String,
    },
}

pub async fn run(command: BookingsCommand) -> anyhow::Result<ExitCode> {
    let (api, method, path, body, key) = match command {
        BookingsCommand::Checkpoints { file } => {
            let catalogue = match file {
                Some(f) => kezek_booking::checkpoints::Catalogue::from_file(&f)?,
                None => kezek_booking::checkpoints::Catalogue::embedded(),
            };
            println!(
                "catalogue {} — {} checkpoints",
                catalogue.version,
                catalogue.checkpoints.len()
            );
            println!(
                "{:<22} {:<3} {:<4} {:<16} {:>6} {:>5}  REGION",
                "CODE", "NB", "CAT", "MODE", "DAY", "HOUR"
            );
            for cp in catalogue.checkpoints.values() {
                println!(
                    "{:<22} {:<3} {:<4} {:<16} {:>6} {:>5}  {}",
                    cp.code,
                    cp.country,
                    cp.category,
                    format!("{:?}", cp.mode),
                    cp.day_capacity(),
                    cp.hourly_capacity,
                    cp.region_ru
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        BookingsCommand::Availability {
            api,
            checkpoint,
            from,
            days,
        } => {
            let from = from.map(|f| format!("&from={f}")).unwrap_or_default();
            let path = format!("/v1/checkpoints/{checkpoint}/availability?days={days}{from}");
            (api, "GET", path, None, None)
        }
        BookingsCommand::Create {
            api,
            body,
            idempotency_key,
        } => {
            let text = if body == std::path::Path::new("-") {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
                s
            } else {
                std::fs::read_to_string(&body)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", body.display()))?
            };
            (
                api,
                "POST",
                "/v1/bookings".into(),
                Some(text),
                idempotency_key,
            )
        }
        BookingsCommand::Get { api, id } => (api, "GET", format!("/v1/bookings/{id}"), None, None),
        BookingsCommand::Reschedule {
            api,
            id,
            date,
            hour,
            first_free,
        } => {
            let slot = if first_free {
                serde_json::json!({"first-free": true})
            } else {
                serde_json::json!({"date": date, "hour": hour})
            };
            let body = serde_json::json!({"slot": slot}).to_string();
            (
                api,
                "POST",
                format!("/v1/bookings/{id}/reschedule"),
                Some(body),
                None,
            )
        }
        BookingsCommand::Cancel { api, id } => {
            let body = "{}".to_owned();
            (
                api,
                "POST",
                format!("/v1/bookings/{id}/cancel"),
                Some(body),
                None,
            )
        }
    };
    let (status, value) = call(&api, method, &path, body, key).await?;
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "HTTP {status}{}",
            value["rule"]
                .as_str()
                .map(|r| format!(" (rule {r})"))
                .unwrap_or_default()
        );
        ExitCode::from(2)
    })
}

async fn call(
    api: &Api,
    method: &str,
    path: &str,
    body: Option<String>,
    key: Option<String>,
) -> anyhow::Result<(hyper::StatusCode, serde_json::Value)> {
    let headers: Vec<(&str, String)> = key
        .map(|k| ("idempotency-key", k))
        .into_iter()
        .chain(
            api.token
                .as_ref()
                .map(|t| ("authorization", format!("Bearer {t}"))),
        )
        .collect();
    crate::client::request_json(
        &api.url,
        method,
        path,
        &headers,
        body,
        api.cacert.as_deref(),
    )
    .await
}
