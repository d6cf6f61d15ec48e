#![allow(missing_debug_implementations)]
//! Support for the end-to-end tests and benchmarks: where the built adapters are, how to
//! stage packages into a scratch adapters directory, a configurable upstream server, a
//! sample application, and bearer tokens of a test identity provider that every gateway
//! started here trusts ([`auth`]).

use kezek::config::Config;
use kezek_catalogue::signing;
use kezek_domain::Application;
use std::path::{Path, PathBuf};

/// The workspace root (this crate lives in `tests/`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
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
        Self {
            public_key: stem.with_extension("pub"),
            dir,
            key,
        }
    }

    pub fn adapters(&self) -> PathBuf {
        self.dir.path().join("adapters")
    }

    /// Copies a package into the staging directory under its manifest id, signed.
    pub fn stage_signed(&self, package: &Path) -> PathBuf {
        let out = self.stage_unsigned(package);
        self.sign(&out);
        out
    }

    /// Stages `package` with the component of `component_of` in place of its own, signed:
    /// a build that is genuine but cannot load (e.g. another fixture's WIT).
    pub fn stage_with_component_of(&self, package: &Path, component_of: &Path) -> PathBuf {
        let out = self.stage_unsigned(package);
        std::fs::copy(component_of.join("adapter.wasm"), out.join("adapter.wasm")).unwrap();
        self.sign(&out);
        out
    }

    /// (Re-)signs a staged package as it is now, with the staging key.
    pub fn sign(&self, package: &Path) {
        let component = std::fs::read(package.join("adapter.wasm")).unwrap();
        let manifest = std::fs::read(package.join("manifest.json")).unwrap();
        let signature = signing::sign(&self.key, &component, &manifest);
        std::fs::write(package.join("adapter.sig"), signature).unwrap();
    }

    /// Rewrites a staged package's manifest text.
    pub fn edit_manifest(&self, package: &Path, from: &str, to: &str) {
        let path = package.join("manifest.json");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from:?} is not in {}", path.display());
        std::fs::write(path, text.replace(from, to)).unwrap();
    }

    /// Copies a package into the staging directory under its manifest id, without signature.
    pub fn stage_unsigned(&self, package: &Path) -> PathBuf {
        let manifest =
            std::fs::read(package.join("manifest.json")).expect("package has a manifest");
        let id = serde_json::from_slice::<serde_json::Value>(&manifest).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let out = self.adapters().join(id);
        // Write into a sibling first and rename, as a deployment tool would: a reload never
        // sees half a package.
        let tmp = self
            .dir
            .path()
            .join(format!(".staging-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::write(tmp.join("manifest.json"), &manifest).unwrap();
        std::fs::copy(package.join("adapter.wasm"), tmp.join("adapter.wasm")).unwrap();
        std::fs::create_dir_all(self.adapters()).unwrap();
        let _ = std::fs::remove_dir_all(&out);
        std::fs::rename(&tmp, &out).unwrap();
        out
    }

    /// A gateway config for this staging directory; `extra` is appended TOML. The public
    /// API trusts the tests' identity provider ([`auth`]) unless `extra` has its own
    /// `[api.auth]`.
    pub fn config(&self, extra: &str) -> Config {
        let auth = if extra.contains("[api.auth]") {
            String::new()
        } else {
            auth::config_toml()
        };
        let text = format!(
            "[adapters]\ndir = {:?}\ntrusted_keys = [{:?}]\nwatch = false\n{extra}\n{auth}",
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

/// Serves `gateway` on fresh loopback listeners until the test ends — the public API in
/// plain HTTP unless `tls` is given, one peer holding at most `per_peer` connections — and
/// returns the public and the admin address.
pub async fn serve(
    gateway: kezek::server::Gateway,
    tls: Option<tokio_rustls::TlsAcceptor>,
    per_peer: usize,
) -> (std::net::SocketAddr, std::net::SocketAddr) {
    let served = serve_all(gateway, tls, per_peer).await;
    (served.api, served.admin)
}

/// The addresses of a gateway's three listeners ([`serve_all`]).
#[derive(Debug, Clone, Copy)]
pub struct Listening {
    pub api: std::net::SocketAddr,
    pub admin: std::net::SocketAddr,
    pub device_push: std::net::SocketAddr,
}

/// As [`serve`], with the device push listener too.
pub async fn serve_all(
    gateway: kezek::server::Gateway,
    tls: Option<tokio_rustls::TlsAcceptor>,
    per_peer: usize,
) -> Listening {
    let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
    let (api, admin, device_push) = (
        bind().await.unwrap(),
        bind().await.unwrap(),
        bind().await.unwrap(),
    );
    let listening = Listening {
        api: api.local_addr().unwrap(),
        admin: admin.local_addr().unwrap(),
        device_push: device_push.local_addr().unwrap(),
    };
    let listeners = kezek_api::Listeners {
        api,
        admin: Some(admin),
        device_push: Some(device_push),
        tls,
        per_peer,
    };
    tokio::spawn(kezek::server::run(
        listeners,
        gateway,
        std::future::pending(),
    ));
    listening
}

/// The benchmarks' runtime: two worker threads, the machine's two cores.
pub fn bench_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// CPU time this process has used, user and system, from the kernel's own accounting
/// (`/proc/self/stat`, in clock ticks of 10 ms): what a benchmark divides by its count.
pub fn process_cpu() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of proc(5); 12 and 13 after the name and state.
    std::time::Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// The day the tests run on (issue 8: any day is a good day). Tests never write a date: they
/// take today's date in Kazakhstan from the one system clock — under `faketime` in `.ci/run`,
/// 400 days on — and pin the gateway's clock to 09:00 that day, away from local midnight.
pub mod days {
    use kezek_domain::clock::{Clock, KAZAKHSTAN, ManualClock, SharedClock, SystemClock};
    use std::sync::Arc;
    use time::{Date, OffsetDateTime, Time};

    /// Today in Kazakhstan.
    pub fn today() -> Date {
        SystemClock.now().to_offset(KAZAKHSTAN).date()
    }

    /// 09:00 today in Kazakhstan.
    pub fn test_now() -> OffsetDateTime {
        today()
            .with_time(Time::from_hms(9, 0, 0).expect("09:00"))
            .assume_offset(KAZAKHSTAN)
    }

    /// A clock standing at [`test_now`], for the gateway under test.
    pub fn test_clock() -> SharedClock {
        Arc::new(ManualClock::new(test_now()))
    }

    /// `n` days after today, as `YYYY-MM-DD`.
    pub fn ahead(n: i64) -> String {
        (today() + time::Duration::days(n)).to_string()
    }
}

/// A resident owner-driver with a tractor unit and trailer: enough for any fixture.
pub fn sample_application() -> Application {
    serde_json::from_value(serde_json::json!({
        "owner": { "residency": "resident", "kind": "legal-entity", "name": "ТОО Тест",
                   "iin-bin": "123456789012", "country": "KZ" },
        "drivers": [{ "residency": "resident", "full-name": "Тестов Тест", "birth-date": "1980-01-01",
                      "iin": "800101300123", "phone": "+77010000000",
                      "document": { "kind": "id-card", "issuing-country": "KZ", "number": "012345678", "expires": days::ahead(5 * 365) } }],
        "vehicle": { "kind": "tractor-unit", "country": "KZ", "plate": "123ABC02", "vin": "XTA00000000000001" },
        "trailer": { "country": "KZ", "plate": "45AB02", "vin": "XTA00000000000002" },
        "cargo": { "classes": ["general"], "hs-codes": ["8708"], "description": "spare parts" },
        "checkpoint": "CN-NUR-ZHOLY",
        "travel-date": days::ahead(10)
    }))
    .expect("sample application is valid")
}

pub mod auth {
    //! Bearer tokens for the tests (ADR 0014): one development identity provider per test
    //! process, whose JWKS every gateway made by [`super::Staging::config`] reads. A test
    //! that calls a public route sends `authorization: auth::bearer("acc-…")` (or uses
    //! [`super::http::request_as`]); attackers' tests build their own claims.

    use kezek_api::auth::dev::{self, DevIssuer};
    use kezek_domain::clock::{Clock, SystemClock};
    use serde_json::Value;
    use std::path::PathBuf;
    use std::sync::OnceLock;

    pub const ISSUER: &str = "https://id.kezek.test";
    pub const AUDIENCE: &str = "kezek";

    struct Provider {
        issuer: DevIssuer,
        jwks: PathBuf,
        _dir: Option<tempfile::TempDir>,
    }

    fn provider() -> &'static Provider {
        static PROVIDER: OnceLock<Provider> = OnceLock::new();
        PROVIDER.get_or_init(|| {
            // A child process (a gateway killed by its parent test) trusts its parent's key.
            if let Ok(jwks) = std::env::var(PARENT_JWKS) {
                let jwks = PathBuf::from(jwks);
                let issuer = DevIssuer::open_or_create(&jwks).expect("the parent's key");
                return Provider {
                    issuer,
                    jwks,
                    _dir: None,
                };
            }
            let dir = tempfile::tempdir().expect("temp dir");
            let jwks = dir.path().join("token.jwks");
            let issuer = DevIssuer::generate().expect("a key");
            issuer.write(&jwks).expect("the JWKS is written");
            Provider {
                issuer,
                jwks,
                _dir: Some(dir),
            }
        })
    }

    /// Set for a child process: the JWKS of its parent's test provider.
    pub const PARENT_JWKS: &str = "KEZEK_TEST_PARENT_JWKS";

    /// The test provider's JWKS file (its key beside it), for a child process to trust.
    pub fn jwks_path() -> &'static std::path::Path {
        &provider().jwks
    }

    /// The test provider's signing key (to sign forged or odd claims with).
    pub fn issuer() -> &'static DevIssuer {
        &provider().issuer
    }

    /// `[api.auth]` trusting the test provider. Applicant tokens need no `iin` here (the
    /// gateway's default requires one): most tests are not about whose IIN a token carries.
    pub fn config_toml() -> String {
        config_toml_requiring_iin(false)
    }

    /// `[api.auth]` trusting the test provider, with `require_applicant_iin` as given.
    pub fn config_toml_requiring_iin(required: bool) -> String {
        format!(
            "[api.auth]\nissuer = {ISSUER:?}\naudience = {AUDIENCE:?}\njwks_file = {:?}\nrequire_applicant_iin = {required}\n",
            provider().jwks
        )
    }

    /// Now, in UNIX seconds: tokens expire in real time, whatever day the gateway's clock
    /// is pinned to.
    pub fn now() -> i64 {
        SystemClock.now().unix_timestamp()
    }

    /// Valid claims for `role` and `subject`, for ten minutes.
    pub fn claims(role: &str, subject: &str) -> Value {
        dev::claims(ISSUER, AUDIENCE, role, subject, now(), 600)
    }

    /// `Bearer <token>` for these claims, signed by the test provider.
    pub fn bearer_with(claims: &Value) -> String {
        format!("Bearer {}", issuer().sign(claims))
    }

    /// `Bearer <token>` of the applicant whose account is `subject`.
    pub fn bearer(subject: &str) -> String {
        bearer_with(&claims("applicant", subject))
    }
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
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
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
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                Bytes::from(body),
                            )))
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

pub mod registries {
    //! The registry world: every packaged adapter on a gateway whose endpoints point at the
    //! mock registries (default population unless told otherwise).

    use super::Staging;
    use kezek::server::Gateway;
    use kezek_domain::{Application, CheckError, CheckId, Finding};
    use kezek_mocks::registry::{MockConfig, RegistryId, RegistryMocks};
    use kezek_mocks::scenario::{Persona, Scenario};
    use std::time::Duration;

    pub struct World {
        pub mocks: RegistryMocks,
        pub gateway: Gateway,
        pub scenario: Scenario,
        /// The gateway's clock, standing at [`super::days::test_now`] until a test moves it.
        pub clock: std::sync::Arc<kezek_domain::clock::ManualClock>,
        _staging: Staging,
    }

    impl World {
        pub async fn start() -> Self {
            Self::start_with_upstream(Default::default()).await
        }

        /// A world whose pipeline protects registries with these settings.
        pub async fn start_with_upstream(
            upstream: kezek_pipeline::upstream::UpstreamSettings,
        ) -> Self {
            Self::start_with(upstream, "").await
        }

        /// A world with these upstream settings and extra config tables (e.g. `[sandbox]`).
        pub async fn start_with(
            upstream: kezek_pipeline::upstream::UpstreamSettings,
            extra_config: &str,
        ) -> Self {
            Self::start_with_mocks(upstream, extra_config, MockConfig::default()).await
        }

        /// A world whose mocks run with `mocks` (its `today` is set to the tests' day).
        pub async fn start_with_mocks(
            upstream: kezek_pipeline::upstream::UpstreamSettings,
            extra_config: &str,
            mocks: MockConfig,
        ) -> Self {
            Self::start_inner(upstream, extra_config, mocks, &[]).await
        }

        /// A world without these packages of the build, to deploy them into while it runs
        /// ([`World::deploy`]).
        pub async fn start_without(packages: &[&str]) -> Self {
            Self::start_inner(Default::default(), "", MockConfig::default(), packages).await
        }

        async fn start_inner(
            upstream: kezek_pipeline::upstream::UpstreamSettings,
            extra_config: &str,
            mocks: MockConfig,
            without: &[&str],
        ) -> Self {
            // The population and the gateway on the same day: today (`super::days`).
            let today = super::days::today();
            let scenario = Scenario::default_population().on(today);
            let mocks = kezek_mocks::registry::start(
                scenario.clone(),
                MockConfig {
                    today: Some(today),
                    ..mocks
                },
            )
            .expect("mocks start");
            let staging = Staging::new();
            for entry in std::fs::read_dir(super::adapters_dir()).unwrap() {
                let path = entry.unwrap().path();
                // Packages only: not the record a gateway keeps there (`.kezek`).
                let name = path.file_name().unwrap().to_string_lossy();
                if !name.starts_with('.') && !without.contains(&name.as_ref()) {
                    staging.stage_signed(&path);
                }
            }
            // A private copy of the rules, so a test may amend them.
            let rules = staging.dir.path().join("rules");
            std::fs::create_dir_all(&rules).unwrap();
            for entry in std::fs::read_dir(super::workspace().join("deploy/rules")).unwrap() {
                let path = entry.unwrap().path();
                std::fs::copy(&path, rules.join(path.file_name().unwrap())).unwrap();
            }
            let config = staging.config(&format!(
                "rules_dir = {rules:?}\n{}\n{extra_config}",
                endpoints_toml(&mocks)
            ));
            let clock = std::sync::Arc::new(kezek_domain::clock::ManualClock::new(
                super::days::test_now(),
            ));
            let options = kezek::server::StartOptions {
                clock: clock.clone(),
                upstream,
            };
            let gateway = Gateway::start_with(&config, options)
                .await
                .expect("gateway starts");
            Self {
                mocks,
                gateway,
                scenario,
                clock,
                _staging: staging,
            }
        }

        /// A persona of the world's population, as the domain application.
        pub fn persona(&self, id: &str) -> Application {
            application(
                self.scenario
                    .personas
                    .iter()
                    .find(|p| p.id == id)
                    .unwrap_or_else(|| panic!("persona {id}")),
            )
        }

        /// Signs the build's package `id` into the directory the gateway serves, as
        /// `kezek adapters deploy` does; the gateway takes it on its next reload.
        pub fn deploy(&self, id: &str) -> std::path::PathBuf {
            self._staging.stage_signed(&super::adapters_dir().join(id))
        }

        /// Has the mocks serve `mocks/scenarios/<file>` merged onto the world's population
        /// (already on today; the merge puts the file's data on it too), and returns the
        /// merged scenario.
        pub fn merge_scenario(&self, file: &str) -> Scenario {
            let path = super::workspace().join("mocks/scenarios").join(file);
            let other =
                Scenario::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let scenario = self
                .scenario
                .merged(&other, &format!("default + {file}"))
                .unwrap_or_else(|e| panic!("{file} merges onto the population: {e}"));
            self.mocks.load_scenario(scenario.clone());
            scenario
        }

        /// The world's own copy of the rules directory.
        pub fn rules_dir(&self) -> std::path::PathBuf {
            self._staging.dir.path().join("rules")
        }

        pub async fn check(
            &self,
            check: &CheckId,
            application: &Application,
            deadline: Duration,
        ) -> Result<Finding, CheckError> {
            let set = self.gateway.catalogue.snapshot();
            let Some(adapter) = set.for_check(check) else {
                return Err(CheckError::AdapterMissing(check.to_string()));
            };
            // As the pipeline hands it: only the drivers the rule makes it for (ADR 0016).
            let narrowed = set
                .rules
                .in_effect(&application.travel_date)
                .and_then(|rules| {
                    rules
                        .plan(application)
                        .into_iter()
                        .find(|rule| rule.check == *check)
                        .and_then(|rule| rule.narrowed(application))
                });
            let application = narrowed.as_ref().unwrap_or(application);
            self.gateway
                .host
                .check(
                    adapter,
                    check,
                    application,
                    "6f1c2d3e-8d4b-4b0e-9a51-2f7d1c0e9b11",
                    deadline,
                )
                .await
                .result
        }
    }

    /// The `[egress]` config that points every logical endpoint at the mocks, exactly as an
    /// operator's config would (deploy/dev/kezek.toml has the same shape).
    pub fn endpoints_toml(mocks: &RegistryMocks) -> String {
        let base = format!("http://{}", mocks.addr());
        format!(
            "[egress.endpoints.egov-gateway]\nurl = \"{gateway}\"\n\
             sender = {{ id = \"kezek-dev\", password = {{ value = \"kezek-dev-secret\" }} }}\n\
             [egress.endpoints.esbd]\nurl = \"{base}/esbd\"\n\
             [egress.endpoints.toll-operator]\nurl = \"{base}/toll\"\n\
             [egress.endpoints.its-weighing]\nurl = \"{base}/its\"\n\
             [egress.consent]\nendpoint = {{ url = \"{base}\" }}\n",
            gateway = mocks.url(RegistryId::GbdFl).trim_end_matches('/'),
        )
    }

    /// A persona's request as the domain application.
    pub fn application(persona: &Persona) -> Application {
        let json = serde_json::to_value(&persona.request).expect("persona serialises");
        serde_json::from_value(json)
            .unwrap_or_else(|e| panic!("persona {} is not a valid application: {e}", persona.id))
    }

    /// Checks to exercise: all, or those in `KEZEK_CHECKS=1,2,3` while adapters are written.
    pub fn selected_checks() -> Vec<CheckId> {
        match std::env::var("KEZEK_CHECKS") {
            Ok(list) => list
                .split(',')
                .filter_map(|n| n.trim().parse().ok())
                .filter_map(CheckId::p18)
                .collect(),
            Err(_) => (1..=18).filter_map(CheckId::p18).collect(),
        }
    }

    /// The registries a check's adapter talks to (PROTOCOLS.md §1).
    pub fn registries_for(check: &CheckId) -> &'static [RegistryId] {
        use RegistryId::*;
        match check.p18_number() {
            Some(1) => &[GbdFl, GbdUl],
            Some(2 | 3) => &[Automobile],
            Some(4) => &[WantedVehicles],
            Some(5) => &[WantedPersons],
            Some(6) => &[AgriMachinery],
            Some(7) => &[ELicensing],
            Some(8) => &[Esbd],
            Some(9) => &[Tax],
            Some(10) => &[Erap],
            Some(11) => &[DigitalDocuments],
            Some(12) => &[Biometrics],
            Some(13) => &[MobileCitizens],
            Some(14) => &[TechInspection],
            Some(15) => &[EAgriculture],
            Some(16) => &[Astana1],
            Some(17) => &[Toll],
            Some(18) => &[Its],
            // No mock registry serves a check beyond P18 yet.
            _ => &[],
        }
    }
}

pub mod http {
    //! A minimal HTTP/1.1 client for black-box API tests, plain or over TLS with a given CA
    //! (and a client certificate, for mTLS).

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::TokioIo;
    use std::net::SocketAddr;
    use std::path::Path;
    use std::sync::Arc;

    #[derive(Debug)]
    pub struct Reply {
        pub status: u16,
        pub headers: hyper::HeaderMap,
        pub body: Vec<u8>,
    }

    impl Reply {
        pub fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).unwrap_or_else(|e| {
                panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body))
            })
        }

        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).and_then(|v| v.to_str().ok())
        }
    }

    /// As [`request`], as the applicant whose account is `subject`.
    pub async fn request_as(
        subject: &str,
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        ca: Option<&Path>,
    ) -> std::io::Result<Reply> {
        let bearer = super::auth::bearer(subject);
        let mut all = vec![("authorization", bearer.as_str())];
        all.extend_from_slice(headers);
        request(addr, method, path, &all, body, ca).await
    }

    pub async fn request(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        ca: Option<&Path>,
    ) -> std::io::Result<Reply> {
        let tls = ca.map(|ca| Tls { ca, identity: None });
        request_over(addr, tls, method, path, headers, body).await
    }

    /// A client certificate chain and its key (mTLS).
    pub type Identity = (
        Vec<rustls_pki_types::CertificateDer<'static>>,
        rustls_pki_types::PrivateKeyDer<'static>,
    );

    /// TLS trusting `ca`, presenting `identity` when there is one.
    pub struct Tls<'a> {
        pub ca: &'a Path,
        pub identity: Option<Identity>,
    }

    /// As [`request`], plain or over TLS as `tls` says.
    pub async fn request_over(
        addr: SocketAddr,
        tls: Option<Tls<'_>>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> std::io::Result<Reply> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let req = builder.body(Full::new(Bytes::from(body))).unwrap();
        let other = |e: hyper::Error| std::io::Error::other(e);
        let response = match tls {
            None => {
                let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                    .await
                    .map_err(other)?;
                tokio::spawn(conn);
                sender.send_request(req).await.map_err(other)?
            }
            Some(Tls { ca, identity }) => {
                use rustls_pki_types::pem::PemObject;
                let mut roots = rustls::RootCertStore::empty();
                for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
                    roots.add(cert.unwrap()).unwrap();
                }
                let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots);
                let config = match identity {
                    Some((chain, key)) => config.with_client_auth_cert(chain, key).unwrap(),
                    None => config.with_no_client_auth(),
                };
                let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
                let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
                let tls = connector.connect(name, tcp).await?;
                let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                    .await
                    .map_err(other)?;
                tokio::spawn(conn);
                sender.send_request(req).await.map_err(other)?
            }
        };
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(other)?.to_bytes().to_vec();
        Ok(Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
}
