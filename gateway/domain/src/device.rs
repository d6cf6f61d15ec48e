//! Device drivers' values on the host side (`wit/device@1.0.0`, ADR 0020): what a driver
//! says about itself, what the host hands it and what it hands back, as plain Rust. The
//! host converts its bindings to and from these (`kezek_host::device`), so the catalogue,
//! the admin API and the device runtime use drivers without knowing wasmtime.
//!
//! Plates and pictures travel only in [`Event::PlateRead`]; [`DriverError`]s and fault
//! messages are logged and never carry personal data.

use serde::{Deserialize, Serialize};

/// What a device is for (P10 cameras, P11 barriers, P12 boards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    Camera,
    Barrier,
    Board,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Camera => "camera",
            Self::Barrier => "barrier",
            Self::Board => "board",
        }
    }
}

impl std::fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the host reaches the device; the host owns the connection in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    HttpPush,
    HttpRequest,
    TcpStream,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HttpPush => "http-push",
            Self::HttpRequest => "http-request",
            Self::TcpStream => "tcp-stream",
        }
    }
}

/// What a driver can do: the host offers only these commands and expects only these events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Capabilities {
    pub read_plates: bool,
    pub open_barrier: bool,
    pub close_barrier: bool,
    pub barrier_state: bool,
    pub inputs: bool,
    pub show_text: bool,
    pub heartbeat: bool,
}

impl Capabilities {
    /// The capabilities set, in the contract's words ("read-plates", …).
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.read_plates, "read-plates"),
            (self.open_barrier, "open-barrier"),
            (self.close_barrier, "close-barrier"),
            (self.barrier_state, "barrier-state"),
            (self.inputs, "inputs"),
            (self.show_text, "show-text"),
            (self.heartbeat, "heartbeat"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfigType {
    Text,
    Integer,
    Boolean,
}

/// One configuration value a driver needs from the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ConfigField {
    pub name: String,
    pub description: String,
    pub value_type: ConfigType,
    /// None: the operator must give it.
    pub default: Option<String>,
}

/// What a driver says about itself (`describe()`), checked against its manifest at load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DriverDescriptor {
    pub id: String,
    pub version: String,
    pub kind: DeviceKind,
    pub protocol: String,
    pub transport: Transport,
    pub capabilities: Capabilities,
    pub config: Vec<ConfigField>,
    pub poll_interval_ms: Option<u32>,
    pub silence_ms: u32,
}

/// Milliseconds since the Unix epoch (UTC), from the host's one clock.
pub type Timestamp = u64;

/// One configuration value, by field name.
pub type Config = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub tag: String,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub tag: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the host hands a driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Bytes(Vec<u8>),
    Push(HttpRequest),
    Response(HttpResponse),
    /// The tag of a request that got no answer.
    Unanswered(String),
    Connected,
}

/// What a driver asks the host to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    Bytes(Vec<u8>),
    Http(HttpRequest),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlateCandidate {
    /// As the device read it: personal data.
    pub plate: String,
    pub confidence: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Approaching,
    Leaving,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PictureKind {
    Plate,
    Vehicle,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    pub kind: PictureKind,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// A camera read a plate (P10, P30).
#[derive(Debug, Clone, PartialEq)]
pub struct PlateRead {
    pub candidates: Vec<PlateCandidate>,
    pub country: Option<String>,
    pub direction: Direction,
    pub device_event: Option<String>,
    pub device_time: Option<String>,
    pub pictures: Vec<Picture>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarrierPosition {
    Closed,
    Open,
    Moving,
    Unknown,
}

impl BarrierPosition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::Moving => "moving",
            Self::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputRole {
    LoopDetector,
    ArmOpen,
    ArmClosed,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputChange {
    pub index: u16,
    pub role: InputRole,
    pub active: bool,
}

/// The device reported a fault or refused a command: a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    PlateRead(PlateRead),
    Barrier(BarrierPosition),
    InputChanged(InputChange),
    Heartbeat,
    Done,
    Fault(Fault),
}

/// What a driver asks of the host after a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub events: Vec<Event>,
    pub outbound: Vec<Outbound>,
    /// The next state blob, opaque to the host.
    pub state: Vec<u8>,
    pub wake_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// P11, D58.
    OpenBarrier,
    CloseBarrier,
    /// P12: one entry per row, top first.
    ShowText(Vec<String>),
}

/// Why a driver call produced no step: the driver's own refusals (the contract's
/// `device-error`) and the sandbox's faults. Never an event; never personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    #[error("bad configuration: {0}")]
    BadConfig(String),
    /// The host calls `configure` again.
    #[error("unreadable state: {0}")]
    BadState(String),
    #[error("malformed input: {0}")]
    Malformed(String),
    #[error("command rejected: {0}")]
    RejectedCommand(String),
    #[error("driver trapped: {0}")]
    Trapped(String),
    #[error("driver exceeded its CPU budget of {0} ms")]
    CpuBudgetExceeded(u64),
    #[error("driver exceeded its memory cap of {0} MiB")]
    MemoryCapExceeded(u64),
    /// The call did not finish within its wall-clock deadline.
    #[error("driver call timed out: {0}")]
    Timeout(String),
    /// No sandbox slot came free in time.
    #[error("sandbox overloaded: {0}")]
    Overloaded(String),
}

impl DriverError {
    /// A sandbox fault (the driver must be restarted), as opposed to the driver's own answer.
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            Self::Trapped(_)
                | Self::CpuBudgetExceeded(_)
                | Self::MemoryCapExceeded(_)
                | Self::Timeout(_)
                | Self::Overloaded(_)
        )
    }
}
