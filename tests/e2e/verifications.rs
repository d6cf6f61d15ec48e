//! The verification pipeline (issue: verification pipeline): rule sets (P19), decisions
//! (P20), the cache, deadlines and the breaker, against all 18 adapters on the mocks.

use kezek_domain::{CheckError, CheckId, CheckOutcome, Decision, Residency, Verification};
use kezek_mocks::faults::{Fault, FaultMode};
use kezek_mocks::registry::RegistryId;
use kezek_mocks::scenario::Verdict as Expected;
use kezek_tests::registries::{World, application};
use std::collections::BTreeSet;
use std::sync::Arc;

fn persona(world: &World, id: &str) -> kezek_domain::Application {
    world.persona(id)
}

/// Verifies a persona of the default population.
async fn verify(world: &World, id: &str) -> Arc<Verification> {
    world
        .gateway
        .pipeline
        .verify(persona(world, id))
        .await
        .expect("a rule set is in effect")
}

fn checks_run(v: &Verification) -> BTreeSet<u8> {
    v.checks
        .iter()
        .map(|c| c.check.p18_number().unwrap())
        .collect()
}

fn numbers(reasons: &[kezek_domain::Reason]) -> Vec<u8> {
    reasons
        .iter()
        .map(|r| r.check.p18_number().unwrap())
        .collect()
}

/// P19, data-driven: for every persona of the default population, the rule set runs
/// exactly the checks the persona's hand-written expectations list (the resident set, the
/// non-resident set, and the conditional checks 2, 3, 6 and 15; only the gate, check 1, when
/// it fails — ADR 0011), and the decision follows
/// from the expected findings: any fail refuses; a notice refuses a non-resident (P19) and
/// only notifies a resident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_persona_gets_the_p19_checks_and_the_decision_its_findings_imply() {
    let world = World::start().await;
    let mut wrong = Vec::new();
    for p in &world.scenario.personas {
        let app = application(p);
        let v = world
            .gateway
            .pipeline
            .verify(app.clone())
            .await
            .expect("a rule set is in effect");
        // Check 1 is the gate (ADR 0011): when it fails, nothing else is asked.
        let gate_fails = p.expected("1").is_some_and(|e| e.verdict == Expected::Fail);
        let expected_checks: BTreeSet<u8> = if gate_fails {
            BTreeSet::from([1])
        } else {
            p.expect.keys().filter_map(|k| k.p18_number()).collect()
        };
        if checks_run(&v) != expected_checks {
            wrong.push(format!(
                "{}: ran {:?}, expected {:?}",
                p.id,
                checks_run(&v),
                expected_checks
            ));
        }
        let fails = p.expect.values().any(|e| e.verdict == Expected::Fail);
        let notices = p.expect.values().any(|e| e.verdict == Expected::Notice);
        let expected = match (fails, notices, app.owner.residency) {
            (true, _, _) => Decision::Refused,
            (false, true, Residency::NonResident) => Decision::Refused,
            _ => Decision::Approved,
        };
        if v.decision != expected {
            wrong.push(format!(
                "{}: {:?}, expected {expected:?}; reasons {:?}; unanswered {:?}",
                p.id, v.decision, v.reasons, v.unanswered
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// (persona, decision, refusing checks, notice checks, rule id of the first reason)
type Row = (
    &'static str,
    Decision,
    &'static [u8],
    &'static [u8],
    Option<&'static str>,
);

/// P19 by hand, the rows that matter most: fines (10) and toll debt (17) notify residents
/// and refuse non-residents; every driver is checked; a refusal names each failing check
/// with its rule ID (P20).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p19_table() {
    let world = World::start().await;
    // (persona, decision, refusing checks, notice checks, rule id of the first reason)
    let table: &[Row] = &[
        (
            "r-clean-company-truck-trailer",
            Decision::Approved,
            &[],
            &[],
            None,
        ),
        ("r-unpaid-fine", Decision::Approved, &[], &[10], None),
        ("r-toll-debt", Decision::Approved, &[], &[17], None),
        (
            "n-unpaid-fine-by-plate",
            Decision::Refused,
            &[10],
            &[],
            Some("P18.10, P19"),
        ),
        (
            "n-toll-debt",
            Decision::Refused,
            &[17],
            &[],
            Some("P18.17, P19"),
        ),
        (
            "r-two-drivers-one-wanted",
            Decision::Refused,
            &[5],
            &[],
            Some("P18.5"),
        ),
        (
            "r-licence-not-found",
            Decision::Refused,
            &[3, 11],
            &[],
            Some("P18.3"),
        ),
        (
            "r-policy-ended-day-before",
            Decision::Refused,
            &[8],
            &[],
            Some("P18.8"),
        ),
        ("r-clean-agri-machine", Decision::Approved, &[], &[], None),
        (
            "n-plant-no-phyto",
            Decision::Refused,
            &[15],
            &[],
            Some("P18.15"),
        ),
    ];
    for &(id, decision, refusing, notices, rule) in table {
        let v = world
            .gateway
            .pipeline
            .verify(persona(&world, id))
            .await
            .unwrap();
        assert_eq!(v.decision, decision, "{id}: {v:?}");
        assert_eq!(numbers(&v.reasons), refusing, "{id}");
        assert_eq!(numbers(&v.notices), notices, "{id}");
        assert_eq!(v.reasons.first().map(|r| r.rule_id.as_str()), rule, "{id}");
        assert!(
            v.reasons
                .iter()
                .all(|r| !r.message.is_empty() && !r.registry.is_empty()),
            "{id}"
        );
    }
}

/// Conditional checks: an agricultural machine gets its register (6) and not 2/3; animal
/// or plant cargo gets e-Agriculture (15); general cargo does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_checks_follow_the_vehicle_and_the_cargo() {
    let world = World::start().await;
    let agri = verify(&world, "r-clean-agri-machine").await;
    assert!(
        checks_run(&agri).contains(&6)
            && !checks_run(&agri).contains(&2)
            && !checks_run(&agri).contains(&3)
    );
    let animal = verify(&world, "r-animal-with-vet-certificate").await;
    assert!(checks_run(&animal).contains(&15));
    let general = verify(&world, "r-clean-individual-truck").await;
    assert!(!checks_run(&general).contains(&15) && !checks_run(&general).contains(&6));
}

/// Unknown is never yes: a registry that cannot answer makes the verification
/// indeterminate, naming the registry and when to retry — for a resident's blocking check.
/// A resident's fines check (not blocking, P19) failing only adds a notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_blocking_check_is_indeterminate_and_a_non_blocking_one_a_notice() {
    let world = World::start().await;
    world
        .mocks
        .set_fault(RegistryId::Esbd, Fault::mode(FaultMode::Sce004));
    let v = verify(&world, "r-clean-individual-truck").await;
    assert_eq!(v.decision, Decision::Indeterminate, "{v:?}");
    assert_eq!(
        v.unanswered
            .iter()
            .map(|u| u.check.p18_number().unwrap())
            .collect::<Vec<_>>(),
        vec![8]
    );
    assert!(
        v.unanswered[0].registry.contains("ЕСБД")
            || v.unanswered[0]
                .registry
                .to_lowercase()
                .contains("insurance"),
        "{:?}",
        v.unanswered[0]
    );
    assert!(v.retry_after_s.is_some());
    world.mocks.clear_faults();

    world
        .mocks
        .set_fault(RegistryId::Erap, Fault::mode(FaultMode::ConnectionReset));
    let v = verify(&world, "r-clean-company-truck-trailer").await;
    assert_eq!(v.decision, Decision::Approved, "{v:?}");
    assert_eq!(numbers(&v.notices), vec![10]);
    assert_eq!(v.notices[0].reason_code, "not-checked");
    // A refusal still wins over an unanswered check: the outcome is already known.
    world
        .mocks
        .set_fault(RegistryId::Esbd, Fault::mode(FaultMode::Sce004));
    let v = verify(&world, "r-trailer-needs-ce").await;
    assert_eq!(v.decision, Decision::Refused, "{v:?}");
}

/// Deadlines: a registry slower than the check's deadline is a timeout — indeterminate,
/// never approved — and the verification ends near the deadline, not when the registry
/// answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_registry_hits_the_deadline() {
    let world = World::start().await;
    world
        .mocks
        .set_fault(RegistryId::Tax, Fault::latency(20_000));
    let started = std::time::Instant::now();
    let v = verify(&world, "r-clean-individual-truck").await;
    assert_eq!(v.decision, Decision::Indeterminate, "{v:?}");
    let tax = v
        .unanswered
        .iter()
        .find(|u| u.check.p18_number() == Some(9))
        .expect("tax unanswered");
    assert!(matches!(tax.error, CheckError::Timeout(_)), "{tax:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}

/// Cache: a second identical verification is served from the cache (no registry call);
/// errors are never cached; 200 concurrent identical verifications call each registry
/// once (single-flight); keys hold no personal data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_hits_misses_errors_and_single_flight() {
    let world = World::start().await;
    let app = persona(&world, "r-clean-company-truck-trailer");

    // Single-flight: a burst of identical verifications makes one call per registry.
    let before: Vec<usize> = RegistryId::ALL
        .iter()
        .map(|r| world.mocks.call_count(*r))
        .collect();
    let pipeline = world.gateway.pipeline.clone();
    let burst: Vec<_> = (0..200)
        .map(|_| {
            let (pipeline, app) = (pipeline.clone(), app.clone());
            tokio::spawn(async move { pipeline.verify(app).await.unwrap() })
        })
        .collect();
    for v in burst {
        assert_eq!(v.await.unwrap().decision, Decision::Approved);
    }
    let calls: Vec<usize> = RegistryId::ALL
        .iter()
        .map(|r| world.mocks.call_count(*r))
        .collect();
    let first_run: Vec<usize> = calls.iter().zip(&before).map(|(a, b)| a - b).collect();
    // One verification of this persona: GBD UL + GBD FL (owner company, one driver) and
    // one call per other check, two for vehicle+trailer registries.
    let one_verification = {
        let fresh = World::start().await;
        fresh.gateway.pipeline.verify(app.clone()).await.unwrap();
        RegistryId::ALL
            .iter()
            .map(|r| fresh.mocks.call_count(*r))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        first_run, one_verification,
        "a burst of 200 made more registry calls than one verification"
    );

    // A later identical verification is all cache hits.
    let v = world.gateway.pipeline.verify(app.clone()).await.unwrap();
    assert!(
        v.checks.iter().all(|c| c.cached),
        "{:?}",
        v.checks
            .iter()
            .map(|c| (c.check.clone(), c.cached))
            .collect::<Vec<_>>()
    );
    let after: Vec<usize> = RegistryId::ALL
        .iter()
        .map(|r| world.mocks.call_count(*r))
        .collect();
    assert_eq!(after, calls, "a cached verification called a registry");

    // Errors are not cached: a fault, then the registry recovers, then an answer.
    let other = persona(&world, "r-clean-individual-truck");
    world
        .mocks
        .set_fault(RegistryId::Tax, Fault::mode(FaultMode::Http500));
    let v = world.gateway.pipeline.verify(other.clone()).await.unwrap();
    assert_eq!(v.decision, Decision::Indeterminate);
    world.mocks.clear_faults();
    let v = world.gateway.pipeline.verify(other.clone()).await.unwrap();
    assert_eq!(v.decision, Decision::Approved, "{v:?}");
    let tax = v
        .checks
        .iter()
        .find(|c| c.check == CheckId::p18(9).unwrap())
        .unwrap();
    assert!(!tax.cached && matches!(tax.outcome, CheckOutcome::Finding(_)));
}

/// A reload that changes the rule set drops what it changes: the next verification misses
/// the cache (the rule-set version is part of every key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_set_change_invalidates_the_cache() {
    let world = World::start().await;
    let app = persona(&world, "r-clean-individual-truck");
    world.gateway.pipeline.verify(app.clone()).await.unwrap();
    assert!(
        world
            .gateway
            .pipeline
            .verify(app.clone())
            .await
            .unwrap()
            .checks
            .iter()
            .all(|c| c.cached)
    );

    // Stage an amended rule set in a copy of the rules directory and point a reload at it.
    let rules_dir = world.rules_dir();
    let text = std::fs::read_to_string(rules_dir.join("order-707.json")).unwrap();
    std::fs::write(
        rules_dir.join("order-707.json"),
        text.replace("\"version\": \"2023.1\"", "\"version\": \"2023.2\""),
    )
    .unwrap();
    let report = world.gateway.catalogue.reload().await.unwrap();
    assert!(
        report
            .loaded
            .iter()
            .any(|(id, v)| id == "rules:order-707" && v == "2023.2"),
        "{report}"
    );
    let v = world.gateway.pipeline.verify(app).await.unwrap();
    assert!(v.rule_set.contains("2023.2"));
    assert!(
        v.checks.iter().all(|c| !c.cached),
        "stale findings survived a rule-set change"
    );
}

/// Issue 12 item 4 (P19 as amended): editions of a rule set stand side by side, and the one in
/// force on the travel date applies, on both sides of the day the amendment takes effect.
/// The amendment here drops P18.9 for residents from ten days ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edition_in_force_on_the_travel_date_applies() {
    use kezek_tests::days::ahead;
    let world = World::start().await;
    let rules_dir = world.rules_dir();
    let current: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rules_dir.join("order-707.json")).unwrap()).unwrap();
    let mut amended = current.clone();
    amended["version"] = "amended".into();
    amended["effective-from"] = ahead(10).into();
    let dropped = CheckId::p18(9).unwrap();
    amended["sets"]["resident"]
        .as_array_mut()
        .unwrap()
        .retain(|rule| rule["check"] != 9 && rule["check"] != dropped.to_string().as_str());
    std::fs::write(
        rules_dir.join("order-707-amended.json"),
        serde_json::to_vec_pretty(&amended).unwrap(),
    )
    .unwrap();
    let report = world.gateway.catalogue.reload().await.unwrap();
    assert!(report.refused.is_empty(), "{report}");

    let cases = [
        (9, current["version"].as_str().unwrap(), true),
        (10, "amended", false),
    ];
    for (days, edition, checked) in cases {
        let mut app = persona(&world, "r-clean-individual-truck");
        app.travel_date = ahead(days);
        let v = world.gateway.pipeline.verify(app).await.unwrap();
        assert!(
            v.rule_set.contains(&format!("@{edition}/")),
            "travel in {days} days: {}",
            v.rule_set
        );
        assert_eq!(
            v.checks.iter().any(|c| c.check == dropped),
            checked,
            "travel in {days} days: {dropped} checked under {}",
            v.rule_set
        );
    }
}

/// Circuit breaker: after consecutive failures the registry is not called at all (the
/// check answers "circuit open" at once); after the open period one probe goes through and
/// a success closes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_after_failures_and_a_probe_closes_it() {
    let world = World::start_with_upstream(kezek_pipeline::upstream::UpstreamSettings {
        concurrency: 8,
        failure_threshold: 3,
        open_for: std::time::Duration::from_millis(300),
        retry_ratio: 0.0,
        retry_floor: 0.0,
    })
    .await;
    let app = persona(&world, "r-clean-individual-truck");
    world
        .mocks
        .set_fault(RegistryId::TechInspection, Fault::mode(FaultMode::Sce004));
    for _ in 0..3 {
        world.gateway.pipeline.cache.invalidate_all();
        world.gateway.pipeline.verify(app.clone()).await.unwrap();
    }
    let calls = world.mocks.call_count(RegistryId::TechInspection);
    world.gateway.pipeline.cache.invalidate_all();
    let v = world.gateway.pipeline.verify(app.clone()).await.unwrap();
    let unanswered = v
        .unanswered
        .iter()
        .find(|u| u.check.p18_number() == Some(14))
        .expect("14 unanswered while open");
    assert!(
        matches!(&unanswered.error, CheckError::Unavailable(m) if m.contains("circuit open")),
        "{unanswered:?}"
    );
    assert_eq!(
        world.mocks.call_count(RegistryId::TechInspection),
        calls,
        "an open breaker let a call through"
    );

    world.mocks.clear_faults();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    world.gateway.pipeline.cache.invalidate_all();
    let v = world.gateway.pipeline.verify(app).await.unwrap();
    assert_eq!(
        v.decision,
        Decision::Approved,
        "the probe after the open period should close the breaker: {v:?}"
    );
}

/// The e-government gateway needs a unique messageId per message: the checks of one
/// verification (and the two drivers or vehicle + trailer within one check) never reuse one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_gateway_message_of_a_verification_has_its_own_id() {
    let world = World::start().await;
    world.mocks.clear_requests();
    verify(&world, "r-two-drivers-one-wanted").await;
    let ids: Vec<String> = RegistryId::ALL
        .iter()
        .flat_map(|r| world.mocks.requests(*r))
        .filter_map(|r| r.message_id)
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert!(ids.len() > 10, "{ids:?}");
    assert_eq!(
        unique.len(),
        ids.len(),
        "a messageId was sent twice: {ids:?}"
    );
}
