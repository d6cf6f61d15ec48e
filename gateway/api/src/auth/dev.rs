//! The development identity provider: an Ed25519 key kept beside the other development keys
//! and its public half as the JWKS file the development config reads (`deploy/dev/kezek.toml`).
//! `kezek dev-token` mints tokens with it, and the tests with their own instance. Never used by
//! a gateway in production: a gateway only ever reads a JWKS.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// An Ed25519 signing key (PKCS#8) and its key id.
pub struct DevIssuer {
    pkcs8: Vec<u8>,
    public: Vec<u8>,
    kid: String,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// A new key.
    pub fn generate() -> anyhow::Result<Self> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .map_err(|_| anyhow::anyhow!("generating an Ed25519 key"))?;
        Self::from_pkcs8(pkcs8.as_ref().to_vec())
    }

    fn from_pkcs8(pkcs8: Vec<u8>) -> anyhow::Result<Self> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
            .map_err(|_| anyhow::anyhow!("not an Ed25519 PKCS#8 key"))?;
        let public = pair.public_key().as_ref().to_vec();
        // The key id is the key's own fingerprint, so a new key is a new kid (rotation).
        let digest = Sha256::digest(&public);
        let kid = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self { pkcs8, public, kid })
    }

    /// The key whose JWKS is `jwks` (its private half in `jwks` with the extension `.key`),
    /// created with both files on first use.
    pub fn open_or_create(jwks: &Path) -> anyhow::Result<Self> {
        let key_path = key_path(jwks);
        if key_path.exists() && jwks.exists() {
            let pkcs8 = std::fs::read(&key_path)
                .with_context(|| format!("reading {}", key_path.display()))?;
            return Self::from_pkcs8(pkcs8);
        }
        let issuer = Self::generate()?;
        issuer.write(jwks)?;
        Ok(issuer)
    }

    /// Writes the private key (mode 0600) and the JWKS.
    pub fn write(&self, jwks: &Path) -> anyhow::Result<()> {
        if let Some(dir) = jwks.parent() {
            std::fs::create_dir_all(dir)?;
        }
        write_private(&key_path(jwks), &self.pkcs8)?;
        std::fs::write(jwks, serde_json::to_vec_pretty(&self.jwks())?)
            .with_context(|| format!("writing {}", jwks.display()))
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// This key as a JWKS document.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk()] })
    }

    /// This key as one JWK.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "use": "sig",
            "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&self.public),
        })
    }

    /// A token with these claims, signed EdDSA under this key's id.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }

    /// A token signed with this key but naming `kid` (a forgery, in tests).
    pub fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&self.pkcs8))
            .expect("an Ed25519 key signs")
    }
}

/// The claims of a token for `role` and `subject`, valid for `ttl_s` from `now` (UNIX
/// seconds), as the identity provider would issue them (ADR 0014).
pub fn claims(
    issuer: &str,
    audience: &str,
    role: &str,
    subject: &str,
    now: i64,
    ttl_s: i64,
) -> Value {
    json!({
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "role": role,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
    })
}

fn key_path(jwks: &Path) -> PathBuf {
    jwks.with_extension("key")
}

/// Writes a secret: readable by its owner only (mode 0600 on Unix), created that way so it is
/// never readable by others, not even for a moment.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}
