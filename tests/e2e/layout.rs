//! The rooms' boundaries, checked over `cargo metadata` (issue 9): a crate may depend only on
//! what its room allows, so "only the host touches wasmtime" and "the domain does no I/O" are
//! kept by the build, not by convention. The table below is the architecture's layering as
//! data: which rooms each room may build on (ARCHITECTURE.md, ADR 0009).

use std::collections::BTreeSet;

/// Crates only one room may use: wasmtime (the host) and the HTTP server stack (the API),
/// with the API's description generated from its handlers (utoipa). hyper itself is also an
/// HTTP *client* (egress, the CLI), so it is judged by its `server` feature.
const WASMTIME: &[&str] = &["wasmtime", "wasmtime-wasi", "cranelift-codegen"];
const HTTP_SERVER: &[&str] = &[
    "axum",
    "tower",
    "tower-http",
    "tokio-rustls",
    "rcgen",
    "utoipa",
];

/// Each workspace crate's normal dependencies, by name (`hyper+server` for hyper with its
/// server feature).
fn dependencies() -> Vec<(String, BTreeSet<String>)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(kezek_tests::workspace())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| {
                    let name = d["name"].as_str().unwrap();
                    let server = d["features"]
                        .as_array()
                        .is_some_and(|f| f.iter().any(|f| f == "server"));
                    if name.starts_with("hyper") && server {
                        format!("{name}+server")
                    } else {
                        name.to_owned()
                    }
                })
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

/// The rooms, bottom up, and the rooms each may build on. A room not in its row's list is a
/// dependency the architecture does not allow.
const ROOMS: &[(&str, &[&str])] = &[
    ("kezek-domain", &[]),
    ("kezek-schema", &[]),
    ("kezek-manifest", &["kezek-domain", "kezek-schema"]),
    ("kezek-store", &["kezek-domain"]),
    ("kezek-egress", &["kezek-manifest"]),
    (
        "kezek-host",
        &["kezek-domain", "kezek-manifest", "kezek-egress"],
    ),
    (
        "kezek-catalogue",
        &[
            "kezek-domain",
            "kezek-schema",
            "kezek-manifest",
            "kezek-host",
        ],
    ),
    (
        "kezek-pipeline",
        &[
            "kezek-domain",
            "kezek-egress",
            "kezek-host",
            "kezek-catalogue",
            "kezek-store",
        ],
    ),
    (
        "kezek-booking",
        &["kezek-domain", "kezek-schema", "kezek-store"],
    ),
    (
        "kezek-devices",
        &[
            "kezek-domain",
            "kezek-schema",
            "kezek-egress",
            "kezek-host",
            "kezek-catalogue",
        ],
    ),
    (
        "kezek-api",
        &[
            "kezek-domain",
            "kezek-schema",
            "kezek-egress",
            "kezek-catalogue",
            "kezek-pipeline",
            "kezek-store",
            "kezek-booking",
            "kezek-devices",
        ],
    ),
    (
        "kezek",
        &[
            "kezek-domain",
            "kezek-manifest",
            "kezek-egress",
            "kezek-host",
            "kezek-catalogue",
            "kezek-pipeline",
            "kezek-store",
            "kezek-booking",
            "kezek-devices",
            "kezek-api",
        ],
    ),
];

#[test]
fn each_room_builds_only_on_the_rooms_below_it() {
    let crates = dependencies();
    let rooms: BTreeSet<&str> = ROOMS.iter().map(|(name, _)| *name).collect();
    for (name, _) in &crates {
        if name.starts_with("kezek-") && !["kezek-mocks", "kezek-tests"].contains(&name.as_str()) {
            assert!(rooms.contains(name.as_str()), "{name} has no row in ROOMS");
        }
    }
    for (room, allowed) in ROOMS {
        let (_, deps) = crates
            .iter()
            .find(|(n, _)| n == room)
            .unwrap_or_else(|| panic!("no crate {room} in the workspace"));
        let wrong: Vec<_> = deps
            .iter()
            .filter(|d| rooms.contains(d.as_str()) && !allowed.contains(&d.as_str()))
            .collect();
        assert!(wrong.is_empty(), "{room} may not build on {wrong:?}");
    }
}

#[test]
fn only_the_host_has_wasmtime_and_only_the_api_serves_http() {
    let crates = dependencies();
    let hit = |deps: &BTreeSet<String>, group: &[&str]| -> Vec<String> {
        deps.iter()
            .filter(|d| {
                group.contains(&d.as_str()) || (group == HTTP_SERVER && d.ends_with("+server"))
            })
            .cloned()
            .collect()
    };
    for (name, deps) in &crates {
        // The benchmarks measure bare wasmtime beside the product; the mocks are servers of
        // their own (registries and devices on loopback), not the gateway's edge.
        if name != "kezek-host" && name != "kezek-tests" {
            let found = hit(deps, WASMTIME);
            assert!(found.is_empty(), "{name} depends on wasmtime: {found:?}");
        }
        if name != "kezek-api" && name != "kezek-mocks" && name != "kezek-tests" {
            let found = hit(deps, HTTP_SERVER);
            assert!(
                found.is_empty(),
                "{name} depends on the HTTP server stack: {found:?}"
            );
        }
    }
}

#[test]
fn the_domain_and_the_contracts_stay_small() {
    let crates = dependencies();
    let check = |name: &str, allowed: &[&str]| {
        let (_, deps) = crates.iter().find(|(n, _)| n == name).unwrap();
        let extra: Vec<_> = deps
            .iter()
            .filter(|d| !allowed.contains(&d.as_str()))
            .collect();
        assert!(extra.is_empty(), "{name} may not depend on {extra:?}");
    };
    check("kezek-domain", &["serde", "time", "thiserror"]);
    check("kezek-schema", &["jsonschema", "serde", "serde_json"]);
    check(
        "kezek-manifest",
        &[
            "kezek-domain",
            "kezek-schema",
            "serde",
            "serde_json",
            "thiserror",
        ],
    );
}

/// The mocks stand in for registries and devices: they share the domain's identifier rules
/// (plates) and nothing else of the gateway.
#[test]
fn the_mocks_share_only_the_domain() {
    let crates = dependencies();
    let (_, deps) = crates.iter().find(|(n, _)| n == "kezek-mocks").unwrap();
    let gateway: Vec<_> = deps
        .iter()
        .filter(|d| d.starts_with("kezek") && *d != "kezek-domain")
        .collect();
    assert!(
        gateway.is_empty(),
        "kezek-mocks may not depend on {gateway:?}"
    );
}
