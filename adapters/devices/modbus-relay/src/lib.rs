//! P11, D58: a barrier behind a Modbus TCP relay module. `open-barrier` pulses a coil; the
//! arm's end positions and the loop detector are read from discrete inputs on every poll.
//! The state machine is `relay.rs`, the frames `kezek_device_sdk::modbus`; this file is the
//! thin export.

mod relay;

use kezek_device_sdk::config::Config;
use kezek_device_sdk::{
    Capabilities, Command, ConfigType, Descriptor, DeviceError, DeviceKind, Driver, Input, Step,
    Timestamp, Transport, optional,
};
use relay::{Relay, Wiring};

struct ModbusRelay;

fn finish(relay: &Relay, mut step: Step) -> Step {
    step.state = relay.write();
    step.wake_at = relay.wake_at();
    step
}

impl Driver for ModbusRelay {
    fn describe() -> Descriptor {
        Descriptor {
            id: "modbus-relay".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: DeviceKind::Barrier,
            protocol: "Modbus TCP relay module (FC05 coil pulse, FC02 discrete inputs)".into(),
            transport: Transport::TcpStream,
            capabilities: Capabilities::OPEN_BARRIER
                | Capabilities::BARRIER_STATE
                | Capabilities::INPUTS,
            config: vec![
                optional(
                    "unit-id",
                    ConfigType::Integer,
                    "1",
                    "Modbus unit identifier of the module",
                ),
                optional(
                    "open-coil",
                    ConfigType::Integer,
                    "0",
                    "coil wired to the barrier's open contact",
                ),
                optional(
                    "pulse-ms",
                    ConfigType::Integer,
                    "500",
                    "how long the open coil stays on",
                ),
                optional(
                    "loop-input",
                    ConfigType::Integer,
                    "0",
                    "discrete input of the loop detector",
                ),
                optional(
                    "arm-open-input",
                    ConfigType::Integer,
                    "1",
                    "discrete input of the arm's open end switch",
                ),
                optional(
                    "arm-closed-input",
                    ConfigType::Integer,
                    "2",
                    "discrete input of the arm's closed end switch",
                ),
            ],
            poll_interval_ms: Some(250),
            silence_ms: 2000,
        }
    }

    fn configure(config: Vec<(String, String)>, _now: Timestamp) -> Result<Vec<u8>, DeviceError> {
        let config = Config::parse(&Self::describe().config, config)?;
        let inputs = [
            config.integer("loop-input", 0, u16::MAX)?,
            config.integer("arm-open-input", 0, u16::MAX)?,
            config.integer("arm-closed-input", 0, u16::MAX)?,
        ];
        if inputs[0] == inputs[1] || inputs[1] == inputs[2] || inputs[0] == inputs[2] {
            return Err(DeviceError::BadConfig(
                "loop-input, arm-open-input and arm-closed-input must be three different inputs"
                    .into(),
            ));
        }
        let spread = inputs.iter().max().unwrap_or(&0) - inputs.iter().min().unwrap_or(&0);
        if spread >= 2000 {
            return Err(DeviceError::BadConfig(
                "the wired inputs must lie within 2000 of each other (one FC02 read)".into(),
            ));
        }
        let wiring = Wiring {
            unit: config.integer("unit-id", 0, 255)?,
            open_coil: config.integer("open-coil", 0, u16::MAX)?,
            pulse_ms: config.integer("pulse-ms", 100, 10_000)?,
            inputs,
        };
        Ok(Relay::new(wiring).write())
    }

    fn decode(state: Vec<u8>, input: Input, now: Timestamp) -> Result<Step, DeviceError> {
        let mut relay = Relay::read(&state)?;
        let mut step = Step::keep(Vec::new());
        match input {
            Input::Bytes(bytes) => relay.receive(&mut step, &bytes)?,
            Input::Connected => relay.connected(&mut step, now),
            Input::Push(_) | Input::Response(_) | Input::Unanswered(_) => {
                return Err(DeviceError::Malformed(
                    "this driver speaks Modbus TCP, not HTTP".into(),
                ));
            }
        }
        Ok(finish(&relay, step))
    }

    fn encode(state: Vec<u8>, command: Command, now: Timestamp) -> Result<Step, DeviceError> {
        let mut relay = Relay::read(&state)?;
        let mut step = Step::keep(Vec::new());
        match command {
            Command::OpenBarrier => relay.open(&mut step, now),
            Command::CloseBarrier => {
                return Err(DeviceError::RejectedCommand(
                    "a relay module only pulses open; the barrier closes behind the vehicle by itself".into(),
                ));
            }
            Command::ShowText(_) => {
                return Err(DeviceError::RejectedCommand(
                    "a barrier shows no text".into(),
                ));
            }
        }
        Ok(finish(&relay, step))
    }

    fn poll(state: Vec<u8>, now: Timestamp) -> Result<Step, DeviceError> {
        let mut relay = Relay::read(&state)?;
        let mut step = Step::keep(Vec::new());
        relay.poll(&mut step, now);
        Ok(finish(&relay, step))
    }
}

kezek_device_sdk::export_driver!(ModbusRelay);

#[cfg(test)]
mod tests;
