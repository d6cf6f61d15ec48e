//! The relay module's state machine over Modbus TCP frames (`kezek_device_sdk::modbus`).
//!
//! Open is a pulse: FC05 coil on now, coil off at the pulse's end (the host wakes the driver
//! with `poll` at `wake-at`). The arm's end positions and the loop detector are discrete
//! inputs, read with FC02 on every poll; a change becomes an `input-changed` event, and the
//! arm inputs a `barrier` event. The loop interlock is the barrier's own hardware: the
//! driver only reports the loop.

use kezek_device_sdk::modbus::{self, Decoded, Frame, Request, Response};
use kezek_device_sdk::state::{Reader, Writer};
use kezek_device_sdk::{
    BarrierPosition, DeviceError, Event, InputChange, InputRole, Outbound, Step, Timestamp, fault,
};

const STATE: u8 = 1;
/// An answer later than this is given up on (and a late one ignored).
pub const ANSWER_MS: u64 = 3000;
/// Requests in flight at most (the state counts them in a byte); a module this far behind
/// is answering nothing, and the oldest is given up on first.
const MAX_PENDING: usize = 32;

/// The operator's wiring of the module.
#[derive(Debug, Clone, PartialEq)]
pub struct Wiring {
    pub unit: u8,
    pub open_coil: u16,
    pub pulse_ms: u32,
    /// Discrete input indexes, in [`ROLES`] order.
    pub inputs: [u16; 3],
}

/// The roles of the wired inputs, in [`Wiring::inputs`] order.
pub const ROLES: [InputRole; 3] = [
    InputRole::LoopDetector,
    InputRole::ArmOpen,
    InputRole::ArmClosed,
];

/// What a request was for, to read its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    CoilOn = 1,
    CoilOff = 2,
    Inputs = 3,
}

#[derive(Debug, PartialEq)]
pub struct Relay {
    pub wiring: Wiring,
    next_transaction: u16,
    /// Requests sent and not yet answered: transaction, what, when.
    pending: Vec<(u16, Asked, Timestamp)>,
    /// When the open coil must go off again, while a pulse runs.
    pulse_until: Option<Timestamp>,
    /// Input states last reported, once read.
    inputs: Option<[bool; 3]>,
    /// A frame's first bytes, until the rest arrives.
    buffer: Vec<u8>,
}

impl Relay {
    pub fn new(wiring: Wiring) -> Relay {
        Relay {
            wiring,
            next_transaction: 1,
            pending: Vec::new(),
            pulse_until: None,
            inputs: None,
            buffer: Vec::new(),
        }
    }

    pub fn read(blob: &[u8]) -> Result<Relay, DeviceError> {
        let mut r = Reader::new(blob, STATE)?;
        let wiring = Wiring {
            unit: r.u8()?,
            open_coil: r.u16()?,
            pulse_ms: r.u32()?,
            inputs: [r.u16()?, r.u16()?, r.u16()?],
        };
        let next_transaction = r.u16()?;
        let mut pending = Vec::new();
        for _ in 0..r.u8()? {
            let transaction = r.u16()?;
            let asked = match r.u8()? {
                1 => Asked::CoilOn,
                2 => Asked::CoilOff,
                3 => Asked::Inputs,
                n => return Err(DeviceError::BadState(format!("request kind {n}"))),
            };
            pending.push((transaction, asked, r.u64()?));
        }
        let pulse_until = Some(r.u64()?).filter(|&t| t != 0);
        let inputs = match r.u8()? {
            0xFF => None,
            bits if bits < 8 => Some([bits & 1 != 0, bits & 2 != 0, bits & 4 != 0]),
            n => return Err(DeviceError::BadState(format!("inputs {n}"))),
        };
        let buffer = r.bytes()?.to_vec();
        r.end()?;
        Ok(Relay {
            wiring,
            next_transaction,
            pending,
            pulse_until,
            inputs,
            buffer,
        })
    }

    pub fn write(&self) -> Vec<u8> {
        let mut w = Writer::new(STATE);
        let wiring = &self.wiring;
        w.u8(wiring.unit).u16(wiring.open_coil).u32(wiring.pulse_ms);
        for input in wiring.inputs {
            w.u16(input);
        }
        w.u16(self.next_transaction).u8(self.pending.len() as u8);
        for &(transaction, asked, at) in &self.pending {
            w.u16(transaction).u8(asked as u8).u64(at);
        }
        w.u64(self.pulse_until.unwrap_or(0));
        w.u8(self.inputs.map_or(0xFF, |[a, b, c]| {
            u8::from(a) | u8::from(b) << 1 | u8::from(c) << 2
        }));
        w.bytes(&self.buffer).finish()
    }

    fn send(&mut self, step: &mut Step, asked: Asked, now: Timestamp) {
        let body = match asked {
            Asked::CoilOn | Asked::CoilOff => Request::WriteSingleCoil {
                address: self.wiring.open_coil,
                on: asked == Asked::CoilOn,
            },
            Asked::Inputs => {
                let first = *self.wiring.inputs.iter().min().expect("three inputs");
                let last = *self.wiring.inputs.iter().max().expect("three inputs");
                Request::ReadDiscreteInputs {
                    address: first,
                    count: last - first + 1,
                }
            }
        };
        let transaction = self.next_transaction;
        self.next_transaction = transaction.wrapping_add(1);
        if self.pending.len() == MAX_PENDING {
            self.pending.remove(0);
        }
        self.pending.push((transaction, asked, now));
        let frame = Frame {
            transaction,
            unit: self.wiring.unit,
            body,
        };
        step.outbound
            .push(Outbound::Bytes(modbus::encode_request(&frame)));
    }

    /// P11: pulse the open coil. A second open during a pulse starts the pulse afresh.
    pub fn open(&mut self, step: &mut Step, now: Timestamp) {
        self.send(step, Asked::CoilOn, now);
        self.pulse_until = Some(now + u64::from(self.wiring.pulse_ms));
    }

    /// Ends a pulse that is due, gives up on unanswered requests, reads the inputs.
    pub fn poll(&mut self, step: &mut Step, now: Timestamp) {
        if self.pulse_until.is_some_and(|end| now >= end) {
            self.pulse_until = None;
            self.send(step, Asked::CoilOff, now);
        }
        let before = self.pending.len();
        let mut lost_off = false;
        self.pending.retain(|&(_, asked, at)| {
            let keep = now.saturating_sub(at) < ANSWER_MS;
            lost_off |= !keep && asked == Asked::CoilOff;
            keep
        });
        if self.pending.len() < before {
            step.events.push(fault(
                "modbus-timeout",
                "the relay module did not answer in time",
            ));
        }
        if lost_off {
            // The coil may still be on: say off again rather than leave the barrier held open.
            self.send(step, Asked::CoilOff, now);
        }
        if !self
            .pending
            .iter()
            .any(|&(_, asked, _)| asked == Asked::Inputs)
        {
            self.send(step, Asked::Inputs, now);
        }
    }

    /// The connection was (re)made: whatever was in flight is void; read the inputs afresh,
    /// and finish a pulse that was running.
    pub fn connected(&mut self, step: &mut Step, now: Timestamp) {
        self.pending.clear();
        self.buffer.clear();
        self.inputs = None;
        self.poll(step, now);
    }

    /// Reads every whole frame in the bytes received so far.
    pub fn receive(&mut self, step: &mut Step, bytes: &[u8]) -> Result<(), DeviceError> {
        self.buffer.extend_from_slice(bytes);
        let mut at = 0;
        while let Decoded::Frame(frame, used) =
            modbus::decode_response(&self.buffer[at..]).map_err(DeviceError::Malformed)?
        {
            at += used;
            self.answer(step, frame)?;
        }
        self.buffer.drain(..at);
        Ok(())
    }

    fn answer(&mut self, step: &mut Step, frame: Frame<Response>) -> Result<(), DeviceError> {
        if frame.unit != self.wiring.unit {
            return Err(DeviceError::Malformed(format!(
                "an answer from unit {}, this module is unit {}",
                frame.unit, self.wiring.unit
            )));
        }
        let Some(i) = self.pending.iter().position(|p| p.0 == frame.transaction) else {
            return Ok(()); // a late answer to a request given up on
        };
        let (_, asked, _) = self.pending.remove(i);
        match (asked, frame.body) {
            (Asked::CoilOn, Response::WriteSingleCoil { on: true, .. }) => {
                step.events.push(Event::Done)
            }
            (Asked::CoilOff, Response::WriteSingleCoil { on: false, .. }) => {}
            (Asked::Inputs, Response::DiscreteInputs(bits)) => self.inputs_read(step, &bits)?,
            (asked, Response::Exception { function, code }) => step.events.push(fault(
                format!("modbus-exception-{code}"),
                format!(
                    "the relay module refused {} (function {function:#04x}): {}",
                    match asked {
                        Asked::CoilOn => "to pulse the open coil",
                        Asked::CoilOff => "to end the open pulse",
                        Asked::Inputs => "to read its inputs",
                    },
                    modbus::exception_name(code)
                ),
            )),
            (asked, body) => {
                return Err(DeviceError::Malformed(format!(
                    "transaction {} asked {asked:?}, answered {body:?}",
                    frame.transaction
                )));
            }
        }
        Ok(())
    }

    fn inputs_read(&mut self, step: &mut Step, bits: &[bool]) -> Result<(), DeviceError> {
        let first = *self.wiring.inputs.iter().min().expect("three inputs");
        let mut now = [false; 3];
        for (slot, &index) in now.iter_mut().zip(&self.wiring.inputs) {
            *slot = *bits.get(usize::from(index - first)).ok_or_else(|| {
                DeviceError::Malformed(format!(
                    "{} inputs answered, input {index} missing",
                    bits.len()
                ))
            })?;
        }
        let before = self.inputs.replace(now);
        for (i, role) in ROLES.into_iter().enumerate() {
            if before.is_none_or(|b| b[i] != now[i]) {
                step.events.push(Event::InputChanged(InputChange {
                    index: self.wiring.inputs[i],
                    role,
                    active: now[i],
                }));
            }
        }
        let position = |[_, open, closed]: [bool; 3]| match (open, closed) {
            (true, false) => BarrierPosition::Open,
            (false, true) => BarrierPosition::Closed,
            (false, false) => BarrierPosition::Moving,
            (true, true) => BarrierPosition::Unknown,
        };
        if before.is_none_or(|b| position(b) != position(now)) {
            step.events.push(Event::Barrier(position(now)));
        }
        Ok(())
    }

    /// When the host must call `poll` at the latest.
    pub fn wake_at(&self) -> Option<Timestamp> {
        self.pulse_until
    }
}
