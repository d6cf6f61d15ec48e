//! The HTTP client the command line uses to talk to a running gateway: plain HTTP for the
//! admin listener, HTTPS for the public API (trusting the CA in `--cacert` / `KEZEK_CACERT`,
//! e.g. the development certificate `target/dev-cert.pem`).

use anyhow::Context;
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
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = cacert {
        use rustls_pki_types::pem::PemObject;
        for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca)
            .with_context(|| format!("reading {}", ca.display()))?
        {
            roots.add(cert?)?;
        }
    } else if url.starts_with("https:") {
        anyhow::bail!("an https URL needs --cacert (for `make run`: target/dev-cert.pem)");
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Full<Bytes>>(connector);
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
