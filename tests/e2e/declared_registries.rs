//! Issue 12, item 6: a registry QA declares in a scenario file, without Rust
//! (`mocks/scenarios/adr-certificates.json`), served beside the default population. Its
//! personas run through the gateway like any other, and the declared registry answers at
//! the e-government gateway endpoint the gateway's own config names, with its credentials.

use std::collections::BTreeSet;

use kezek_domain::Decision;
use kezek_mocks::scenario::Verdict as Expected;
use kezek_mocks::{soap, xml};
use kezek_tests::registries::{World, application};

/// The ADR certificate answer of the declared registry for a driver's identity document,
/// as the business XML.
async fn adr_certificate(
    world: &World,
    document: &kezek_mocks::scenario::IdentityDocument,
) -> xml::Node {
    // The gateway's `egress.endpoints.egov-gateway` (kezek_tests::registries::endpoints_toml).
    let url = world
        .mocks
        .declared_url("adr-certificates")
        .expect("declared");
    let path = url.split_once(&world.mocks.addr().to_string()).unwrap().1;
    let envelope = soap::write_gateway_request(
        "6f1c2d3e-8d4b-4b0e-9a51-2f7d1c0e9b12",
        "MTI_ADR_CERTIFICATES",
        &kezek_tests::days::test_now()
            .format(&time::format_description::well_known::Rfc3339)
            .expect("a timestamp"),
        "kezek-dev",
        "kezek-dev-secret",
        &format!(
            "<AdrCertificateRequest><documentCountry>{}</documentCountry>\
             <documentNumber>{}</documentNumber></AdrCertificateRequest>",
            document.issuing_country, document.number
        ),
    );
    let reply = kezek_tests::http::request(
        world.mocks.addr(),
        "POST",
        path,
        &[("content-type", "text/xml; charset=utf-8")],
        envelope.into_bytes(),
        None,
    )
    .await
    .expect("the mocks answer");
    assert_eq!(reply.status, 200);
    let root = xml::parse(&String::from_utf8_lossy(&reply.body)).expect("an envelope");
    let response = soap::body_payload(&root).expect("a SOAP body");
    let info = response.path(&["response", "responseInfo"]).unwrap();
    assert_eq!(info.path(&["status", "code"]).unwrap().text, "SCE000");
    let data = response
        .path(&["response", "responseData", "data"])
        .unwrap();
    xml::parse(&data.text).expect("business XML")
}

/// Issue 12: the ADR scenario merged onto the default population. Each ADR persona gets
/// exactly its P18 expectations from the gateway (approved: dangerous cargo changes no P18
/// check), and the declared registry gives the answer its O505.ADR expectation is written
/// from: valid after the travel date, expired before it, or not found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_12_declared_registry_beside_the_default_population() {
    let world = World::start().await;
    let scenario = world.merge_scenario("adr-certificates.json");
    let travel = kezek_tests::days::ahead(10);
    for (example, found) in [
        ("adr-valid", true),
        ("adr-expired", true),
        ("adr-missing", false),
        ("adr-non-resident", true),
        ("adr-non-resident-missing", false),
    ] {
        let p = scenario.example(example).expect("an ADR example");
        assert_eq!(p.request.travel_date, travel, "{}", p.id);
        let v = world
            .gateway
            .pipeline
            .verify(application(p))
            .await
            .expect("a rule set is in effect");
        let ran: BTreeSet<String> = v.checks.iter().map(|c| c.check.to_string()).collect();
        let p18: BTreeSet<String> = p
            .expect
            .keys()
            .filter(|k| k.p18_number().is_some())
            .map(|k| k.to_string())
            .collect();
        assert_eq!(ran, p18, "{}", p.id);
        assert_eq!(v.decision, Decision::Approved, "{}: {:?}", p.id, v.reasons);

        let answer = adr_certificate(&world, &p.request.drivers[0].document).await;
        assert_eq!(answer.text_of("found"), Some(found.to_string()), "{}", p.id);
        let want = p.expected("O505.ADR").expect("the new check's expectation");
        match (want.verdict, answer.path(&["certificate", "validUntil"])) {
            (Expected::Pass, Some(until)) => assert!(until.text > travel, "{}", p.id),
            (Expected::Fail, Some(until)) => assert!(until.text < travel, "{}", p.id),
            (Expected::Fail, None) => assert_eq!(want.reason, "adr-certificate-missing"),
            other => panic!("{}: unexpected {other:?}", p.id),
        }
    }
    assert_eq!(world.mocks.call_count("adr-certificates"), 5);
}
