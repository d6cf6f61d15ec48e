//! Ed25519 signatures over adapter packages.
//!
//! The signed message binds the component bytes and the manifest together (their SHA-256
//! digests under a domain-separation prefix): a signed component with a widened manifest —
//! more endpoints, more credentials, bigger limits — is as tampered as a patched component.
//! The signature file (`adapter.sig`) holds the 64-byte signature in base64.

use base64::Engine as _;
/// The private half of an adapter signing key, as `kezek keygen` writes it.
pub use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, VerifyingKey};
use sha2::{Digest, Sha256};
use std::path::Path;

const DOMAIN: &[u8] = b"kezek-adapter-signature-v1\n";

fn message(component: &[u8], manifest: &[u8]) -> Vec<u8> {
    let mut m = DOMAIN.to_vec();
    m.extend_from_slice(&Sha256::digest(component));
    m.extend_from_slice(&Sha256::digest(manifest));
    m
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the adapter is not signed (no adapter.sig) and unsigned adapters are not allowed")]
    Missing,
    #[error("adapter.sig is not a base64 Ed25519 signature")]
    Malformed,
    #[error("the signature does not match the component and manifest, or no trusted key made it")]
    Untrusted,
}

/// Signs a package; returns the contents of `adapter.sig`.
pub fn sign(key: &SigningKey, component: &[u8], manifest: &[u8]) -> String {
    let signature = key.sign(&message(component, manifest));
    format!(
        "{}\n",
        base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
    )
}

/// Verifies a package against the trusted keys; returns the index of the key that signed.
pub fn verify(
    trusted: &[VerifyingKey],
    component: &[u8],
    manifest: &[u8],
    signature_file: Option<&[u8]>,
) -> Result<usize, SignatureError> {
    let file = signature_file.ok_or(SignatureError::Missing)?;
    let text = std::str::from_utf8(file).map_err(|_| SignatureError::Malformed)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| SignatureError::Malformed)?;
    let signature = Signature::from_slice(&bytes).map_err(|_| SignatureError::Malformed)?;
    let message = message(component, manifest);
    trusted
        .iter()
        .position(|key| key.verify_strict(&message, &signature).is_ok())
        .ok_or(SignatureError::Untrusted)
}

/// A fresh signing key from the operating system's randomness.
pub fn generate_key() -> anyhow::Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Writes `<stem>.key` (PKCS#8 PEM, private) and `<stem>.pub` (SPKI PEM).
pub fn write_key_pair(key: &SigningKey, stem: &Path) -> anyhow::Result<()> {
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding key: {e}"))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding public key: {e}"))?;
    if let Some(dir) = stem.parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_private(&stem.with_extension("key"), private.as_bytes())?;
    std::fs::write(stem.with_extension("pub"), public)?;
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    Ok(std::fs::write(path, bytes)?)
}

pub fn read_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading signing key {}: {e}", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{} is not an Ed25519 PKCS#8 key: {e}", path.display()))
}

pub fn read_verifying_key(path: &Path) -> anyhow::Result<VerifyingKey> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading trusted key {}: {e}", path.display()))?;
    VerifyingKey::from_public_key_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{} is not an Ed25519 public key: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_package_verifies_and_any_tampering_is_refused() {
        let key = generate_key().unwrap();
        let other = generate_key().unwrap();
        let sig = sign(&key, b"component", b"manifest");
        let trusted = [other.verifying_key(), key.verifying_key()];
        assert_eq!(
            verify(&trusted, b"component", b"manifest", Some(sig.as_bytes())),
            Ok(1)
        );
        assert_eq!(
            verify(&trusted, b"componenT", b"manifest", Some(sig.as_bytes())),
            Err(SignatureError::Untrusted)
        );
        assert_eq!(
            verify(&trusted, b"component", b"manifesT", Some(sig.as_bytes())),
            Err(SignatureError::Untrusted)
        );
        assert_eq!(
            verify(
                &[other.verifying_key()],
                b"component",
                b"manifest",
                Some(sig.as_bytes())
            ),
            Err(SignatureError::Untrusted)
        );
        assert_eq!(
            verify(&trusted, b"component", b"manifest", None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(&trusted, b"component", b"manifest", Some(b"!!")),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn key_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate_key().unwrap();
        write_key_pair(&key, &dir.path().join("ops")).unwrap();
        let back = read_signing_key(&dir.path().join("ops.key")).unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());
        let public = read_verifying_key(&dir.path().join("ops.pub")).unwrap();
        assert_eq!(public, key.verifying_key());
    }
}
