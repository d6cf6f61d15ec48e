//! Device runtime benchmark (issue 13 item 8): plate events per second through the whole
//! push path — a camera's ISAPI multipart push over loopback HTTP to the push listener, the
//! address check, the hikvision-anpr driver decoding it in a fresh sandbox, the event on the
//! runtime's channel — and the latency from the push's first byte to the event, at 1, 8 and
//! 32 cameras pushing at once, each read a distinct plate. CPU per event from the process's
//! own accounting (cameras and gateway share the process and the two cores).
//!
//! Run: `make adapters && cargo bench -p kezek-tests --bench devices`

use kezek_devices::Happening;
use kezek_domain::device::Event;
use kezek_mocks::devices::camera::{CameraMock, Sighting};
use kezek_tests::{Staging, adapters_dir};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(3);

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

fn main() {
    let runtime = kezek_tests::bench_runtime();
    runtime.block_on(async {
        let cameras = 32;
        let staging = Staging::new();
        staging.stage_signed(&adapters_dir().join("hikvision-anpr"));
        let dir = staging.adapters().parent().unwrap().join("lanes");
        std::fs::create_dir_all(&dir).unwrap();
        let lanes: Vec<_> = (0..cameras)
            .map(|i| json!({ "id": format!("lane-{i}"), "role": "crossing", "devices": [
                { "id": format!("cam-{i}"), "driver": "hikvision-anpr", "address": "127.0.0.1" }
            ]}))
            .collect();
        std::fs::write(
            dir.join("cn.json"),
            json!({ "checkpoint": "CN-NUR-ZHOLY", "lanes": lanes }).to_string(),
        )
        .unwrap();
        let config = staging.config(&format!("[devices]\nlanes = {dir:?}\n"));
        let gateway = kezek::server::Gateway::start(&config).await.unwrap();
        let push = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let push_addr = push.local_addr().unwrap();
        let listeners = kezek_api::Listeners {
            api: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            admin: None,
            device_push: Some(push),
            tls: None,
            per_peer: 1024,
        };
        let devices = gateway.devices.clone().unwrap();
        tokio::spawn(kezek::server::run(listeners, gateway, std::future::pending()));

        // The events, by plate, as they arrive.
        let arrived: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let mut rx = devices.subscribe();
        let sink = arrived.clone();
        tokio::spawn(async move {
            while let Ok(event) = rx.recv().await {
                if let Happening::Event(Event::PlateRead(read)) = event.what {
                    sink.lock().unwrap().insert(read.candidates[0].plate.clone(), Instant::now());
                }
            }
        });

        println!("Plate reads through the push listener, the driver and the event channel, {} s each", WINDOW.as_secs());
        let mut serial = 0u32;
        for concurrency in [1usize, 8, 32] {
            for _round in 0..2 {
                let sent: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
                let cpu = kezek_tests::process_cpu();
                let started = Instant::now();
                let pushers: Vec<_> = (0..concurrency)
                    .map(|c| {
                        serial += 1;
                        let (sent, round) = (sent.clone(), serial);
                        tokio::spawn(async move {
                            let mut camera = CameraMock::new(push_addr, &format!("/devices/cam-{c}/push"));
                            let mut n = 0u32;
                            while started.elapsed() < WINDOW {
                                n += 1;
                                // A distinct plate per read: KZ format, 3 digits, 3 letters, region.
                                let plate = format!("{:03}{}{:02}", n % 1000, letters(round * 100_000 + n), c % 20);
                                let t = Instant::now();
                                let status = camera
                                    .read_plate(&Sighting { plate: plate.clone(), confidence: 90, direction: "forward", when: time::OffsetDateTime::now_utc() })
                                    .await
                                    .unwrap();
                                assert_eq!(status, 200);
                                sent.lock().unwrap().push((plate, t));
                            }
                        })
                    })
                    .collect();
                for p in pushers {
                    p.await.unwrap();
                }
                let elapsed = started.elapsed();
                tokio::time::sleep(Duration::from_millis(200)).await;
                let cpu = kezek_tests::process_cpu() - cpu;
                let sent = sent.lock().unwrap().clone();
                let arrived = arrived.lock().unwrap();
                let mut latencies: Vec<Duration> = sent
                    .iter()
                    .filter_map(|(plate, t)| arrived.get(plate).map(|a| a.duration_since(*t)))
                    .collect();
                latencies.sort();
                let lost = sent.len() - latencies.len();
                println!(
                    "  {concurrency:>2} cameras: {:7.0} events/s   push→event p50 {:6.2} ms   p99 {:6.2} ms   CPU {:5.0} µs/event   lost {lost}",
                    latencies.len() as f64 / elapsed.as_secs_f64(),
                    pct(&latencies, 0.5),
                    pct(&latencies, 0.99),
                    cpu.as_secs_f64() * 1e6 / latencies.len().max(1) as f64,
                );
            }
        }
    });
}

/// Three letters from a number: distinct plates without a random source.
fn letters(mut n: u32) -> String {
    let mut s = String::new();
    for _ in 0..3 {
        s.push((b'A' + (n % 26) as u8) as char);
        n /= 26;
    }
    s
}
