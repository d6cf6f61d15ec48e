//! Issue 12, item 7: the worked example of an amendment, end to end, as the README's
//! "Adding a check" walks it. Check O505.ADR — every driver of dangerous goods holds an ADR
//! certificate valid on the travel date — joins a running gateway with no change to gateway
//! code and no restart: its adapter (`adapters/registries/adr-certificates`, WIT 1.1) is
//! deployed into the directory the gateway serves, its rule-set edition
//! (`deploy/amendments/order-707-adr.json`) into the rules directory, and the mocks serve
//! the register from JSON (`mocks/scenarios/adr-certificates.json`).

use kezek_domain::{Application, CheckOutcome, Decision, Verification};
use kezek_mocks::scenario::Verdict as Expected;
use kezek_tests::days;
use kezek_tests::registries::{World, application};
use std::sync::Arc;

const ADR: &str = "O505.ADR";

/// The shipped edition, in force from `effective_from`: the example's own date is a fixed
/// day, so the test moves it to where the boundary falls on any day.
fn edition(effective_from: &str) -> String {
    let path = kezek_tests::workspace().join("deploy/amendments/order-707-adr.json");
    let mut file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("the example edition")).unwrap();
    file["effective-from"] = effective_from.into();
    file.to_string()
}

async fn verify(world: &World, application: Application) -> Arc<Verification> {
    world
        .gateway
        .pipeline
        .verify(application)
        .await
        .expect("a rule set is in effect")
}

/// What the verification found for O505.ADR, if it ran: (verdict, reason code).
fn adr_outcome(v: &Verification) -> Option<(String, String)> {
    let result = v.checks.iter().find(|c| c.check.as_str() == ADR)?;
    match &result.outcome {
        CheckOutcome::Finding(f) => Some((f.verdict.as_str().to_owned(), f.reason_code.clone())),
        CheckOutcome::Error { error } => panic!("O505.ADR was not answered: {error}"),
    }
}

/// Issue 12 item 7 (P19 rule sets as effective-dated editions, ADR 0018 open catalogue):
/// the edition is refused while no adapter serves O505.ADR; deployed together with its
/// adapter, both are taken by a reload of the running gateway. From the edition's day on,
/// residents and non-residents with dangerous cargo get O505.ADR, blocking, with the
/// verdict the register's data gives; before that day, and for general cargo, it does not
/// run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_12_the_adr_amendment_is_hot_loaded_without_gateway_code() {
    let world = World::start_without(&["adr-certificates"]).await;
    let scenario = world.merge_scenario("adr-certificates.json");
    let valid = application(scenario.example("adr-valid").unwrap());
    assert_eq!(adr_outcome(&*verify(&world, valid.clone()).await), None);

    // The personas travel ten days ahead; the edition is in force from five days ahead.
    let edition_day = days::ahead(5);
    let rules = world.rules_dir().join("order-707-adr.json");
    std::fs::write(&rules, edition(&edition_day)).unwrap();
    let report = world.gateway.catalogue.reload().await.unwrap();
    let refusal = report.refused.iter().find(|r| r.package == "rules");
    assert!(
        refusal
            .is_some_and(|r| r.reason.contains("names O505.ADR")
                && r.reason.contains("which no adapter serves")),
        "{report}"
    );
    assert_eq!(adr_outcome(&*verify(&world, valid.clone()).await), None);

    world.deploy("adr-certificates");
    let report = world.gateway.catalogue.reload().await.unwrap();
    assert!(report.refused.is_empty(), "{report}");
    assert!(
        report.loaded.iter().any(|(id, _)| id == "adr-certificates"),
        "{report}"
    );

    let mut ran = 0;
    for persona in scenario
        .personas
        .iter()
        .filter(|p| p.expected(ADR).is_some())
    {
        let want = persona.expected(ADR).unwrap();
        let v = verify(&world, application(persona)).await;
        assert!(
            v.rule_set.contains("2027.1-adr"),
            "{}: {}",
            persona.id,
            v.rule_set
        );
        let (verdict, reason) = adr_outcome(&v).unwrap_or_else(|| panic!("{}", persona.id));
        let want_verdict = match want.verdict {
            Expected::Pass => "pass",
            Expected::Fail => "fail",
            Expected::Notice => "notice",
        };
        assert_eq!(
            (verdict.as_str(), reason.as_str()),
            (want_verdict, want.reason.as_str())
        );
        // Every other check of these personas passes: O505.ADR alone decides.
        let decision = match want.verdict {
            Expected::Pass => Decision::Approved,
            _ => Decision::Refused,
        };
        assert_eq!(v.decision, decision, "{}: {:?}", persona.id, v.reasons);
        if decision == Decision::Refused {
            assert!(
                v.reasons.iter().any(|r| r.check.as_str() == ADR),
                "{:?}",
                v.reasons
            );
        }
        ran += 1;
    }
    assert_eq!(ran, 5, "three resident and two non-resident ADR personas");

    // The edition boundary: the day before it, the edition before it is in force.
    let mut before = valid.clone();
    before.travel_date = days::ahead(4);
    let v = verify(&world, before).await;
    assert!(v.rule_set.contains("2023.1"), "{}", v.rule_set);
    assert_eq!(adr_outcome(&v), None);
    // General cargo: the condition is the rule set's, and it does not hold.
    let general = world.persona("r-clean-company-truck-trailer");
    let v = verify(&world, general).await;
    assert!(v.rule_set.contains("2027.1-adr"), "{}", v.rule_set);
    assert_eq!(adr_outcome(&v), None);
}
