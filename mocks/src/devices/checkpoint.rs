//! The mock devices of one checkpoint's lanes, as `deploy/lanes/cn-nur-zholy.json` provisions
//! them, for `make run` (`kezek-mocks serve --devices`): an ISAPI barrier, a Modbus TCP relay
//! whose arm follows its open coil, a text board, and two cameras pushing heartbeats to the
//! gateway's push listener. A fault script (JSON, `scenarios/device-faults.json`) makes
//! them misbehave on a timetable, so QA can watch lanes degrade and recover (issue 13 item 6).

use super::{board, camera, http_exchange, isapi_barrier, relay};
use serde::Deserialize;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where `deploy/lanes/cn-nur-zholy.json` expects the devices.
pub const DEV_ISAPI_BARRIER: &str = "127.0.0.1:8711";
pub const DEV_RELAY: &str = "127.0.0.1:8712";
pub const DEV_BOARD: &str = "127.0.0.1:8713";

/// The cameras' device ids in the profile: the push paths.
const HIKVISION_CAMERA: &str = "/devices/nz-wz-entry-cam/push";
const JSON_CAMERA: &str = "/devices/nz-cp-entry-cam/push";

/// Faults on a timetable, from the mocks' start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FaultScript {
    pub faults: Vec<ScriptedFault>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ScriptedFault {
    pub at_ms: u64,
    pub fault: DeviceFault,
    /// How long a lasting fault lasts; without it, for good. Ignored by one-off pushes.
    pub for_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceFault {
    /// The relay module keeps its connection and answers nothing.
    RelayStalls,
    /// The relay module goes away (its port closed) and comes back on it.
    RelayOffline,
    /// The ISAPI barrier takes commands and its arm does not move.
    BarrierStuck,
    /// The cameras stop their heartbeats.
    CamerasSilent,
    /// The ANPR camera pushes a read and the same alert again (same activePostCount).
    CameraDuplicate,
    /// The ANPR camera pushes XML that does not parse.
    CameraMalformed,
    /// The ANPR camera sends half a push and hangs up.
    CameraCutsPush,
}

impl FaultScript {
    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        Ok(serde_json::from_str(&text)?)
    }
}

/// Where each device listens; [`DevAddresses::profile`] is what the shipped lane profile says.
#[derive(Debug, Clone, Copy)]
pub struct DevAddresses {
    pub isapi_barrier: SocketAddr,
    pub relay: SocketAddr,
    pub board: SocketAddr,
}

impl DevAddresses {
    pub fn profile() -> Self {
        let addr = |s: &str| s.parse().expect("a loopback address");
        Self {
            isapi_barrier: addr(DEV_ISAPI_BARRIER),
            relay: addr(DEV_RELAY),
            board: addr(DEV_BOARD),
        }
    }

    /// Any free loopback ports (tests).
    pub fn any() -> Self {
        let any = "127.0.0.1:0".parse().expect("a loopback address");
        Self {
            isapi_barrier: any,
            relay: any,
            board: any,
        }
    }
}

#[derive(Debug)]
struct Devices {
    isapi_barrier: isapi_barrier::BarrierMock,
    /// None while offline.
    relay: Mutex<Option<relay::RelayMock>>,
    relay_addr: SocketAddr,
    board: board::BoardMock,
    cameras_silent: AtomicBool,
    push_to: SocketAddr,
}

/// The running devices; dropping it stops them and their script.
#[derive(Debug)]
pub struct DevCheckpoint {
    devices: Arc<Devices>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for DevCheckpoint {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl DevCheckpoint {
    /// Starts the devices at `at`, heartbeats to `push_to` every `every`, and the script.
    pub async fn start(
        at: DevAddresses,
        push_to: SocketAddr,
        every: Duration,
        script: FaultScript,
    ) -> io::Result<Self> {
        let relay = start_relay(at.relay).await?;
        let devices = Arc::new(Devices {
            isapi_barrier: isapi_barrier::BarrierMock::start_at(at.isapi_barrier).await?,
            relay_addr: relay.addr(),
            relay: Mutex::new(Some(relay)),
            board: board::BoardMock::start_at(at.board, 2).await?,
            cameras_silent: AtomicBool::new(false),
            push_to,
        });
        let mut tasks = vec![tokio::spawn(heartbeats(devices.clone(), every))];
        for fault in script.faults {
            tasks.push(tokio::spawn(run_fault(devices.clone(), fault)));
        }
        Ok(Self { devices, tasks })
    }

    pub fn isapi_barrier(&self) -> &isapi_barrier::BarrierMock {
        &self.devices.isapi_barrier
    }

    pub fn relay_addr(&self) -> SocketAddr {
        self.devices.relay_addr
    }

    pub fn board(&self) -> &board::BoardMock {
        &self.devices.board
    }
}

/// The relay with the profile's wiring: the arm follows coil 0 (arm-open input 1, arm-closed
/// input 2), closed now.
async fn start_relay(at: SocketAddr) -> io::Result<relay::RelayMock> {
    let relay = relay::RelayMock::start_at(at).await?;
    relay.with_arm(0, 1, 2);
    Ok(relay)
}

async fn heartbeats(devices: Arc<Devices>, every: Duration) {
    let hikvision = camera::CameraMock::new(devices.push_to, HIKVISION_CAMERA);
    loop {
        if !devices.cameras_silent.load(Ordering::Relaxed) {
            let beat = hikvision.heartbeat(time::OffsetDateTime::now_utc()).await;
            let json = http_exchange(
                devices.push_to,
                "POST",
                JSON_CAMERA,
                "application/json",
                br#"{"results":[]}"#,
            )
            .await;
            if beat.is_err() || json.is_err() {
                tracing::debug!("the gateway's push listener is not up yet");
            }
        }
        tokio::time::sleep(every).await;
    }
}

async fn run_fault(devices: Arc<Devices>, scripted: ScriptedFault) {
    tokio::time::sleep(Duration::from_millis(scripted.at_ms)).await;
    tracing::info!(fault = ?scripted.fault, for_ms = ?scripted.for_ms, "device fault begins");
    let relay = || devices.relay.lock().expect("relay slot");
    let set = |on: bool| match scripted.fault {
        DeviceFault::RelayStalls => {
            if let Some(r) = relay().as_ref() {
                r.set_stalled(on)
            }
        }
        DeviceFault::BarrierStuck => devices.isapi_barrier.set_stuck(on),
        DeviceFault::CamerasSilent => devices.cameras_silent.store(on, Ordering::Relaxed),
        _ => {}
    };
    match scripted.fault {
        DeviceFault::RelayOffline => {
            relay().take();
        }
        DeviceFault::CameraDuplicate => {
            let mut camera = camera::CameraMock::new(devices.push_to, HIKVISION_CAMERA);
            let read = sample_read();
            let _ = camera.read_plate(&read).await;
            let _ = camera.resend(&read).await;
        }
        DeviceFault::CameraMalformed => {
            let _ = http_exchange(
                devices.push_to,
                "POST",
                HIKVISION_CAMERA,
                "application/xml",
                b"<EventNotificationAlert><eventType>ANPR",
            )
            .await;
        }
        DeviceFault::CameraCutsPush => {
            let _ = cut_push(devices.push_to).await;
        }
        _ => set(true),
    }
    let Some(ms) = scripted.for_ms else { return };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    match scripted.fault {
        DeviceFault::RelayOffline => {
            // Back on its port; a few tries while the old socket closes.
            for _ in 0..50 {
                if let Ok(back) = start_relay(devices.relay_addr).await {
                    *relay() = Some(back);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        _ => set(false),
    }
    tracing::info!(fault = ?scripted.fault, "device fault ends");
}

fn sample_read() -> camera::Sighting {
    camera::Sighting {
        plate: "123ABC02".into(),
        confidence: 92,
        direction: "forward",
        when: time::OffsetDateTime::now_utc(),
    }
}

/// Half an ANPR push: the head promises the whole body, half is sent, the camera hangs up.
async fn cut_push(to: SocketAddr) -> io::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let body = camera::anpr_push(&sample_read(), 1);
    let mut stream = tokio::net::TcpStream::connect(to).await?;
    let head = format!(
        "POST {HIKVISION_CAMERA} HTTP/1.1\r\nHost: {to}\r\nContent-Type: multipart/form-data; boundary={}\r\nContent-Length: {}\r\n\r\n",
        camera::BOUNDARY,
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body[..body.len() / 2]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped example script parses.
    #[test]
    fn the_example_script_parses() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/device-faults.json");
        let script = FaultScript::from_file(&path).unwrap();
        assert!(script.faults.len() >= 7);
    }

    /// Issue 13 item 6: scripted faults begin and end on time — the relay's port closes and
    /// opens again, the barrier's arm stays put while stuck, the cameras fall silent.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn faults_follow_the_script() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let push_to = listener.local_addr().unwrap();
        let pushes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = pushes.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                    let mut buf = vec![0; 1 << 16];
                    let _ = stream.read(&mut buf).await;
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        )
                        .await;
                });
            }
        });
        let script: FaultScript = serde_json::from_str(
            r#"{ "faults": [
                { "at-ms": 100, "fault": "relay-offline", "for-ms": 400 },
                { "at-ms": 100, "fault": "barrier-stuck", "for-ms": 400 },
                { "at-ms": 100, "fault": "cameras-silent", "for-ms": 400 }
            ] }"#,
        )
        .unwrap();
        let devices = DevCheckpoint::start(
            DevAddresses::any(),
            push_to,
            Duration::from_millis(50),
            script,
        )
        .await
        .unwrap();
        let relay = devices.relay_addr();
        let open = |barrier: SocketAddr| async move {
            let body = br#"<BarrierGate><ctrlMode>open</ctrlMode></BarrierGate>"#;
            http_exchange(
                barrier,
                "PUT",
                "/ISAPI/Parking/channels/1/barrierGate",
                "application/xml",
                body,
            )
            .await
            .unwrap();
        };
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(
            tokio::net::TcpStream::connect(relay).await.is_err(),
            "the relay is offline"
        );
        open(devices.isapi_barrier().addr()).await;
        assert_eq!(
            devices.isapi_barrier().arm(),
            isapi_barrier::Arm::Closed,
            "stuck"
        );
        let during = pushes.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            pushes.load(Ordering::Relaxed),
            during,
            "the cameras are silent"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            tokio::net::TcpStream::connect(relay).await.is_ok(),
            "the relay is back"
        );
        open(devices.isapi_barrier().addr()).await;
        assert_eq!(
            devices.isapi_barrier().arm(),
            isapi_barrier::Arm::Open,
            "moves again"
        );
        assert!(
            pushes.load(Ordering::Relaxed) > during,
            "the cameras beat again"
        );
    }
}
