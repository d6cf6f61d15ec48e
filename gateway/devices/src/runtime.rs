//! The host's device runtime (issue 13 item 4, ADR 0021). One supervised task per device
//! owns everything the driver may not: the TCP connection and its reconnect with capped
//! back-off, the HTTP requests and their credential, the poll timer and the driver's
//! wake-ups, the silence watch, and the restart of a driver that faulted (with the gap it
//! left recorded). The driver is handed bytes and time and answers events and bytes.
//!
//! A lane is **ready** only while every device on it is up and no barrier owes a position it
//! was commanded to. Otherwise it is **degraded**, and a degraded lane opens nothing: an open
//! is refused before anything is sent. An open is sent once; it is never re-sent by the
//! runtime, whatever happens after (the officer decides, issue 14).

use crate::profile::{DeviceProfile, LaneProfile, LaneRole};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kezek_catalogue::Catalogue;
use kezek_domain::clock::SharedClock;
use kezek_domain::device::{
    BarrierPosition, Command, DeviceKind, DriverError, Event, HttpRequest, HttpResponse, Input,
    Outbound, Step, Timestamp, Transport,
};
use kezek_host::{AdapterHost, LoadedDriver};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

/// Reconnect back-off: doubles from the first to the cap, and starts again once connected.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(100);
pub const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// How long a device has to answer one HTTP request or accept a TCP connection.
const DEVICE_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest HTTP answer a device may send the runtime.
const MAX_ANSWER: usize = 1 << 20;
/// How often the silence watch looks.
const WATCH: Duration = Duration::from_millis(100);
/// Events kept for subscribers that fall behind (they are told how many they missed).
const EVENT_BUFFER: usize = 1024;
/// Restart gaps remembered per device for the health view.
const GAPS_KEPT: usize = 16;

/// What happened at a device, stamped with the host's clock.
#[derive(Debug, Clone)]
pub struct DeviceEvent {
    pub checkpoint: String,
    pub lane: String,
    pub device: String,
    /// Milliseconds since the Unix epoch, from the gateway's clock.
    pub at: Timestamp,
    pub what: Happening,
}

#[derive(Debug, Clone)]
pub enum Happening {
    /// What the driver decoded; plate candidates normalised (`kezek_domain::plate`). Plate
    /// reads are personal data: never logged.
    Event(Event),
    /// The device went silent, disconnected, or failed to confirm a command.
    Down {
        reason: String,
    },
    Up,
    /// The driver faulted and was restarted: nothing was decoded in between.
    Restarted {
        gap_ms: u64,
        why: String,
    },
}

/// Why a command was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("no device {0} in the lane profiles")]
    UnknownDevice(String),
    #[error("no lane {0}")]
    UnknownLane(String),
    #[error("lane {lane} is degraded and opens nothing: {reasons}")]
    Degraded { lane: String, reasons: String },
    #[error("lane {0} has no barrier")]
    NoBarrier(String),
    #[error("{device} cannot {command}")]
    Unsupported { device: String, command: String },
    #[error("{device} refused the command: {reason}")]
    Refused { device: String, reason: String },
    /// Sent once and not confirmed in time: the lane is degraded; nothing is re-sent.
    #[error(
        "{device} did not report the barrier {position} within {ms} ms; the lane is degraded and the command is not repeated"
    )]
    NotConfirmed {
        device: String,
        position: &'static str,
        ms: u64,
    },
    #[error("{0} is not running")]
    Stopped(String),
}

/// What the push listener answers a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushAnswer {
    Accepted,
    /// The driver could not read it (400).
    Malformed,
    /// No such push device (404).
    UnknownDevice,
    /// Not from the device's provisioned address (403).
    WrongSource,
    /// The driver did not take it in time (503).
    Busy,
}

/// One device's health, as the admin view and the lane state read it.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceHealth {
    pub id: String,
    pub driver: String,
    pub kind: &'static str,
    pub up: bool,
    /// Why it is down, if it is.
    pub reason: Option<String>,
    pub barrier: Option<&'static str>,
    pub restarts: u64,
    pub reconnects: u64,
    /// The last restarts' gaps: when and how long nothing was decoded, and why.
    pub gaps: VecDeque<Gap>,
    /// A barrier that owes the position it was commanded to degrades its lane.
    pub unconfirmed: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub at: Timestamp,
    pub ms: u64,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LaneHealth {
    pub checkpoint: String,
    pub lane: String,
    pub role: LaneRole,
    pub ready: bool,
    /// Why the lane is degraded; empty when ready.
    pub reasons: Vec<String>,
    pub devices: Vec<DeviceHealth>,
}

enum Control {
    Push(HttpRequest, oneshot::Sender<PushAnswer>),
    Command(Command, oneshot::Sender<Result<(), CommandError>>),
}

struct Device {
    profile: DeviceProfile,
    checkpoint: String,
    lane: String,
    kind: DeviceKind,
    transport: Transport,
    source: Option<IpAddr>,
    control: mpsc::Sender<Control>,
    health: Mutex<DeviceHealth>,
}

impl Device {
    fn health(&self) -> std::sync::MutexGuard<'_, DeviceHealth> {
        self.health.lock().expect("device health")
    }
}

struct LaneEntry {
    checkpoint: String,
    lane: String,
    role: LaneRole,
    devices: Vec<Arc<Device>>,
}

/// The running devices of every lane profile. Dropping it stops every device task.
pub struct DeviceRuntime {
    devices: BTreeMap<String, Arc<Device>>,
    lanes: Vec<LaneEntry>,
    events: broadcast::Sender<DeviceEvent>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for DeviceRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceRuntime")
            .field("devices", &self.devices.len())
            .field("lanes", &self.lanes.len())
            .finish_non_exhaustive()
    }
}

impl Drop for DeviceRuntime {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl DeviceRuntime {
    /// Starts one task per device of `profiles`, each with the catalogue's driver for it.
    /// The profiles are checked against the catalogue already (`profile::load_dir`).
    pub fn start(
        profiles: &[LaneProfile],
        host: Arc<AdapterHost>,
        catalogue: Arc<Catalogue>,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let set = catalogue.snapshot();
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let mut runtime = Self {
            devices: BTreeMap::new(),
            lanes: Vec::new(),
            events,
            tasks: Vec::new(),
        };
        for profile in profiles {
            for lane in &profile.lanes {
                let mut devices = Vec::new();
                for p in &lane.devices {
                    let driver = set.driver(&p.driver).cloned().ok_or_else(|| {
                        anyhow::anyhow!("device {}: no device driver {} is loaded", p.id, p.driver)
                    })?;
                    let (control, rx) = mpsc::channel(16);
                    let transport = driver.descriptor.transport;
                    let source = match transport {
                        Transport::HttpPush => Some(
                            p.source_ip()
                                .map_err(|e| anyhow::anyhow!("device {}: {e}", p.id))?,
                        ),
                        _ => None,
                    };
                    let device = Arc::new(Device {
                        profile: p.clone(),
                        checkpoint: profile.checkpoint.clone(),
                        lane: lane.id.clone(),
                        kind: driver.descriptor.kind,
                        transport,
                        source,
                        control,
                        health: Mutex::new(DeviceHealth {
                            id: p.id.clone(),
                            driver: p.driver.clone(),
                            kind: driver.descriptor.kind.as_str(),
                            up: false,
                            reason: Some("not heard from since the gateway started".into()),
                            barrier: None,
                            restarts: 0,
                            reconnects: 0,
                            gaps: VecDeque::new(),
                            unconfirmed: None,
                        }),
                    });
                    let supervisor = Supervisor {
                        device: device.clone(),
                        driver,
                        host: host.clone(),
                        clock: clock.clone(),
                        events: runtime.events.clone(),
                        client: client.clone(),
                        state: Vec::new(),
                        last_heard: None,
                        link: Some("starting".into()),
                        fault: None,
                        wake_at: None,
                        awaiting: None,
                    };
                    runtime.tasks.push(tokio::spawn(supervisor.run(rx)));
                    runtime.devices.insert(p.id.clone(), device.clone());
                    devices.push(device);
                }
                runtime.lanes.push(LaneEntry {
                    checkpoint: profile.checkpoint.clone(),
                    lane: lane.id.clone(),
                    role: lane.role,
                    devices,
                });
            }
        }
        Ok(runtime)
    }

    /// Every device event from now on. A subscriber that falls more than a buffer behind is
    /// told how many it missed (`RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<DeviceEvent> {
        self.events.subscribe()
    }

    /// The health of every lane, checkpoint by checkpoint.
    pub fn lanes(&self) -> Vec<LaneHealth> {
        self.lanes.iter().map(lane_health).collect()
    }

    /// One lane's health.
    pub fn lane(&self, checkpoint: &str, lane: &str) -> Option<LaneHealth> {
        self.find_lane(checkpoint, lane).map(lane_health)
    }

    fn find_lane(&self, checkpoint: &str, lane: &str) -> Option<&LaneEntry> {
        self.lanes
            .iter()
            .find(|l| l.checkpoint == checkpoint && l.lane == lane)
    }

    /// A request a device pushed to the listener, from `peer`: handed to its driver only if
    /// it came from the device's provisioned address.
    pub async fn push(&self, device: &str, peer: IpAddr, request: HttpRequest) -> PushAnswer {
        let Some(d) = self
            .devices
            .get(device)
            .filter(|d| d.transport == Transport::HttpPush)
        else {
            return PushAnswer::UnknownDevice;
        };
        if d.source != Some(peer) {
            tracing::warn!(
                device,
                "push refused: not from the device's provisioned address"
            );
            return PushAnswer::WrongSource;
        }
        let (tx, rx) = oneshot::channel();
        if d.control.try_send(Control::Push(request, tx)).is_err() {
            return PushAnswer::Busy;
        }
        tokio::time::timeout(DEVICE_TIMEOUT, rx)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(PushAnswer::Busy)
    }

    /// P11, D58: opens the lane's barrier, once, if the lane is ready; answers when the
    /// barrier reports it open. A degraded lane opens nothing.
    pub async fn open_barrier(&self, checkpoint: &str, lane: &str) -> Result<(), CommandError> {
        let entry = self
            .find_lane(checkpoint, lane)
            .ok_or_else(|| CommandError::UnknownLane(format!("{checkpoint}/{lane}")))?;
        let health = lane_health(entry);
        if !health.ready {
            return Err(CommandError::Degraded {
                lane: format!("{checkpoint}/{lane}"),
                reasons: health.reasons.join("; "),
            });
        }
        let barrier = entry
            .devices
            .iter()
            .find(|d| d.kind == DeviceKind::Barrier)
            .ok_or_else(|| CommandError::NoBarrier(format!("{checkpoint}/{lane}")))?;
        self.send(barrier, Command::OpenBarrier).await
    }

    /// A command to one device (a board's text, a barrier's close).
    pub async fn command(&self, device: &str, command: Command) -> Result<(), CommandError> {
        let d = self
            .devices
            .get(device)
            .ok_or_else(|| CommandError::UnknownDevice(device.into()))?;
        if command == Command::OpenBarrier {
            return self.open_barrier(&d.checkpoint, &d.lane).await;
        }
        self.send(d, command).await
    }

    async fn send(&self, device: &Device, command: Command) -> Result<(), CommandError> {
        let (tx, rx) = oneshot::channel();
        let stopped = || CommandError::Stopped(device.profile.id.clone());
        device
            .control
            .send(Control::Command(command, tx))
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

fn lane_health(entry: &LaneEntry) -> LaneHealth {
    let devices: Vec<DeviceHealth> = entry.devices.iter().map(|d| d.health().clone()).collect();
    let mut reasons = Vec::new();
    for d in &devices {
        if !d.up {
            reasons.push(format!(
                "{} is down: {}",
                d.id,
                d.reason.as_deref().unwrap_or("unknown")
            ));
        }
        if let Some(owed) = &d.unconfirmed {
            reasons.push(format!("{}: {owed}", d.id));
        }
    }
    LaneHealth {
        checkpoint: entry.checkpoint.clone(),
        lane: entry.lane.clone(),
        role: entry.role,
        ready: reasons.is_empty(),
        reasons,
        devices,
    }
}

/// A command sent and waiting for its confirmation.
struct Awaiting {
    want: BarrierPosition,
    by: Instant,
    /// Answered when the driver reports the position; None once answered.
    reply: Option<oneshot::Sender<Result<(), CommandError>>>,
}

/// The one task of one device.
struct Supervisor {
    device: Arc<Device>,
    driver: Arc<LoadedDriver>,
    host: Arc<AdapterHost>,
    clock: SharedClock,
    events: broadcast::Sender<DeviceEvent>,
    client: Client<HttpConnector, Full<Bytes>>,
    state: Vec<u8>,
    /// When the device last said anything; None: never since the gateway started.
    last_heard: Option<Instant>,
    /// Why the link to the device is down (not connected, driver faulted, bad
    /// configuration); None while a session runs.
    link: Option<String>,
    /// The fault the device itself reports (an ISAPI refusal, a Modbus exception) until it
    /// says something else.
    fault: Option<String>,
    wake_at: Option<Instant>,
    awaiting: Option<Awaiting>,
}

/// Why a session with the device ended.
enum Ended {
    /// The connection broke or the stream went out of step: reconnect.
    Disconnected(String),
    /// The driver faulted: restart it.
    Fault(String),
    /// The configuration is wrong: nothing to do until the profile changes.
    BadConfig(String),
    /// The runtime is gone.
    Stopped,
}

impl Supervisor {
    fn now(&self) -> Timestamp {
        let now = self.clock.now();
        u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
    }

    fn emit(&self, what: Happening) {
        let _ = self.events.send(DeviceEvent {
            checkpoint: self.device.checkpoint.clone(),
            lane: self.device.lane.clone(),
            device: self.device.profile.id.clone(),
            at: self.now(),
            what,
        });
    }

    /// Sets the device's health from what the supervisor knows, in this order: the link,
    /// never heard, silent, a fault the device reports. Logs and emits only changes.
    fn refresh(&mut self) {
        let silence = self.silence();
        let reason = if let Some(link) = &self.link {
            Some(link.clone())
        } else {
            match self.last_heard {
                None => Some("not heard from since the gateway started".to_owned()),
                Some(at) if at.elapsed() > silence => {
                    Some(format!("silent for more than {} ms", silence.as_millis()))
                }
                _ => self.fault.as_ref().map(|f| format!("reports {f}")),
            }
        };
        let mut h = self.device.health();
        if h.reason == reason {
            return;
        }
        let (was_up, up) = (h.up, reason.is_none());
        h.up = up;
        h.reason = reason.clone();
        drop(h);
        let id = &self.device.profile.id;
        match (&reason, was_up) {
            (Some(reason), true) => {
                tracing::warn!(device = %id, reason = %reason, "device down");
                self.emit(Happening::Down {
                    reason: reason.clone(),
                });
            }
            (Some(reason), false) => {
                tracing::info!(device = %id, reason = %reason, "device still down")
            }
            (None, _) => {
                tracing::info!(device = %id, "device up");
                self.emit(Happening::Up);
            }
        }
    }

    /// The link is down for `why` (None: a session runs).
    fn link(&mut self, why: Option<String>) {
        self.link = why;
        self.refresh();
    }

    /// The device said something: it is alive.
    fn heard(&mut self) {
        self.last_heard = Some(Instant::now());
        self.refresh();
    }

    fn silence(&self) -> Duration {
        Duration::from_millis(
            self.device
                .profile
                .silence_ms(self.driver.descriptor.silence_ms),
        )
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Control>) {
        let config: Vec<(String, String)> = self
            .device
            .profile
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut backoff = BACKOFF_FIRST;
        let mut faulted_at: Option<(Instant, Timestamp, String)> = None;
        loop {
            let now = self.now();
            match self.host.configure(&self.driver, &config, now).await {
                Ok(state) => self.state = state,
                Err(DriverError::BadConfig(why)) => {
                    self.link(Some(format!("bad configuration: {why}")));
                    // Nothing to retry: keep refusing commands until the runtime is rebuilt.
                    refuse_all(&mut rx, &self.device.profile.id, &why).await;
                    return;
                }
                Err(e) => {
                    self.link(Some(format!("driver failed to configure: {e}")));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_CAP);
                    continue;
                }
            }
            if let Some((at, stamp, why)) = faulted_at.take() {
                let ms = at.elapsed().as_millis() as u64;
                let mut h = self.device.health();
                h.restarts += 1;
                if h.gaps.len() == GAPS_KEPT {
                    h.gaps.pop_front();
                }
                h.gaps.push_back(Gap {
                    at: stamp,
                    ms,
                    why: why.clone(),
                });
                drop(h);
                tracing::warn!(device = %self.device.profile.id, gap_ms = ms, why = %why, "driver restarted");
                self.emit(Happening::Restarted { gap_ms: ms, why });
            }
            let ended = match self.device.transport {
                Transport::TcpStream => self.stream_session(&mut rx).await,
                Transport::HttpRequest | Transport::HttpPush => self.session(&mut rx, None).await,
            };
            match ended {
                Ended::Stopped => return,
                Ended::BadConfig(why) => {
                    self.link(Some(format!("bad configuration: {why}")));
                    refuse_all(&mut rx, &self.device.profile.id, &why).await;
                    return;
                }
                Ended::Fault(why) => {
                    self.link(Some(format!("driver fault: {why}")));
                    faulted_at = Some((Instant::now(), self.now(), why));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_CAP);
                }
                Ended::Disconnected(why) => {
                    self.link(Some(why));
                    self.device.health().reconnects += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_CAP);
                }
            }
            if self.device.health().up {
                backoff = BACKOFF_FIRST;
            }
        }
    }

    /// Connects (bounded), then runs a session on the connection.
    async fn stream_session(&mut self, rx: &mut mpsc::Receiver<Control>) -> Ended {
        let addr = match self.device.profile.socket() {
            Ok(addr) => addr,
            Err(e) => return Ended::BadConfig(e),
        };
        let stream = match tokio::time::timeout(DEVICE_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Ended::Disconnected(format!("cannot connect: {}", e.kind())),
            Err(_) => return Ended::Disconnected("connect timed out".into()),
        };
        let _ = stream.set_nodelay(true);
        self.session(rx, Some(stream)).await
    }

    /// Runs the device until its connection breaks, its driver faults or the runtime stops.
    async fn session(
        &mut self,
        rx: &mut mpsc::Receiver<Control>,
        mut stream: Option<TcpStream>,
    ) -> Ended {
        self.link(None);
        if stream.is_some()
            && let Err(ended) = self.drive(Input::Connected, &mut stream).await
        {
            return ended;
        }
        let poll_every = self
            .driver
            .descriptor
            .poll_interval_ms
            .map(|ms| Duration::from_millis(u64::from(ms.max(10))));
        // The first poll at once: a device's state is read when the session starts, not
        // one interval later (a board polled every 10 s would be unknown for 10 s).
        let mut next_poll = poll_every.map(|_| Instant::now());
        let mut buf = vec![0u8; 4096];
        loop {
            // Each turn, not only on a quiet one: a chatty device must not starve the
            // silence watch or a confirmation's deadline.
            self.watch();
            let wake = [
                next_poll,
                self.wake_at,
                self.awaiting.as_ref().map(|a| a.by),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + WATCH)
            .min(Instant::now() + WATCH);
            let read = async {
                match stream.as_mut() {
                    Some(s) => s.read(&mut buf).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                control = rx.recv() => {
                    let Some(control) = control else { return Ended::Stopped };
                    if let Err(ended) = self.control(control, &mut stream).await {
                        return ended;
                    }
                }
                read = read => {
                    match read {
                        Ok(0) => return Ended::Disconnected("the device closed the connection".into()),
                        Ok(n) => {
                            let bytes = buf[..n].to_vec();
                            self.heard();
                            if let Err(ended) = self.drive(Input::Bytes(bytes), &mut stream).await {
                                return ended;
                            }
                        }
                        Err(e) => return Ended::Disconnected(format!("connection failed: {}", e.kind())),
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    if next_poll.is_some_and(|at| at <= now) || self.wake_at.is_some_and(|at| at <= now) {
                        next_poll = poll_every.map(|p| now + p);
                        self.wake_at = None;
                        let stamp = self.now();
                        let step = self.host.poll(&self.driver, &self.state, stamp).await;
                        if let Err(ended) = self.apply(step, false, &mut stream).await {
                            return ended;
                        }
                    }
                    self.watch();
                }
            }
        }
    }

    /// The silence watch and the confirmation deadline.
    fn watch(&mut self) {
        self.refresh();
        if let Some(awaiting) = &mut self.awaiting
            && Instant::now() >= awaiting.by
        {
            let position = awaiting.want.as_str();
            let ms = self.device.profile.confirm_ms();
            let owed =
                format!("did not report the barrier {position} within {ms} ms of the command");
            tracing::warn!(device = %self.device.profile.id, position, "barrier did not confirm: lane degraded");
            self.device.health().unconfirmed = Some(owed);
            if let Some(reply) = awaiting.reply.take() {
                let _ = reply.send(Err(CommandError::NotConfirmed {
                    device: self.device.profile.id.clone(),
                    position,
                    ms,
                }));
            }
            self.awaiting = None;
        }
    }

    async fn control(
        &mut self,
        control: Control,
        stream: &mut Option<TcpStream>,
    ) -> Result<(), Ended> {
        match control {
            Control::Push(request, reply) => {
                let stamp = self.now();
                let step = self
                    .host
                    .decode(&self.driver, &self.state, Input::Push(request), stamp)
                    .await;
                // Decoded, with or without events (a re-sent alert has none): 200; unreadable:
                // 400; the driver faulted on it: 503, and the device sends it again. A device
                // that pushes is alive, whatever it pushed.
                let answer = match &step {
                    Ok(_) => PushAnswer::Accepted,
                    Err(DriverError::Malformed(_)) => PushAnswer::Malformed,
                    Err(_) => PushAnswer::Busy,
                };
                if answer != PushAnswer::Busy {
                    self.heard();
                }
                let result = self.apply(step, true, stream).await;
                let _ = reply.send(if result.is_ok() {
                    answer
                } else {
                    PushAnswer::Busy
                });
                result
            }
            Control::Command(command, reply) => {
                if let Some(awaiting) = &self.awaiting
                    && awaiting.reply.is_some()
                {
                    let _ = reply.send(Err(CommandError::Refused {
                        device: self.device.profile.id.clone(),
                        reason: "a command is still waiting for its confirmation".into(),
                    }));
                    return Ok(());
                }
                let want = match command {
                    Command::OpenBarrier => Some(BarrierPosition::Open),
                    Command::CloseBarrier => Some(BarrierPosition::Closed),
                    Command::ShowText(_) => None,
                };
                let stamp = self.now();
                let step = self
                    .host
                    .encode(&self.driver, &self.state, command, stamp)
                    .await;
                let step = match step {
                    Err(DriverError::RejectedCommand(reason)) => {
                        let _ = reply.send(Err(CommandError::Refused {
                            device: self.device.profile.id.clone(),
                            reason,
                        }));
                        return Ok(());
                    }
                    other => other,
                };
                let encoded = step.is_ok();
                let mut reply = Some(reply);
                if encoded && let Some(want) = want {
                    // Recorded before anything is sent: the answer to this very step may
                    // already say the position.
                    self.device.health().unconfirmed = None;
                    self.awaiting = Some(Awaiting {
                        want,
                        by: Instant::now()
                            + Duration::from_millis(self.device.profile.confirm_ms()),
                        reply: reply.take(),
                    });
                }
                let result = self.apply(step, false, stream).await;
                // A command without a position to confirm (a board's text) is done once sent.
                if let Some(reply) = reply {
                    let _ = reply.send(if encoded && result.is_ok() {
                        Ok(())
                    } else {
                        Err(CommandError::Refused {
                            device: self.device.profile.id.clone(),
                            reason: "the driver faulted or the link broke while sending it; the lane's health says which".into(),
                        })
                    });
                }
                // Already where it was told to be (an open barrier told to open): no change
                // will be reported, and none is owed.
                let already = self.device.health().barrier;
                if let Some(awaiting) = &mut self.awaiting
                    && already == Some(awaiting.want.as_str())
                {
                    if let Some(reply) = awaiting.reply.take() {
                        let _ = reply.send(Ok(()));
                    }
                    self.awaiting = None;
                }
                result
            }
        }
    }

    /// Hands the driver one input from the stream and carries out the step it answers.
    async fn drive(&mut self, input: Input, stream: &mut Option<TcpStream>) -> Result<(), Ended> {
        let said = matches!(input, Input::Bytes(_));
        let stamp = self.now();
        let step = self
            .host
            .decode(&self.driver, &self.state, input, stamp)
            .await;
        self.apply(step, said, stream).await
    }

    /// Carries out a step: events out, bytes and requests to the device (and their
    /// answers back to the driver), the next state and wake-up. `said`: the step decodes
    /// what the device itself sent, so a step without a fault clears the fault it reported
    /// (a fault the driver raises on a poll, such as a timeout, is not the device talking).
    async fn apply(
        &mut self,
        step: Result<Step, DriverError>,
        said: bool,
        stream: &mut Option<TcpStream>,
    ) -> Result<(), Ended> {
        let mut queue = VecDeque::from([(step, said)]);
        while let Some((step, said)) = queue.pop_front() {
            let step = match step {
                Ok(step) => step,
                Err(e) if e.is_fault() => return Err(Ended::Fault(e.to_string())),
                Err(DriverError::BadConfig(why)) => return Err(Ended::BadConfig(why)),
                Err(DriverError::BadState(_)) => {
                    return Err(Ended::Fault(
                        "the driver could not read its own state".into(),
                    ));
                }
                Err(DriverError::Malformed(why)) => {
                    tracing::warn!(device = %self.device.profile.id, why = %why, "device sent what its driver cannot read");
                    if stream.is_some() {
                        return Err(Ended::Disconnected(format!("stream out of step: {why}")));
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(device = %self.device.profile.id, error = %e, "driver refused");
                    continue;
                }
            };
            self.state = step.state;
            self.wake_at = step.wake_at.map(|at| {
                let ms = at.saturating_sub(self.now());
                Instant::now() + Duration::from_millis(ms)
            });
            let fault = step.events.iter().rev().find_map(|e| match e {
                Event::Fault(f) => Some(format!("{}: {}", f.code, f.message)),
                _ => None,
            });
            if fault.is_some() || said {
                self.fault = fault;
                self.refresh();
            }
            for mut event in step.events {
                // One definition of a plate (kezek_domain::plate): every consumer of a read
                // compares normalised candidates; a candidate that normalises to nothing is
                // no candidate.
                if let Event::PlateRead(read) = &mut event {
                    for candidate in &mut read.candidates {
                        candidate.plate = kezek_domain::plate::normalise(&candidate.plate);
                    }
                    read.candidates.retain(|c| !c.plate.is_empty());
                    if read.candidates.is_empty() {
                        continue;
                    }
                }
                self.on_event(&event);
                self.emit(Happening::Event(event));
            }
            for out in step.outbound {
                match out {
                    Outbound::Bytes(bytes) => {
                        let Some(s) = stream.as_mut() else {
                            tracing::warn!(device = %self.device.profile.id, "driver wrote bytes on a transport without a stream");
                            continue;
                        };
                        if let Err(e) = s.write_all(&bytes).await {
                            return Err(Ended::Disconnected(format!("write failed: {}", e.kind())));
                        }
                    }
                    Outbound::Http(request) => {
                        let (input, said) = match self.request(request).await {
                            Ok(response) => {
                                self.heard();
                                (Input::Response(response), true)
                            }
                            Err(tag) => (Input::Unanswered(tag), false),
                        };
                        let stamp = self.now();
                        let step = self
                            .host
                            .decode(&self.driver, &self.state, input, stamp)
                            .await;
                        queue.push_back((step, said));
                    }
                }
            }
        }
        Ok(())
    }

    fn on_event(&mut self, event: &Event) {
        match event {
            Event::Barrier(position) => {
                self.device.health().barrier = Some(position.as_str());
                if let Some(awaiting) = &mut self.awaiting
                    && awaiting.want == *position
                {
                    if let Some(reply) = awaiting.reply.take() {
                        let _ = reply.send(Ok(()));
                    }
                    self.awaiting = None;
                    self.device.health().unconfirmed = None;
                }
            }
            Event::Fault(fault) => {
                tracing::warn!(device = %self.device.profile.id, code = %fault.code, message = %fault.message, "device fault");
                if let Some(awaiting) = &mut self.awaiting
                    && let Some(reply) = awaiting.reply.take()
                {
                    let _ = reply.send(Err(CommandError::Refused {
                        device: self.device.profile.id.clone(),
                        reason: format!("{}: {}", fault.code, fault.message),
                    }));
                    // Still owed: the lane stays degraded until the position is reported.
                    self.device.health().unconfirmed =
                        Some(format!("answered the command with {}", fault.code));
                    self.awaiting = None;
                }
            }
            _ => {}
        }
    }

    /// Sends one of the driver's requests to the device, with the host-held credential.
    /// Unanswered (refused, timed out, unreadable): the request's tag.
    async fn request(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        let tag = request.tag.clone();
        let addr = self.device.profile.socket().map_err(|_| tag.clone())?;
        let mut builder = hyper::Request::builder()
            .method(request.method.as_str())
            .uri(format!("http://{addr}{}", request.path));
        for (name, value) in &request.headers {
            // The credential is the host's: a driver cannot set or read it.
            if !name.eq_ignore_ascii_case("authorization") {
                builder = builder.header(name, value);
            }
        }
        if let Some(credential) = &self.device.profile.credential {
            match credential.basic() {
                Ok(basic) => builder = builder.header("authorization", basic),
                Err(why) => {
                    tracing::warn!(device = %self.device.profile.id, why = %why, "device credential unavailable");
                    return Err(tag);
                }
            }
        }
        let req = builder
            .body(Full::new(Bytes::from(request.body)))
            .map_err(|_| tag.clone())?;
        let exchange = async {
            let response = self.client.request(req).await.ok()?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_ANSWER)
                .collect()
                .await
                .ok()?
                .to_bytes();
            Some(HttpResponse {
                tag: tag.clone(),
                status: parts.status.as_u16(),
                headers: parts
                    .headers
                    .iter()
                    .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_owned())))
                    .collect(),
                body: body.to_vec(),
            })
        };
        match tokio::time::timeout(DEVICE_TIMEOUT, exchange).await {
            Ok(Some(response)) => Ok(response),
            _ => Err(tag),
        }
    }
}

/// A device whose configuration is wrong refuses every command, saying why, until the
/// runtime is rebuilt with a corrected profile.
async fn refuse_all(rx: &mut mpsc::Receiver<Control>, device: &str, why: &str) {
    while let Some(control) = rx.recv().await {
        match control {
            Control::Push(_, reply) => {
                let _ = reply.send(PushAnswer::Busy);
            }
            Control::Command(_, reply) => {
                let _ = reply.send(Err(CommandError::Refused {
                    device: device.into(),
                    reason: format!("its configuration is wrong: {why}"),
                }));
            }
        }
    }
}
