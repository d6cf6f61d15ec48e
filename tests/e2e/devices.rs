//! Device drivers through the one catalogue and sandbox (issue 13 items 1, 4 and 7; ADR
//! 0020): every packaged driver loads and describes itself; a barrier round trip through
//! the host (P11, D58); unsigned, tampered and wrong-world packages refused; the device
//! fault fixtures end in typed errors within a bound while the host keeps serving drivers.

use kezek::server::Gateway;
use kezek_domain::device::{
    BarrierPosition, Command, DeviceKind, DriverError, Event, HttpResponse, Input, Outbound,
};
use kezek_tests::http::request;
use kezek_tests::{Staging, adapters_dir, fixture};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The drivers `make adapters` packages (adapters/devices/*).
const DRIVERS: [&str; 5] = [
    "alpr-json",
    "hikvision-anpr",
    "hikvision-barrier",
    "modbus-relay",
    "text-board",
];

/// A fault must be contained within this bound; the fixtures' budget is 50 ms CPU.
const CONTAINED_WITHIN: Duration = Duration::from_millis(1000);

/// Any fixed instant: drivers take time as a parameter, so no test depends on the day.
const NOW: u64 = 1_000_000;

/// The packaged driver `id`, as `make adapters` installed it.
fn driver(id: &str) -> PathBuf {
    let package = adapters_dir().join(id);
    assert!(
        package.join("manifest.json").is_file(),
        "{} is missing: `make adapters` packages the device drivers",
        package.display()
    );
    package
}

async fn gateway(staging: &Staging) -> Gateway {
    Gateway::start(&staging.config(""))
        .await
        .expect("gateway starts")
}

/// Issue 13 item 4, ADR 0020: every packaged driver goes through the catalogue (signature,
/// compilation, type-check, self-test) and answers `describe()` with what its manifest
/// says; it is a driver of the set, not an adapter; the admin API lists it with its
/// capabilities and configuration, and names an unknown one 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_packaged_driver_loads_and_describes_itself() {
    let staging = Staging::new();
    for id in DRIVERS {
        staging.stage_signed(&driver(id));
    }
    staging.stage_signed(&fixture("echo"));
    let gateway = gateway(&staging).await;
    let set = gateway.catalogue.snapshot();
    assert_eq!(
        set.drivers.keys().map(String::as_str).collect::<Vec<_>>(),
        DRIVERS,
        "refused: {:?}",
        DRIVERS.map(|id| gateway.catalogue.refusal(id))
    );
    assert_eq!(set.adapters.keys().collect::<Vec<_>>(), ["fixture-echo"]);
    for id in DRIVERS {
        let loaded = set.driver(id).unwrap();
        let described = gateway.host.describe_driver(loaded).await.unwrap();
        assert_eq!(described, loaded.descriptor, "{id}");
        assert_eq!(described.kind, loaded.manifest.kind, "{id}");
        assert!(!described.capabilities.names().is_empty(), "{id}");
    }
    let kinds = |kind| {
        set.drivers
            .values()
            .filter(|d| d.descriptor.kind == kind)
            .count()
    };
    assert_eq!(
        [DeviceKind::Camera, DeviceKind::Barrier, DeviceKind::Board].map(kinds),
        [2, 2, 1]
    );

    let (_, admin) = kezek_tests::serve(gateway, None, 64).await;
    let list = request(admin, "GET", "/admin/devices", &[], vec![], None)
        .await
        .unwrap()
        .json();
    let listed: Vec<&str> = list["drivers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, DRIVERS);
    let barrier = request(
        admin,
        "GET",
        "/admin/devices/hikvision-barrier",
        &[],
        vec![],
        None,
    )
    .await
    .unwrap();
    assert_eq!(barrier.status, 200);
    let barrier = barrier.json();
    assert_eq!(barrier["kind"], "barrier");
    assert_eq!(barrier["transport"], "http-request");
    assert_eq!(
        barrier["capabilities"],
        serde_json::json!(["open-barrier", "close-barrier", "barrier-state"])
    );
    assert_eq!(barrier["config"][0]["name"], "channel");
    assert_eq!(barrier["component_sha256"].as_str().unwrap().len(), 64);
    let missing = request(
        admin,
        "GET",
        "/admin/devices/fixture-echo",
        &[],
        vec![],
        None,
    )
    .await
    .unwrap();
    assert_eq!(missing.status, 404, "an adapter is not a driver");
}

/// P11, D58 (issue 13 item 4): the officer's or the system's "open" goes through the
/// barrier driver in the sandbox and comes out as the ISAPI request the host sends; the
/// barrier's answer goes back in and comes out as events — done, then the position read
/// back. The state blob travels through the host between calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hikvision_barrier_round_trip_through_the_host() {
    let staging = Staging::new();
    staging.stage_signed(&driver("hikvision-barrier"));
    let gateway = gateway(&staging).await;
    let set = gateway.catalogue.snapshot();
    let barrier = set
        .driver("hikvision-barrier")
        .expect("the barrier driver is loaded");
    let host = &gateway.host;

    let config = vec![("channel".to_owned(), "2".to_owned())];
    let state = host.configure(barrier, &config, NOW).await.unwrap();
    let bad = vec![("channel".to_owned(), "zero".to_owned())];
    assert!(matches!(
        host.configure(barrier, &bad, NOW).await,
        Err(DriverError::BadConfig(field)) if field.contains("channel")
    ));

    let open = host
        .encode(barrier, &state, Command::OpenBarrier, NOW)
        .await
        .unwrap();
    assert!(open.events.is_empty());
    let [Outbound::Http(put)] = open.outbound.as_slice() else {
        panic!("one HTTP request: {:?}", open.outbound);
    };
    assert_eq!(
        (put.method.as_str(), put.path.as_str()),
        ("PUT", "/ISAPI/Parking/channels/2/barrierGate")
    );
    assert!(String::from_utf8_lossy(&put.body).contains("<ctrlMode>open</ctrlMode>"));

    let answer = |tag: &str, body: &str| {
        Input::Response(HttpResponse {
            tag: tag.to_owned(),
            status: 200,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        })
    };
    let ok = "<ResponseStatus xmlns=\"http://www.hikvision.com/ver20/XMLSchema\">\
              <statusCode>1</statusCode><statusString>OK</statusString>\
              <subStatusCode>ok</subStatusCode></ResponseStatus>";
    let done = host
        .decode(barrier, &open.state, answer(&put.tag, ok), NOW + 50)
        .await
        .unwrap();
    assert_eq!(done.events, [Event::Done]);
    let [Outbound::Http(status)] = done.outbound.as_slice() else {
        panic!("the position is read back: {:?}", done.outbound);
    };
    assert_eq!(status.method, "GET");
    let position =
        "<BarrierGateStatus><barrierGateStatus>2</barrierGateStatus></BarrierGateStatus>";
    let read = host
        .decode(
            barrier,
            &done.state,
            answer(&status.tag, position),
            NOW + 900,
        )
        .await
        .unwrap();
    assert_eq!(read.events, [Event::Barrier(BarrierPosition::Open)]);
    // The same position again is no news: the state blob remembered it.
    let again = host
        .decode(
            barrier,
            &read.state,
            answer(&status.tag, position),
            NOW + 1900,
        )
        .await
        .unwrap();
    assert!(again.events.is_empty(), "{:?}", again.events);
    // A barrier shows no text: refused by the driver, typed, not a fault.
    let text = host
        .encode(
            barrier,
            &read.state,
            Command::ShowText(vec!["123ABC01".into()]),
            NOW,
        )
        .await;
    assert!(
        matches!(text, Err(DriverError::RejectedCommand(_))),
        "{text:?}"
    );
    // Garbage from the device is a typed error, never an event.
    let garbage = host
        .decode(barrier, &read.state, answer(&status.tag, "<Barrier"), NOW)
        .await;
    assert!(
        matches!(garbage, Err(DriverError::Malformed(_))),
        "{garbage:?}"
    );
}

/// ADR 0002 for drivers (issue 13 item 1: the same signing as registry adapters): with
/// signatures required, an unsigned driver and a tampered one are refused with the reason
/// and never serve; a driver's component under a registry adapter's manifest, and an
/// adapter's under a driver's, are refused naming the world.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_tampered_and_wrong_world_drivers_are_refused() {
    let staging = Staging::new();
    staging.stage_unsigned(&driver("hikvision-barrier"));
    let tampered = staging.stage_signed(&driver("text-board"));
    staging.edit_manifest(&tampered, "\"cpu_ms\": 20", "\"cpu_ms\": 2000");
    let posing = staging.stage_signed(&driver("modbus-relay"));
    std::fs::write(
        posing.join("manifest.json"),
        r#"{"id":"modbus-relay","version":"1.0.0","wit":"kezek:registry@1.0.0",
            "registry":"none","checks":[5],"endpoints":[],"limits":{}}"#,
    )
    .unwrap();
    staging.sign(&posing);
    let adapter = staging.stage_signed(&fixture("echo"));
    std::fs::write(
        adapter.join("manifest.json"),
        r#"{"id":"fixture-echo","version":"1.0.0","wit":"kezek:device@1.0.0",
            "kind":"barrier","device":"an adapter posing as a driver","limits":{}}"#,
    )
    .unwrap();
    staging.sign(&adapter);
    staging.stage_signed(&driver("alpr-json"));

    let gateway = gateway(&staging).await;
    let set = gateway.catalogue.snapshot();
    assert_eq!(set.drivers.keys().collect::<Vec<_>>(), ["alpr-json"]);
    assert!(set.adapters.is_empty());
    let reason = |id: &str| {
        gateway
            .catalogue
            .refusal(id)
            .unwrap_or_else(|| panic!("{id} was refused"))
            .reason
    };
    let unsigned = reason("hikvision-barrier");
    assert!(unsigned.contains("not signed"), "{unsigned}");
    let tampered = reason("text-board");
    assert!(tampered.contains("signature does not match"), "{tampered}");
    let posing = reason("modbus-relay");
    assert!(posing.contains("kezek:device/driver@1.0.0"), "{posing}");
    let adapter = reason("fixture-echo");
    assert!(
        adapter.contains("kezek:registry/checker@1.0.0"),
        "{adapter}"
    );
}

/// Issue 13 item 7, ADR 0020 (drivers in the adapters' sandbox): a driver that traps, loops
/// or allocates without end ends in a typed error (never an event) within a bound; the
/// same driver's next call runs in a fresh instance and works, and the other drivers on the
/// host keep serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_faults_are_typed_errors_and_the_host_keeps_serving() {
    let staging = Staging::new();
    for name in ["device-trap", "device-infinite-loop", "device-memory-bomb"] {
        staging.stage_signed(&fixture(name));
    }
    staging.stage_signed(&driver("hikvision-barrier"));
    let gateway = gateway(&staging).await;
    let set = gateway.catalogue.snapshot();
    let host = &gateway.host;
    let barrier = set.driver("hikvision-barrier").expect("barrier loaded");
    let barrier_state = host.configure(barrier, &Vec::new(), NOW).await.unwrap();

    type Expected = fn(&DriverError) -> bool;
    let faults: [(&str, Expected); 3] = [
        ("fixture-device-trap", |e| {
            matches!(e, DriverError::Trapped(_))
        }),
        ("fixture-device-infinite-loop", |e| {
            matches!(e, DriverError::CpuBudgetExceeded(50))
        }),
        ("fixture-device-memory-bomb", |e| {
            matches!(e, DriverError::MemoryCapExceeded(8))
        }),
    ];
    for (id, expected) in faults {
        let faulty = set
            .driver(id)
            .unwrap_or_else(|| panic!("{id} loads: {:?}", gateway.catalogue.refusal(id)));
        let state = host.configure(faulty, &Vec::new(), NOW).await.unwrap();
        let started = Instant::now();
        let result = host.decode(faulty, &state, Input::Connected, NOW).await;
        let took = started.elapsed();
        let error = result.expect_err("a fault is an error, never a step");
        assert!(expected(&error), "{id}: {error:?}");
        assert!(error.is_fault(), "{id}: {error:?}");
        assert!(took < CONTAINED_WITHIN, "{id} took {took:?}");
        // A fresh instance: the same driver serves its next call.
        let next = host.poll(faulty, &state, NOW).await.unwrap();
        assert_eq!(next.state, state, "{id}");
        // The other drivers are untouched.
        let open = host
            .encode(barrier, &barrier_state, Command::OpenBarrier, NOW)
            .await
            .unwrap();
        assert_eq!(open.outbound.len(), 1, "after {id}");
    }
}

/// Issue 13 item 2: `scripts/package-adapters --devices OUT` stages adapters/devices/*
/// beside the registry adapters, and an ID picks a driver as it picks an adapter; the
/// staged driver deploys like an adapter (`kezek adapters deploy`, signed) and loads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drivers_are_staged_and_deployed_like_adapters() {
    let src = tempfile::tempdir().unwrap();
    let wasm = src.path().join("wasm");
    std::fs::create_dir_all(&wasm).unwrap();
    for id in ["text-board", "modbus-relay"] {
        let crate_dir = src.path().join("devices").join(id);
        std::fs::create_dir_all(&crate_dir).unwrap();
        std::fs::copy(
            driver(id).join("manifest.json"),
            crate_dir.join("manifest.json"),
        )
        .unwrap();
        let built = wasm.join(format!("{}.wasm", id.replace('-', "_")));
        std::fs::copy(driver(id).join("adapter.wasm"), built).unwrap();
    }
    let package = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(kezek_tests::workspace().join("scripts/package-adapters"))
            .args(args)
            .env("ADAPTERS_SRC", src.path())
            .env("WASM_DIR", &wasm)
            .output()
            .unwrap()
    };
    let (registries, devices) = (src.path().join("r"), src.path().join("d"));
    let all = package(&["--devices".as_ref(), devices.as_os_str()]);
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    assert!(devices.join("text-board/adapter.wasm").is_file());
    assert!(devices.join("modbus-relay/adapter.wasm").is_file());
    std::fs::remove_dir_all(&devices).unwrap();
    let one = package(&[
        "--registries".as_ref(),
        registries.as_os_str(),
        "--devices".as_ref(),
        devices.as_os_str(),
        "text-board".as_ref(),
    ]);
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    assert!(devices.join("text-board").is_dir() && !devices.join("modbus-relay").exists());
    assert!(!registries.join("text-board").exists());

    let staging = Staging::new();
    std::fs::create_dir_all(staging.adapters()).unwrap();
    let report = kezek::deploy::deploy(&devices, &staging.adapters(), Some(&staging.key)).unwrap();
    assert_eq!(
        report.installed,
        [("text-board".to_owned(), "1.0.0".to_owned())]
    );
    let gateway = gateway(&staging).await;
    assert!(gateway.catalogue.snapshot().driver("text-board").is_some());
}

/// Issue 13 item 4 (hot reload and rollback, as for adapters): a driver deployed to a
/// running gateway loads on reload and is listed in the report; one removed is reported
/// removed and no longer answers `driver(id)`; a rollback brings it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drivers_reload_and_roll_back_with_the_set() {
    let staging = Staging::new();
    staging.stage_signed(&driver("text-board"));
    let gateway = gateway(&staging).await;
    let catalogue = &gateway.catalogue;
    assert!(catalogue.snapshot().driver("hikvision-barrier").is_none());

    let barrier = staging.stage_signed(&driver("hikvision-barrier"));
    let report = catalogue.reload().await.unwrap();
    assert_eq!(
        report.loaded,
        [("hikvision-barrier".to_owned(), "1.0.0".to_owned())]
    );
    assert_eq!(report.unchanged, ["text-board"]);
    assert!(catalogue.snapshot().driver("hikvision-barrier").is_some());

    std::fs::remove_dir_all(&barrier).unwrap();
    let report = catalogue.reload().await.unwrap();
    assert_eq!(report.removed, ["hikvision-barrier"]);
    assert!(catalogue.snapshot().driver("hikvision-barrier").is_none());

    let report = catalogue.rollback().await.unwrap();
    assert_eq!(
        report.loaded,
        [("hikvision-barrier".to_owned(), "1.0.0".to_owned())]
    );
    let set = catalogue.snapshot();
    assert!(set.driver("hikvision-barrier").is_some() && set.driver("text-board").is_some());
}
