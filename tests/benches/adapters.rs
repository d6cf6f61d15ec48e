//! Registry adapter benchmark (issue: registry adapters, item 6): for each adapter, the
//! component's size and the guest time per call against its mock registry — the whole call
//! (fresh instance, request building, XML/JSON parsing, judging) minus the time spent
//! waiting on the registry.
//!
//! Run: `make adapters && cargo bench -p kezek-tests --bench adapters`

use kezek_domain::CheckId;
use kezek_mocks::scenario::Verdict;
use kezek_tests::registries::{World, application};
use std::time::Duration;

const CALLS: usize = 300;

fn main() {
    let runtime = kezek_tests::bench_runtime();
    runtime.block_on(async {
        let world = World::start().await;
        let set = world.gateway.catalogue.snapshot();
        println!(
            "{:<24} {:>5} {:>10} {:>12} {:>12} {:>10}",
            "adapter", "check", "size (KB)", "guest p50 µs", "guest p99 µs", "exchanges"
        );
        for number in 1..=18 {
            let check = CheckId::p18(number).unwrap();
            let adapter = set.for_check(&check).expect("every check has an adapter");
            let size = std::fs::metadata(
                kezek_tests::adapters_dir()
                    .join(&adapter.descriptor.id)
                    .join("adapter.wasm"),
            )
            .unwrap()
            .len();
            let persona = world
                .scenario
                .personas
                .iter()
                .find(|p| {
                    p.expected(&number.to_string())
                        .is_some_and(|e| e.verdict == Verdict::Pass)
                })
                .expect("a passing persona");
            let app = application(persona);
            let mut guest = Vec::with_capacity(CALLS);
            let mut exchanges = 0;
            for _ in 0..CALLS {
                let outcome = world
                    .gateway
                    .host
                    .check(
                        adapter,
                        &check,
                        &app,
                        "6f1c2d3e-8d4b-4b0e-9a51-2f7d1c0e9b11",
                        Duration::from_secs(5),
                    )
                    .await;
                assert!(outcome.result.is_ok(), "{check}: {:?}", outcome.result);
                let waiting: Duration = outcome.exchanges.iter().map(|e| e.duration).sum();
                exchanges = outcome.exchanges.len();
                guest.push(outcome.duration.saturating_sub(waiting));
            }
            guest.sort();
            let us = |d: Duration| d.as_secs_f64() * 1e6;
            println!(
                "{:<24} {:>5} {:>10.1} {:>12.1} {:>12.1} {:>10}",
                adapter.descriptor.id,
                check.to_string(),
                size as f64 / 1024.0,
                us(guest[CALLS / 2]),
                us(guest[CALLS * 99 / 100]),
                exchanges
            );
        }
    });
}
