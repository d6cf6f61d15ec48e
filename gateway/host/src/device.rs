//! `kezek:device@1.0.0` (ADR 0020): device drivers in the registry adapters' sandbox.
//!
//! A driver shares the adapters' engine, pooling allocator, instance slots, memory cap and
//! epoch CPU budget; every call (describe, configure, decode, encode, poll) runs in a fresh
//! store and instance from a pre-linked `InstancePre`. The driver imports nothing: its
//! linker holds WASI with nothing in it (a Rust std guest links WASI) and no Kezek import,
//! so a component that asks for `outbound` does not link. The bindings are converted here to
//! the host's plain types (`kezek_domain::device`); every wasmtime fault becomes a typed
//! [`DriverError`], never an event.

use super::{AdapterHost, CallState, LoadError};
use kezek_domain::CheckError;
use kezek_domain::device::{self as dev, DriverDescriptor, DriverError};
use kezek_manifest::{DeviceManifest, WIT_DEVICE};
use std::time::{Duration, Instant};

wasmtime::component::bindgen!({
    path: "../../wit/device@1.0.0",
    world: "device",
    imports: { default: async },
    exports: { default: async },
});

use kezek::device::types as wit;

/// The interface every driver exports.
pub(crate) const DRIVER_EXPORT: &str = "kezek:device/driver@1.0.0";

/// Wall-clock time a driver call may take beyond its CPU budget: a driver waits on nothing
/// (it imports nothing), so this only bounds what the CPU budget cannot see.
const DEADLINE_SLACK: Duration = Duration::from_secs(1);

/// A compiled, linked and self-tested device driver. Cheap to share: calls instantiate from
/// it concurrently.
pub struct LoadedDriver {
    pub manifest: DeviceManifest,
    pub descriptor: DriverDescriptor,
    /// SHA-256 of the component bytes: identifies exactly what runs.
    pub component_sha256: String,
    pre: DevicePre<CallState>,
}

impl std::fmt::Debug for LoadedDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedDriver")
            .field("id", &self.descriptor.id)
            .field("version", &self.descriptor.version)
            .field("kind", &self.descriptor.kind)
            .field("component_sha256", &self.component_sha256)
            .finish_non_exhaustive()
    }
}

/// One call of the driver interface, with its arguments in the bindings' types.
enum Call {
    Describe,
    Configure(Vec<(String, String)>, u64),
    Decode(Vec<u8>, wit::Input, u64),
    Encode(Vec<u8>, wit::Command, u64),
    Poll(Vec<u8>, u64),
}

/// What a call answered, before it is converted.
enum Answer {
    Described(wit::Descriptor),
    Configured(Result<Vec<u8>, wit::DeviceError>),
    Stepped(Result<wit::Step, wit::DeviceError>),
}

impl AdapterHost {
    /// Compiles (or loads from the precompiled cache), type-checks against
    /// `kezek:device@1.0.0` and self-tests a driver: `describe()` must agree with the
    /// manifest on id, version and kind. The caller has already checked its signature.
    pub async fn load_driver(
        &self,
        component: &[u8],
        manifest: DeviceManifest,
    ) -> Result<LoadedDriver, LoadError> {
        if manifest.wit != WIT_DEVICE {
            return Err(LoadError::Contract(format!(
                "the manifest names {}; a device driver speaks {WIT_DEVICE}",
                manifest.wit
            )));
        }
        let sha = super::engine::sha256_hex(component);
        let compiled = super::engine::compile_cached(&self.engine, &self.settings, component, &sha)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let exports = super::exported(&self.engine, &compiled, "kezek:");
        if !exports.iter().any(|e| e == DRIVER_EXPORT) {
            return Err(LoadError::Contract(format!(
                "the manifest says {WIT_DEVICE} but the component exports {}; a registry \
                 adapter's manifest names kezek:registry@…, a driver's exports {DRIVER_EXPORT}",
                if exports.is_empty() {
                    "no Kezek interface".to_owned()
                } else {
                    exports.join(", ")
                }
            )));
        }
        let contract = |e: wasmtime::Error| {
            LoadError::Contract(format!(
                "does not implement {WIT_DEVICE} as a driver that imports nothing: {e:#}"
            ))
        };
        let linked = self
            .driver_linker
            .instantiate_pre(&compiled)
            .map_err(contract)?;
        let pre = DevicePre::new(linked).map_err(contract)?;
        let mut driver = LoadedDriver {
            descriptor: DriverDescriptor {
                id: manifest.id.clone(),
                version: manifest.version.clone(),
                kind: manifest.kind,
                protocol: String::new(),
                transport: dev::Transport::HttpRequest,
                capabilities: dev::Capabilities::default(),
                config: Vec::new(),
                poll_interval_ms: None,
                silence_ms: 0,
            },
            manifest,
            component_sha256: sha,
            pre,
        };
        let described = self
            .describe_driver(&driver)
            .await
            .map_err(|e| LoadError::SelfTest(format!("describe() failed: {e}")))?;
        let m = &driver.manifest;
        if (&described.id, &described.version, described.kind) != (&m.id, &m.version, m.kind) {
            return Err(LoadError::SelfTest(format!(
                "the component describes itself as {} {} ({}), the manifest says {} {} ({})",
                described.id, described.version, described.kind, m.id, m.version, m.kind
            )));
        }
        driver.descriptor = described;
        Ok(driver)
    }

    /// `describe()` in a fresh sandbox.
    pub async fn describe_driver(
        &self,
        driver: &LoadedDriver,
    ) -> Result<DriverDescriptor, DriverError> {
        match self.call_driver(driver, Call::Describe).await? {
            Answer::Described(d) => Ok(descriptor(d)),
            _ => unreachable!("describe answers a descriptor"),
        }
    }

    /// `configure(config, now)`: the first state blob, or the field that is wrong.
    pub async fn configure(
        &self,
        driver: &LoadedDriver,
        config: &dev::Config,
        now: dev::Timestamp,
    ) -> Result<Vec<u8>, DriverError> {
        match self
            .call_driver(driver, Call::Configure(config.clone(), now))
            .await?
        {
            Answer::Configured(r) => r.map_err(device_error),
            _ => unreachable!("configure answers a state"),
        }
    }

    /// `decode(state, input, now)`: what the device sent, as events and replies.
    pub async fn decode(
        &self,
        driver: &LoadedDriver,
        state: &[u8],
        input: dev::Input,
        now: dev::Timestamp,
    ) -> Result<dev::Step, DriverError> {
        self.step(driver, Call::Decode(state.to_vec(), to_input(input), now))
            .await
    }

    /// `encode(state, command, now)`: what the host must send to carry a command out.
    pub async fn encode(
        &self,
        driver: &LoadedDriver,
        state: &[u8],
        command: dev::Command,
        now: dev::Timestamp,
    ) -> Result<dev::Step, DriverError> {
        self.step(
            driver,
            Call::Encode(state.to_vec(), to_command(command), now),
        )
        .await
    }

    /// `poll(state, now)`: status reads, pulse ends, unanswered requests.
    pub async fn poll(
        &self,
        driver: &LoadedDriver,
        state: &[u8],
        now: dev::Timestamp,
    ) -> Result<dev::Step, DriverError> {
        self.step(driver, Call::Poll(state.to_vec(), now)).await
    }

    async fn step(&self, driver: &LoadedDriver, call: Call) -> Result<dev::Step, DriverError> {
        match self.call_driver(driver, call).await? {
            Answer::Stepped(r) => r.map(step).map_err(device_error),
            _ => unreachable!("decode, encode and poll answer a step"),
        }
    }

    /// One call in a fresh store and instance, under the driver's memory cap and CPU budget
    /// and a wall-clock deadline; a fault is a [`DriverError`].
    async fn call_driver(&self, driver: &LoadedDriver, call: Call) -> Result<Answer, DriverError> {
        let limits = &driver.manifest.limits;
        let deadline = Duration::from_millis(limits.cpu_ms) + DEADLINE_SLACK;
        let started = Instant::now();
        // Declared before the store, so the slot is given back only after the store is dropped.
        let Ok(Ok(_slot)) =
            tokio::time::timeout(deadline, self.slots.clone().acquire_owned()).await
        else {
            return Err(DriverError::Overloaded(format!(
                "all {} sandbox slots stayed busy for {} ms",
                self.settings.max_concurrent_calls,
                deadline.as_millis()
            )));
        };
        let mut store = self.store(limits.memory_mib, limits.cpu_ms, None);
        let run = async {
            let instance = driver.pre.instantiate_async(&mut store).await?;
            let d = instance.kezek_device_driver();
            Ok::<_, wasmtime::Error>(match call {
                Call::Describe => Answer::Described(d.call_describe(&mut store).await?),
                Call::Configure(config, now) => {
                    Answer::Configured(d.call_configure(&mut store, &config, now).await?)
                }
                Call::Decode(state, input, now) => {
                    Answer::Stepped(d.call_decode(&mut store, &state, &input, now).await?)
                }
                Call::Encode(state, command, now) => {
                    Answer::Stepped(d.call_encode(&mut store, &state, &command, now).await?)
                }
                Call::Poll(state, now) => {
                    Answer::Stepped(d.call_poll(&mut store, &state, now).await?)
                }
            })
        };
        let left = deadline.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, run).await {
            Ok(Ok(answer)) => Ok(answer),
            // The adapters' one reading of a fault, in the driver's terms.
            Ok(Err(fault)) => Err(match self.fault(&store, fault) {
                CheckError::CpuBudgetExceeded(ms) => DriverError::CpuBudgetExceeded(ms),
                CheckError::MemoryCapExceeded(mib) => DriverError::MemoryCapExceeded(mib),
                CheckError::Trapped(message) => DriverError::Trapped(message),
                other => DriverError::Trapped(other.to_string()),
            }),
            Err(_) => Err(DriverError::Timeout(format!(
                "driver {} did not finish within {} ms",
                driver.descriptor.id,
                deadline.as_millis()
            ))),
        }
    }
}

fn descriptor(d: wit::Descriptor) -> DriverDescriptor {
    let c = d.capabilities;
    DriverDescriptor {
        id: d.id,
        version: d.version,
        kind: match d.kind {
            wit::DeviceKind::Camera => dev::DeviceKind::Camera,
            wit::DeviceKind::Barrier => dev::DeviceKind::Barrier,
            wit::DeviceKind::Board => dev::DeviceKind::Board,
        },
        protocol: d.protocol,
        transport: match d.transport {
            wit::Transport::HttpPush => dev::Transport::HttpPush,
            wit::Transport::HttpRequest => dev::Transport::HttpRequest,
            wit::Transport::TcpStream => dev::Transport::TcpStream,
        },
        capabilities: dev::Capabilities {
            read_plates: c.contains(wit::Capabilities::READ_PLATES),
            open_barrier: c.contains(wit::Capabilities::OPEN_BARRIER),
            close_barrier: c.contains(wit::Capabilities::CLOSE_BARRIER),
            barrier_state: c.contains(wit::Capabilities::BARRIER_STATE),
            inputs: c.contains(wit::Capabilities::INPUTS),
            show_text: c.contains(wit::Capabilities::SHOW_TEXT),
            heartbeat: c.contains(wit::Capabilities::HEARTBEAT),
        },
        config: d
            .config
            .into_iter()
            .map(|f| dev::ConfigField {
                name: f.name,
                description: f.description,
                value_type: match f.value_type {
                    wit::ConfigType::Text => dev::ConfigType::Text,
                    wit::ConfigType::Integer => dev::ConfigType::Integer,
                    wit::ConfigType::Boolean => dev::ConfigType::Boolean,
                },
                default: f.default,
            })
            .collect(),
        poll_interval_ms: d.poll_interval_ms,
        silence_ms: d.silence_ms,
    }
}

fn device_error(e: wit::DeviceError) -> DriverError {
    match e {
        wit::DeviceError::BadConfig(m) => DriverError::BadConfig(m),
        wit::DeviceError::BadState(m) => DriverError::BadState(m),
        wit::DeviceError::Malformed(m) => DriverError::Malformed(m),
        wit::DeviceError::RejectedCommand(m) => DriverError::RejectedCommand(m),
    }
}

fn to_request(r: dev::HttpRequest) -> wit::HttpRequest {
    wit::HttpRequest {
        tag: r.tag,
        method: r.method,
        path: r.path,
        headers: r.headers,
        body: r.body,
    }
}

fn request(r: wit::HttpRequest) -> dev::HttpRequest {
    dev::HttpRequest {
        tag: r.tag,
        method: r.method,
        path: r.path,
        headers: r.headers,
        body: r.body,
    }
}

fn to_input(i: dev::Input) -> wit::Input {
    match i {
        dev::Input::Bytes(b) => wit::Input::Bytes(b),
        dev::Input::Push(r) => wit::Input::Push(to_request(r)),
        dev::Input::Response(r) => wit::Input::Response(wit::HttpResponse {
            tag: r.tag,
            status: r.status,
            headers: r.headers,
            body: r.body,
        }),
        dev::Input::Unanswered(tag) => wit::Input::Unanswered(tag),
        dev::Input::Connected => wit::Input::Connected,
    }
}

fn to_command(c: dev::Command) -> wit::Command {
    match c {
        dev::Command::OpenBarrier => wit::Command::OpenBarrier,
        dev::Command::CloseBarrier => wit::Command::CloseBarrier,
        dev::Command::ShowText(lines) => wit::Command::ShowText(wit::BoardText { lines }),
    }
}

fn step(s: wit::Step) -> dev::Step {
    dev::Step {
        events: s.events.into_iter().map(event).collect(),
        outbound: s
            .outbound
            .into_iter()
            .map(|o| match o {
                wit::Outbound::Bytes(b) => dev::Outbound::Bytes(b),
                wit::Outbound::Http(r) => dev::Outbound::Http(request(r)),
            })
            .collect(),
        state: s.state,
        wake_at: s.wake_at,
    }
}

fn event(e: wit::Event) -> dev::Event {
    match e {
        wit::Event::PlateRead(p) => dev::Event::PlateRead(dev::PlateRead {
            candidates: p
                .candidates
                .into_iter()
                .map(|c| dev::PlateCandidate {
                    plate: c.plate,
                    confidence: c.confidence,
                })
                .collect(),
            country: p.country,
            direction: match p.direction {
                wit::Direction::Approaching => dev::Direction::Approaching,
                wit::Direction::Leaving => dev::Direction::Leaving,
                wit::Direction::Unknown => dev::Direction::Unknown,
            },
            device_event: p.device_event,
            device_time: p.device_time,
            pictures: p
                .pictures
                .into_iter()
                .map(|p| dev::Picture {
                    kind: match p.kind {
                        wit::PictureKind::Plate => dev::PictureKind::Plate,
                        wit::PictureKind::Vehicle => dev::PictureKind::Vehicle,
                    },
                    content_type: p.content_type,
                    data: p.data,
                })
                .collect(),
        }),
        wit::Event::Barrier(b) => dev::Event::Barrier(match b {
            wit::BarrierPosition::Closed => dev::BarrierPosition::Closed,
            wit::BarrierPosition::Open => dev::BarrierPosition::Open,
            wit::BarrierPosition::Moving => dev::BarrierPosition::Moving,
            wit::BarrierPosition::Unknown => dev::BarrierPosition::Unknown,
        }),
        wit::Event::InputChanged(i) => dev::Event::InputChanged(dev::InputChange {
            index: i.index,
            role: match i.role {
                wit::InputRole::LoopDetector => dev::InputRole::LoopDetector,
                wit::InputRole::ArmOpen => dev::InputRole::ArmOpen,
                wit::InputRole::ArmClosed => dev::InputRole::ArmClosed,
                wit::InputRole::Other => dev::InputRole::Other,
            },
            active: i.active,
        }),
        wit::Event::Heartbeat => dev::Event::Heartbeat,
        wit::Event::Done => dev::Event::Done,
        wit::Event::Fault(f) => dev::Event::Fault(dev::Fault {
            code: f.code,
            message: f.message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ADR 0020: every capability flag crosses to the host's type by its own name.
    #[test]
    fn capabilities_cross_by_name() {
        let described = |c| {
            descriptor(wit::Descriptor {
                id: "d".into(),
                version: "1.0.0".into(),
                kind: wit::DeviceKind::Barrier,
                protocol: "p".into(),
                transport: wit::Transport::TcpStream,
                capabilities: c,
                config: Vec::new(),
                poll_interval_ms: Some(500),
                silence_ms: 3000,
            })
        };
        let d = described(wit::Capabilities::OPEN_BARRIER | wit::Capabilities::INPUTS);
        assert_eq!(d.capabilities.names(), ["open-barrier", "inputs"]);
        assert_eq!(d.transport, dev::Transport::TcpStream);
        assert!(
            described(wit::Capabilities::empty())
                .capabilities
                .names()
                .is_empty()
        );
        let all = described(wit::Capabilities::all()).capabilities.names();
        assert_eq!(all.len(), 7);
    }

    /// A driver's own refusals stay its own kind: none of them is a sandbox fault.
    #[test]
    fn driver_refusals_are_not_faults() {
        for e in [
            wit::DeviceError::BadConfig("unit-id".into()),
            wit::DeviceError::BadState("v9".into()),
            wit::DeviceError::Malformed("frame".into()),
            wit::DeviceError::RejectedCommand("show-text".into()),
        ] {
            assert!(!device_error(e).is_fault());
        }
    }
}
