//! The host serves `kezek:registry@1.0.0` and `@1.1.0` adapters side by side, and hands each
//! only the request parts it declares (issue 12, items 2 and 3; ADR 0019). The fixtures
//! `parts-1-0` and `parts-1-1` declare the vehicle and the checkpoint and report what they
//! were handed.

use kezek::server::Gateway;
use kezek_host::WitVersion;
use kezek_tests::{Staging, fixture, sample_application};
use std::time::Duration;

async fn handed(gateway: &Gateway, adapter: &str) -> String {
    let set = gateway.catalogue.snapshot();
    let adapter = set
        .adapters
        .get(adapter)
        .unwrap_or_else(|| panic!("{adapter} is loaded"));
    let outcome = gateway
        .host
        .check(
            adapter,
            &adapter.descriptor.checks[0],
            &sample_application(),
            "6f1c2d3e-0000-4000-8000-000000000001",
            Duration::from_secs(10),
        )
        .await;
    outcome.result.expect("the fixture passes").message
}

#[tokio::test]
async fn each_version_is_handed_only_its_declared_parts() {
    let staging = Staging::new();
    staging.stage_signed(&fixture("parts-1-0"));
    staging.stage_signed(&fixture("parts-1-1"));
    let gateway = Gateway::start(&staging.config("")).await.unwrap();
    let set = gateway.catalogue.snapshot();
    assert_eq!(set.adapters["fixture-parts-1-0"].wit, WitVersion::V1_0);
    assert_eq!(set.adapters["fixture-parts-1-1"].wit, WitVersion::V1_1);

    let app = sample_application();
    let (plate, checkpoint) = (&app.vehicle.plate, &app.checkpoint);
    // 1.0.0 has no optional parts: the undeclared ones are neutral placeholders, never the
    // owner's name, the drivers, the trailer, the cargo or the travel date.
    assert_eq!(
        handed(&gateway, "fixture-parts-1-0").await,
        format!(
            "check=2 owner= drivers=0 vehicle={plate} trailer=- cargo=00 \
             checkpoint={checkpoint} travel-date="
        )
    );
    // 1.1.0: undeclared parts are absent, and the check is named as the rules cite it (P18.3).
    assert_eq!(
        handed(&gateway, "fixture-parts-1-1").await,
        format!(
            "check=P18.3 owner=- drivers=- vehicle={plate} trailer=- cargo=- \
             checkpoint={checkpoint} travel-date=-"
        )
    );
}

#[tokio::test]
async fn a_component_and_manifest_that_disagree_on_the_version_are_refused() {
    let staging = Staging::new();
    let package = staging.stage_unsigned(&fixture("parts-1-1"));
    staging.edit_manifest(
        &package,
        "\"wit\": \"kezek:registry@1.1.0\"",
        "\"wit\": \"kezek:registry@1.0.0\"",
    );
    staging.sign(&package);
    let gateway = Gateway::start(&staging.config("")).await.unwrap();
    let report = gateway.catalogue.reload().await.unwrap();
    assert_eq!(report.refused.len(), 1, "{report}");
    let reason = &report.refused[0].reason;
    assert!(
        reason.contains("the manifest says kezek:registry@1.0.0")
            && reason.contains("kezek:registry/checker@1.1.0"),
        "{reason}"
    );
    assert!(gateway.catalogue.snapshot().adapters.is_empty());
}
