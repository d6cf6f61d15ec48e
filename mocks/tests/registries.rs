//! Wire-level tests of the mock registries: everything on 127.0.0.1, observed with a raw
//! `tokio::net::TcpStream` so that faults are seen exactly as a client would see them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kezek_mocks::registry::{self, CredentialCheck, MockConfig, RegistryId, RegistryMocks};
use kezek_mocks::scenario::{CheckKey, Residency, Verdict};
use kezek_mocks::xml::{self, Node};
use kezek_mocks::{Fault, FaultMode, Scenario, soap};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A raw HTTP/1.1 exchange as seen on the socket.
#[derive(Debug)]
struct Raw {
    /// 0 when no status line arrived.
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Raw {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Raw {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    // A reset or an aborted body may end the read with an error: keep what arrived.
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    let Some(split) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Raw {
            status: 0,
            headers: BTreeMap::new(),
            body: buf,
        };
    };
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Raw {
        status,
        headers,
        body: buf[split + 4..].to_vec(),
    }
}

fn start() -> RegistryMocks {
    registry::start(Scenario::default_population(), MockConfig::default()).expect("start mocks")
}

fn envelope(message_id: &str, service: &str, business: &str) -> String {
    soap::write_gateway_request(
        message_id,
        service,
        "2026-12-01T08:00:00+05:00",
        "kezek-dev",
        "kezek-dev-secret",
        business,
    )
}

async fn gateway(addr: SocketAddr, message_id: &str, service: &str, business: &str) -> Raw {
    let env = envelope(message_id, service, business);
    http(
        addr,
        "POST",
        "/bip-sync/",
        &[("content-type", "text/xml; charset=utf-8")],
        &env,
    )
    .await
}

/// `(status code, correlationId, business root)` of a gateway answer.
fn gateway_answer(raw: &Raw) -> (String, String, Option<Node>) {
    let root = xml::parse(&raw.text()).expect("well-formed envelope");
    let resp = soap::body_payload(&root).expect("payload");
    assert_eq!(resp.name, "SendMessageResponse");
    let info = resp
        .path(&["response", "responseInfo"])
        .expect("responseInfo");
    let code = info
        .path(&["status", "code"])
        .expect("status code")
        .text
        .clone();
    let corr = info.text_of("correlationId").expect("correlationId");
    let data = resp
        .path(&["response", "responseData", "data"])
        .map(|d| xml::parse(&d.text).expect("business XML"));
    (code, corr, data)
}

fn persona<'a>(s: &'a Scenario, id: &str) -> &'a kezek_mocks::scenario::Persona {
    s.personas
        .iter()
        .find(|p| p.id == id)
        .expect("persona exists")
}

/// P18.1 (ГБД ЮЛ): a full envelope round trip, with correlationId = request messageId.
#[tokio::test]
async fn p18_1_gateway_envelope_round_trip_company_found() {
    let mocks = start();
    let s = Scenario::default_population();
    let bin = persona(&s, "r-clean-company-truck-trailer")
        .request
        .owner
        .iin_bin
        .clone()
        .unwrap();
    let raw = gateway(
        mocks.addr(),
        "11111111-2222-4333-8444-555555555555",
        "GBDUL_COMPANY_BY_BIN",
        &format!("<CompanyRequest><bin>{bin}</bin></CompanyRequest>"),
    )
    .await;
    assert_eq!(raw.status, 200);
    let (code, corr, data) = gateway_answer(&raw);
    assert_eq!(code, "SCE000");
    assert_eq!(corr, "11111111-2222-4333-8444-555555555555");
    let data = data.expect("business data");
    assert_eq!(data.text_of("found").as_deref(), Some("true"));
    assert_eq!(data.path(&["company", "status"]).unwrap().text, "active");
    let rec = mocks.requests(RegistryId::GbdUl);
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].service_id.as_deref(), Some("GBDUL_COMPANY_BY_BIN"));
    assert_eq!(rec[0].keys.get("bin"), Some(&bin));
    assert_eq!(rec[0].sender, CredentialCheck::Valid);
    assert_eq!(rec[0].consent_token, CredentialCheck::NotApplicable);
}

/// The gateway accepts business data as escaped text as well as CDATA, with any prefixes.
#[tokio::test]
async fn gateway_accepts_escaped_business_data_and_other_prefixes() {
    let mocks = start();
    let env = r#"<?xml version="1.0"?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><x:SendMessage xmlns:x="urn:any"><request><requestInfo><messageId>m-esc</messageId><serviceId>AUTO_VEHICLE_REGISTRATION</serviceId><messageDate>2026-12-01T00:00:00Z</messageDate><sender><senderId>kezek-dev</senderId><password>kezek-dev-secret</password></sender></requestInfo><requestData><data>&lt;VehicleRequest&gt;&lt;plate&gt;000XXX00&lt;/plate&gt;&lt;/VehicleRequest&gt;</data></requestData></request></x:SendMessage></S:Body></S:Envelope>"#;
    let raw = http(mocks.addr(), "POST", "/bip-sync/", &[], env).await;
    let (code, corr, data) = gateway_answer(&raw);
    assert_eq!((code.as_str(), corr.as_str()), ("SCE000", "m-esc"));
    // P18.2: an unknown vehicle is a business "not found", not a fault.
    assert_eq!(data.unwrap().text_of("found").as_deref(), Some("false"));
}

/// Bad sender credentials are a SOAP Fault (SENDER_AUTH_FAILED), recorded as invalid.
#[tokio::test]
async fn gateway_rejects_bad_sender_with_soap_fault() {
    let mocks = start();
    let env = soap::write_gateway_request(
        "m-bad",
        "KGD_TAX_DEBT",
        "2026-12-01T00:00:00Z",
        "{{kezek:sender-id}}",
        "{{kezek:sender-password}}",
        "<TaxDebtRequest><iinBin>1</iinBin></TaxDebtRequest>",
    );
    let raw = http(mocks.addr(), "POST", "/bip-sync/", &[], &env).await;
    assert_eq!(raw.status, 500);
    let root = xml::parse(&raw.text()).unwrap();
    let fault = soap::body_payload(&root).unwrap();
    assert_eq!(fault.name, "Fault");
    assert_eq!(fault.text_of("faultcode").as_deref(), Some("soap:Client"));
    assert_eq!(
        fault.path(&["detail", "errorCode"]).unwrap().text,
        "SENDER_AUTH_FAILED"
    );
    assert_eq!(
        mocks.requests(RegistryId::Tax)[0].sender,
        CredentialCheck::Invalid
    );
}

async fn consent_token(addr: SocketAddr, service: &str, iin: &str) -> Raw {
    let body = format!(r#"{{"serviceId":"{service}","iin":"{iin}"}}"#);
    http(
        addr,
        "POST",
        "/consent/v1/tokens",
        &[("content-type", "application/json")],
        &body,
    )
    .await
}

/// P16 + P18.1: ГБД ФЛ answers only with a kdpToken bound to its serviceId and the IIN.
#[tokio::test]
async fn p16_p18_1_gbd_fl_requires_a_bound_consent_token() {
    let mocks = start();
    let s = Scenario::default_population();
    let iin = persona(&s, "r-clean-company-truck-trailer").request.drivers[0]
        .iin
        .clone()
        .unwrap();
    let other = persona(&s, "r-clean-tractor-unit").request.drivers[0]
        .iin
        .clone()
        .unwrap();

    // Without a token: refused with CONSENT_REQUIRED and no business data.
    let raw = gateway(
        mocks.addr(),
        "m1",
        "GBDFL_PERSON_BY_IIN",
        &format!("<PersonRequest><iin>{iin}</iin></PersonRequest>"),
    )
    .await;
    let (code, _, data) = gateway_answer(&raw);
    assert_eq!(code, "CONSENT_REQUIRED");
    assert!(data.is_none());

    let tok = consent_token(mocks.addr(), "GBDFL_PERSON_BY_IIN", &iin).await;
    assert_eq!(tok.status, 201, "{}", tok.text());
    let v: serde_json::Value = serde_json::from_slice(&tok.body).unwrap();
    let token = v["token"].as_str().unwrap().to_string();
    assert!(v["expiresAt"].as_str().is_some());

    // The token for this IIN works...
    let raw = gateway(
        mocks.addr(),
        "m2",
        "GBDFL_PERSON_BY_IIN",
        &format!("<PersonRequest><iin>{iin}</iin><kdpToken>{token}</kdpToken></PersonRequest>"),
    )
    .await;
    let (code, corr, data) = gateway_answer(&raw);
    assert_eq!((code.as_str(), corr.as_str()), ("SCE000", "m2"));
    let data = data.unwrap();
    assert_eq!(data.text_of("found").as_deref(), Some("true"));
    assert_eq!(data.path(&["person", "iin"]).unwrap().text, iin);

    // ...but not for another IIN.
    let raw = gateway(
        mocks.addr(),
        "m3",
        "GBDFL_PERSON_BY_IIN",
        &format!("<PersonRequest><iin>{other}</iin><kdpToken>{token}</kdpToken></PersonRequest>"),
    )
    .await;
    assert_eq!(gateway_answer(&raw).0, "CONSENT_REQUIRED");
    let checks: Vec<_> = mocks
        .requests(RegistryId::GbdFl)
        .iter()
        .map(|r| r.consent_token)
        .collect();
    assert_eq!(
        checks,
        [
            CredentialCheck::Absent,
            CredentialCheck::Valid,
            CredentialCheck::Invalid
        ]
    );
}

/// P16: the consent service refuses a person who gave no consent, and an unknown IIN.
#[tokio::test]
async fn p16_consent_service_refuses_without_consent_and_unknown_iin() {
    let mocks = start();
    let s = Scenario::default_population();
    let iin = persona(&s, "r-no-consent").request.drivers[0]
        .iin
        .clone()
        .unwrap();
    let raw = consent_token(mocks.addr(), "GBDFL_PERSON_BY_IIN", &iin).await;
    assert_eq!(raw.status, 403);
    assert!(raw.text().contains("consent-not-given"));
    let raw = consent_token(mocks.addr(), "GBDFL_PERSON_BY_IIN", "000000000000").await;
    assert_eq!(raw.status, 404);
    assert!(raw.text().contains("subject-not-found"));
    let raw = http(
        mocks.addr(),
        "POST",
        "/consent/v1/tokens",
        &[],
        "{\"iin\":1}",
    )
    .await;
    assert_eq!(raw.status, 400);
}

/// Unknown subjects get explicit business "not found" answers (P18.3, P18.9, P18.8, P18.17).
#[tokio::test]
async fn unknown_subjects_are_business_not_found_answers() {
    let mocks = start();
    let a = mocks.addr();
    for (service, body, expect) in [
        (
            "AUTO_DRIVER_LICENCE",
            "<LicenceRequest><iin>000000000001</iin></LicenceRequest>",
            ("found", "false"),
        ),
        (
            "KGD_TAX_DEBT",
            "<TaxDebtRequest><iinBin>000000000001</iinBin></TaxDebtRequest>",
            ("found", "false"),
        ),
        (
            "MVD_WANTED_VEHICLES",
            "<WantedVehicleRequest><plate>000AAA00</plate></WantedVehicleRequest>",
            ("wanted", "false"),
        ),
        (
            "MGOV_MOBILE_CITIZENS",
            "<PhoneCheckRequest><iin>1</iin><phone>+70000000000</phone></PhoneCheckRequest>",
            ("phoneRegistered", "false"),
        ),
        (
            "BIO_IDENTIFICATION",
            "<BiometricRequest><iin>000000000001</iin></BiometricRequest>",
            ("found", "false"),
        ),
    ] {
        let raw = gateway(a, "nf", service, body).await;
        let (code, _, data) = gateway_answer(&raw);
        assert_eq!(code, "SCE000", "{service}");
        assert_eq!(
            data.unwrap().text_of(expect.0).as_deref(),
            Some(expect.1),
            "{service}"
        );
    }
    let esbd = soap::wrap_body(
        "<e:GetPoliciesByVehicle xmlns:e=\"urn:kz:esbd:mock:v1\"><e:plate>000AAA00</e:plate></e:GetPoliciesByVehicle>",
    );
    let raw = http(
        a,
        "POST",
        "/esbd/soap",
        &[("soapaction", "GetPoliciesByVehicle")],
        &esbd,
    )
    .await;
    assert_eq!(raw.status, 200);
    let root = xml::parse(&raw.text()).unwrap();
    let res = soap::body_payload(&root)
        .unwrap()
        .child("GetPoliciesByVehicleResult")
        .unwrap();
    assert_eq!(res.text_of("PolicyCount").as_deref(), Some("0"));
    let raw = http(a, "GET", "/toll/v1/accounts/000AAA00", &[], "").await;
    let v: serde_json::Value = serde_json::from_slice(&raw.body).unwrap();
    assert_eq!(v["found"], false);
}

/// P18.8, P18.17, P18.18: direct registries answer facts from the scenario.
#[tokio::test]
async fn p18_8_17_18_direct_registries_answer_facts() {
    let mocks = start();
    let s = Scenario::default_population();
    let a = mocks.addr();
    let p = persona(&s, "r-policy-ended-day-before");
    assert_eq!(esbd_policy_end(a, p).await, "2026-11-30");

    let p = persona(&s, "r-toll-debt");
    let raw = http(
        a,
        "GET",
        &format!("/toll/v1/accounts/{}", p.request.vehicle.plate),
        &[],
        "",
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&raw.body).unwrap();
    assert_eq!(v["totalDebt"], 2400);

    let p = persona(&s, "r-overweight");
    let raw = http(
        a,
        "GET",
        &format!(
            "/its/v1/vehicles/{}/weighings?from=2026-09-02&to=2026-12-01",
            p.request.vehicle.plate
        ),
        &[],
        "",
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&raw.body).unwrap();
    let recs = v["records"].as_array().unwrap();
    assert!(
        recs.iter()
            .any(|r| r["overweight"] == true && r["violationStatus"] == "open")
    );
    assert_eq!(mocks.call_count(RegistryId::Its), 1);
}

/// `DateEnd` of the first ЕСБД policy on the persona's vehicle (P18.8).
async fn esbd_policy_end(a: SocketAddr, p: &kezek_mocks::scenario::Persona) -> String {
    let esbd = soap::wrap_body(&format!(
        "<GetPoliciesByVehicle><plate>{}</plate><vin>{}</vin></GetPoliciesByVehicle>",
        p.request.vehicle.plate, p.request.vehicle.vin
    ));
    let raw = http(
        a,
        "POST",
        "/esbd/soap",
        &[("x-correlation-id", "c-8")],
        &esbd,
    )
    .await;
    assert_eq!(raw.header("x-correlation-id"), Some("c-8"));
    let root = xml::parse(&raw.text()).unwrap();
    let pol = soap::body_payload(&root)
        .unwrap()
        .path(&["GetPoliciesByVehicleResult", "Policies", "Policy"])
        .unwrap()
        .clone();
    pol.text_of("DateEnd").expect("DateEnd")
}

fn tax_request() -> String {
    "<TaxDebtRequest><iinBin>000000000001</iinBin></TaxDebtRequest>".into()
}

/// Every fault mode is observable on the wire for a gateway registry (no false approval
/// starts with the mock misbehaving realistically).
#[tokio::test]
async fn every_fault_mode_is_visible_on_the_wire_for_the_gateway() {
    let mocks = start();
    let a = mocks.addr();
    let tax = tax_request();
    let call = || gateway(a, "m-f", "KGD_TAX_DEBT", &tax);

    mocks.set_fault(RegistryId::Tax, Fault::mode(FaultMode::Http500));
    let r = call().await;
    assert_eq!(r.status, 500);
    assert!(!r.text().contains("Envelope"));

    mocks.set_fault(RegistryId::Tax, Fault::mode(FaultMode::SoapFault));
    let r = call().await;
    assert_eq!(r.status, 500);
    assert!(r.text().contains("<faultcode>soap:Server</faultcode>"));

    mocks.set_fault(RegistryId::Tax, Fault::mode(FaultMode::Sce004));
    let r = call().await;
    assert_eq!(r.status, 200);
    let (code, corr, data) = gateway_answer(&r);
    assert_eq!((code.as_str(), corr.as_str()), ("SCE004", "m-f"));
    assert!(data.is_none());

    mocks.set_fault(RegistryId::Tax, Fault::mode(FaultMode::MalformedXml));
    let r = call().await;
    assert_eq!(r.status, 200);
    assert!(xml::parse(&r.text()).is_err());

    mocks.set_fault(RegistryId::Tax, Fault::mode(FaultMode::WrongCorrelationId));
    let (code, corr, _) = gateway_answer(&call().await);
    assert_eq!(code, "SCE000");
    assert_ne!(corr, "m-f");

    mocks.set_fault(RegistryId::Tax, Fault::mode(FaultMode::TruncatedBody));
    let r = call().await;
    assert_eq!(r.status, 200);
    let promised: usize = r.header("content-length").unwrap().parse().unwrap();
    assert!(r.body.len() < promised, "{} < {promised}", r.body.len());

    mocks.set_fault(RegistryId::Tax, Fault::mode(FaultMode::ConnectionReset));
    let r = call().await;
    assert_eq!(r.status, 0);
    assert!(r.body.is_empty());

    // Other registries are untouched; clearing restores normal answers.
    let other = gateway(
        a,
        "m-o",
        "AUTO_DRIVER_LICENCE",
        "<LicenceRequest><iin>1</iin></LicenceRequest>",
    )
    .await;
    assert_eq!(gateway_answer(&other).0, "SCE000");
    mocks.clear_faults();
    assert_eq!(gateway_answer(&call().await).0, "SCE000");
    assert_eq!(mocks.call_count(RegistryId::Tax), 8);
}

/// Latency combines with a failure mode.
#[tokio::test]
async fn latency_combines_with_sce004() {
    let mocks = start();
    mocks.set_fault(
        RegistryId::Tax,
        Fault::mode(FaultMode::Sce004).with_latency(300),
    );
    let t = Instant::now();
    let r = gateway(mocks.addr(), "m-l", "KGD_TAX_DEBT", &tax_request()).await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(gateway_answer(&r).0, "SCE004");
}

/// Faults on JSON and direct-SOAP registries look like those protocols' failures.
#[tokio::test]
async fn faults_on_json_and_esbd_registries() {
    let mocks = start();
    let a = mocks.addr();
    mocks.set_fault(RegistryId::Toll, Fault::mode(FaultMode::Sce004));
    assert_eq!(
        http(a, "GET", "/toll/v1/accounts/X", &[], "").await.status,
        503
    );
    mocks.set_fault(RegistryId::Toll, Fault::mode(FaultMode::MalformedXml));
    let r = http(a, "GET", "/toll/v1/accounts/X", &[], "").await;
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    mocks.set_fault(RegistryId::Its, Fault::mode(FaultMode::WrongCorrelationId));
    let r = http(
        a,
        "GET",
        "/its/v1/vehicles/X/weighings",
        &[("x-correlation-id", "c-1")],
        "",
    )
    .await;
    assert_ne!(r.header("x-correlation-id"), Some("c-1"));
    assert!(r.header("x-correlation-id").is_some());
    mocks.set_fault(RegistryId::Esbd, Fault::mode(FaultMode::ConnectionReset));
    let esbd = soap::wrap_body("<GetPoliciesByVehicle><plate>X</plate></GetPoliciesByVehicle>");
    assert_eq!(http(a, "POST", "/esbd/soap", &[], &esbd).await.status, 0);
    mocks.set_fault(RegistryId::Esbd, Fault::mode(FaultMode::SoapFault));
    let r = http(a, "POST", "/esbd/soap", &[], &esbd).await;
    assert_eq!(r.status, 500);
    assert!(r.text().contains("Fault"));
}

/// The admin endpoint switches faults, shows requests and replaces the scenario at runtime.
#[tokio::test]
async fn admin_http_endpoints() {
    let mocks = start();
    let a = mocks.addr();
    let r = http(
        a,
        "PUT",
        "/__admin/faults/tax",
        &[],
        r#"{"latency-ms": 10, "mode": "sce004"}"#,
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        gateway_answer(&gateway(a, "m", "KGD_TAX_DEBT", &tax_request()).await).0,
        "SCE004"
    );
    let r = http(
        a,
        "PUT",
        "/__admin/faults/tax",
        &[],
        r#"{"mode": "explode"}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        http(a, "PUT", "/__admin/faults/nope", &[], "{}")
            .await
            .status,
        400
    );
    assert_eq!(
        http(a, "DELETE", "/__admin/faults", &[], "").await.status,
        204
    );
    assert_eq!(
        gateway_answer(&gateway(a, "m", "KGD_TAX_DEBT", &tax_request()).await).0,
        "SCE000"
    );

    let r = http(a, "GET", "/__admin/requests/tax", &[], "").await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["service-id"], "KGD_TAX_DEBT");
    assert_eq!(v[0]["keys"]["iinBin"], "000000000001");

    let scenario = r#"{"taxpayers":[{"iin-bin":"000000000001","as-of":"2026-11-30","debts":[{"kind":"vat","amount":5}]}]}"#;
    assert_eq!(
        http(a, "POST", "/__admin/scenario", &[], scenario)
            .await
            .status,
        204
    );
    let (_, _, data) = gateway_answer(&gateway(a, "m", "KGD_TAX_DEBT", &tax_request()).await);
    assert_eq!(data.unwrap().text_of("totalAmount").as_deref(), Some("5"));
    let r = http(a, "POST", "/__admin/scenario", &[], r#"{"persns":[]}"#).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("unknown field `persns`"), "{}", r.text());
}

/// Shutdown closes the listener.
#[tokio::test]
async fn shutdown_stops_the_server() {
    let mocks = start();
    let a = mocks.addr();
    mocks.shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(a).await.is_err());
}

/// Scenario files fail with clear messages: unreadable, bad JSON, unknown field.
#[test]
fn scenario_errors_are_clear() {
    let e = Scenario::from_file("/nonexistent/kezek.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/kezek.json"), "{e}");
    let e = Scenario::from_json_str("{\"persons\": [", "bad.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.json") && e.contains("line 1"), "{e}");
    let e = Scenario::from_json_str(
        r#"{"vehicles": [{"plate": "1", "colour": "red"}]}"#,
        "x.json",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown field `colour`"), "{e}");
    let e = Scenario::from_json_str(r#"{"personas": [{"id":"a","description":"","request":{"owner":{"residency":"resident","kind":"legal-entity","name":"n","country":"KZ"},"drivers":[],"vehicle":{"kind":"truck","country":"KZ","plate":"p","vin":"v"},"cargo":{"classes":["empty"],"description":""},"checkpoint":"c","travel-date":"2026-12-01"},"expect":{"19":{"verdict":"pass","reason":"x"}}}]}"#, "y.json").unwrap_err().to_string();
    assert!(e.contains("check 19"), "{e}");
}

/// P18, P19: the default population has ≥ 40 personas, residents and non-residents, and
/// for every check 1..=18 at least one pass and one fail or notice.
#[test]
fn p18_p19_default_population_covers_every_check() {
    let s = Scenario::default_population();
    assert!(s.personas.len() >= 40, "{} personas", s.personas.len());
    for check in 1u8..=18 {
        let verdicts: BTreeSet<_> = s
            .personas
            .iter()
            .filter_map(|p| p.expect.get(CheckKey::p18(check).as_str()))
            .map(|e| e.verdict)
            .collect();
        assert!(
            verdicts.contains(&Verdict::Pass),
            "check {check} has no pass persona"
        );
        assert!(
            verdicts.contains(&Verdict::Fail) || verdicts.contains(&Verdict::Notice),
            "check {check} has no fail/notice persona"
        );
    }
    // P19: non-residents are only ever expected on 1, 4, 5, 8, 10, 14, 15, 16, 17, 18, and
    // checks 10 and 17 find "notice", never "fail" (the rule set decides whether it blocks).
    let non_resident: BTreeSet<u8> = [1, 4, 5, 8, 10, 14, 15, 16, 17, 18].into();
    let mut residencies = BTreeSet::new();
    for p in &s.personas {
        residencies.insert(format!("{:?}", p.request.owner.residency));
        if p.request.owner.residency == Residency::NonResident {
            assert!(
                p.expect
                    .keys()
                    .all(|c| c.p18_number().is_some_and(|n| non_resident.contains(&n))),
                "{}",
                p.id
            );
        }
        for c in [10, 17] {
            if let Some(e) = p.expect.get(CheckKey::p18(c).as_str()) {
                assert_ne!(e.verdict, Verdict::Fail, "{} check {c}", p.id);
            }
        }
        assert!(!p.expect.is_empty(), "{}", p.id);
    }
    assert_eq!(residencies.len(), 2);
    for required in [
        "r-policy-ended-day-before",
        "r-trailer-needs-ce",
        "r-trailer-other-owner",
        "r-phone-mismatch",
        "r-tax-debt-1-kzt",
        "r-two-drivers-one-wanted",
        "r-no-consent",
        "r-animal-no-vet-certificate",
        "r-declaration-other-vehicle",
        "r-inspection-expired",
        "r-wanted-vehicle",
        "r-agri-unregistered",
        "r-no-permit",
        "r-toll-debt",
        "r-overweight",
        "r-biometric-mismatch",
    ] {
        persona(&s, required);
    }
}

/// P16: an expired kdpToken is refused; `load_scenario` replaces data and forgets tokens.
#[tokio::test]
async fn p16_expired_token_refused_and_load_scenario_replaces_data() {
    let config = MockConfig {
        consent_token_ttl: Duration::ZERO,
        ..MockConfig::default()
    };
    let mocks = registry::start(Scenario::default_population(), config).expect("start");
    let s = Scenario::default_population();
    let iin = persona(&s, "r-clean-tractor-unit").request.drivers[0]
        .iin
        .clone()
        .unwrap();
    let tok = consent_token(mocks.addr(), "GBDFL_PERSON_BY_IIN", &iin).await;
    let v: serde_json::Value = serde_json::from_slice(&tok.body).unwrap();
    let body = format!(
        "<PersonRequest><iin>{iin}</iin><kdpToken>{}</kdpToken></PersonRequest>",
        v["token"].as_str().unwrap()
    );
    let raw = gateway(mocks.addr(), "m-exp", "GBDFL_PERSON_BY_IIN", &body).await;
    assert_eq!(gateway_answer(&raw).0, "CONSENT_REQUIRED");

    mocks.load_scenario(Scenario::default());
    let raw = consent_token(mocks.addr(), "GBDFL_PERSON_BY_IIN", &iin).await;
    assert_eq!(raw.status, 404, "the new, empty scenario knows nobody");
}

/// Issue 8: data relative to today. With `MockConfig::today` set, the registries answer and
/// the examples are served on that day (also for a scenario uploaded at runtime or given to
/// `load_scenario`); an unknown example is a 404 naming the known ones.
#[tokio::test]
async fn issue_8_examples_and_registries_on_the_configured_day() {
    let today = time::macros::date!(2027 - 03 - 15);
    let config = MockConfig {
        today: Some(today),
        ..MockConfig::default()
    };
    let mocks = registry::start(Scenario::default_population(), config).expect("start");
    let a = mocks.addr();
    let s = Scenario::default_population();

    let r = http(a, "GET", "/__admin/examples", &[], "").await;
    assert_eq!(r.status, 200);
    let names: BTreeMap<String, String> = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(names, s.examples);
    assert_eq!(names["approved"], "r-clean-company-truck-trailer");

    let r = http(a, "GET", "/__admin/examples/approved", &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let app: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(app["travel-date"], "2027-03-25");
    let written = persona(&s, "r-clean-company-truck-trailer");
    assert_eq!(
        app["vehicle"]["plate"],
        written.request.vehicle.plate.as_str()
    );
    assert_eq!(
        app["drivers"][0]["birth-date"],
        written.request.drivers[0].birth_date.as_str()
    );
    assert!(app.get("correlation-id").is_none() && app.get("check").is_none());
    // Absent optional fields are left out, as in an application a client sends.
    let r = http(a, "GET", "/__admin/examples/indeterminate", &[], "").await;
    let app: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(app.get("trailer").is_none(), "{app}");
    // A persona id is accepted too.
    let r = http(a, "GET", "/__admin/examples/r-trailer-needs-ce", &[], "").await;
    assert_eq!(r.status, 200);

    // The registries answer from the same moved data: the policy ended the day before travel.
    let p = persona(&s, "r-policy-ended-day-before");
    assert_eq!(esbd_policy_end(a, p).await, "2027-03-24");

    let r = http(a, "GET", "/__admin/examples/nope", &[], "").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(
        r.text(),
        "unknown example \"nope\"; known examples: approved, indeterminate, \
         non-resident-toll-debt, notices, refused"
    );

    // A scenario replaced at runtime is put on the same day.
    let mut uploaded = serde_json::to_value(&s).unwrap();
    uploaded["anchor"] = "2027-01-01".into();
    uploaded["examples"] = serde_json::json!({"only": "r-trailer-needs-ce"});
    let r = http(a, "POST", "/__admin/scenario", &[], &uploaded.to_string()).await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = http(a, "GET", "/__admin/examples/only", &[], "").await;
    let app: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    // Written 31 days before its anchor, so 31 days before the mocks' day.
    assert_eq!(app["travel-date"], "2027-02-12");
    let r = http(a, "GET", "/__admin/examples/approved", &[], "").await;
    assert_eq!(r.status, 404);
    assert!(r.text().ends_with("known examples: only"), "{}", r.text());

    mocks.load_scenario(Scenario::default_population());
    let r = http(a, "GET", "/__admin/examples/refused", &[], "").await;
    let app: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(app["travel-date"], "2027-03-25");
}

/// Issue 8: without `MockConfig::today` the mocks serve the dates as written.
#[tokio::test]
async fn issue_8_without_today_dates_are_served_as_written() {
    let mocks = start();
    let r = http(mocks.addr(), "GET", "/__admin/examples/refused", &[], "").await;
    let app: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(app["travel-date"], "2026-12-01");
}

/// Today in Kazakhstan, from the system clock: the suite runs on any day.
fn today() -> time::Date {
    time::OffsetDateTime::now_utc()
        .to_offset(time::macros::offset!(+5))
        .date()
}

/// The default population with the ADR-certificates registry declared on top, on `today`.
fn start_with_adr(today: time::Date) -> (RegistryMocks, Scenario) {
    let adr = Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/adr-certificates.json"
    ))
    .expect("the ADR scenario loads");
    let scenario = Scenario::default_population()
        .merged(&adr, "default + adr")
        .expect("the ADR scenario merges onto the default population")
        .on(today);
    let config = MockConfig {
        today: Some(today),
        ..MockConfig::default()
    };
    let mocks = registry::start(scenario.clone(), config).expect("start mocks");
    (mocks, scenario)
}

/// The register selects a driver by identity document: (issuing country, number).
fn adr_request((country, number): &(String, String)) -> String {
    format!(
        "<AdrCertificateRequest><documentCountry>{country}</documentCountry>\
         <documentNumber>{number}</documentNumber></AdrCertificateRequest>"
    )
}

/// Issue 12: a registry declared in JSON (egov-soap family) answers its personas over the
/// e-government gateway envelope like a built-in one: valid until a date after travel,
/// expired before travel, and no certificate as a business not-found (SCE000).
#[tokio::test]
async fn issue_12_declared_egov_soap_registry_answers_personas() {
    let today = today();
    let (mocks, s) = start_with_adr(today);
    let a = mocks.addr();
    let travel = today + time::Duration::days(10);
    let driver = |id: &str| {
        let p = s.example(id).expect("ADR example");
        assert_eq!(p.request.travel_date, travel.to_string(), "{}", p.id);
        let document = &p.request.drivers[0].document;
        (document.issuing_country.clone(), document.number.clone())
    };

    let valid = driver("adr-valid");
    let raw = gateway(a, "m-adr-1", "MTI_ADR_CERTIFICATES", &adr_request(&valid)).await;
    assert_eq!(raw.status, 200);
    let (code, corr, data) = gateway_answer(&raw);
    assert_eq!((code.as_str(), corr.as_str()), ("SCE000", "m-adr-1"));
    let data = data.expect("business data");
    assert_eq!(data.name, "AdrCertificateResponse");
    assert_eq!(data.text_of("found").as_deref(), Some("true"));
    let cert = data.child("certificate").expect("certificate");
    assert_eq!(cert.text_of("number").as_deref(), Some("KZ-ADR-0001201"));
    let classes: Vec<&str> = cert
        .child("classes")
        .unwrap()
        .children_named("class")
        .map(|c| c.text.as_str())
        .collect();
    assert_eq!(classes, ["2", "3", "8"]);
    let until = cert.text_of("validUntil").unwrap();
    assert!(until > travel.to_string(), "{until} after travel {travel}");

    let expired = driver("adr-expired");
    let (code, _, data) = gateway_answer(
        &gateway(a, "m-adr-2", "MTI_ADR_CERTIFICATES", &adr_request(&expired)).await,
    );
    assert_eq!(code, "SCE000");
    let until = data
        .unwrap()
        .path(&["certificate", "validUntil"])
        .unwrap()
        .text
        .clone();
    assert!(until < travel.to_string(), "{until} before travel {travel}");

    let none = driver("adr-missing");
    let (code, _, data) =
        gateway_answer(&gateway(a, "m-adr-3", "MTI_ADR_CERTIFICATES", &adr_request(&none)).await);
    assert_eq!(code, "SCE000");
    let data = data.unwrap();
    assert_eq!(data.text_of("found").as_deref(), Some("false"));
    assert!(data.child("certificate").is_none());

    // A request without the selecting field is the registry's processing error.
    let (code, _, data) = gateway_answer(
        &gateway(
            a,
            "m-adr-4",
            "MTI_ADR_CERTIFICATES",
            "<AdrCertificateRequest/>",
        )
        .await,
    );
    assert_eq!((code.as_str(), data.is_none()), ("SCE909", true));

    // Recorded under the declared id, with the service, sender check and key fields.
    let rec = mocks.requests("adr-certificates");
    assert_eq!(rec.len(), 4);
    assert_eq!(rec[0].registry.as_str(), "adr-certificates");
    assert_eq!(rec[0].service_id.as_deref(), Some("MTI_ADR_CERTIFICATES"));
    assert_eq!(rec[0].keys.get("documentNumber"), Some(&valid.1));
    assert_eq!(rec[0].sender, CredentialCheck::Valid);
    assert_eq!(rec[0].consent_token, CredentialCheck::NotApplicable);
    assert_eq!(
        mocks.declared_url("adr-certificates"),
        Some(mocks.url(RegistryId::GbdFl))
    );
    assert_eq!(mocks.declared_url("nope"), None);

    // Bad sender credentials are refused by the gateway as for any service.
    let env = soap::write_gateway_request(
        "m-adr-5",
        "MTI_ADR_CERTIFICATES",
        "2026-12-01T00:00:00Z",
        "kezek-dev",
        "wrong",
        &adr_request(&valid),
    );
    let raw = http(a, "POST", "/bip-sync/", &[], &env).await;
    assert_eq!(raw.status, 500);
    assert!(raw.text().contains("SENDER_AUTH_FAILED"));
    assert_eq!(
        mocks.requests("adr-certificates")[4].sender,
        CredentialCheck::Invalid
    );
}

/// Issue 12: the usual faults apply to a declared registry, set by its id in Rust or over
/// the admin API, and leave the built-in registries alone.
#[tokio::test]
async fn issue_12_declared_registry_faults() {
    let (mocks, s) = start_with_adr(today());
    let a = mocks.addr();
    let document = &s.example("adr-valid").unwrap().request.drivers[0].document;
    let request = adr_request(&(document.issuing_country.clone(), document.number.clone()));
    let call = || gateway(a, "m-f", "MTI_ADR_CERTIFICATES", &request);

    let put = |fault: &'static str| http(a, "PUT", "/__admin/faults/adr-certificates", &[], fault);
    assert_eq!(put(r#"{"mode": "sce004"}"#).await.status, 204);
    let (code, corr, data) = gateway_answer(&call().await);
    assert_eq!(
        (code.as_str(), corr.as_str(), data.is_none()),
        ("SCE004", "m-f", true)
    );
    // The built-in services behind the same gateway path answer normally.
    assert_eq!(
        gateway_answer(&gateway(a, "m-t", "KGD_TAX_DEBT", &tax_request()).await).0,
        "SCE000"
    );
    let r = http(a, "GET", "/__admin/faults", &[], "").await;
    assert!(
        r.text()
            .contains("\"adr-certificates\":{\"latency-ms\":0,\"mode\":\"sce004\"}"),
        "{}",
        r.text()
    );

    mocks.set_fault("adr-certificates", Fault::mode(FaultMode::MalformedXml));
    assert!(xml::parse(&call().await.text()).is_err());
    mocks.set_fault(
        "adr-certificates",
        Fault::mode(FaultMode::WrongCorrelationId),
    );
    assert_ne!(gateway_answer(&call().await).1, "m-f");
    mocks.set_fault("adr-certificates", Fault::mode(FaultMode::ConnectionReset));
    assert_eq!(call().await.status, 0);
    mocks.set_fault("adr-certificates", Fault::latency(300));
    let t = Instant::now();
    assert_eq!(gateway_answer(&call().await).0, "SCE000");
    assert!(t.elapsed() >= Duration::from_millis(300));

    assert_eq!(
        http(a, "DELETE", "/__admin/faults/adr-certificates", &[], "")
            .await
            .status,
        204
    );
    assert_eq!(gateway_answer(&call().await).0, "SCE000");
    let r = http(a, "GET", "/__admin/requests/adr-certificates", &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        serde_json::from_slice::<Vec<serde_json::Value>>(&r.body)
            .unwrap()
            .len(),
        6
    );
    let r = http(a, "PUT", "/__admin/faults/adr-certificate", &[], "{}").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "unknown registry \"adr-certificate\" (declared by the scenario: adr-certificates)"
    );
}

/// Issue 12: a declared direct-SOAP registry (operation = service id, like ЕСБД) and a
/// declared JSON REST registry answer over loopback, refuse malformed requests as those
/// protocols do, and show faults in their own family's shape.
#[tokio::test]
async fn issue_12_declared_soap_and_rest_registries() {
    let scenario = Scenario::from_json_str(
        &serde_json::json!({"registries": [
            {"id": "tachographs", "family": "soap", "service-id": "GetTachographCard",
             "select": ["cardNumber"],
             "answer": "<GetTachographCardResponse><found>true</found><holder>{{holder}}</holder><expires>{{expires}}</expires></GetTachographCardResponse>",
             "not-found": "<GetTachographCardResponse><found>false</found></GetTachographCardResponse>",
             "subjects": [{"cardNumber": "KZD0000000000101", "holder": "Kassymov Yerlan", "expires": "2029-04-30"}]},
            {"id": "eco-class", "family": "rest", "service-id": "vehicles",
             "select": ["vin"],
             "answer": {"found": true, "vin": "{{vin}}", "euroClass": "{{euro-class}}"},
             "not-found": {"found": false, "vin": "{{vin}}"},
             "subjects": [{"vin": "XTC65115000000001", "euro-class": 5}]}
        ]})
        .to_string(),
        "declared.json",
    )
    .unwrap();
    let mocks = registry::start(scenario, MockConfig::default()).expect("start");
    let a = mocks.addr();

    let soap_url = mocks.declared_url("tachographs").unwrap();
    assert_eq!(soap_url, format!("http://{a}/tachographs/soap"));
    let body = |card: &str| {
        soap::wrap_body(&format!(
            "<t:GetTachographCard xmlns:t=\"urn:x\"><t:card><t:cardNumber>{card}</t:cardNumber></t:card></t:GetTachographCard>"
        ))
    };
    let cid = [("x-correlation-id", "c-7")];
    let r = http(
        a,
        "POST",
        "/tachographs/soap",
        &cid,
        &body("KZD0000000000101"),
    )
    .await;
    assert_eq!((r.status, r.header("x-correlation-id")), (200, Some("c-7")));
    let root = xml::parse(&r.text()).unwrap();
    let resp = soap::body_payload(&root).unwrap();
    assert_eq!(resp.text_of("holder").as_deref(), Some("Kassymov Yerlan"));
    let r = http(a, "POST", "/tachographs/soap", &[], &body("KZD9")).await;
    assert!(r.text().contains("<found>false</found>"), "{}", r.text());
    for (bad, fault) in [
        (
            soap::wrap_body("<GetTachographCard/>"),
            "GetTachographCard/cardNumber is required",
        ),
        (
            soap::wrap_body("<GetPoliciesByVehicle/>"),
            "Unknown operation",
        ),
        ("<not-soap/>".to_string(), "not a SOAP envelope"),
        ("<unclosed>".to_string(), "malformed XML"),
    ] {
        let r = http(a, "POST", "/tachographs/soap", &[], &bad).await;
        assert_eq!(r.status, 500, "{bad}");
        assert!(
            r.text().contains("soap:Client") && r.text().contains(fault),
            "{}",
            r.text()
        );
    }
    assert_eq!(
        http(a, "GET", "/tachographs/soap", &[], "").await.status,
        405
    );
    mocks.set_fault("tachographs", Fault::mode(FaultMode::Sce004));
    let r = http(
        a,
        "POST",
        "/tachographs/soap",
        &[],
        &body("KZD0000000000101"),
    )
    .await;
    assert_eq!(r.status, 503);
    assert!(r.text().contains("SCE004"));

    assert_eq!(
        mocks.declared_url("eco-class").unwrap(),
        format!("http://{a}/eco-class/v1/vehicles")
    );
    let r = http(
        a,
        "POST",
        "/eco-class/v1/vehicles",
        &cid,
        r#"{"vin": "XTC65115000000001"}"#,
    )
    .await;
    assert_eq!((r.status, r.header("x-correlation-id")), (200, Some("c-7")));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"found": true, "vin": "XTC65115000000001", "euroClass": 5})
    );
    let r = http(a, "POST", "/eco-class/v1/vehicles", &[], r#"{"vin": "X"}"#).await;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["found"],
        false
    );
    for bad in [r#"{"plate": "X"}"#, "[1]", "{"] {
        let r = http(a, "POST", "/eco-class/v1/vehicles", &[], bad).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.text().contains("bad-request"), "{}", r.text());
    }
    assert_eq!(
        http(a, "POST", "/eco-class/v1/other", &[], "{}")
            .await
            .status,
        404
    );
    mocks.set_fault("eco-class", Fault::mode(FaultMode::SoapFault));
    let r = http(a, "POST", "/eco-class/v1/vehicles", &[], r#"{"vin": "X"}"#).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (500, r#"{"error":"internal-error"}"#)
    );
    assert_eq!(mocks.call_count("tachographs"), 3);
    assert_eq!(mocks.call_count("eco-class"), 3);
}
