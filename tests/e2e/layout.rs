//! The rooms' boundaries, checked over `cargo metadata` (issue 9): a crate may depend only on
//! what its room allows, so "only the host touches wasmtime" and "the domain does no I/O" are
//! kept by the build, not by convention. Rows are tightened as rooms become crates.

use std::collections::BTreeSet;

/// Crates only some rooms may use: wasmtime (the host) and the HTTP server stack (the API).
const WASMTIME: &[&str] = &["wasmtime", "wasmtime-wasi"];
const HTTP_SERVER: &[&str] = &[
    "hyper",
    "hyper-util",
    "hyper-rustls",
    "tokio-rustls",
    "axum",
];

/// Each workspace crate's normal dependencies, by name.
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
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

#[test]
fn each_crate_depends_only_on_what_its_room_allows() {
    let crates = dependencies();
    let deps_of = |name: &str| -> &BTreeSet<String> {
        &crates
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no crate {name} in the workspace"))
            .1
    };
    // (crate, allowed dependencies: None = any but the forbidden, forbidden dependencies)
    let check = |name: &str, allowed: Option<&[&str]>, forbidden: &[&[&str]]| {
        let deps = deps_of(name);
        if let Some(allowed) = allowed {
            let extra: Vec<_> = deps
                .iter()
                .filter(|d| !allowed.contains(&d.as_str()))
                .collect();
            assert!(extra.is_empty(), "{name} may not depend on {extra:?}");
        }
        for group in forbidden {
            let hit: Vec<_> = group.iter().filter(|d| deps.contains(**d)).collect();
            assert!(hit.is_empty(), "{name} may not depend on {hit:?}");
        }
    };
    check("kezek-domain", Some(&["serde", "time", "thiserror"]), &[]);
    check(
        "kezek-store",
        None,
        &[WASMTIME, HTTP_SERVER, &["kezek", "jsonschema"]],
    );
    // The mocks stand in for registries: they share the domain's identifier rules (plates)
    // and nothing of the gateway.
    check("kezek-mocks", None, &[WASMTIME, &["kezek", "kezek-store"]]);
    // wasmtime: only the gateway crate (until its host is a crate of its own) and the
    // benchmarks, which measure bare wasmtime beside the product.
    for (name, deps) in &crates {
        if !["kezek", "kezek-tests"].contains(&name.as_str()) {
            assert!(
                WASMTIME.iter().all(|w| !deps.contains(*w)),
                "{name} depends on wasmtime"
            );
        }
    }
}
