//! The document against the route table and against `schemas/openapi.json`.

use super::*;
use crate::routes::table;
use std::collections::BTreeSet;

/// (method, path, listeners) of every operation in the document.
fn documented() -> BTreeSet<(String, String, Vec<&'static str>)> {
    let doc = document();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in operations(item) {
            let tags: Vec<&str> = tags(op).collect();
            ops.insert((
                method.to_uppercase(),
                path.clone(),
                names(surfaces_of(&tags)),
            ));
        }
    }
    ops
}

fn names(surfaces: &[Surface]) -> Vec<&'static str> {
    surfaces
        .iter()
        .map(|s| match s {
            Surface::Public => "public",
            Surface::Admin => "admin",
            Surface::DevicePush => "device-push",
        })
        .collect()
}

/// The routers are built from the table alone; a row the document lacks, or documents on the
/// other listener, is a route served undocumented (and a documented operation without a row
/// is one documented but not served).
#[test]
fn every_served_route_is_documented_on_its_listener_and_only_those() {
    let served: BTreeSet<_> = table()
        .iter()
        .map(|row| {
            (
                row.method.to_string(),
                row.path.to_owned(),
                names(row.surfaces),
            )
        })
        .collect();
    let documented = documented();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented (or documented for another listener): {undocumented:?}"
    );
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );
}

/// ADR 0014: the operations that declare the `caller` scheme are exactly the public routes the
/// table makes verify their caller (written in both places on purpose, so this can fail), and
/// every one of them documents its 401.
#[test]
fn every_route_that_needs_a_caller_declares_it() {
    let doc = document();
    for row in table() {
        let method = row.method.as_str().to_lowercase();
        let op = &doc["paths"][row.path][&method];
        let declared = op["security"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s.get("caller").is_some());
        let needs = row.needs_caller && row.surfaces.contains(&Surface::Public);
        assert_eq!(
            declared, needs,
            "{method} {}: security {}",
            row.path, op["security"]
        );
        if needs {
            assert!(
                op["responses"].get("401").is_some(),
                "{method} {}: no 401",
                row.path
            );
        }
    }
}

/// `schemas/openapi.json` is what the code generates; a change to a route or its description
/// must come with the regenerated file.
#[test]
fn the_checked_in_document_is_the_generated_one() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/openapi.json");
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == rendered(),
        "schemas/openapi.json is not what the code generates; regenerate it with\n  \
         cargo run --release -p kezek -- openapi > schemas/openapi.json"
    );
}

/// Every local `$ref` of the document points at something in it (the schema files' own
/// `#/$defs/…` references are theirs, relative to their `$id`).
#[test]
fn every_reference_resolves() {
    let doc = document();
    let mut refs = Vec::new();
    collect_refs(&doc, "", &mut refs);
    assert!(!refs.is_empty());
    for (at, target) in refs {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: {target} is not local"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{at}: {target} resolves to nothing"
        );
    }
}

fn collect_refs(value: &Value, at: &str, refs: &mut Vec<(String, String)>) {
    let files: Vec<String> = SCHEMA_FILES
        .iter()
        .map(|(name, _)| format!("/components/schemas/{name}"))
        .collect();
    if files.iter().any(|f| f == at) {
        return;
    }
    match value {
        Value::Object(members) => {
            for (key, v) in members {
                if key == "$ref"
                    && let Some(target) = v.as_str()
                {
                    refs.push((at.to_owned(), target.to_owned()));
                }
                let escaped = key.replace('~', "~0").replace('/', "~1");
                collect_refs(v, &format!("{at}/{escaped}"), refs);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_refs(v, &format!("{at}/{i}"), refs);
            }
        }
        _ => {}
    }
}

/// Clients generate one function per operation: its id must be unique.
#[test]
fn operation_ids_are_unique() {
    let doc = document();
    let mut seen = BTreeSet::new();
    for item in doc["paths"].as_object().expect("paths").values() {
        for (method, op) in operations(item) {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                seen.insert(id.to_owned()),
                "{method}: operationId {id:?} twice"
            );
        }
    }
}
