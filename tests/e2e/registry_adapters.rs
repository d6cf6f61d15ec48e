//! Every registry adapter against its mock registry (issue: registry adapters, item 5):
//! every persona path of the default population (P18.1–P18.18, P19 notices), every fault
//! mode, and the request each adapter sends.
//!
//! `KEZEK_CHECKS=2,3 cargo test --release -p kezek-tests --test e2e registry_adapters`
//! narrows the run while an adapter is being written.

use kezek_domain::{CheckError, CheckId, Verdict};
use kezek_mocks::faults::{Fault, FaultMode};
use kezek_mocks::registry::{CredentialCheck, RegistryId};
use kezek_mocks::scenario::Verdict as Expected;
use kezek_tests::registries::{World, application, registries_for, selected_checks};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

fn expected_verdict(v: Expected) -> Verdict {
    match v {
        Expected::Pass => Verdict::Pass,
        Expected::Fail => Verdict::Fail,
        Expected::Notice => Verdict::Notice,
    }
}

/// P18, P19: each adapter's verdict and reason code equal the hand-written expectation of
/// every persona of the default population, for every check that applies to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_persona_gets_its_expected_finding_from_every_adapter() {
    let world = World::start().await;
    let checks = selected_checks();
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for persona in &world.scenario.personas {
        let app = application(persona);
        for (key, expected) in &persona.expect {
            let check: CheckId = key
                .as_str()
                .parse()
                .expect("an expectation key is a check id");
            if !checks.contains(&check) {
                continue;
            }
            compared += 1;
            let got = world.check(&check, &app, DEADLINE).await;
            let want = (expected_verdict(expected.verdict), expected.reason.as_str());
            match &got {
                Ok(f) if (f.verdict, f.reason_code.as_str()) == want => {}
                Ok(f) => mismatches.push(format!(
                    "{} {check}: expected {want:?}, got ({:?}, {:?}) — {}",
                    persona.id, f.verdict, f.reason_code, f.message
                )),
                Err(e) => mismatches.push(format!(
                    "{} {check}: expected {want:?}, got error {e}",
                    persona.id
                )),
            }
        }
    }
    assert!(
        compared > 0,
        "no expectation was compared (KEZEK_CHECKS={:?})",
        std::env::var("KEZEK_CHECKS")
    );
    assert!(
        mismatches.is_empty(),
        "{} of {compared} findings differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// A persona for which `check` passes, to exercise faults and requests on a good path.
fn passing_persona(world: &World, check: &CheckId) -> kezek_domain::Application {
    let persona = world
        .scenario
        .personas
        .iter()
        .find(|p| {
            p.expected(check.as_str()).is_some_and(|e| e.verdict == Expected::Pass)
                // Check 1 for a legal entity with drivers asks both ГБД ЮЛ and ГБД ФЛ.
                && (check.p18_number() != Some(1) || p.request.drivers.iter().any(|d| d.iin.is_some()))
        })
        .unwrap_or_else(|| panic!("the default population has a passing persona for {check}"));
    application(persona)
}

/// Unknown is never yes (DESIGN.md): every fault mode of every registry ends in an error,
/// never in a finding; a small latency is tolerated; a long one hits the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_mode_of_every_registry_is_an_error_not_a_finding() {
    let world = World::start().await;
    let modes = FaultMode::ALL;
    let mut wrong = Vec::new();
    for check in selected_checks() {
        let app = passing_persona(&world, &check);
        world.mocks.clear_faults();
        let baseline = world.check(&check, &app, DEADLINE).await;
        if !matches!(&baseline, Ok(f) if f.verdict == Verdict::Pass) {
            wrong.push(format!("{check}: the baseline does not pass: {baseline:?}"));
            continue;
        }
        for mode in modes {
            for &registry in registries_for(&check) {
                world.mocks.set_fault(registry, Fault::mode(mode));
            }
            let got = world.check(&check, &app, DEADLINE).await;
            world.mocks.clear_faults();
            if got.is_ok() {
                wrong.push(format!("{check} under {mode:?}: got a finding {got:?}"));
            }
        }
        for &registry in registries_for(&check) {
            world.mocks.set_fault(registry, Fault::latency(20));
        }
        let slow_but_fine = world.check(&check, &app, DEADLINE).await;
        if !matches!(&slow_but_fine, Ok(f) if f.verdict == Verdict::Pass) {
            wrong.push(format!("{check} with 20 ms latency: {slow_but_fine:?}"));
        }
        for &registry in registries_for(&check) {
            world.mocks.set_fault(registry, Fault::latency(2_000));
        }
        let too_slow = world.check(&check, &app, Duration::from_millis(300)).await;
        world.mocks.clear_faults();
        if !matches!(too_slow, Err(CheckError::Timeout(_))) {
            wrong.push(format!(
                "{check} with 2 s latency and a 300 ms deadline: {too_slow:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// What the registries receive: the right service, sender credentials injected by the
/// host (never written by the adapter), and a consent token for ГБД ФЛ (P16).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_sends_the_service_and_credentials_its_registry_expects() {
    let world = World::start().await;
    let service = |registry: RegistryId, check: u8| -> Option<&'static str> {
        use RegistryId::*;
        Some(match (registry, check) {
            (GbdFl, _) => "GBDFL_PERSON_BY_IIN",
            (GbdUl, _) => "GBDUL_COMPANY_BY_BIN",
            (Automobile, 2) => "AUTO_VEHICLE_REGISTRATION",
            (Automobile, _) => "AUTO_DRIVER_LICENCE",
            (WantedVehicles, _) => "MVD_WANTED_VEHICLES",
            (WantedPersons, _) => "KPSISU_WANTED_PERSONS",
            (AgriMachinery, _) => "MSH_AGRI_MACHINERY",
            (ELicensing, _) => "ELICENSE_INTL_PERMITS",
            (Tax, _) => "KGD_TAX_DEBT",
            (Erap, _) => "ERAP_UNPAID_FINES",
            (DigitalDocuments, _) => "MGOV_DIGITAL_DOCUMENTS",
            (Biometrics, _) => "BIO_IDENTIFICATION",
            (MobileCitizens, _) => "MGOV_MOBILE_CITIZENS",
            (TechInspection, _) => "TO_INSPECTIONS",
            (EAgriculture, _) => "EAGRI_CERTIFICATES",
            (Astana1, _) => "ASTANA1_DECLARATIONS",
            _ => return None,
        })
    };
    let mut wrong = Vec::new();
    for check in selected_checks() {
        let app = passing_persona(&world, &check);
        world.mocks.clear_requests();
        let got = world.check(&check, &app, DEADLINE).await;
        if got.is_err() {
            wrong.push(format!("{check}: {got:?}"));
            continue;
        }
        let mut seen = 0;
        for &registry in registries_for(&check) {
            for request in world.mocks.requests(registry) {
                seen += 1;
                if let Some(expected) = check.p18_number().and_then(|n| service(registry, n)) {
                    if request.service_id.as_deref() != Some(expected) {
                        wrong.push(format!(
                            "{check}: {registry:?} got service {:?}, not {expected}",
                            request.service_id
                        ));
                    }
                    if request.sender != CredentialCheck::Valid {
                        wrong.push(format!(
                            "{check}: {registry:?} sender credentials {:?}",
                            request.sender
                        ));
                    }
                    if request.raw_body.contains("{{kezek:") {
                        wrong.push(format!(
                            "{check}: {registry:?} received an unreplaced placeholder"
                        ));
                    }
                }
                if registry == RegistryId::GbdFl && request.consent_token != CredentialCheck::Valid
                {
                    wrong.push(format!(
                        "{check}: ГБД ФЛ consent token {:?}",
                        request.consent_token
                    ));
                }
            }
        }
        if seen == 0 {
            wrong.push(format!("{check}: the adapter asked no registry"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
