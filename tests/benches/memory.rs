//! Memory under a stream of distinct, uncached verifications (issue 11 item 3): the
//! resident size must plateau, because every cache is bounded by bytes.
//!
//! Each verification is the clean resident truck with a driver's phone of its own, so every
//! check that reads the drivers misses the cache and every verification is kept as a new
//! one. The mocks run in the same process (their memory is counted too, and is flat).
//!
//! Run: `make adapters && cargo bench -p kezek-tests --bench memory`
//! Knobs: MEMORY_BENCH_N (100000), MEMORY_BENCH_INFLIGHT (64), MEMORY_BENCH_EVERY (10000).

use kezek_tests::registries::{World, application};
use std::sync::Arc;
use std::time::Instant;

const PERSONA: &str = "r-clean-company-truck-trailer";

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The resident set size, from the kernel's own accounting of this process.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let (n, inflight, every) = (
        knob("MEMORY_BENCH_N", 100_000),
        knob("MEMORY_BENCH_INFLIGHT", 64),
        knob("MEMORY_BENCH_EVERY", 10_000),
    );
    let runtime = kezek_tests::bench_runtime();
    runtime.block_on(async {
        // The mocks keep no requests: their log would grow with every call and be counted as
        // the gateway's (they share this process).
        let world = World::start_with_mocks(
            Default::default(),
            "",
            kezek_mocks::registry::MockConfig {
                record_requests: false,
                ..Default::default()
            },
        )
        .await;
        let persona = world.scenario.personas.iter().find(|p| p.id == PERSONA).unwrap();
        let app = Arc::new(application(persona));
        let pipeline = world.gateway.pipeline.clone();
        println!(
            "distinct uncached verifications, {inflight} in flight, 2 worker threads\n{:>9} {:>10} {:>9}",
            "done", "RSS MiB", "per s"
        );
        println!("{:>9} {:>10.1} {:>9}", 0, rss_mib(), "-");
        let started = Instant::now();
        let mut done = 0usize;
        let mut decided = [0usize; 3];
        while done < n {
            let batch = every.min(n - done);
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(done));
            let end = done + batch;
            let workers: Vec<_> = (0..inflight)
                .map(|_| {
                    let (pipeline, app, next) = (pipeline.clone(), app.clone(), next.clone());
                    tokio::spawn(async move {
                        let mut tally = [0usize; 3];
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if i >= end {
                                return tally;
                            }
                            let mut distinct = (*app).clone();
                            distinct.drivers[0].phone = format!("+7700{i:07}");
                            if let Ok(v) = pipeline.verify(distinct).await {
                                tally[v.decision as usize] += 1;
                            }
                        }
                    })
                })
                .collect();
            for w in workers {
                for (total, n) in decided.iter_mut().zip(w.await.unwrap()) {
                    *total += n;
                }
            }
            done = end;
            println!(
                "{done:>9} {:>10.1} {:>9.0}",
                rss_mib(),
                done as f64 / started.elapsed().as_secs_f64()
            );
        }
        println!(
            "decisions: {} approved, {} refused, {} indeterminate (a distinct phone is unknown to \
             the mobile-citizens base, so most are refused by check 13 after every check ran)",
            decided[0], decided[1], decided[2]
        );
    });
}
