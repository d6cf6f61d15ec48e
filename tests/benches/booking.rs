//! Booking rush for one checkpoint-day (issue 5 item 10): committed bookings per second and
//! latency percentiles, on SQLite (always) and PostgreSQL (when `KEZEK_TEST_POSTGRES_URL`
//! is set). Verification is served instantly (as from the cache). Durability is not
//! weakened: SQLite WAL + synchronous=FULL, every booking answered after its commit.
//!
//! `cargo bench -p kezek-tests --bench booking` (env: BOOKING_BENCH_N, BOOKING_BENCH_INFLIGHT)

use kezek_booking::checkpoints::Catalogue;
use kezek_booking::engine::{CreateRequest, SlotRequest};
use kezek_booking::testing::{Script, ScriptedVerifier, sample_application};
use kezek_booking::{BookingConfig, BookingEngine};
use kezek_domain::clock::SystemClock;
use kezek_store::{Store, StoreConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let n: usize = std::env::var("BOOKING_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let inflight: usize = std::env::var("BOOKING_BENCH_INFLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let rt = kezek_tests::bench_runtime();
    let dir = tempfile::tempdir_in(kezek_tests::workspace().join("target")).unwrap();
    let mut stores = vec![(
        "sqlite (WAL, synchronous=FULL)",
        StoreConfig::Sqlite {
            path: dir.path().join("bench.sqlite3"),
            max_group: 256,
        },
    )];
    if let Ok(url) = std::env::var("KEZEK_TEST_POSTGRES_URL") {
        let schema = format!("bench_{}", std::process::id());
        stores.push((
            "postgres (pool 16)",
            StoreConfig::Postgres {
                url,
                password_env: None,
                schema: Some(schema),
                pool_size: 16,
            },
        ));
    }
    println!(
        "booking rush: {n} attempts for one checkpoint-day, {inflight} in flight, 2 worker threads"
    );
    for (name, store) in stores {
        rt.block_on(rush(name, &store, n, inflight));
    }
}

async fn rush(name: &str, store: &StoreConfig, n: usize, inflight: usize) {
    let mut catalogue = Catalogue::embedded();
    let mut cp = catalogue.get("CN-DOSTYK").unwrap().clone();
    cp.code = "CN-BENCH".into();
    cp.daily_capacity = 1_000_000;
    cp.hourly_capacity = 100_000;
    catalogue.checkpoints.insert(cp.code.clone(), cp);
    let mut config = BookingConfig::default();
    config.rate_limits.account_per_minute = u32::MAX;
    config.rate_limits.vehicle_per_minute = u32::MAX;
    let engine = Arc::new(BookingEngine::new(
        config,
        Arc::new(catalogue),
        Arc::new(Store::open(store).await.unwrap()),
        Arc::new(ScriptedVerifier::new(Script::Approve)),
        Arc::new(SystemClock),
    ));
    let day = kezek_tests::days::ahead(2);
    let semaphore = Arc::new(tokio::sync::Semaphore::new(inflight));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = semaphore.clone().acquire_owned().await.unwrap();
        let engine = engine.clone();
        let day = day.clone();
        tasks.push(tokio::spawn(async move {
            let plate = format!("R{i:07}");
            let request = CreateRequest {
                account: format!("acc-{i}"),
                application: sample_application(
                    "CN-BENCH",
                    &day,
                    &plate,
                    &format!("VINBENCH{i:09}"),
                ),
                slot: SlotRequest {
                    date: Some(day.clone()),
                    hour: Some((i % 24) as u8),
                    ..Default::default()
                },
                priority: None,
                payment: None,
            };
            let t = Instant::now();
            let result = engine.create(request, None).await;
            drop(permit);
            (result.err().map(|e| e.to_string()), t.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(n);
    let mut committed = 0;
    let mut errors = std::collections::BTreeMap::<String, usize>::new();
    for t in tasks {
        let (err, d) = t.await.unwrap();
        match err {
            None => committed += 1,
            Some(e) => *errors.entry(e).or_default() += 1,
        }
        latencies.push(d);
    }
    let elapsed = start.elapsed();
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<32} committed {committed:>6} in {:>6.2} s = {:>7.0} bookings/s   p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>7.2} ms",
        elapsed.as_secs_f64(),
        committed as f64 / elapsed.as_secs_f64(),
        ms(p(0.50)),
        ms(p(0.99)),
        ms(*latencies.last().unwrap()),
    );
    for (e, n) in errors {
        println!("    not committed {n:>6}: {e}");
    }
}
