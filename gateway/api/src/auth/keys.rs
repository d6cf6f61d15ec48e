//! The identity provider's public keys: a JWKS read from a file or fetched from a URL,
//! cached, and read again when a token names a key the cache does not hold (rotation without
//! a restart), at most once per `jwks_min_refresh_ms` (ADR 0014).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Largest JWKS document read; a provider publishes a handful of keys.
const MAX_JWKS: usize = 64 * 1024;
/// Longest a JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// One verification key and the one algorithm it verifies.
pub(super) struct Key {
    pub alg: Algorithm,
    pub key: DecodingKey,
}

/// The keys of one reading of the JWKS.
#[derive(Default)]
pub(super) struct KeySet {
    keys: Vec<(Option<String>, Arc<Key>)>,
    read_at: Option<Instant>,
}

impl KeySet {
    /// The usable keys of a JWKS document: signature keys whose algorithm is allowed. A key
    /// that is symmetric, of an unknown type, or whose `alg` contradicts its type is left out
    /// (and logged), never guessed.
    pub fn parse(json: &[u8], allowed: &[Algorithm]) -> Result<Self, String> {
        let doc: Value = serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))?;
        let entries = doc["keys"]
            .as_array()
            .ok_or("a JWKS is an object with `keys`")?;
        let mut keys = Vec::new();
        for entry in entries {
            let kid = entry["kid"].as_str().map(str::to_owned);
            match usable(entry, allowed) {
                Ok(Some(key)) => keys.push((kid, Arc::new(key))),
                Ok(None) => {}
                Err(why) => {
                    tracing::warn!(kid = kid.as_deref().unwrap_or(""), why, "JWKS key left out")
                }
            }
        }
        Ok(Self {
            keys,
            read_at: Some(Instant::now()),
        })
    }

    /// The key a token's `kid` names; without a `kid`, the only key if there is one.
    pub fn find(&self, kid: Option<&str>) -> Option<Arc<Key>> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|(k, _)| k.as_deref() == Some(kid))
                .map(|(_, key)| key.clone()),
            None if self.keys.len() == 1 => Some(self.keys[0].1.clone()),
            None => None,
        }
    }

    fn older_than(&self, age: Duration) -> bool {
        self.read_at.is_none_or(|at| at.elapsed() >= age)
    }
}

/// `Ok(None)`: a key for something else (encryption, an algorithm not allowed here).
fn usable(entry: &Value, allowed: &[Algorithm]) -> Result<Option<Key>, &'static str> {
    if entry["use"].as_str().is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    let Some(alg) = algorithm_of(entry)? else {
        return Ok(None);
    };
    if !allowed.contains(&alg) {
        return Ok(None);
    }
    let jwk: Jwk = serde_json::from_value(entry.clone()).map_err(|_| "not a JWK")?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "not a usable public key")?;
    Ok(Some(Key { alg, key }))
}

/// The one algorithm a JWK verifies: its `alg` if given and consistent with its type,
/// otherwise what the type implies. Symmetric (`oct`) keys are refused: a JWKS publishes
/// public keys, and an HMAC "public" key would let anyone sign.
fn algorithm_of(entry: &Value) -> Result<Option<Algorithm>, &'static str> {
    use Algorithm::*;
    let named = match entry["alg"].as_str() {
        Some(name) => Some(Algorithm::from_str(name).map_err(|_| "unknown alg")?),
        None => None,
    };
    let alg = match (entry["kty"].as_str(), entry["crv"].as_str()) {
        (Some("OKP"), Some("Ed25519")) => EdDSA,
        (Some("EC"), Some("P-256")) => ES256,
        (Some("EC"), Some("P-384")) => ES384,
        (Some("RSA"), _) => match named {
            Some(a @ (RS256 | RS384 | RS512 | PS256 | PS384 | PS512)) => a,
            Some(_) => return Err("alg does not fit an RSA key"),
            None => RS256,
        },
        (Some("oct"), _) => return Err("symmetric keys are refused"),
        _ => return Ok(None),
    };
    match named {
        Some(named) if named != alg => Err("alg does not fit the key's type"),
        _ => Ok(Some(alg)),
    }
}

/// Where the keys come from.
pub(super) enum Source {
    File(PathBuf),
    Url {
        uri: hyper::Uri,
        client: Box<Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>>,
    },
}

impl Source {
    /// An https URL trusting `ca` (PEM), or an http URL on a loopback address.
    pub fn url(url: &str, ca: Option<&std::path::Path>) -> anyhow::Result<Self> {
        use anyhow::Context;
        let uri: hyper::Uri = url.parse().context("api.auth.jwks_url")?;
        let loopback = uri.host().is_some_and(|h| {
            h == "localhost"
                || h.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        match uri.scheme_str() {
            Some("https") if ca.is_none() => {
                anyhow::bail!("api.auth.jwks_url is https: set api.auth.jwks_ca_file")
            }
            Some("https") => {}
            Some("http") if loopback => {}
            _ => anyhow::bail!("api.auth.jwks_url must be https (http only on loopback): {url}"),
        }
        let client = kezek_egress::https_client(ca)?;
        Ok(Self::Url {
            uri,
            client: Box::new(client),
        })
    }

    async fn read(&self) -> Result<Vec<u8>, String> {
        match self {
            Self::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| format!("reading {}: {e}", path.display())),
            Self::Url { uri, client } => {
                let fetch = async {
                    let response = client
                        .get(uri.clone())
                        .await
                        .map_err(|e| format!("fetching the JWKS: {e}"))?;
                    if !response.status().is_success() {
                        return Err(format!("the JWKS URL answered {}", response.status()));
                    }
                    Limited::new(response.into_body(), MAX_JWKS)
                        .collect()
                        .await
                        .map(|body| body.to_bytes().to_vec())
                        .map_err(|e| format!("reading the JWKS: {e}"))
                };
                tokio::time::timeout(FETCH_TIMEOUT, fetch)
                    .await
                    .map_err(|_| "the JWKS URL did not answer in time".to_owned())?
            }
        }
    }
}

/// The cached keys and when to read them again.
pub(super) struct Keys {
    source: Source,
    allowed: Vec<Algorithm>,
    max_age: Duration,
    min_refresh: Duration,
    current: RwLock<Arc<KeySet>>,
    /// When the source was last read (successfully or not); one reader at a time.
    last_read: tokio::sync::Mutex<Option<Instant>>,
}

impl Keys {
    pub fn new(
        source: Source,
        allowed: Vec<Algorithm>,
        max_age: Duration,
        min_refresh: Duration,
    ) -> Self {
        Self {
            source,
            allowed,
            max_age,
            min_refresh,
            current: RwLock::new(Arc::new(KeySet::default())),
            last_read: tokio::sync::Mutex::new(None),
        }
    }

    /// Reads the source now; the error says why nothing was read.
    pub async fn load(&self) -> Result<(), String> {
        let mut last = self.last_read.lock().await;
        *last = Some(Instant::now());
        self.read_into_cache().await
    }

    async fn read_into_cache(&self) -> Result<(), String> {
        let json = self.source.read().await?;
        let set = KeySet::parse(&json, &self.allowed)?;
        *self.current.write().expect("the key cache lock") = Arc::new(set);
        Ok(())
    }

    fn snapshot(&self) -> Arc<KeySet> {
        self.current.read().expect("the key cache lock").clone()
    }

    /// The key for a token's `kid`: from the cache while it is fresh; otherwise the source is
    /// read again, unless it was read less than `min_refresh` ago. A source that cannot be
    /// read leaves the cached keys in place (logged).
    pub async fn find(&self, kid: Option<&str>) -> Option<Arc<Key>> {
        let cached = self.snapshot();
        let found = cached.find(kid);
        if found.is_some() && !cached.older_than(self.max_age) {
            return found;
        }
        let mut last = self.last_read.lock().await;
        // Another request may have read the source while this one waited.
        let cached = self.snapshot();
        let found = cached.find(kid);
        if found.is_some() && !cached.older_than(self.max_age) {
            return found;
        }
        if last.is_some_and(|at| at.elapsed() < self.min_refresh) {
            return found;
        }
        *last = Some(Instant::now());
        if let Err(e) = self.read_into_cache().await {
            tracing::warn!(error = %e, "the identity provider's keys could not be read");
            return found;
        }
        self.snapshot().find(kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(jwk: Value, expect: Result<Option<Algorithm>, &str>) {
        assert_eq!(algorithm_of(&jwk), expect, "{jwk}");
    }

    /// ADR 0014: a key verifies exactly one algorithm, chosen by its type; a JWKS can never
    /// make Kezek accept an HMAC "public" key.
    #[test]
    fn a_jwk_verifies_the_one_algorithm_its_type_allows() {
        use Algorithm::*;
        for (jwk, expect) in [
            (json!({"kty": "OKP", "crv": "Ed25519"}), Ok(Some(EdDSA))),
            (
                json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA"}),
                Ok(Some(EdDSA)),
            ),
            (json!({"kty": "EC", "crv": "P-256"}), Ok(Some(ES256))),
            (
                json!({"kty": "EC", "crv": "P-384", "alg": "ES384"}),
                Ok(Some(ES384)),
            ),
            (json!({"kty": "RSA"}), Ok(Some(RS256))),
            (json!({"kty": "RSA", "alg": "PS256"}), Ok(Some(PS256))),
            (
                json!({"kty": "RSA", "alg": "HS256"}),
                Err("alg does not fit an RSA key"),
            ),
            (
                json!({"kty": "OKP", "crv": "Ed25519", "alg": "HS256"}),
                Err("alg does not fit the key's type"),
            ),
            (
                json!({"kty": "EC", "crv": "P-256", "alg": "ES384"}),
                Err("alg does not fit the key's type"),
            ),
            (
                json!({"kty": "oct", "k": "c2VjcmV0"}),
                Err("symmetric keys are refused"),
            ),
            (json!({"kty": "RSA", "alg": "none"}), Err("unknown alg")),
            (json!({"kty": "OKP", "crv": "X25519"}), Ok(None)),
        ] {
            check(jwk, expect);
        }
    }

    #[test]
    fn keys_for_encryption_or_other_algorithms_are_left_out() {
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let doc = json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "sig"},
            {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "enc", "use": "enc"},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        ]});
        let set = KeySet::parse(doc.to_string().as_bytes(), &[Algorithm::EdDSA]).unwrap();
        assert!(set.find(Some("sig")).is_some());
        assert!(set.find(Some("enc")).is_none());
        assert!(set.find(Some("hmac")).is_none());
        assert!(
            set.find(None).is_some(),
            "the only key serves a token without kid"
        );
        let none = KeySet::parse(doc.to_string().as_bytes(), &[Algorithm::ES256]).unwrap();
        assert!(
            none.find(Some("sig")).is_none(),
            "EdDSA is not allowed there"
        );
    }
}
