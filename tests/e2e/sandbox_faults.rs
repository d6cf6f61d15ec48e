//! The fault battery (DESIGN.md: adapters are sandboxed; unknown is never yes): every kind
//! of misbehaving adapter ends in a typed error, quickly, while good calls on the same host
//! keep succeeding.

use kezek::server::Gateway;
use kezek_domain::{CheckError, Verdict};
use kezek_tests::upstream::{self, Behaviour};
use kezek_tests::{Staging, fixture, sample_application};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A fault must be contained within this bound; the fixtures' budgets are 50 ms CPU and
/// 300 ms per registry answer.
/// Recognises the error a fault must end in.
type ExpectedError = fn(&CheckError) -> bool;

const CONTAINED_WITHIN: Duration = Duration::from_millis(1000);

async fn gateway_with_faults() -> (Gateway, Staging) {
    let staging = Staging::new();
    for name in [
        "echo",
        "trap",
        "infinite-loop",
        "memory-bomb",
        "egress-probe",
    ] {
        staging.stage_signed(&fixture(name));
    }
    let huge = upstream::start(Behaviour::Bytes(1 << 20)).await;
    let slow = upstream::start(Behaviour::Slow(Duration::from_secs(5))).await;
    let plain = upstream::start(Behaviour::Bytes(16)).await;
    let config = staging.config(&format!(
        "[egress.endpoints.huge-answer]\nurl = \"{huge}\"\n\
         [egress.endpoints.slow-answer]\nurl = \"{slow}\"\n\
         [egress.endpoints.plain-answer]\nurl = \"{plain}\"\n"
    ));
    (
        Gateway::start(&config).await.expect("gateway starts"),
        staging,
    )
}

async fn call(
    gateway: &Gateway,
    adapter: &str,
    checkpoint: &str,
) -> (Result<Verdict, CheckError>, Duration) {
    let set = gateway.catalogue.snapshot();
    let adapter = set
        .adapters
        .get(adapter)
        .unwrap_or_else(|| panic!("{adapter} is loaded"));
    let check = &adapter.descriptor.checks[0];
    let mut application = sample_application();
    application.checkpoint = checkpoint.to_owned();
    let started = Instant::now();
    let outcome = gateway
        .host
        .check(
            adapter,
            check,
            &application,
            "6f1c2d3e-0000-4000-8000-000000000001",
            Duration::from_secs(10),
        )
        .await;
    (outcome.result.map(|f| f.verdict), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_is_a_typed_error_and_good_calls_keep_succeeding() {
    let (gateway, _staging) = gateway_with_faults().await;
    let gateway = Arc::new(gateway);

    // A steady stream of good calls on the same host while the faults run.
    let stop = Arc::new(AtomicBool::new(false));
    let good = Arc::new(AtomicUsize::new(0));
    let mut stream = Vec::new();
    for _ in 0..2 {
        let (gateway, stop, good) = (gateway.clone(), stop.clone(), good.clone());
        stream.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (result, _) = call(&gateway, "fixture-echo", "CN-NUR-ZHOLY").await;
                assert_eq!(
                    result,
                    Ok(Verdict::Pass),
                    "a good call failed while faults ran"
                );
                good.fetch_add(1, Ordering::Relaxed);
                // An instance call may complete without ever yielding; let the other
                // tasks (the upstream servers among them) run.
                tokio::task::yield_now().await;
            }
        }));
    }

    let faults: Vec<(&str, &str, ExpectedError)> = vec![
        ("fixture-trap", "-", |e| matches!(e, CheckError::Trapped(_))),
        ("fixture-infinite-loop", "-", |e| {
            matches!(e, CheckError::CpuBudgetExceeded(50))
        }),
        ("fixture-memory-bomb", "-", |e| {
            matches!(e, CheckError::MemoryCapExceeded(8))
        }),
        // Not in the manifest at all.
        (
            "fixture-egress-probe",
            "exfiltrate",
            |e| matches!(e, CheckError::Unavailable(m) if m.contains("did not declare")),
        ),
        // In the manifest, but the operator configured no such endpoint.
        (
            "fixture-egress-probe",
            "declared-but-not-configured",
            |e| matches!(e, CheckError::Unavailable(m) if m.contains("not configured")),
        ),
        (
            "fixture-egress-probe",
            "huge-answer",
            |e| matches!(e, CheckError::BadResponse(m) if m.contains("too large")),
        ),
        ("fixture-egress-probe", "slow-answer", |e| {
            matches!(e, CheckError::Timeout(_))
        }),
    ];
    for (adapter, endpoint, expected) in faults {
        let (result, took) = call(&gateway, adapter, endpoint).await;
        let error = result.expect_err(&format!("{adapter} via {endpoint} must not pass"));
        assert!(
            expected(&error),
            "{adapter} via {endpoint}: unexpected error {error:?}"
        );
        assert!(
            took < CONTAINED_WITHIN,
            "{adapter} via {endpoint} took {took:?}"
        );
    }
    // And the probe itself works when the endpoint is allowed and well-behaved.
    let (result, _) = call(&gateway, "fixture-egress-probe", "plain-answer").await;
    assert_eq!(result, Ok(Verdict::Pass));

    stop.store(true, Ordering::Relaxed);
    for task in stream {
        task.await.expect("good-call stream panicked");
    }
    assert!(
        good.load(Ordering::Relaxed) > 10,
        "the good stream barely ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_leaves_the_next_call_on_the_same_adapter_healthy() {
    let (gateway, _staging) = gateway_with_faults().await;
    for _ in 0..3 {
        let (result, _) = call(&gateway, "fixture-memory-bomb", "-").await;
        assert!(matches!(result, Err(CheckError::MemoryCapExceeded(_))));
        let (result, _) = call(&gateway, "fixture-infinite-loop", "-").await;
        assert!(matches!(result, Err(CheckError::CpuBudgetExceeded(_))));
    }
    let (result, _) = call(&gateway, "fixture-echo", "-").await;
    assert_eq!(result, Ok(Verdict::Pass));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_deadline_bounds_the_whole_call() {
    let (gateway, _staging) = gateway_with_faults().await;
    let set = gateway.catalogue.snapshot();
    let adapter = set.adapters.get("fixture-egress-probe").unwrap();
    let mut application = sample_application();
    application.checkpoint = "slow-answer".into();
    let outcome = gateway
        .host
        .check(
            adapter,
            &adapter.descriptor.checks[0],
            &application,
            "c",
            Duration::from_millis(100),
        )
        .await;
    assert!(
        matches!(outcome.result, Err(CheckError::Timeout(_))),
        "{:?}",
        outcome.result
    );
}
