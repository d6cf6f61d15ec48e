//! Support for the end-to-end tests and benchmarks: where the built adapters are, how to
//! stage packages into a scratch adapters directory, a configurable upstream server, and a
//! sample application.

use kezek::adapters::signing;
use kezek::config::Config;
use kezek::domain::Application;
use std::path::{Path, PathBuf};

/// The workspace root (this crate lives in `tests/`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

fn built(dir: &str) -> PathBuf {
    let path = workspace().join("target").join(dir);
    assert!(
        path.is_dir(),
        "{} is missing: build the adapters first with `make adapters` (or run `make test`)",
        path.display()
    );
    path
}

/// Packaged registry adapters (`make adapters`).
pub fn adapters_dir() -> PathBuf {
    built("adapters")
}

/// Packaged test fixtures, by crate folder name (`echo`, `trap`, …).
pub fn fixture(name: &str) -> PathBuf {
    built("adapter-fixtures").join(name)
}

/// A scratch adapters directory with its own signing key.
pub struct Staging {
    pub dir: tempfile::TempDir,
    pub key: ed25519_dalek::SigningKey,
    pub public_key: PathBuf,
}

impl Staging {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = signing::generate_key().expect("key");
        let stem = dir.path().join(".keys").join("test");
        signing::write_key_pair(&key, &stem).expect("write key");
        Self { public_key: stem.with_extension("pub"), dir, key }
    }

    pub fn adapters(&self) -> PathBuf {
        self.dir.path().join("adapters")
    }

    /// Copies a package into the staging directory under its manifest id, signed.
    pub fn stage_signed(&self, package: &Path) -> PathBuf {
        let out = self.stage_unsigned(package);
        let component = std::fs::read(out.join("adapter.wasm")).unwrap();
        let manifest = std::fs::read(out.join("manifest.json")).unwrap();
        std::fs::write(out.join("adapter.sig"), signing::sign(&self.key, &component, &manifest)).unwrap();
        out
    }

    /// Copies a package into the staging directory under its manifest id, without signature.
    pub fn stage_unsigned(&self, package: &Path) -> PathBuf {
        let manifest = std::fs::read(package.join("manifest.json")).expect("package has a manifest");
        let id = serde_json::from_slice::<serde_json::Value>(&manifest).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let out = self.adapters().join(id);
        // Write into a sibling first and rename, as a deployment tool would: a reload never
        // sees half a package.
        let tmp = self.dir.path().join(format!(".staging-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::write(tmp.join("manifest.json"), &manifest).unwrap();
        std::fs::copy(package.join("adapter.wasm"), tmp.join("adapter.wasm")).unwrap();
        std::fs::create_dir_all(self.adapters()).unwrap();
        let _ = std::fs::remove_dir_all(&out);
        std::fs::rename(&tmp, &out).unwrap();
        out
    }

    /// A gateway config for this staging directory; `extra` is appended TOML.
    pub fn config(&self, extra: &str) -> Config {
        let text = format!(
            "[adapters]\ndir = {:?}\ntrusted_keys = [{:?}]\nwatch = false\n{extra}",
            self.adapters(),
            self.public_key
        );
        let path = self.dir.path().join("kezek.toml");
        std::fs::write(&path, text).unwrap();
        Config::from_file(&path).expect("test config parses")
    }
}

impl Default for Staging {
    fn default() -> Self {
        Self::new()
    }
}

/// A resident owner-driver with a tractor unit and trailer: enough for any fixture.
pub fn sample_application() -> Application {
    serde_json::from_value(serde_json::json!({
        "owner": { "residency": "resident", "kind": "legal_entity", "name": "ТОО Тест",
                   "iin_bin": "123456789012", "country": "KZ" },
        "drivers": [{ "residency": "resident", "full_name": "Тестов Тест", "birth_date": "1980-01-01",
                      "iin": "800101300123", "phone": "+77010000000",
                      "document": { "kind": "id-card", "issuing_country": "KZ", "number": "012345678", "expires": "2030-01-01" } }],
        "vehicle": { "kind": "tractor_unit", "country": "KZ", "plate": "123ABC02", "vin": "XTA00000000000001" },
        "trailer": { "country": "KZ", "plate": "45AB02", "vin": "XTA00000000000002" },
        "cargo": { "classes": ["general"], "hs_codes": ["8708"], "description": "spare parts" },
        "checkpoint": "KZ-KHORGOS",
        "travel_date": "2026-12-01"
    }))
    .expect("sample application is valid")
}

pub mod upstream {
    //! A loopback HTTP server that answers every request the same way.

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper_util::rt::TokioIo;
    use std::net::SocketAddr;
    use std::time::Duration;

    #[derive(Debug, Clone)]
    pub enum Behaviour {
        /// 200 with this many bytes.
        Bytes(usize),
        /// Waits, then 200.
        Slow(Duration),
    }

    /// Serves until the runtime ends; returns the base URL.
    pub async fn start(behaviour: Behaviour) -> String {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let behaviour = behaviour.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req| {
                        let behaviour = behaviour.clone();
                        async move {
                            let body = match behaviour {
                                Behaviour::Bytes(n) => vec![b'x'; n],
                                Behaviour::Slow(d) => {
                                    tokio::time::sleep(d).await;
                                    b"late".to_vec()
                                }
                            };
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(body))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        format!("http://{addr}")
    }
}
