//! Lanes and the device runtime (issue 13 items 3, 4 and 7; ADR 0021), against the mock
//! devices on loopback: camera pushes become plate reads on their lane, only from the
//! provisioned address; a barrier opens once and must confirm; a silent device, a barrier
//! that does not move, a module that goes away and a driver that faults each end in a
//! typed, visible state (a degraded lane, a reconnect, a restart with its gap), and a
//! degraded lane opens nothing (P11, D58).

use kezek::server::Gateway;
use kezek_devices::{CommandError, DeviceEvent, DeviceRuntime, Happening};
use kezek_domain::device::{Command, Event};
use kezek_mocks::devices::board::BoardMock;
use kezek_mocks::devices::camera::{CameraMock, Sighting};
use kezek_mocks::devices::isapi_barrier::{Arm, BarrierMock};
use kezek_mocks::devices::relay::RelayMock;
use kezek_tests::{Staging, adapters_dir, fixture};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

const CHECKPOINT: &str = "CN-NUR-ZHOLY";

/// A gateway running `lanes` (the profile's `lanes` array), with its push listener.
struct Lanes {
    gateway: Gateway,
    push: SocketAddr,
    admin: SocketAddr,
    _staging: Staging,
}

impl Lanes {
    async fn start(lanes: Value, packages: &[std::path::PathBuf]) -> Lanes {
        let staging = Staging::new();
        for package in packages {
            staging.stage_signed(package);
        }
        let dir = staging.adapters().parent().unwrap().join("lanes");
        std::fs::create_dir_all(&dir).unwrap();
        let profile = json!({ "checkpoint": CHECKPOINT, "lanes": lanes });
        std::fs::write(dir.join("cn.json"), profile.to_string()).unwrap();
        let config = staging.config(&format!("[devices]\nlanes = {dir:?}\n"));
        let gateway = Gateway::start(&config).await.expect("gateway starts");
        let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let push = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (admin_addr, push_addr) = (admin.local_addr().unwrap(), push.local_addr().unwrap());
        let listeners = kezek_api::Listeners {
            api,
            admin: Some(admin),
            device_push: Some(push),
            tls: None,
            per_peer: 64,
        };
        tokio::spawn(kezek::server::run(
            listeners,
            gateway.clone(),
            std::future::pending(),
        ));
        Lanes {
            gateway,
            push: push_addr,
            admin: admin_addr,
            _staging: staging,
        }
    }

    /// One lane: a camera with this heartbeat interval and a relay barrier.
    async fn with_relay(relay: &RelayMock, heartbeat_ms: u32) -> Lanes {
        Lanes::start(
            camera_lane("127.0.0.1", heartbeat_ms, relay_gate(relay)),
            &[driver("hikvision-anpr"), driver("modbus-relay")],
        )
        .await
    }

    fn runtime(&self) -> &Arc<DeviceRuntime> {
        self.gateway.devices.as_ref().expect("devices run")
    }

    fn camera(&self, device: &str) -> CameraMock {
        CameraMock::new(self.push, &format!("/devices/{device}/push"))
    }

    /// A camera's heartbeat, now; the status the push listener answered.
    async fn beat(&self, device: &str) -> u16 {
        self.camera(device)
            .heartbeat(time::OffsetDateTime::now_utc())
            .await
            .unwrap()
    }

    async fn ready_within(&self, lane: &str, within: Duration) -> bool {
        self.until_ready(lane, true, within).await.ready
    }

    fn lane(&self, lane: &str) -> kezek_devices::LaneHealth {
        self.runtime().lane(CHECKPOINT, lane).expect("the lane")
    }

    /// Waits up to `within` for the lane to be ready (or not).
    async fn until_ready(
        &self,
        lane: &str,
        ready: bool,
        within: Duration,
    ) -> kezek_devices::LaneHealth {
        let until = tokio::time::Instant::now() + within;
        loop {
            let health = self.lane(lane);
            if health.ready == ready || tokio::time::Instant::now() > until {
                return health;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn driver(id: &str) -> std::path::PathBuf {
    adapters_dir().join(id)
}

fn sighting(plate: &str) -> Sighting {
    Sighting {
        plate: plate.into(),
        confidence: 93,
        direction: "forward",
        when: time::OffsetDateTime::now_utc(),
    }
}

/// The next event of `device` matching `pick`, within `within`.
async fn next_event<T>(
    rx: &mut broadcast::Receiver<DeviceEvent>,
    device: &str,
    within: Duration,
    mut pick: impl FnMut(&Happening) -> Option<T>,
) -> Option<T> {
    let until = tokio::time::Instant::now() + within;
    loop {
        let event = tokio::time::timeout_at(until, rx.recv()).await.ok()?.ok()?;
        if event.device == device
            && let Some(found) = pick(&event.what)
        {
            return Some(found);
        }
    }
}

fn camera_lane(camera_address: &str, heartbeat_ms: u32, barrier: Value) -> Value {
    json!([{
        "id": "entry-1",
        "role": "checkpoint-entry",
        "devices": [
            { "id": "cam-1", "driver": "hikvision-anpr", "address": camera_address, "heartbeat-ms": heartbeat_ms },
            barrier
        ]
    }])
}

/// A relay module whose barrier arm follows its open coil (coil 0, inputs 1 and 2: the
/// modbus-relay driver's default wiring), closed now.
async fn relay_with_arm() -> RelayMock {
    let relay = RelayMock::start().await.unwrap();
    relay.with_arm(0, 1, 2);
    relay
}

fn relay_gate(relay: &RelayMock) -> Value {
    json!({ "id": "gate-1", "driver": "modbus-relay", "address": relay.addr().to_string(),
            "config": { "pulse-ms": "200" }, "confirm-ms": 2000 })
}

/// Issue 13 items 3 and 4, P10, P30: a camera's push reaches its lane as a plate read with
/// the host's time; a re-sent alert is one read; a push from anywhere but the provisioned
/// address is refused (403) and decodes nothing; an unknown device is 404 and a body the
/// driver cannot read 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_a_camera_push_becomes_one_plate_read_only_from_its_address() {
    let relay = relay_with_arm().await;
    let mut lanes_json = camera_lane("127.0.0.1", 60_000, relay_gate(&relay));
    lanes_json[0]["devices"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "id": "cam-elsewhere", "driver": "hikvision-anpr", "address": "127.0.0.2" }));
    let lanes = Lanes::start(
        lanes_json,
        &[driver("hikvision-anpr"), driver("modbus-relay")],
    )
    .await;
    let mut rx = lanes.runtime().subscribe();
    let mut camera = lanes.camera("cam-1");
    // As a camera may write it: lower case, a separator, Cyrillic look-alikes.
    let read = sighting("123 аbс-02");
    assert_eq!(camera.read_plate(&read).await.unwrap(), 200);
    let plate = next_event(
        &mut rx,
        "cam-1",
        Duration::from_secs(2),
        |what| match what {
            Happening::Event(Event::PlateRead(read)) => Some(read.candidates[0].plate.clone()),
            _ => None,
        },
    )
    .await
    .expect("a plate read on the lane");
    assert_eq!(plate, "123ABC02", "normalised by the host's one definition");
    // The same alert again (same activePostCount): accepted, and no second read.
    assert_eq!(camera.resend(&read).await.unwrap(), 200);
    let again = next_event(&mut rx, "cam-1", Duration::from_millis(500), |what| {
        matches!(what, Happening::Event(Event::PlateRead(_))).then_some(())
    })
    .await;
    assert!(again.is_none(), "a re-sent alert is one read");

    let elsewhere = lanes.camera("cam-elsewhere");
    assert_eq!(
        elsewhere.resend(&read).await.unwrap(),
        403,
        "not from 127.0.0.2"
    );
    let unknown = lanes.camera("cam-9");
    assert_eq!(unknown.resend(&read).await.unwrap(), 404);
    let (status, _) = kezek_mocks::devices::http_exchange(
        lanes.push,
        "POST",
        "/devices/cam-1/push",
        "application/xml",
        b"<EventNotificationAlert><eventType>ANPR",
    )
    .await
    .unwrap();
    assert_eq!(status, 400, "a push the driver cannot read");
    let stray = next_event(
        &mut rx,
        "cam-elsewhere",
        Duration::from_millis(300),
        |what| matches!(what, Happening::Event(_)).then_some(()),
    )
    .await;
    assert!(stray.is_none(), "a refused push decodes nothing");
}

/// Issue 13 item 4, P11, D58: with every device up, an open pulses the relay's coil once
/// and answers when the arm reports open; the admin view shows the lane ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_a_ready_lane_opens_its_barrier_once_and_confirms() {
    let relay = relay_with_arm().await;
    let lanes = Lanes::with_relay(&relay, 60_000).await;
    // The camera is not known alive until it says so: the lane waits for it.
    let health = lanes
        .until_ready("entry-1", true, Duration::from_millis(600))
        .await;
    assert!(
        !health.ready,
        "a camera never heard from is not up: {health:?}"
    );
    let refused = lanes.runtime().open_barrier(CHECKPOINT, "entry-1").await;
    assert!(
        matches!(refused, Err(CommandError::Degraded { .. })),
        "{refused:?}"
    );
    assert!(
        relay.coil_writes().is_empty(),
        "a degraded lane sent nothing"
    );

    lanes.beat("cam-1").await;
    let health = lanes
        .until_ready("entry-1", true, Duration::from_secs(3))
        .await;
    assert!(health.ready, "{health:?}");
    lanes
        .runtime()
        .open_barrier(CHECKPOINT, "entry-1")
        .await
        .expect("the barrier opens and says so");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        relay.coil_writes(),
        [(0, true), (0, false)],
        "one pulse: on, then off after pulse-ms"
    );
    let (status, body) = kezek_mocks::devices::http_exchange(
        lanes.admin,
        "GET",
        "/admin/lanes",
        "application/json",
        b"",
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let view: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(view["enabled"], true);
    assert_eq!(view["lanes"][0]["ready"], true, "{view}");
    assert_eq!(view["lanes"][0]["devices"][1]["barrier"], "open", "{view}");
    let text = String::from_utf8_lossy(&body);
    assert!(!text.contains("123ABC02"), "no plate in the health view");
}

/// Issue 13 item 4: a barrier that does not report the commanded position degrades its
/// lane; the open is sent exactly once, never repeated, and the degraded lane refuses the
/// next open before anything is sent. The host adds the device's credential (the driver
/// never sees it): without it the gate answers 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_a_barrier_that_does_not_move_degrades_the_lane_and_open_is_never_resent() {
    let barrier = BarrierMock::start().await.unwrap();
    barrier.require_basic("admin", "s3cret");
    let secrets = tempfile::tempdir().unwrap();
    let password_file = secrets.path().join("gate-1");
    std::fs::write(&password_file, "s3cret\n").unwrap();
    let gate = json!({ "id": "gate-1", "driver": "hikvision-barrier", "address": barrier.addr().to_string(),
                       "confirm-ms": 700,
                       "credential": { "username": "admin", "password-file": password_file } });
    let lanes = Lanes::start(
        camera_lane("127.0.0.1", 60_000, gate),
        &[driver("hikvision-anpr"), driver("hikvision-barrier")],
    )
    .await;
    lanes.beat("cam-1").await;
    let health = lanes
        .until_ready("entry-1", true, Duration::from_secs(4))
        .await;
    assert!(
        health.ready,
        "the gate answers its status reads with the host's credential: {health:?}"
    );

    barrier.set_stuck(true);
    let answer = lanes.runtime().open_barrier(CHECKPOINT, "entry-1").await;
    assert!(
        matches!(
            answer,
            Err(CommandError::NotConfirmed {
                position: "open",
                ..
            })
        ),
        "{answer:?}"
    );
    let health = lanes.lane("entry-1");
    assert!(!health.ready);
    assert!(
        health
            .reasons
            .iter()
            .any(|r| r.contains("did not report the barrier open")),
        "{health:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(barrier.commands(), ["open"], "sent once, never re-sent");
    let again = lanes.runtime().open_barrier(CHECKPOINT, "entry-1").await;
    assert!(
        matches!(again, Err(CommandError::Degraded { .. })),
        "{again:?}"
    );
    assert_eq!(
        barrier.commands(),
        ["open"],
        "a degraded lane sends nothing"
    );
    assert_eq!(barrier.arm(), Arm::Closed);
}

/// Issue 13 item 4: a camera silent for twice its heartbeat interval is down and its lane
/// degraded; the degraded lane opens nothing; the next heartbeat brings it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_silence_degrades_the_lane_and_a_degraded_lane_opens_nothing() {
    let relay = relay_with_arm().await;
    let lanes = Lanes::with_relay(&relay, 200).await;
    lanes.beat("cam-1").await;
    assert!(lanes.ready_within("entry-1", Duration::from_secs(3)).await);
    let health = lanes
        .until_ready("entry-1", false, Duration::from_secs(2))
        .await;
    assert!(
        health
            .reasons
            .iter()
            .any(|r| r.contains("cam-1 is down: silent for more than 400 ms")),
        "{health:?}"
    );
    let refused = lanes.runtime().open_barrier(CHECKPOINT, "entry-1").await;
    assert!(
        matches!(refused, Err(CommandError::Degraded { .. })),
        "{refused:?}"
    );
    assert!(relay.coil_writes().is_empty());
    lanes.beat("cam-1").await;
    assert!(
        lanes
            .ready_within("entry-1", Duration::from_millis(300))
            .await
    );
}

/// Issue 13 item 4: a relay module that goes away degrades its lane; the host reconnects
/// with capped back-off, and the lane is ready again once the module is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_a_module_that_goes_away_is_reconnected() {
    let relay = relay_with_arm().await;
    let addr = relay.addr();
    let lanes = Lanes::with_relay(&relay, 60_000).await;
    lanes.beat("cam-1").await;
    assert!(lanes.ready_within("entry-1", Duration::from_secs(3)).await);
    drop(relay);
    let health = lanes
        .until_ready("entry-1", false, Duration::from_secs(3))
        .await;
    assert!(
        health
            .reasons
            .iter()
            .any(|r| r.starts_with("gate-1 is down")),
        "{health:?}"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut back = None;
    for _ in 0..50 {
        match RelayMock::start_at(addr).await {
            Ok(relay) => {
                back = Some(relay);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let relay = back.expect("the module's port is free again");
    relay.with_arm(0, 1, 2);
    let health = lanes
        .until_ready("entry-1", true, Duration::from_secs(8))
        .await;
    assert!(health.ready, "reconnected: {health:?}");
    assert!(health.devices[1].reconnects >= 1, "{health:?}");
}

/// Issue 13 item 7, the fault battery: a driver that traps, loops or bombs its memory on
/// decode is restarted by the host with the gap recorded (a `Restarted` event and the
/// device's `gaps`), its lane degraded meanwhile, while the other lane's camera keeps
/// being served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_a_faulting_driver_is_restarted_with_its_gap_recorded() {
    let relay = RelayMock::start().await.unwrap();
    let faults = [
        ("fixture-device-trap", "device-trap", "trapped"),
        (
            "fixture-device-infinite-loop",
            "device-infinite-loop",
            "CPU budget",
        ),
        (
            "fixture-device-memory-bomb",
            "device-memory-bomb",
            "memory cap",
        ),
    ];
    let mut lanes_json = vec![json!({
        "id": "good", "role": "waiting-zone-entry",
        "devices": [{ "id": "cam-1", "driver": "hikvision-anpr", "address": "127.0.0.1", "heartbeat-ms": 60000 }]
    })];
    let mut packages = vec![driver("hikvision-anpr")];
    for (i, (id, dir, _)) in faults.iter().enumerate() {
        lanes_json.push(json!({
            "id": format!("bad-{i}"), "role": "crossing",
            "devices": [{ "id": format!("faulty-{i}"), "driver": id, "address": relay.addr().to_string() }]
        }));
        packages.push(fixture(dir));
    }
    let lanes = Lanes::start(Value::Array(lanes_json), &packages).await;
    let mut rx = lanes.runtime().subscribe();
    for (i, (id, _, why)) in faults.iter().enumerate() {
        let device = format!("faulty-{i}");
        let restarted = next_event(
            &mut rx,
            &device,
            Duration::from_secs(10),
            |what| match what {
                Happening::Restarted { why, gap_ms } => Some((why.clone(), *gap_ms)),
                _ => None,
            },
        )
        .await;
        let (said, _gap) = restarted.unwrap_or_else(|| panic!("{id} was not restarted"));
        assert!(said.contains(why), "{id}: {said}");
        let health = lanes.lane(&format!("bad-{i}"));
        assert!(!health.ready, "{id}: {health:?}");
        assert!(
            !health.devices[0].gaps.is_empty(),
            "{id}: the gap is recorded"
        );
    }
    // The camera on the other lane is served throughout.
    assert_eq!(lanes.beat("cam-1").await, 200);
    assert!(lanes.ready_within("good", Duration::from_secs(2)).await);
}

/// Issue 13 item 7: a module that hangs (connection open, nothing answered) is down once
/// silent past the driver's silence (2 s for the relay), and its lane degraded; a camera
/// push cut off mid-body decodes nothing; the other lane keeps working throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_a_hung_module_and_a_cut_push_leave_the_other_lane_working() {
    let relay = relay_with_arm().await;
    let mut lanes_json = camera_lane("127.0.0.1", 60_000, relay_gate(&relay));
    lanes_json.as_array_mut().unwrap().push(json!({
        "id": "other", "role": "waiting-zone-entry",
        "devices": [{ "id": "cam-2", "driver": "hikvision-anpr", "address": "127.0.0.1", "heartbeat-ms": 60000 }]
    }));
    let lanes = Lanes::start(
        lanes_json,
        &[driver("hikvision-anpr"), driver("modbus-relay")],
    )
    .await;
    lanes.beat("cam-1").await;
    lanes.beat("cam-2").await;
    assert!(lanes.ready_within("entry-1", Duration::from_secs(3)).await);
    let mut rx = lanes.runtime().subscribe();

    relay.set_stalled(true);
    let health = lanes
        .until_ready("entry-1", false, Duration::from_secs(4))
        .await;
    assert!(
        health
            .reasons
            .iter()
            .any(|r| r.starts_with("gate-1 is down: silent for more than 2000 ms")),
        "{health:?}"
    );
    assert!(lanes.lane("other").ready, "the other lane is not touched");

    // Half a push: the head promises more body than is sent, then the camera hangs up.
    let body = kezek_mocks::devices::camera::anpr_push(&sighting("777KZA02"), 1);
    let mut stream = tokio::net::TcpStream::connect(lanes.push).await.unwrap();
    let head = format!(
        "POST /devices/cam-2/push HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={}\r\nContent-Length: {}\r\n\r\n",
        kezek_mocks::devices::camera::BOUNDARY,
        body.len()
    );
    use tokio::io::AsyncWriteExt as _;
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    drop(stream);
    let cut = next_event(&mut rx, "cam-2", Duration::from_millis(500), |what| {
        matches!(what, Happening::Event(Event::PlateRead(_))).then_some(())
    })
    .await;
    assert!(cut.is_none(), "a push cut mid-body decodes nothing");
    let mut camera = lanes.camera("cam-2");
    assert_eq!(camera.read_plate(&sighting("777KZA02")).await.unwrap(), 200);
    let read = next_event(
        &mut rx,
        "cam-2",
        Duration::from_secs(2),
        |what| match what {
            Happening::Event(Event::PlateRead(read)) => Some(read.candidates[0].plate.clone()),
            _ => None,
        },
    )
    .await;
    assert_eq!(
        read.as_deref(),
        Some("777KZA02"),
        "the other lane's camera is served"
    );

    relay.set_stalled(false);
    assert!(
        lanes.ready_within("entry-1", Duration::from_secs(4)).await,
        "answers again"
    );
}

/// Issue 13 items 2 and 4, P12: the JSON ALPR source's read reaches its lane with every
/// candidate, normalised; the board shows what it is told, as the mock board records it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_a_json_camera_reads_and_a_board_shows_through_the_runtime() {
    let board = BoardMock::start(2).await.unwrap();
    let lanes = Lanes::start(
        json!([{
            "id": "wz-exit", "role": "waiting-zone-exit",
            "devices": [
                { "id": "cam-json", "driver": "alpr-json", "address": "127.0.0.1" },
                { "id": "board-1", "driver": "text-board", "address": board.addr().to_string(),
                  "config": { "rows": "2", "width": "16" } }
            ]
        }]),
        &[driver("alpr-json"), driver("text-board")],
    )
    .await;
    let mut rx = lanes.runtime().subscribe();
    let push = |body: &'static str| {
        kezek_mocks::devices::http_exchange(
            lanes.push,
            "POST",
            "/devices/cam-json/push",
            "application/json",
            body.as_bytes(),
        )
    };
    assert_eq!(
        push(r#"{"results":[]}"#).await.unwrap().0,
        200,
        "a heartbeat"
    );
    let read = r#"{"results":[{"plate":"123abc02","score":0.91,
        "candidates":[{"plate":"123abc02","score":0.91},{"plate":"l23 abc 02","score":0.4}]}]}"#;
    assert_eq!(push(read).await.unwrap().0, 200);
    let candidates = next_event(
        &mut rx,
        "cam-json",
        Duration::from_secs(2),
        |what| match what {
            Happening::Event(Event::PlateRead(read)) => Some(
                read.candidates
                    .iter()
                    .map(|c| c.plate.clone())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        },
    )
    .await;
    assert_eq!(
        candidates,
        Some(vec!["123ABC02".to_owned(), "L23ABC02".to_owned()])
    );

    assert!(
        lanes.ready_within("wz-exit", Duration::from_secs(3)).await,
        "{:?}",
        lanes.lane("wz-exit")
    );
    let text = vec!["123ABC02".to_owned(), "GATE 2".to_owned()];
    lanes
        .runtime()
        .command("board-1", Command::ShowText(text.clone()))
        .await
        .expect("the board takes text");
    let until = tokio::time::Instant::now() + Duration::from_secs(2);
    while board.shown() != text && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(board.shown(), text);
}

/// Issue 13 item 3: a lane profile naming a driver that is not loaded stops the start,
/// naming the file and the JSON pointer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_13_a_profile_naming_a_missing_driver_stops_the_start() {
    let staging = Staging::new();
    staging.stage_signed(&driver("hikvision-anpr"));
    let dir = staging.adapters().parent().unwrap().join("lanes");
    std::fs::create_dir_all(&dir).unwrap();
    let profile = json!({ "checkpoint": CHECKPOINT, "lanes": camera_lane("127.0.0.1", 60_000,
        json!({ "id": "gate-1", "driver": "modbus-relay", "address": "127.0.0.1:1502" })) });
    std::fs::write(dir.join("cn.json"), profile.to_string()).unwrap();
    let config = staging.config(&format!("[devices]\nlanes = {dir:?}\n"));
    let error = Gateway::start(&config).await.expect_err("refused");
    let text = format!("{error:#}");
    assert!(
        text.contains(
            "cn.json: /lanes/0/devices/1/driver: no device driver modbus-relay is loaded"
        ),
        "{text}"
    );
}
