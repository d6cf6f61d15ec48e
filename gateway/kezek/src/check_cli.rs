//! `kezek check`: one check of one adapter, on the adapters on disk (`--config`) or through
//! a running gateway (`--url`, the admin API), printed in words either way (issue 12): a
//! refused package's reason is on the console, not only in a JSON log line.

use crate::config::Config;
use kezek_catalogue::trial::{Trial, parse_check};
use kezek_domain::Application;
use kezek_domain::clock::SystemClock;
use std::sync::Arc;
use std::time::Duration;

/// What `kezek check` looks at.
#[derive(Debug)]
pub enum Target<'a> {
    /// The packages on disk, loaded as a cold start would (the record of the set in force
    /// is read, never written).
    Disk(&'a std::path::Path),
    /// A running gateway's admin API, with its token if it needs one.
    Gateway {
        url: &'a str,
        token: Option<&'a str>,
    },
}

/// Exit codes: 0 a finding, 2 the adapter is not running (the reason printed), 3 the
/// adapter answered with an error.
pub async fn run(
    target: Target<'_>,
    adapter: &str,
    check: Option<&str>,
    application: &str,
) -> anyhow::Result<(u8, String)> {
    let parsed: Application = serde_json::from_str(application)
        .map_err(|e| anyhow::anyhow!("the application is not valid: {e}"))?;
    let check_text = check;
    let check = check
        .map(parse_check)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let trial: Result<Trial, String> = match target {
        Target::Disk(config) => {
            let config = Config::from_file(config)?;
            let (_, catalogue, _) =
                crate::server::load_adapters(&config, Arc::new(SystemClock), true).await?;
            catalogue
                .trial(adapter, check, &parsed, Duration::from_secs(30))
                .await
                .map_err(|e| e.to_string())
        }
        Target::Gateway { url, token } => {
            let headers: Vec<(&str, String)> = token
                .iter()
                .map(|t| ("authorization", format!("Bearer {t}")))
                .collect();
            // As the operator wrote it: it parsed above, and the gateway parses it the same way.
            let query = check_text
                .map(|c| format!("?check={c}"))
                .unwrap_or_default();
            let path = format!("/admin/adapters/{adapter}/check{query}");
            let (status, body) = crate::client::request_json(
                url,
                "POST",
                &path,
                &headers,
                Some(application.to_owned()),
                None,
            )
            .await?;
            if status.is_success() {
                Ok(serde_json::from_value(body)?)
            } else if status == hyper::StatusCode::NOT_FOUND {
                Err(detail(&body))
            } else {
                anyhow::bail!(
                    "the gateway refused the check (HTTP {status}): {}",
                    detail(&body)
                )
            }
        }
    };
    Ok(match trial {
        Ok(trial) => (if trial.error.is_some() { 3 } else { 0 }, trial.to_string()),
        Err(why) => (2, format!("{why}\n")),
    })
}

/// A problem's detail, with the fields it names.
fn detail(problem: &serde_json::Value) -> String {
    let mut text = problem["detail"]
        .as_str()
        .unwrap_or("no detail given")
        .to_owned();
    for error in problem["errors"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "\n  {}: {}",
            error["pointer"].as_str().unwrap_or("?"),
            error["detail"].as_str().unwrap_or("?")
        ));
    }
    text
}
