//! Verification pipeline benchmarks (issue: verification pipeline, item 9).
//!
//! (a) An uncached resident verification through the pipeline (WASM adapters, cache
//!     bypassed, breaker, decision) against a plain tokio + hyper client that sends the very
//!     same registry requests — captured from the adapters — concurrently per check, in the
//!     same run, alternating.
//! (b) Fully cached verifications: in process with 2 workers (also each waiting for its
//!     audit commit, (b'')), and through the HTTP API with a load generator on the same
//!     machine.
//! (c) 1 000 concurrent identical verifications: calls per registry.
//!
//! Run: `make adapters && cargo bench -p kezek-tests --bench pipeline`

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kezek_domain::{CheckId, Decision};
use kezek_mocks::registry::RegistryId;
use kezek_tests::registries::{World, application};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PERSONA: &str = "r-clean-company-truck-trailer";
const ROUNDS: usize = 300;

type Plain = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// One registry request as an adapter sent it.
#[derive(Clone)]
struct Captured {
    method: String,
    uri: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

fn main() {
    let runtime = kezek_tests::bench_runtime();
    runtime.block_on(async {
        // One persona, asked for again and again: the per-person limit (issue 11) would
        // refuse it within a minute. Lifted here — still counted, so its cost is measured.
        let world = World::start_with(
            Default::default(),
            "[api.rate_limits]\nper_person_per_minute = 4000000000\nper_caller_per_minute = 4000000000\n",
        )
        .await;
        let persona = world.scenario.personas.iter().find(|p| p.id == PERSONA).unwrap();
        let app = application(persona);
        let pipeline = world.gateway.pipeline.clone();

        // Capture, per check, the exact requests the adapters send.
        let set = world.gateway.catalogue.snapshot();
        let plan: Vec<CheckId> = persona.expect.keys().map(|k| k.as_str().parse().unwrap()).collect();
        let mut per_check: Vec<Vec<Captured>> = Vec::new();
        let base = format!("http://{}", world.mocks.addr());
        for check in &plan {
            world.mocks.clear_requests();
            let outcome = world.gateway.host.check(set.for_check(check).unwrap(), check, &app, "6f1c2d3e-8d4b-4b0e-9a51-2f7d1c0e9b11", Duration::from_secs(5)).await;
            assert!(outcome.result.is_ok());
            let mut seq = Vec::new();
            for registry in RegistryId::ALL {
                for r in world.mocks.requests(registry) {
                    if registry == RegistryId::Consent {
                        continue;
                    }
                    seq.push(Captured {
                        method: r.method.clone(),
                        uri: format!("{base}{}", r.path),
                        body: r.raw_body.clone().into_bytes(),
                        headers: vec![
                            ("content-type".into(), "text/xml; charset=utf-8".into()),
                            ("x-correlation-id".into(), "6f1c2d3e-8d4b-4b0e-9a51-2f7d1c0e9b11".into()),
                        ],
                    });
                }
            }
            per_check.push(seq);
        }
        let plain: Plain = Client::builder(TokioExecutor::new()).build_http();
        let baseline = |plain: Plain, per_check: Vec<Vec<Captured>>| async move {
            let calls = per_check.into_iter().map(|seq| {
                let plain = plain.clone();
                async move {
                    for c in seq {
                        let mut req = hyper::Request::builder().method(c.method.as_str()).uri(c.uri.as_str());
                        for (k, v) in &c.headers {
                            req = req.header(k, v);
                        }
                        let resp = plain.request(req.body(Full::new(Bytes::from(c.body))).unwrap()).await.unwrap();
                        let body = resp.into_body().collect().await.unwrap().to_bytes();
                        assert!(!body.is_empty());
                    }
                }
            });
            futures::future::join_all(calls).await;
        };

        // (a) alternate uncached pipeline and baseline.
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for i in 0..ROUNDS + 20 {
            pipeline.cache.invalidate_all();
            let t = Instant::now();
            let v = pipeline.verify(app.clone()).await.unwrap();
            let took = t.elapsed();
            assert_eq!(v.decision, Decision::Approved);
            let t = Instant::now();
            baseline(plain.clone(), per_check.clone()).await;
            let base_took = t.elapsed();
            if i >= 20 {
                ours.push(took);
                theirs.push(base_took);
            }
        }
        ours.sort();
        theirs.sort();
        println!("(a) uncached resident verification ({} checks, {} registry calls), {ROUNDS} rounds alternating", plan.len(), per_check.iter().map(Vec::len).sum::<usize>());
        println!("    pipeline           p50 {:6.2} ms   p99 {:6.2} ms", pct(&ours, 0.5), pct(&ours, 0.99));
        println!("    plain tokio+hyper  p50 {:6.2} ms   p99 {:6.2} ms", pct(&theirs, 0.5), pct(&theirs, 0.99));
        println!("    overhead           p50 {:.2}×      p99 {:.2}×", pct(&ours, 0.5) / pct(&theirs, 0.5), pct(&ours, 0.99) / pct(&theirs, 0.99));

        // (a') the same with every registry 10 ms away, as real registries are (and more).
        for registry in RegistryId::ALL {
            if registry != RegistryId::Consent {
                world.mocks.set_fault(registry, kezek_mocks::faults::Fault::latency(10));
            }
        }
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..60 {
            pipeline.cache.invalidate_all();
            let t = Instant::now();
            pipeline.verify(app.clone()).await.unwrap();
            ours.push(t.elapsed());
            let t = Instant::now();
            baseline(plain.clone(), per_check.clone()).await;
            theirs.push(t.elapsed());
        }
        world.mocks.clear_faults();
        ours.sort();
        theirs.sort();
        println!("(a') the same, every registry answering after 10 ms, 60 rounds alternating");
        println!("    pipeline           p50 {:6.2} ms   p99 {:6.2} ms", pct(&ours, 0.5), pct(&ours, 0.99));
        println!("    plain tokio+hyper  p50 {:6.2} ms   p99 {:6.2} ms", pct(&theirs, 0.5), pct(&theirs, 0.99));
        println!("    overhead           p50 {:.2}×      p99 {:.2}×", pct(&ours, 0.5) / pct(&theirs, 0.5), pct(&ours, 0.99) / pct(&theirs, 0.99));

        // (b) fully cached, in process, 2 workers.
        pipeline.verify(app.clone()).await.unwrap();
        let window = Duration::from_secs(3);
        let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let count = Arc::new(AtomicU64::new(0));
        let cpu = kezek_tests::process_cpu();
        let started = Instant::now();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (pipeline, app, latencies, count) = (pipeline.clone(), app.clone(), latencies.clone(), count.clone());
                tokio::spawn(async move {
                    let mut local = Vec::new();
                    while started.elapsed() < window {
                        let t = Instant::now();
                        let v = pipeline.verify(app.clone()).await.unwrap();
                        local.push(t.elapsed());
                        debug_assert!(v.checks.iter().all(|c| c.cached));
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    latencies.lock().unwrap().extend(local);
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        let mut lat = latencies.lock().unwrap().clone();
        lat.sort();
        println!("(b) cached verifications in process, 2 workers, {} s", window.as_secs());
        let done = count.load(Ordering::Relaxed) as f64;
        println!("    {:8.0} verifications/s   p50 {:.3} ms   p99 {:.3} ms   CPU {:.1} µs each (process, audit writer included)", done / started.elapsed().as_secs_f64(), pct(&lat, 0.5), pct(&lat, 0.99), (kezek_tests::process_cpu() - cpu).as_secs_f64() * 1e6 / done);

        // (b'') the same, each answer waiting for its audit record's commit (what the booking
        // engine's verifications do; ADR 0015 explains why the API's cached answers do not).
        let count = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (pipeline, app, count) = (pipeline.clone(), app.clone(), count.clone());
                tokio::spawn(async move {
                    while started.elapsed() < window {
                        pipeline.verify_recorded(app.clone(), kezek_pipeline::Record::Committed).await.unwrap();
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        println!("(b'') cached verifications in process, 2 workers, each answered after its audit commit, {} s", window.as_secs());
        println!("    {:8.0} verifications/s", count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64());

        // (b') the same through the HTTP API (plain HTTP, keep-alive), load generator in process.
        let (addr, _) = kezek_tests::serve(world.gateway.clone(), None, kezek_api::MAX_CONNECTIONS).await;
        let body = Bytes::from(serde_json::to_vec(&app).unwrap());
        let bearer = Arc::new(kezek_tests::auth::bearer("acc-bench"));
        let stop = Arc::new(AtomicBool::new(false));
        let http_count = Arc::new(AtomicU64::new(0));
        let http_lat = Arc::new(std::sync::Mutex::new(Vec::new()));
        let started = Instant::now();
        let clients: Vec<_> = (0..16)
            .map(|_| {
                let (plain, body, stop, http_count, http_lat, bearer) = (plain.clone(), body.clone(), stop.clone(), http_count.clone(), http_lat.clone(), bearer.clone());
                tokio::spawn(async move {
                    let mut local = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let req = hyper::Request::post(format!("http://{addr}/v1/verifications")).header("content-type", "application/json").header("authorization", bearer.as_str()).body(Full::new(body.clone())).unwrap();
                        let resp = plain.request(req).await.unwrap();
                        assert_eq!(resp.status(), 200);
                        resp.into_body().collect().await.unwrap();
                        local.push(t.elapsed());
                        http_count.fetch_add(1, Ordering::Relaxed);
                    }
                    http_lat.lock().unwrap().extend(local);
                })
            })
            .collect();
        tokio::time::sleep(window).await;
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.await.unwrap();
        }
        let mut lat = http_lat.lock().unwrap().clone();
        lat.sort();
        println!("(b') cached verifications through the HTTP API, 16 keep-alive clients on the same 2 cores, {} s", window.as_secs());
        println!("    {:8.0} verifications/s   p50 {:.3} ms   p99 {:.3} ms", http_count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64(), pct(&lat, 0.5), pct(&lat, 0.99));

        // (c) 1 000 concurrent identical verifications of a fresh application.
        pipeline.cache.invalidate_all();
        let before: Vec<usize> = RegistryId::ALL.iter().map(|r| world.mocks.call_count(*r)).collect();
        let burst: Vec<_> = (0..1000)
            .map(|_| {
                let (pipeline, app) = (pipeline.clone(), app.clone());
                tokio::spawn(async move { pipeline.verify(app).await.unwrap().decision })
            })
            .collect();
        for b in burst {
            assert_eq!(b.await.unwrap(), Decision::Approved);
        }
        println!("(c) 1 000 concurrent identical verifications: registry calls");
        for (i, r) in RegistryId::ALL.iter().enumerate() {
            let n = world.mocks.call_count(*r) - before[i];
            if n > 0 {
                println!("    {:<18} {n}", r.as_str());
            }
        }
        println!("    (one verification of this persona asks ГБД ЮЛ and ГБД ФЛ once each, Automobile three times: vehicle, trailer, licence; ЕРАП twice: driver and plate)");
    });
}
