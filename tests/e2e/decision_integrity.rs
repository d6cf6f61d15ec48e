//! Decision integrity (issue 10): no way around a verification. Each test names the rule it
//! holds; the fault matrix asserts 0 false approvals over every registry, the consent
//! service included, × every fault mode × a resident and a non-resident.

use kezek_domain::{CheckError, CheckOutcome, Decision, Verification};
use kezek_mocks::faults::{Fault, FaultMode};
use kezek_mocks::registry::RegistryId;
use kezek_pipeline::VerifyError;
use kezek_pipeline::upstream::UpstreamSettings;
use kezek_tests::registries::World;
use std::time::Duration;

const RESIDENT: &str = "r-clean-individual-truck";
const NON_RESIDENT: &str = "n-clean-uz-transit";

const MODES: [FaultMode; 7] = FaultMode::ALL;

fn persona(world: &World, id: &str) -> kezek_domain::Application {
    world.persona(id)
}

/// Breakers that never open, so every combination of the matrix meets the registry itself
/// rather than a breaker opened by the combination before it.
fn no_breaker() -> UpstreamSettings {
    UpstreamSettings {
        failure_threshold: u32::MAX,
        ..UpstreamSettings::default()
    }
}

fn errors(v: &Verification) -> Vec<&CheckError> {
    v.checks
        .iter()
        .filter_map(|c| match &c.outcome {
            CheckOutcome::Error { error } => Some(error),
            CheckOutcome::Finding(_) => None,
        })
        .collect()
}

/// Unknown is never yes (DESIGN.md, P20): with any fault on any registry a verification
/// actually asks, the decision is not "approved" — except where the rule set makes that
/// registry's check a notice (P19: a resident's fines, P18.10, and toll debt, P18.17), which
/// is then reported not checked. Transport failures (a reset, a body cut short) are outages,
/// retried and reported `unavailable`, never "answer not understood".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fault_of_any_registry_or_of_consent_becomes_an_approval() {
    let world = World::start_with(no_breaker(), "").await;
    let pipeline = &world.gateway.pipeline;
    let mut wrong = Vec::new();
    let mut exercised = 0;
    for (id, notice_only) in [
        (RESIDENT, &[RegistryId::Erap, RegistryId::Toll][..]),
        (NON_RESIDENT, &[][..]),
    ] {
        let app = persona(&world, id);
        pipeline.cache.invalidate_all();
        let baseline = pipeline.verify(app.clone()).await.unwrap();
        assert_eq!(baseline.decision, Decision::Approved, "{id}: {baseline:?}");
        for registry in RegistryId::ALL {
            for mode in MODES {
                pipeline.cache.invalidate_all();
                world.mocks.clear_requests();
                world.mocks.set_fault(registry, Fault::mode(mode));
                let v = pipeline.verify(app.clone()).await.unwrap();
                world.mocks.clear_faults();
                if world.mocks.requests(registry).is_empty() {
                    continue; // this persona's plan never asks this registry
                }
                exercised += 1;
                if v.decision == Decision::Approved && !notice_only.contains(&registry) {
                    wrong.push(format!("{id}: {registry:?} {mode:?} was approved"));
                }
                if matches!(mode, FaultMode::ConnectionReset | FaultMode::TruncatedBody)
                    && errors(&v)
                        .iter()
                        .any(|e| matches!(e, CheckError::BadResponse(_)))
                {
                    wrong.push(format!(
                        "{id}: {registry:?} {mode:?} reported as a bad answer, not an outage: {:?}",
                        errors(&v)
                    ));
                }
            }
        }
    }
    // The resident's plan reaches every registry and the consent service; the
    // non-resident's fewer. Fewer than this would mean the matrix tested nothing.
    assert!(
        exercised >= 19 * MODES.len(),
        "only {exercised} combinations asked the faulted registry"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// P16: consent is proven by the state consent service. An answer carrying another
/// request's correlation id proves nothing, so the checks that needed the token have no
/// answer and the verification is not approved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consent_answer_for_another_request_is_no_consent() {
    let world = World::start().await;
    let app = persona(&world, RESIDENT);
    world.mocks.set_fault(
        RegistryId::Consent,
        Fault::mode(FaultMode::WrongCorrelationId),
    );
    let v = world.gateway.pipeline.verify(app).await.unwrap();
    assert_ne!(v.decision, Decision::Approved, "{v:?}");
    assert!(!world.mocks.requests(RegistryId::Consent).is_empty());
}

/// The application's own facts (P16.3, P16.4, P18.15): what no registry can fix is said as what to
/// change, with the field and the rule, and no registry is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facts_the_rules_make_decisive_are_judged_before_any_registry() {
    let world = World::start().await;
    let base = persona(&world, NON_RESIDENT);
    let travel = kezek_domain::clock::parse_date(&base.travel_date).unwrap();
    let check = |change: &dyn Fn(&mut kezek_domain::Application), rule: &str, pointer: &str| {
        let mut app = base.clone();
        change(&mut app);
        (app, rule.to_owned(), pointer.to_owned())
    };
    let cases = [
        // A passport that expired 30 days before travel.
        check(
            &|a| a.drivers[0].document.expires = (travel - time::Duration::days(30)).to_string(),
            "P16.4",
            "/drivers/0/document/expires",
        ),
        // Expiring the day before travel is still before it.
        check(
            &|a| a.drivers[0].document.expires = (travel - time::Duration::days(1)).to_string(),
            "P16.4",
            "/drivers/0/document/expires",
        ),
        check(
            &|a| a.drivers[0].birth_date = "0001-01-01".into(),
            "P16.4",
            "/drivers/0/birth-date",
        ),
        // Live cattle declared as general cargo would skip check 15.
        check(
            &|a| {
                a.cargo.classes = vec![kezek_domain::CargoClass::General];
                a.cargo.hs_codes = vec!["010229".into()];
            },
            "P18.15",
            "/cargo/classes",
        ),
        check(&|a| a.checkpoint = "XX-NOWHERE".into(), "P5", "/checkpoint"),
        // ADR 0016: a Kazakh-registered vehicle's owner has an IIN/BIN; without it the gate
        // could not confirm a declared non-resident's residency.
        check(
            &|a| a.vehicle.country = "KZ".into(),
            "P16.3",
            "/owner/iin-bin",
        ),
        // A Kazakh identity document is a resident's.
        check(
            &|a| a.drivers[0].document.issuing_country = "KZ".into(),
            "P16.4",
            "/drivers/0/residency",
        ),
    ];
    for (app, rule, pointer) in cases {
        world.mocks.clear_requests();
        match world.gateway.pipeline.verify(app).await {
            Err(VerifyError::Undatable(problems)) => assert!(
                problems
                    .0
                    .iter()
                    .any(|p| p.rule == rule && p.pointer == pointer),
                "{rule} {pointer}: {problems:?}"
            ),
            other => panic!("{rule} {pointer}: expected a 422-class refusal, got {other:?}"),
        }
        for registry in RegistryId::ALL {
            assert!(
                world.mocks.requests(registry).is_empty(),
                "{registry:?} was asked"
            );
        }
    }
    // A document valid on the travel date itself is fine.
    let mut app = base.clone();
    app.drivers[0].document.expires = travel.to_string();
    let v = world.gateway.pipeline.verify(app).await.unwrap();
    assert_eq!(v.decision, Decision::Approved, "{v:?}");
}

/// Capacity, honestly (issue 10): with every registry slow and more concurrent checks than
/// sandbox slots, calls wait for a slot within their deadline — none is blamed on an adapter
/// and none is indeterminate; only when a slot cannot be had in time is the verification
/// answered "at capacity", and then nothing is decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_queue_for_a_sandbox_slot_and_only_a_real_overload_says_capacity() {
    let world = World::start_with(no_breaker(), "[sandbox]\nmax_concurrent_calls = 8\n").await;
    let base = persona(&world, RESIDENT);
    for registry in RegistryId::ALL {
        world.mocks.set_fault(registry, Fault::latency(250));
    }
    // 6 distinct applications × 15 checks on 8 slots, each call holding its slot ~250 ms.
    let verifications = (0..6).map(|i| {
        let mut app = base.clone();
        app.drivers[0].email = Some(format!("queue-{i}@example.kz"));
        let pipeline = world.gateway.pipeline.clone();
        async move { pipeline.verify(app).await }
    });
    for v in futures::future::join_all(verifications).await {
        let v = v.expect("decided");
        assert_eq!(v.decision, Decision::Approved, "{:?}", v.unanswered);
    }
    world.mocks.clear_faults();

    // One slot, registries 1.5 s away: the checks that cannot start within their 5 s
    // deadline make the whole verification "at capacity", with a short Retry-After.
    let world = World::start_with(no_breaker(), "[sandbox]\nmax_concurrent_calls = 1\n").await;
    for registry in RegistryId::ALL {
        world.mocks.set_fault(registry, Fault::latency(1_500));
    }
    let started = std::time::Instant::now();
    match world.gateway.pipeline.verify(base).await {
        Err(VerifyError::Overloaded { retry_after_s }) => {
            assert!((1..=5).contains(&retry_after_s), "{retry_after_s}")
        }
        other => panic!("expected the gateway at capacity, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(9));
}

/// P16.3, P19: residency is the registries' to say. A resident company with a tax debt that
/// declares itself (or its driver) non-resident is refused at the gate with the reason — it
/// does not get the lighter non-resident set — and no other registry is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_non_resident_whom_the_registries_know_as_resident_is_refused() {
    let world = World::start().await;
    let honest = persona(&world, "r-tax-debt-1-kzt");
    let v = world.gateway.pipeline.verify(honest.clone()).await.unwrap();
    assert_eq!(v.decision, Decision::Refused, "{v:?}");
    assert!(
        v.reasons.iter().any(|r| r.check.p18_number() == Some(9)),
        "{v:?}"
    );

    let owner_flipped = {
        let mut app = honest.clone();
        app.owner.residency = kezek_domain::Residency::NonResident;
        app
    };
    // With a Kazakh identity document the claim is refused before any registry (ADR 0016,
    // `facts_the_rules_make_decisive_are_judged_before_any_registry`); with a foreign one it
    // reaches the gate, where ГБД ФЛ knows the IIN as a resident's.
    let driver_flipped = {
        let mut app = honest.clone();
        app.drivers[0].residency = kezek_domain::Residency::NonResident;
        app.drivers[0].document.issuing_country = "RU".into();
        app
    };
    for app in [owner_flipped, driver_flipped] {
        world.mocks.clear_requests();
        let v = world.gateway.pipeline.verify(app).await.unwrap();
        assert_eq!(v.decision, Decision::Refused, "{v:?}");
        assert_eq!(v.reasons.len(), 1, "{:?}", v.reasons);
        assert_eq!(v.reasons[0].rule_id, "P18.1");
        assert_eq!(v.reasons[0].reason_code, "residency-mismatch");
        let asked: Vec<_> = RegistryId::ALL
            .into_iter()
            .filter(|r| !world.mocks.requests(*r).is_empty())
            .collect();
        assert!(
            asked.iter().all(|r| matches!(
                r,
                RegistryId::GbdUl | RegistryId::GbdFl | RegistryId::Consent
            )),
            "only the gate's registries may be asked: {asked:?}"
        );
    }
}

/// P16: consent before processing. An application naming a person who has not consented
/// learns nothing about them: the gate refuses, and no other registry is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_asked_about_a_person_before_their_consent() {
    let world = World::start().await;
    world.mocks.clear_requests();
    let v = world
        .gateway
        .pipeline
        .verify(persona(&world, "r-no-consent"))
        .await
        .unwrap();
    assert_eq!(v.decision, Decision::Refused, "{v:?}");
    assert_eq!(v.reasons[0].reason_code, "consent-missing", "{v:?}");
    assert_eq!(
        v.checks.len(),
        1,
        "decided on the gate alone: {:?}",
        v.checks
    );
    for registry in RegistryId::ALL {
        if !matches!(
            registry,
            RegistryId::GbdUl | RegistryId::GbdFl | RegistryId::Consent
        ) {
            assert!(
                world.mocks.requests(registry).is_empty(),
                "{registry:?} was asked"
            );
        }
    }
}
