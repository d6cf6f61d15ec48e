//! The integrator's path (issue 12): what was in force — a rollback, the owner of a
//! contested check, a build kept while a newer one was refused — is what a restart serves;
//! `[egress]` reloads with the adapters; `kezek check` runs through the running gateway and
//! says in words why an adapter is not running; staged packages deploy without touching the
//! others; and a scaffolded adapter builds and passes its tests as generated.

use kezek::check_cli::{self, Target};
use kezek::server::{Gateway, load_adapters};
use kezek_catalogue::{Catalogue, ReloadReport};
use kezek_domain::CheckId;
use kezek_domain::clock::SystemClock;
use kezek_tests::upstream::{self, Behaviour};
use kezek_tests::{Staging, fixture, sample_application, workspace};
use std::sync::Arc;
use std::time::Duration;

/// The adapters of `staging`'s config as a (re)started gateway loads them.
async fn start(staging: &Staging, extra: &str) -> (Arc<Catalogue>, ReloadReport) {
    let config = staging.config(extra);
    let (_, catalogue, report) = load_adapters(&config, Arc::new(SystemClock), false)
        .await
        .expect("adapters load");
    (catalogue, report)
}

/// (id, version) serving check 1.
fn serving(catalogue: &Catalogue) -> (String, String) {
    let set = catalogue.snapshot();
    let adapter = set
        .for_check(&CheckId::p18(1).unwrap())
        .expect("check 1 is served");
    (
        adapter.descriptor.id.clone(),
        adapter.descriptor.version.clone(),
    )
}

fn refusal<'a>(report: &'a ReloadReport, package: &str) -> &'a str {
    report
        .refused
        .iter()
        .find(|r| r.package == package)
        .map(|r| r.reason.as_str())
        .unwrap_or_else(|| panic!("{package} is not refused: {report}"))
}

const ECHO: &str = "fixture-echo";
const RIVAL: &str = "fixture-echo-rival";

/// Issue 12: a rollback is what a restart serves, although the folder holds the build
/// rolled back; that build stays out with its reason, as on the running gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_survives_a_restart() {
    let staging = Staging::new();
    staging.stage_signed(&fixture("echo"));
    {
        let (running, _) = start(&staging, "").await;
        staging.stage_signed(&fixture("echo-v2"));
        running.reload().await.unwrap();
        assert_eq!(serving(&running), (ECHO.into(), "2.0.0".into()));
        running.rollback().await.unwrap();
        assert_eq!(serving(&running), (ECHO.into(), "1.0.0".into()));
    }
    let (restarted, report) = start(&staging, "").await;
    assert_eq!(
        serving(&restarted),
        (ECHO.into(), "1.0.0".into()),
        "{report}"
    );
    assert!(refusal(&report, ECHO).contains("rolled back"), "{report}");
    let again = restarted.reload().await.unwrap();
    assert!(refusal(&again, ECHO).contains("rolled back"), "{again}");
    assert_eq!(serving(&restarted).1, "1.0.0");
}

/// A broken build that was refused while v1 served does not take v1's place on a restart
/// (before issue 12 the restarted gateway served nothing for the check).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_build_in_force_when_the_folder_holds_a_refused_one() {
    let staging = Staging::new();
    staging.stage_signed(&fixture("echo"));
    {
        let (running, _) = start(&staging, "").await;
        staging.stage_with_component_of(&fixture("echo-v2"), &fixture("wrong-wit"));
        let report = running.reload().await.unwrap();
        assert!(
            refusal(&report, ECHO).contains("kezek:registry@1.0.0"),
            "{report}"
        );
    }
    let (restarted, report) = start(&staging, "").await;
    assert_eq!(
        serving(&restarted),
        (ECHO.into(), "1.0.0".into()),
        "{report}"
    );
    assert!(
        report.notes.iter().any(|n| n.contains("restored")),
        "the report says the running build was restored: {report}"
    );
}

/// Issue 12: a check two packages claim stays with the one that served it — on a reload and
/// on the cold start after it alike — and the loser's refusal says who won and why. With no
/// record of what served (a fresh directory), the lower id wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contested_check_has_the_same_owner_after_a_reload_and_a_restart() {
    let staging = Staging::new();
    staging.stage_signed(&fixture("echo-rival"));
    {
        let (running, _) = start(&staging, "").await;
        staging.stage_signed(&fixture("echo"));
        let report = running.reload().await.unwrap();
        assert_eq!(serving(&running).0, RIVAL);
        assert!(
            refusal(&report, ECHO)
                .contains("stays with fixture-echo-rival, which served it before"),
            "{report}"
        );
    }
    // Both folders are there now; "fixture-echo" sorts first, yet the rival keeps check 1.
    let (restarted, report) = start(&staging, "").await;
    assert_eq!(serving(&restarted).0, RIVAL, "{report}");
    assert!(
        refusal(&report, ECHO).contains("which served it before"),
        "{report}"
    );

    let fresh = Staging::new();
    fresh.stage_signed(&fixture("echo-rival"));
    fresh.stage_signed(&fixture("echo"));
    let (cold, report) = start(&fresh, "").await;
    assert_eq!(serving(&cold).0, ECHO, "{report}");
    assert!(
        refusal(&report, RIVAL).contains("goes to fixture-echo")
            && refusal(&report, RIVAL).contains("lower id wins"),
        "{report}"
    );
}

/// Issue 12: endpoints and overrides are re-read from the config file on a reload; an
/// `[egress]` that does not validate is refused in words and the running one stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_endpoints_reload_with_the_adapters() {
    let small = upstream::start(Behaviour::Bytes(16)).await;
    let large = upstream::start(Behaviour::Bytes(32)).await;
    let staging = Staging::new();
    staging.stage_signed(&fixture("egress-probe"));
    let endpoint = |url: &str| format!("[egress.endpoints.plain-answer]\nurl = \"{url}\"\n");
    let (catalogue, _) = start(&staging, &endpoint(&small)).await;
    let mut application = sample_application();
    application.checkpoint = "plain-answer".into();
    let answer = |catalogue: Arc<Catalogue>, application: kezek_domain::Application| async move {
        let trial = catalogue
            .trial(
                "fixture-egress-probe",
                None,
                &application,
                Duration::from_secs(5),
            )
            .await
            .expect("the probe runs");
        trial.finding.expect("the probe passes").message
    };
    assert_eq!(
        answer(catalogue.clone(), application.clone()).await,
        "HTTP 200 with 16 bytes"
    );

    staging.config(&endpoint(&large));
    let report = catalogue.reload().await.unwrap();
    assert!(
        report.notes.iter().any(|n| n.contains("[egress] changed")),
        "{report}"
    );
    assert_eq!(
        answer(catalogue.clone(), application.clone()).await,
        "HTTP 200 with 32 bytes"
    );

    // An https endpoint without its CA bundle: refused, the running endpoints stay.
    staging.config(&endpoint("https://127.0.0.1:9/"));
    let report = catalogue.reload().await.unwrap();
    assert!(refusal(&report, "egress").contains("ca_file"), "{report}");
    assert_eq!(
        answer(catalogue, application).await,
        "HTTP 200 with 32 bytes"
    );
}

/// Issue 12: `kezek check --url` runs through the adapter the gateway runs, and a refused
/// package's reason is printed in words, through the gateway and on disk alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kezek_check_runs_through_the_running_gateway_and_says_why_not() {
    let staging = Staging::new();
    staging.stage_signed(&fixture("echo"));
    staging.stage_unsigned(&fixture("trap"));
    let config = staging.config("");
    let gateway = Gateway::start(&config).await.unwrap();
    let (_, admin) = kezek_tests::serve(gateway, None, 64).await;
    let url = format!("http://{admin}");
    // The admin route validates the application as the public API does: a real one.
    let scenario =
        kezek_mocks::scenario::Scenario::default_population().on(kezek_tests::days::today());
    let persona = scenario
        .personas
        .iter()
        .find(|p| p.id == "r-clean-individual-truck")
        .unwrap();
    let application =
        serde_json::to_string(&kezek_tests::registries::application(persona)).unwrap();
    let through = || Target::Gateway {
        url: &url,
        token: None,
    };

    let (code, text) = check_cli::run(through(), ECHO, None, &application)
        .await
        .unwrap();
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("fixture-echo 1.0.0"), "{text}");
    assert!(text.contains("PASS: echo 1.0.0 saw"), "{text}");

    // A new build on disk is not what runs until the gateway reloads it.
    staging.stage_signed(&fixture("echo-v2"));
    let (_, text) = check_cli::run(through(), ECHO, None, &application)
        .await
        .unwrap();
    assert!(text.contains("fixture-echo 1.0.0"), "{text}");

    let config_path = staging.dir.path().join("kezek.toml");
    for target in [through(), Target::Disk(&config_path)] {
        let (code, text) = check_cli::run(target, "fixture-trap", None, &application)
            .await
            .unwrap();
        assert_eq!(code, 2, "{text}");
        assert!(
            text.contains("adapter fixture-trap is not running") && text.contains("not signed"),
            "{text}"
        );
    }
    let (code, text) = check_cli::run(through(), "no-such-adapter", None, &application)
        .await
        .unwrap();
    assert_eq!(code, 2);
    assert!(
        text.contains("has no package folder of that name"),
        "{text}"
    );
    let (code, text) = check_cli::run(through(), ECHO, Some("2"), &application)
        .await
        .unwrap();
    assert_eq!(code, 2);
    assert!(text.contains("does not serve"), "{text}");
}

/// Issue 12: staging one bad crate does not stop the others; a deployment installs signed
/// packages beside the ones already there, and the gateway loads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_packages_deploy_signed_and_one_bad_crate_stops_nothing() {
    let src = tempfile::tempdir().unwrap();
    let wasm = src.path().join("wasm");
    std::fs::create_dir_all(&wasm).unwrap();
    for (folder, fixture_name, id) in [("fixture-echo", "echo", ECHO), ("misnamed", "echo", ECHO)] {
        let crate_dir = src.path().join("registries").join(folder);
        std::fs::create_dir_all(&crate_dir).unwrap();
        let manifest =
            std::fs::read_to_string(fixture(fixture_name).join("manifest.json")).unwrap();
        assert!(manifest.contains(id));
        std::fs::write(crate_dir.join("manifest.json"), manifest).unwrap();
        std::fs::copy(
            fixture(fixture_name).join("adapter.wasm"),
            wasm.join(format!("{}.wasm", folder.replace('-', "_"))),
        )
        .unwrap();
    }
    let out = src.path().join("staging");
    let packaged = std::process::Command::new(workspace().join("scripts/package-adapters"))
        .args(["--registries".as_ref(), out.as_os_str()])
        .env("ADAPTERS_SRC", src.path())
        .env("WASM_DIR", &wasm)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&packaged.stderr);
    assert_eq!(packaged.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("misnamed: manifest id \"fixture-echo\" must equal the folder name"),
        "{stderr}"
    );
    assert!(out.join(ECHO).join("adapter.wasm").is_file());
    assert!(!out.join("misnamed").exists());

    let staging = Staging::new();
    staging.stage_signed(&fixture("trap"));
    let report = kezek::deploy::deploy(&out, &staging.adapters(), Some(&staging.key)).unwrap();
    assert_eq!(report.installed, [(ECHO.to_owned(), "1.0.0".to_owned())]);
    let (catalogue, report) = start(&staging, "").await;
    assert!(report.refused.is_empty(), "{report}");
    let set = catalogue.snapshot();
    assert!(set.adapters.contains_key(ECHO) && set.adapters.contains_key("fixture-trap"));
}

/// Issue 12 (SLOW: runs cargo on three generated crates, native, reusing adapters/target):
/// `kezek adapters new` writes, for each family, a crate that builds in the adapters
/// workspace and whose unit tests pass as generated; its mock scenario snippet loads.
#[test]
fn slow_scaffolded_adapters_build_and_pass_their_tests() {
    use kezek::scaffold::{Family, NewArgs, Plan, scaffold};
    let adapters = workspace().join("adapters");
    let layout = tempfile::tempdir().unwrap();
    // The adapters workspace, with only the generated crates as members.
    let manifest = std::fs::read_to_string(adapters.join("Cargo.toml"))
        .unwrap()
        .lines()
        .map(|line| {
            if line.starts_with("members = ") {
                r#"members = ["registries/*"]"#.to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            r#"path = "sdk/v1_1""#,
            &format!("path = {:?}", adapters.join("sdk/v1_1")),
        )
        .replace(
            r#"path = "sdk""#,
            &format!("path = {:?}", adapters.join("sdk")),
        )
        .replace(
            r#"path = "../gateway/domain""#,
            &format!("path = {:?}", workspace().join("gateway/domain")),
        );
    assert!(
        manifest.contains(r#"members = ["registries/*"]"#),
        "{manifest}"
    );
    std::fs::write(layout.path().join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(
        adapters.join("Cargo.lock"),
        layout.path().join("Cargo.lock"),
    )
    .unwrap();
    let registries = layout.path().join("registries");
    std::fs::create_dir_all(&registries).unwrap();
    let today = kezek_tests::days::today();
    for (id, family) in [
        ("new-egov", Family::EgovSoap),
        ("new-direct", Family::DirectSoap),
        ("new-rest", Family::Rest),
    ] {
        let plan = Plan::new(&NewArgs {
            id: id.into(),
            family,
            check: "P18.7".into(),
            registry: Some("A \"new\" registry".into()),
            service_id: None,
            dir: registries.clone(),
        })
        .unwrap();
        let crate_dir = scaffold(&plan, &registries, today).unwrap();
        let snippet = std::fs::read_to_string(crate_dir.join("mock-scenario.json")).unwrap();
        kezek_mocks::scenario::Scenario::from_json_str(&snippet, "mock-scenario.json")
            .unwrap_or_else(|e| panic!("{id}: the snippet loads: {e}"));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["test", "--release", "--offline", "--manifest-path"])
        .arg(layout.path().join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", adapters.join("target"))
        // Building is not about the day: under the any-day pass's libfaketime, cargo would
        // see every build artefact from the future and rebuild (or wait) for nothing.
        .env_remove("LD_PRELOAD")
        .env_remove("FAKETIME")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stdout.matches("test result: ok. 3 passed").count(),
        3,
        "{stdout}"
    );
}
