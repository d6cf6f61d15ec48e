//! The HTTP client the command line uses to talk to a running gateway: plain HTTP for the
//! admin listener, HTTPS for the public API (trusting the CA in `--cacert` / `KEZEK_CACERT`,
//! e.g. the development certificate `target/dev-cert.pem`).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::path::Path;

/// Sends one request and returns the status and the JSON body.
pub async fn request_json(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<String>,
    cacert: Option<&Path>,
) -> anyhow::Result<(hyper::StatusCode, serde_json::Value)> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    if cacert.is_none() && url.starts_with("https:") {
        anyhow::bail!("an https URL needs --cacert (for `make run`: target/dev-cert.pem)");
    }
    let client = kezek_egress::https_client::<Full<Bytes>>(cacert)?;
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(&url)
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = client
        .request(request.body(Full::new(Bytes::from(body.unwrap_or_default())))?)
        .await
        .map_err(|e| anyhow::anyhow!("{method} {url}: {e} (is the gateway running?)"))?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    let value = serde_json::from_slice(&bytes).map_err(|_| {
        anyhow::anyhow!("the gateway answered HTTP {status} with a body that is not JSON")
    })?;
    Ok((status, value))
}
