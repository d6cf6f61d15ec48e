//! Adapter host benchmark (issue: adapter host, item 8).
//!
//! Instantiate + call of the trivial `fixture-echo` adapter through the product's host path
//! (`AdapterHost::check`: request conversion, fresh store with memory cap and CPU budget,
//! pooled instance, result conversion) against a bare wasmtime call of the same component
//! on an engine with the same pooling settings, in the same run, interleaved in rounds so
//! that machine noise hits both alike. Then throughput with 2 workers, and a stream of
//! calls across hot reloads that must fail none.
//!
//! Run: `make adapters && cargo bench -p kezek-tests --bench host`

use kezek::server::Gateway;
use kezek_domain::CheckId;
use kezek_host::v1_0 as v1;
use kezek_tests::{Staging, fixture, sample_application};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

const ROUNDS: usize = 10;
const CALLS_PER_ROUND: usize = 2_000;

struct Bare {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Bare {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl v1::kezek::registry::types::Host for Bare {}

impl v1::kezek::registry::outbound::Host for Bare {
    async fn send(
        &mut self,
        _: v1::kezek::registry::outbound::Request,
    ) -> Result<v1::kezek::registry::outbound::Response, v1::kezek::registry::outbound::OutboundError>
    {
        Err(v1::kezek::registry::outbound::OutboundError::Denied(
            "bare".into(),
        ))
    }
}

/// The bare baseline: wasmtime's documented pooling setup, nothing of Kezek's.
fn bare_engine() -> (Engine, v1::AdapterPre<Bare>) {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(64)
        .total_core_instances(512)
        .total_memories(128)
        .total_tables(256)
        .total_stacks(64)
        .max_core_instances_per_component(16)
        .max_memories_per_component(4)
        .max_tables_per_component(8)
        .max_memory_size(64 << 20)
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10);
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config).unwrap();
    let mut linker = Linker::<Bare>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    v1::Adapter::add_to_linker::<Bare, HasSelf<Bare>>(&mut linker, |s| s).unwrap();
    let bytes = std::fs::read(fixture("echo").join("adapter.wasm")).unwrap();
    let component = Component::new(&engine, &bytes).unwrap();
    let pre = v1::AdapterPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
    (engine, pre)
}

fn bare_request() -> v1::kezek::registry::types::CheckRequest {
    use v1::kezek::registry::types as t;
    let app = sample_application();
    let d = &app.drivers[0];
    t::CheckRequest {
        correlation_id: "c".into(),
        check: 1,
        owner: t::Owner {
            residency: t::Residency::Resident,
            kind: t::PartyKind::LegalEntity,
            name: app.owner.name.clone(),
            iin_bin: app.owner.iin_bin.clone(),
            country: app.owner.country.clone(),
        },
        drivers: vec![t::Driver {
            residency: t::Residency::Resident,
            full_name: d.full_name.clone(),
            birth_date: d.birth_date.clone(),
            iin: d.iin.clone(),
            phone: d.phone.clone(),
            email: None,
            document: t::IdentityDocument {
                kind: d.document.kind.clone(),
                issuing_country: d.document.issuing_country.clone(),
                number: d.document.number.clone(),
                expires: d.document.expires.clone(),
            },
        }],
        vehicle: t::Vehicle {
            kind: t::VehicleKind::TractorUnit,
            country: "KZ".into(),
            plate: app.vehicle.plate.clone(),
            vin: app.vehicle.vin.clone(),
        },
        trailer: None,
        cargo: t::Cargo {
            classes: vec![t::CargoClass::General],
            hs_codes: vec![],
            declaration_number: None,
            description: String::new(),
        },
        checkpoint: app.checkpoint.clone(),
        travel_date: app.travel_date.clone(),
    }
}

async fn bare_call(
    engine: &Engine,
    pre: &v1::AdapterPre<Bare>,
    req: &v1::kezek::registry::types::CheckRequest,
) {
    let mut store = Store::new(
        engine,
        Bare {
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
        },
    );
    let instance = pre.instantiate_async(&mut store).await.unwrap();
    let result = instance
        .kezek_registry_checker()
        .call_check(&mut store, req)
        .await
        .unwrap();
    assert!(result.is_ok());
}

async fn product_call(gateway: &Gateway, app: &kezek_domain::Application) {
    let set = gateway.catalogue.snapshot();
    let adapter = set.for_check(&CheckId::p18(1).unwrap()).unwrap();
    let outcome = gateway
        .host
        .check(
            adapter,
            &CheckId::p18(1).unwrap(),
            app,
            "c",
            Duration::from_secs(5),
        )
        .await;
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let runtime = kezek_tests::bench_runtime();
    runtime.block_on(async {
        let staging = Staging::new();
        staging.stage_signed(&fixture("echo"));
        let gateway = Arc::new(Gateway::start(&staging.config("")).await.unwrap());
        let app = sample_application();
        let (engine, pre) = bare_engine();
        let req = bare_request();

        // Warm both paths.
        for _ in 0..500 {
            product_call(&gateway, &app).await;
            bare_call(&engine, &pre, &req).await;
        }

        let (mut product, mut bare) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            for _ in 0..CALLS_PER_ROUND {
                let t = Instant::now();
                product_call(&gateway, &app).await;
                product.push(t.elapsed());
            }
            for _ in 0..CALLS_PER_ROUND {
                let t = Instant::now();
                bare_call(&engine, &pre, &req).await;
                bare.push(t.elapsed());
            }
        }
        product.sort();
        bare.sort();
        let (p50, p99) = (percentile(&product, 0.5), percentile(&product, 0.99));
        let (b50, b99) = (percentile(&bare, 0.5), percentile(&bare, 0.99));
        println!(
            "single caller, {} calls each, interleaved in {ROUNDS} rounds",
            product.len()
        );
        println!(
            "  product host path  median {:7.1} µs   p99 {:7.1} µs",
            micros(p50),
            micros(p99)
        );
        println!(
            "  bare wasmtime      median {:7.1} µs   p99 {:7.1} µs",
            micros(b50),
            micros(b99)
        );
        println!(
            "  ratio product/bare median {:.2}×   p99 {:.2}×",
            micros(p50) / micros(b50),
            micros(p99) / micros(b99)
        );

        // Throughput: 2 workers for 2 s each, product then bare.
        let window = Duration::from_secs(2);
        let product_rate = throughput(window, {
            let (gateway, app) = (gateway.clone(), app.clone());
            move || {
                let (gateway, app) = (gateway.clone(), app.clone());
                async move { product_call(&gateway, &app).await }
            }
        })
        .await;
        let shared = Arc::new((engine, pre, req));
        let bare_rate = throughput(window, {
            let shared = shared.clone();
            move || {
                let shared = shared.clone();
                async move { bare_call(&shared.0, &shared.1, &shared.2).await }
            }
        })
        .await;
        println!("two workers, {} s each", window.as_secs());
        println!("  product host path  {product_rate:8.0} calls/s");
        println!("  bare wasmtime      {bare_rate:8.0} calls/s");
        println!("  ratio bare/product {:.2}×", bare_rate / product_rate);

        // Hot reloads under a stream of calls: none may fail.
        let stop = Arc::new(AtomicBool::new(false));
        let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let mut workers = Vec::new();
        for _ in 0..2 {
            let (gateway, app, stop, ok, failed) = (
                gateway.clone(),
                app.clone(),
                stop.clone(),
                ok.clone(),
                failed.clone(),
            );
            workers.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let set = gateway.catalogue.snapshot();
                    let adapter = set.for_check(&CheckId::p18(1).unwrap()).unwrap().clone();
                    let outcome = gateway
                        .host
                        .check(
                            &adapter,
                            &CheckId::p18(1).unwrap(),
                            &app,
                            "c",
                            Duration::from_secs(5),
                        )
                        .await;
                    let counter = if outcome.result.is_ok() { &ok } else { &failed };
                    counter.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            }));
        }
        let mut reloads = 0;
        for i in 0..20 {
            staging.stage_signed(&fixture(if i % 2 == 0 { "echo-v2" } else { "echo" }));
            let report = gateway.catalogue.reload().await.unwrap();
            assert!(report.refused.is_empty(), "{report}");
            reloads += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.await.unwrap();
        }
        println!(
            "hot reload under load: {reloads} reloads, {} calls ok, {} failed",
            ok.load(Ordering::Relaxed),
            failed.load(Ordering::Relaxed)
        );
        assert_eq!(failed.load(Ordering::Relaxed), 0);
    });
}

async fn throughput<F, Fut>(window: Duration, make: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let calls = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (make, calls) = (make.clone(), calls.clone());
        tasks.push(tokio::spawn(async move {
            while started.elapsed() < window {
                make().await;
                calls.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    calls.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}
