//! Loading adapter packages: manifests against their schema, Ed25519 signatures, the WIT
//! contract and the self-test. Each refusal says what is wrong (issue: adapter host, item 4).

use kezek::server::Gateway;
use kezek_tests::{Staging, fixture};

async fn reload_refusals(staging: &Staging, extra_config: &str) -> Vec<String> {
    let gateway = Gateway::start(&staging.config(extra_config))
        .await
        .expect("gateway starts");
    let report = gateway.catalogue.reload().await.expect("reload runs");
    report
        .refused
        .iter()
        .map(|r| format!("{}: {}", r.package, r.reason))
        .collect()
}

#[tokio::test]
async fn a_signed_package_loads() {
    let staging = Staging::new();
    staging.stage_signed(&fixture("echo"));
    let gateway = Gateway::start(&staging.config("")).await.unwrap();
    let set = gateway.catalogue.snapshot();
    let echo = set.adapters.get("fixture-echo").expect("echo loaded");
    assert_eq!(echo.descriptor.version, "1.0.0");
    assert!(echo.descriptor.reads.vehicle && !echo.descriptor.reads.owner);
}

#[tokio::test]
async fn unsigned_adapters_are_refused_when_signatures_are_required() {
    let staging = Staging::new();
    staging.stage_unsigned(&fixture("echo"));
    let refusals = reload_refusals(&staging, "").await;
    assert!(
        refusals.iter().any(|r| r.contains("not signed")),
        "{refusals:?}"
    );
}

#[tokio::test]
async fn unsigned_adapters_load_only_where_the_operator_allows_them() {
    let staging = Staging::new();
    staging.stage_unsigned(&fixture("echo"));
    let config = staging.config("").adapters;
    assert!(
        config.require_signatures,
        "signatures are required by default"
    );
    let text = format!(
        "[adapters]\ndir = {:?}\nrequire_signatures = false\nwatch = false\n",
        staging.adapters()
    );
    let path = staging.dir.path().join("open.toml");
    std::fs::write(&path, text).unwrap();
    let gateway = Gateway::start(&kezek::config::Config::from_file(&path).unwrap())
        .await
        .unwrap();
    assert!(
        gateway
            .catalogue
            .snapshot()
            .adapters
            .contains_key("fixture-echo")
    );
}

#[tokio::test]
async fn a_tampered_component_or_manifest_is_refused() {
    let staging = Staging::new();
    let package = staging.stage_signed(&fixture("echo"));
    let mut component = std::fs::read(package.join("adapter.wasm")).unwrap();
    let last = component.len() - 1;
    component[last] ^= 0x01;
    std::fs::write(package.join("adapter.wasm"), &component).unwrap();
    let refusals = reload_refusals(&staging, "").await;
    assert!(
        refusals
            .iter()
            .any(|r| r.contains("signature does not match")),
        "{refusals:?}"
    );

    let package = staging.stage_signed(&fixture("echo"));
    // Widen the memory limit after signing.
    staging.edit_manifest(&package, "\"memory_mib\": 8", "\"memory_mib\": 64");
    let refusals = reload_refusals(&staging, "").await;
    assert!(
        refusals
            .iter()
            .any(|r| r.contains("signature does not match")),
        "{refusals:?}"
    );
}

#[tokio::test]
async fn a_component_built_against_another_wit_version_is_refused() {
    let staging = Staging::new();
    staging.stage_signed(&fixture("wrong-wit"));
    let refusals = reload_refusals(&staging, "").await;
    assert!(
        refusals
            .iter()
            .any(|r| r.contains("fixture-wrong-wit") && r.contains("kezek:registry@1.0.0")),
        "{refusals:?}"
    );
}

#[tokio::test]
async fn a_manifest_that_breaks_its_schema_is_refused_with_the_field() {
    let staging = Staging::new();
    let package = staging.stage_unsigned(&fixture("echo"));
    staging.edit_manifest(&package, "\"checks\": [1]", "\"checks\": [42]");
    let refusals = reload_refusals(&staging, "").await;
    assert!(
        refusals.iter().any(|r| r.contains("/checks/0")),
        "{refusals:?}"
    );
}

#[tokio::test]
async fn a_manifest_that_disagrees_with_the_component_fails_the_self_test() {
    let staging = Staging::new();
    let package = staging.stage_unsigned(&fixture("echo"));
    staging.edit_manifest(&package, "\"1.0.0\"", "\"1.0.1\"");
    staging.sign(&package);
    let refusals = reload_refusals(&staging, "").await;
    assert!(
        refusals
            .iter()
            .any(|r| r.contains("self-test") && r.contains("1.0.1")),
        "{refusals:?}"
    );
}

#[tokio::test]
async fn the_precompiled_cache_is_used_and_gives_the_same_adapter() {
    let staging = Staging::new();
    staging.stage_signed(&fixture("echo"));
    let cache = staging.dir.path().join("cache");
    let extra = format!("precompiled_cache = {cache:?}\n");
    // `extra` lands in the [adapters] table because it follows it directly.
    let first = Gateway::start(&staging.config(&extra)).await.unwrap();
    let cached: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(cached.len(), 1, "one precompiled component is written");
    let second = Gateway::start(&staging.config(&extra)).await.unwrap();
    let a = first.catalogue.snapshot();
    let b = second.catalogue.snapshot();
    assert_eq!(
        a.adapters["fixture-echo"].component_sha256,
        b.adapters["fixture-echo"].component_sha256
    );
}
