//! Issue 12, item 6: a scenario declares a registry in JSON — protocol family, service id,
//! selecting request fields, answer templates and subjects — and names checks by string ids.
//! Pure table tests of parsing, refusals and templates; the wire is tested in
//! `registries.rs` (`issue_12_declared_*`).

use kezek_mocks::Scenario;
use kezek_mocks::declared::{DeclaredRegistry, ProtocolFamily};
use kezek_mocks::scenario::{CheckKey, ScenarioError};
use serde_json::{Value, json};

/// A valid egov-soap declaration; rows of the refusal table change one thing in it.
fn adr() -> Value {
    json!({
        "id": "adr-certificates",
        "family": "egov-soap",
        "service-id": "MTI_ADR_CERTIFICATES",
        "select": ["iin"],
        "answer": "<R><found>true</found><number>{{number}}</number><until>{{valid-until}}</until></R>",
        "not-found": "<R><found>false</found></R>",
        "subjects": [{"iin": "880719300605", "number": "A-1", "valid-until": "2027-01-01"}]
    })
}

fn load(registries: Value) -> Result<Scenario, ScenarioError> {
    Scenario::from_json_str(&json!({ "registries": registries }).to_string(), "t.json")
}

/// `adr()` with `pointer` set to `value` (`None` removes the field).
fn with(pointer: &str, value: Option<Value>) -> Value {
    let mut r = adr();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = r.pointer_mut(parent).unwrap();
    match (target, value) {
        (Value::Object(o), Some(v)) => {
            o.insert(key.to_string(), v);
        }
        (Value::Object(o), None) => {
            o.remove(key);
        }
        (Value::Array(a), Some(v)) => a[key.parse::<usize>().unwrap()] = v,
        _ => unreachable!("table rows point into objects or arrays"),
    }
    r
}

/// Issue 12: a declaration is read with every field; dates in its subjects move with the
/// scenario (issue 8) and it serialises back to the JSON it came from.
#[test]
fn issue_12_declaration_parses_and_round_trips() {
    let s = load(json!([adr()])).unwrap();
    let r = &s.registries[0];
    assert_eq!(r.id, "adr-certificates");
    assert_eq!(r.family, ProtocolFamily::EgovSoap);
    assert_eq!(r.service_id, "MTI_ADR_CERTIFICATES");
    assert_eq!(r.select, ["iin"]);
    assert_eq!(serde_json::to_value(r).unwrap(), adr());
    let again = DeclaredRegistry::from_json(&serde_json::to_value(r).unwrap(), "x").unwrap();
    assert_eq!(&again, r);

    let dated = Scenario::from_json_str(
        &json!({"anchor": "2026-11-21", "registries": [adr()]}).to_string(),
        "t.json",
    )
    .unwrap();
    let anchor = dated.anchor.unwrap();
    let moved = dated.on(anchor + time::Duration::days(3));
    assert_eq!(moved.registries[0].subjects[0]["valid-until"], "2027-01-04");
    // The selecting IIN is not a date and does not move.
    assert_eq!(moved.registries[0].subjects[0]["iin"], "880719300605");
}

/// Issue 12: every malformed declaration is refused with the JSON path of the mistake, and
/// never with the personal data in it.
#[test]
fn issue_12_declaration_refusals_name_the_json_path() {
    let rows: Vec<(Value, &str)> = vec![
        (
            json!([7]),
            "registries[0]: a registry declaration is a JSON object",
        ),
        (
            json!([adr(), with("/colour", Some(json!("red")))]),
            "registries[1].colour: unknown field",
        ),
        (
            json!([with("/family", Some(json!("grpc")))]),
            "registries[0].family: unknown protocol family \"grpc\"; expected egov-soap, soap or rest",
        ),
        (
            json!([with("/family", None)]),
            "registries[0].family: is required",
        ),
        (
            json!([with("/family", Some(json!(1)))]),
            "registries[0].family: must be a string",
        ),
        (
            json!([with("/id", Some(json!("ADR certs")))]),
            "registries[0].id: \"ADR certs\" is not a kebab-case name",
        ),
        (
            json!([with("/id", Some(json!("")))]),
            "registries[0].id: must not be empty",
        ),
        (
            json!([with("/service-id", Some(json!("MTI ADR")))]),
            "registries[0].service-id: \"MTI ADR\" is not a serviceId without spaces",
        ),
        (
            json!([with("/select", None)]),
            "registries[0].select: is required",
        ),
        (
            json!([with("/select", Some(json!([])))]),
            "registries[0].select: names no field",
        ),
        (
            json!([with("/select", Some(json!("iin")))]),
            "registries[0].select: must be a list",
        ),
        (
            json!([with("/select", Some(json!(["iin", "iin"])))]),
            "registries[0].select[1]: \"iin\" is named twice",
        ),
        (
            json!([with("/select", Some(json!(["i i n"])))]),
            "registries[0].select[0]: \"i i n\" is not an XML local name",
        ),
        (
            json!([with("/answer", None)]),
            "registries[0].answer: is required",
        ),
        (
            json!([with("/answer", Some(json!({"found": true})))]),
            "registries[0].answer: must be an XML string for this protocol family",
        ),
        (
            json!([with("/answer", Some(json!("<R><found>true</R>")))]),
            "registries[0].answer: malformed XML",
        ),
        (
            json!([with("/not-found", Some(json!("<R>{{iin</R>")))]),
            "registries[0].not-found: a placeholder opened with {{ is not closed with }}",
        ),
        (
            json!([with("/answer", Some(json!("<R>{{}}</R>")))]),
            "registries[0].answer: {{}} is not a placeholder for a field",
        ),
        (
            json!([with("/subjects", Some(json!({})))]),
            "registries[0].subjects: must be a list",
        ),
        (
            json!([with("/subjects/0", Some(json!("880719300605")))]),
            "registries[0].subjects[0]: must be a JSON object",
        ),
        (
            json!([with("/subjects/0", Some(json!({"number": "A-1"})))]),
            "registries[0].subjects[0].iin: is required (a selecting field)",
        ),
        (
            json!([with(
                "/subjects",
                Some(json!([{"iin": "880719300605"}, {"iin": "880719300605"}]))
            )]),
            "registries[0].subjects[1]: has the same selecting fields as subjects[0]",
        ),
        (
            json!([with("/family", Some(json!("rest")))]),
            "registries[0].answer: must be a JSON object for the rest family",
        ),
        // Names and service ids are how the admin API, faults and the gateway find a registry.
        (
            json!([adr(), adr()]),
            "registries[1].id: \"adr-certificates\" is already declared by registries[0]",
        ),
        (
            json!([adr(), with("/id", Some(json!("adr-2")))]),
            "registries[1].service-id: \"MTI_ADR_CERTIFICATES\" is already declared by registries[0]",
        ),
        (
            json!([with("/id", Some(json!("esbd")))]),
            "registries[0].id: \"esbd\" is the name of a built-in registry",
        ),
        (
            json!([with("/service-id", Some(json!("GBDFL_PERSON_BY_IIN")))]),
            "registries[0].service-id: \"GBDFL_PERSON_BY_IIN\" is a built-in registry's service",
        ),
        (
            json!([with("/service-id", Some(json!("GetPoliciesByVehicle")))]),
            "registries[0].service-id: \"GetPoliciesByVehicle\" is a built-in registry's service",
        ),
    ];
    for (registries, want) in rows {
        let e = load(registries.clone()).unwrap_err().to_string();
        assert!(
            e.contains("t.json") && e.contains(want),
            "{registries}\n  got:  {e}\n  want: {want}"
        );
        assert!(!e.contains("880719300605"), "personal data in {e}");
    }
}

/// Issue 12: the rest and soap families check what their wire needs.
#[test]
fn issue_12_family_specific_refusals() {
    let rest = json!({"id": "r", "family": "rest", "service-id": "certs/by-iin", "select": ["iin"],
                      "answer": {}, "not-found": {}});
    let e = load(json!([rest])).unwrap_err().to_string();
    assert!(
        e.contains("registries[0].service-id: \"certs/by-iin\" is not one URL path segment"),
        "{e}"
    );
    let soap = json!({"id": "s", "family": "soap", "service-id": "Get Certs", "select": ["iin"],
                      "answer": "<A/>", "not-found": "<A/>"});
    let e = load(json!([soap])).unwrap_err().to_string();
    assert!(
        e.contains("registries[0].service-id: \"Get Certs\" is not an XML element name"),
        "{e}"
    );
}

/// Issue 12: answers are the templates filled from the subject's data: a placeholder-only
/// element is omitted when the field is missing, repeated for a list, and text is escaped;
/// the not-found answer sees the request's selecting fields.
#[test]
fn issue_12_xml_templates_fill_from_the_subject() {
    let r = DeclaredRegistry::from_json(
        &json!({
            "id": "x", "family": "egov-soap", "service-id": "X", "select": ["iin", "kind"],
            "answer": "<R>\n  <found>true</found>\n  <n>No. {{number}}</n><c><class>{{classes}}</class></c><revoked>{{revoked}}</revoked><limit>{{limit}}</limit><gone>{{missing}}</gone><k>{{kind}}</k></R>",
            "not-found": "<R><found>false</found><asked>{{iin}}</asked></R>",
            "subjects": [
                {"iin": "1", "kind": "a", "number": "<7> & co", "classes": ["2", "8"], "revoked": false, "limit": 40000},
                {"iin": 2, "kind": "a", "classes": [], "revoked": null}
            ]
        }),
        "r",
    )
    .unwrap();
    let want = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let rows: [(&[&str], &str); 4] = [
        (
            &["1", "a"],
            "<R><found>true</found><n>No. &lt;7&gt; &amp; co</n><c><class>2</class><class>8</class></c><revoked>false</revoked><limit>40000</limit><k>a</k></R>",
        ),
        // A number selects like its text; empty list and null leave their elements out.
        (
            &["2", "a"],
            "<R><found>true</found><n>No. </n><c></c><k>a</k></R>",
        ),
        // Every selecting field must match.
        (&["1", "b"], "<R><found>false</found><asked>1</asked></R>"),
        (&["3", "a"], "<R><found>false</found><asked>3</asked></R>"),
    ];
    for (wanted, xml) in rows {
        assert_eq!(r.answer_for(&want(wanted)), xml, "{wanted:?}");
    }
}

/// Issue 12: the rest family fills a JSON template, keeping the field's JSON type for a
/// placeholder-only string and leaving out fields that are `null` or missing.
#[test]
fn issue_12_json_templates_keep_types() {
    let r = DeclaredRegistry::from_json(
        &json!({
            "id": "x", "family": "rest", "service-id": "certs", "select": ["vin"],
            "answer": {"found": true, "vin": "{{vin}}", "classes": "{{classes}}", "mass": "{{mass}}",
                       "label": "VIN {{vin}} / {{mass}} kg", "note": "{{note}}", "nested": [{"c": "{{classes}}"}]},
            "not-found": {"found": false, "vin": "{{vin}}"},
            "subjects": [{"vin": "XTC1", "classes": ["3"], "mass": 12000}]
        }),
        "r",
    )
    .unwrap();
    let found: Value = serde_json::from_str(&r.answer_for(&["XTC1".into()])).unwrap();
    assert_eq!(
        found,
        json!({"found": true, "vin": "XTC1", "classes": ["3"], "mass": 12000,
               "label": "VIN XTC1 / 12000 kg", "nested": [{"c": ["3"]}]})
    );
    let missing: Value = serde_json::from_str(&r.answer_for(&["XTC9".into()])).unwrap();
    assert_eq!(missing, json!({"found": false, "vin": "XTC9"}));
}

/// Issue 12: expectation keys are check ids: the shipped numbers 1..=18 mean P18.n, any
/// dotted id is accepted; anything else is refused naming the key.
#[test]
fn issue_12_check_keys() {
    for (key, id, p18) in [
        ("3", "P18.3", Some(3)),
        ("18", "P18.18", Some(18)),
        ("P18.3", "P18.3", Some(3)),
        ("O505.ADR", "O505.ADR", None),
        ("P18.19", "P18.19", None),
        (
            "Kz2027.dangerous-goods.adr",
            "Kz2027.dangerous-goods.adr",
            None,
        ),
    ] {
        let k = CheckKey::parse(key).unwrap();
        assert_eq!((k.as_str(), k.p18_number()), (id, p18), "{key}");
    }
    for (key, why) in [
        ("19", "check 19 is not a check id: a number n means P18.n"),
        ("0", "check 0 is not a check id"),
        ("300", "check 300 is not a check id"),
        ("p18.3", "check \"p18.3\" is not a check id"),
        ("P18", "check \"P18\" is not a check id"),
        ("O505.", "check \"O505.\" is not a check id"),
        ("", "check \"\" is not a check id"),
        ("P18.3 ", "check \"P18.3 \" is not a check id"),
    ] {
        let e = CheckKey::parse(key).unwrap_err();
        assert!(e.contains(why), "{key:?}: {e}");
    }
}

/// Issue 12: a persona may expect a new check by its string id next to the shipped numeric
/// keys; `Persona::expected` finds both forms.
#[test]
fn issue_12_personas_expect_string_check_ids() {
    let s = Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/adr-certificates.json"
    ))
    .unwrap();
    let p = s.example("adr-expired").unwrap();
    assert_eq!(
        p.expected("O505.ADR").unwrap().reason,
        "adr-certificate-expired"
    );
    assert_eq!(p.expected("8").unwrap().reason, "policy-valid");
    assert_eq!(p.expected("P18.8").unwrap().reason, "policy-valid");
    assert!(p.expected("P18.6").is_none());
    assert!(p.expected("nonsense").is_none());
    // Serialised, the numeric keys are written as the ids they mean.
    let json = serde_json::to_value(&p.expect).unwrap();
    assert!(
        json.get("P18.8").is_some() && json.get("8").is_none(),
        "{json}"
    );

    let e = Scenario::from_json_str(
        r#"{"personas": [{"id": "a", "expect": {"O505": {"verdict": "pass", "reason": "x"}}, "description": "", "request": {}}]}"#,
        "k.json",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("k.json") && e.contains("check \"O505\" is not a check id"),
        "{e}"
    );
}

/// Issue 12: the ADR scenario merges onto the default population (the lead's amendment
/// adapter runs against both); a merge that repeats a persona is refused.
#[test]
fn issue_12_adr_scenario_merges_onto_the_default_population() {
    let base = Scenario::default_population();
    let adr = Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/adr-certificates.json"
    ))
    .unwrap();
    let merged = base.merged(&adr, "default + adr").unwrap();
    assert_eq!(
        merged.personas.len(),
        base.personas.len() + adr.personas.len()
    );
    assert_eq!(merged.persons.len(), base.persons.len());
    assert_eq!(merged.registries.len(), 1);
    assert_eq!(merged.anchor, base.anchor);
    assert_eq!(
        merged.examples.len(),
        base.examples.len() + adr.examples.len()
    );
    // Every ADR persona's driver drives for a persona of the default population (by
    // identity document: the register's key, residents' and non-residents' alike), and a
    // resident one is a person of it.
    for p in &adr.personas {
        let driver = &p.request.drivers[0];
        let drives_for_base = base.personas.iter().any(|b| {
            b.request.drivers.iter().any(|d| {
                d.document.number == driver.document.number
                    && d.document.issuing_country == driver.document.issuing_country
            })
        });
        assert!(drives_for_base, "{}", p.id);
        if let Some(iin) = driver.iin.as_deref() {
            assert!(merged.persons.iter().any(|x| x.iin == iin), "{}", p.id);
        }
    }
    let e = merged.merged(&adr, "twice").unwrap_err().to_string();
    assert!(e.contains("twice"), "{e}");
}
