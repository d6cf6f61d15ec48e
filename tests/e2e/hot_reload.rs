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
            CheckId::new(1).unwrap(),
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
        set.for_check(CheckId::new(1).unwrap())
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
                    .for_check(CheckId::new(1).unwrap())
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
    let broken = staging.stage_signed(&fixture("echo-v2"));
    std::fs::copy(
        fixture("wrong-wit").join("adapter.wasm"),
        broken.join("adapter.wasm"),
    )
    .unwrap();
    staging.sign(&broken);
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

    let old = started_with.for_check(CheckId::new(1).unwrap()).unwrap();
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
