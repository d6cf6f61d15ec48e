//! Hot reload and rollback (DESIGN.md: hot swap is atomic; a bad version never replaces
//! the running one).

use kezek::server::Gateway;
use kezek_domain::{CheckId, Finding};
use kezek_host::LoadedAdapter;
use kezek_tests::{Staging, fixture, sample_application};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

async fn echo(gateway: &Gateway, adapter: &LoadedAdapter) -> Finding {
    gateway
        .host
        .check(
            adapter,
            &CheckId::p18(1).unwrap(),
            &sample_application(),
            "c",
            Duration::from_secs(5),
        )
        .await
        .result
        .expect("echo answers")
}

async fn serving_version(gateway: &Gateway) -> String {
    let set = gateway.catalogue.snapshot();
    let finding = echo(
        gateway,
        set.for_check(&CheckId::p18(1).unwrap())
            .expect("check 1 served"),
    )
    .await;
    finding
        .message
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_fails_no_call_and_rollback_restores() {
    let staging = Staging::new();
    staging.stage_signed(&fixture("echo"));
    let gateway = Arc::new(Gateway::start(&staging.config("")).await.unwrap());
    assert_eq!(serving_version(&gateway).await, "1.0.0");

    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let mut stream = Vec::new();
    for _ in 0..4 {
        let (gateway, stop, calls) = (gateway.clone(), stop.clone(), calls.clone());
        stream.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // Each call resolves the adapter from the current set, as a request does.
                let set = gateway.catalogue.snapshot();
                let adapter = set
                    .for_check(&CheckId::p18(1).unwrap())
                    .expect("check 1 is always served")
                    .clone();
                let _ = echo(&gateway, &adapter).await;
                calls.fetch_add(1, Ordering::Relaxed);
                // An instance call may complete without ever yielding; let the other
                // tasks (the upstream servers among them) run.
                tokio::task::yield_now().await;
            }
        }));
    }

    // Deploy v2 while the stream runs.
    staging.stage_signed(&fixture("echo-v2"));
    let report = gateway.catalogue.reload().await.unwrap();
    assert_eq!(
        report.loaded,
        vec![("fixture-echo".to_owned(), "2.0.0".to_owned())],
        "{report}"
    );
    assert_eq!(serving_version(&gateway).await, "2.0.0");

    // A broken build of the same adapter is refused; v2 keeps serving.
    staging.stage_with_component_of(&fixture("echo-v2"), &fixture("wrong-wit"));
    let report = gateway.catalogue.reload().await.unwrap();
    assert_eq!(report.refused.len(), 1, "{report}");
    assert!(
        report.refused[0].reason.contains("kezek:registry@1.0.0"),
        "{report}"
    );
    assert_eq!(serving_version(&gateway).await, "2.0.0");

    // Roll back to v1.
    staging.stage_signed(&fixture("echo-v2"));
    let report = gateway.catalogue.rollback().await.unwrap();
    assert_eq!(
        report.loaded,
        vec![("fixture-echo".to_owned(), "1.0.0".to_owned())],
        "{report}"
    );
    assert_eq!(serving_version(&gateway).await, "1.0.0");
    // The rolled-back build stays out on the next reload, and says why.
    let report = gateway.catalogue.reload().await.unwrap();
    assert!(
        report
            .refused
            .iter()
            .any(|r| r.reason.contains("rolled back")),
        "{report}"
    );
    assert_eq!(serving_version(&gateway).await, "1.0.0");

    stop.store(true, Ordering::Relaxed);
    for task in stream {
        task.await.expect("no call failed during reloads");
    }
    assert!(
        calls.load(Ordering::Relaxed) > 20,
        "the call stream barely ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_flight_request_keeps_the_set_it_started_with() {
    let staging = Staging::new();
    staging.stage_signed(&fixture("echo"));
    let gateway = Gateway::start(&staging.config("")).await.unwrap();
    let started_with = gateway.catalogue.snapshot();

    staging.stage_signed(&fixture("echo-v2"));
    gateway.catalogue.reload().await.unwrap();

    let old = started_with.for_check(&CheckId::p18(1).unwrap()).unwrap();
    assert!(echo(&gateway, old).await.message.starts_with("echo 1.0.0"));
    assert_eq!(serving_version(&gateway).await, "2.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_reloads_when_a_package_is_deployed() {
    let staging = Staging::new();
    staging.stage_signed(&fixture("echo"));
    let gateway = Gateway::start(&staging.config("")).await.unwrap();
    let _watcher = kezek_catalogue::watch(gateway.catalogue.clone()).unwrap();
    staging.stage_signed(&fixture("echo-v2"));
    for _ in 0..100 {
        if gateway.catalogue.snapshot().generation >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(serving_version(&gateway).await, "2.0.0");
}

#[tokio::test]
async fn rollback_without_history_is_a_clear_error() {
    let staging = Staging::new();
    staging.stage_signed(&fixture("echo"));
    let gateway = Gateway::start(&staging.config("")).await.unwrap();
    gateway
        .catalogue
        .rollback()
        .await
        .expect("one rollback: to the empty start set");
    let err = gateway.catalogue.rollback().await.unwrap_err();
    assert!(err.to_string().contains("no earlier adapter set"));
}

/// A rules directory in the staging area holding one rule set that names `checks` (each
/// defined in its catalogue, blocking, for residents and non-residents alike).
fn write_rules(staging: &Staging, version: &str, checks: &[&str]) -> std::path::PathBuf {
    let dir = staging.dir.path().join("rules");
    std::fs::create_dir_all(&dir).unwrap();
    let catalogue: serde_json::Map<String, serde_json::Value> = checks
        .iter()
        .map(|id| {
            let def = serde_json::json!({"title": "a check", "rule": id, "registry": "a registry"});
            ((*id).to_owned(), def)
        })
        .collect();
    let entries: Vec<serde_json::Value> = checks
        .iter()
        .map(|id| serde_json::json!({"check": id, "blocking": true, "cache-ttl-s": 0}))
        .collect();
    let file = serde_json::json!({
        "id": "amended", "version": version,
        "effective-from": kezek_tests::days::today().to_string(),
        "source": "issue 12", "deadline-ms": 5000, "checks": catalogue,
        "sets": {"resident": entries, "non-resident": entries}
    });
    std::fs::write(dir.join("amended.json"), file.to_string()).unwrap();
    dir
}

/// echo (P18.1) and trap (P18.2) under rules naming both.
async fn two_adapters_and_their_rules(staging: &Staging) -> Gateway {
    staging.stage_signed(&fixture("echo"));
    staging.stage_signed(&fixture("trap"));
    let rules = write_rules(staging, "1", &["P18.1", "P18.2"]);
    Gateway::start(&staging.config(&format!("rules_dir = {rules:?}")))
        .await
        .unwrap()
}

/// ADR 0018, cold start: a rule set that names a check no adapter serves stops the start,
/// naming the check; once every check is served, the same gateway starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_with_a_check_no_adapter_serves_is_refused() {
    let staging = Staging::new();
    staging.stage_signed(&fixture("echo"));
    let rules = write_rules(&staging, "1", &["P18.1", "O505.ADR"]);
    let config = staging.config(&format!("rules_dir = {rules:?}"));
    let Err(e) = Gateway::start(&config).await else {
        panic!("a gateway started with O505.ADR unserved");
    };
    let e = e.to_string();
    assert!(
        e.contains("amended@1 names O505.ADR at /sets/resident/1/check, which no adapter serves"),
        "{e}"
    );

    write_rules(&staging, "1", &["P18.1"]);
    let gateway = Gateway::start(&config).await.unwrap();
    let set = gateway.catalogue.snapshot();
    assert_eq!(set.rules.sets()[0].version, "1");
}

/// ADR 0018: a new rule set naming a check no adapter serves is refused with the check and
/// where it is named; the rules in force stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_set_naming_a_check_no_adapter_serves_is_refused_and_the_old_stays() {
    let staging = Staging::new();
    let gateway = two_adapters_and_their_rules(&staging).await;
    let before = gateway.catalogue.snapshot();

    write_rules(&staging, "2", &["P18.1", "P18.2", "O505.ADR"]);
    let report = gateway.catalogue.reload().await.unwrap();
    let refusal = report
        .refused
        .iter()
        .find(|r| r.package == "rules")
        .unwrap_or_else(|| panic!("the rules were not refused: {report}"));
    assert!(
        refusal.reason.contains(
            "amended@2 names O505.ADR at /sets/resident/2/check, which no adapter serves"
        ),
        "{report}"
    );
    let after = gateway.catalogue.snapshot();
    assert_eq!(after.generation, before.generation, "{report}");
    assert_eq!(after.rules.sets()[0].version, "1");
}

/// ADR 0018, all or keep-old: removing the adapter of a check the rules in force name
/// refuses the whole reload (the removal and the other package's new build alike), and the
/// check keeps its adapter; removed together with a rule set that no longer names it, it
/// goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_adapter_of_a_check_in_force_refuses_the_reload_whole() {
    let staging = Staging::new();
    let gateway = two_adapters_and_their_rules(&staging).await;
    let before = gateway.catalogue.snapshot();
    let p18_2 = CheckId::p18(2).unwrap();

    std::fs::remove_dir_all(staging.adapters().join("fixture-trap")).unwrap();
    staging.stage_signed(&fixture("echo-v2"));
    let report = gateway.catalogue.reload().await.unwrap();
    assert!(
        report.loaded.is_empty() && report.removed.is_empty(),
        "{report}"
    );
    for package in ["fixture-trap", "fixture-echo"] {
        let refusal = report.refused.iter().find(|r| r.package == package);
        assert!(
            refusal.is_some_and(
                |r| r.reason.contains("P18.2") && r.reason.contains("no adapter serves")
            ),
            "{package}: {report}"
        );
    }
    let kept = gateway.catalogue.snapshot();
    assert_eq!(kept.generation, before.generation);
    assert!(kept.for_check(&p18_2).is_some());
    assert_eq!(serving_version(&gateway).await, "1.0.0");

    write_rules(&staging, "2", &["P18.1"]);
    let report = gateway.catalogue.reload().await.unwrap();
    assert!(report.refused.is_empty(), "{report}");
    assert_eq!(report.removed, ["fixture-trap"], "{report}");
    let now = gateway.catalogue.snapshot();
    assert!(now.for_check(&p18_2).is_none());
    assert_eq!(now.rules.sets()[0].version, "2");
    assert_eq!(serving_version(&gateway).await, "2.0.0");
}
