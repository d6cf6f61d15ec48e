//! The relay driver end to end through its exports, frames byte-exact (issue 13: FC05 and
//! FC02 with transaction ids, exception answers, truncated frames).

use super::*;
use kezek_device_sdk::{BarrierPosition, Event, InputChange, InputRole, Outbound};

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as Timestamp
}

fn configured(pairs: &[(&str, &str)]) -> Vec<u8> {
    let config = pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    ModbusRelay::configure(config, now()).unwrap()
}

fn sent(step: &Step) -> Vec<Vec<u8>> {
    step.outbound
        .iter()
        .map(|o| match o {
            Outbound::Bytes(b) => b.clone(),
            Outbound::Http(r) => panic!("HTTP from a Modbus driver: {r:?}"),
        })
        .collect()
}

fn input(index: u16, role: InputRole, active: bool) -> Event {
    Event::InputChanged(InputChange {
        index,
        role,
        active,
    })
}

fn codes(step: &Step) -> Vec<&str> {
    step.events
        .iter()
        .filter_map(|e| match e {
            Event::Fault(f) => Some(f.code.as_str()),
            _ => None,
        })
        .collect()
}

/// P11: open is a timed pulse of the coil; the arm and the loop come from the inputs.
#[test]
fn a_pulse_and_the_inputs_frame_by_frame() {
    let t = now();
    let step = ModbusRelay::decode(configured(&[]), Input::Connected, t).unwrap();
    assert_eq!(sent(&step), [hex("00 01 00 00 00 06 01 02 00 00 00 03")]);

    // loop off, arm-open off, arm-closed on
    let step = ModbusRelay::decode(
        step.state,
        Input::Bytes(hex("00 01 00 00 00 04 01 02 01 04")),
        t,
    )
    .unwrap();
    assert_eq!(
        step.events,
        [
            input(0, InputRole::LoopDetector, false),
            input(1, InputRole::ArmOpen, false),
            input(2, InputRole::ArmClosed, true),
            Event::Barrier(BarrierPosition::Closed),
        ]
    );

    let step = ModbusRelay::encode(step.state, Command::OpenBarrier, t + 10).unwrap();
    assert_eq!(sent(&step), [hex("00 02 00 00 00 06 01 05 00 00 FF 00")]);
    assert_eq!(step.wake_at, Some(t + 510));

    // The echo arrives in two chunks: nothing until it is whole.
    let echo = hex("00 02 00 00 00 06 01 05 00 00 FF 00");
    let step = ModbusRelay::decode(step.state, Input::Bytes(echo[..5].to_vec()), t + 20).unwrap();
    assert!(step.events.is_empty());
    let step = ModbusRelay::decode(step.state, Input::Bytes(echo[5..].to_vec()), t + 21).unwrap();
    assert_eq!(step.events, [Event::Done]);
    assert_eq!(step.wake_at, Some(t + 510));

    // Not yet due: only the input read.
    let step = ModbusRelay::poll(step.state, t + 300).unwrap();
    assert_eq!(sent(&step), [hex("00 03 00 00 00 06 01 02 00 00 00 03")]);
    // loop on, arm moving
    let step = ModbusRelay::decode(
        step.state,
        Input::Bytes(hex("00 03 00 00 00 04 01 02 01 01")),
        t + 301,
    )
    .unwrap();
    assert_eq!(
        step.events,
        [
            input(0, InputRole::LoopDetector, true),
            input(2, InputRole::ArmClosed, false),
            Event::Barrier(BarrierPosition::Moving),
        ]
    );

    // Due: the coil goes off, and the inputs are read.
    let step = ModbusRelay::poll(step.state, t + 510).unwrap();
    assert_eq!(
        sent(&step),
        [
            hex("00 04 00 00 00 06 01 05 00 00 00 00"),
            hex("00 05 00 00 00 06 01 02 00 00 00 03")
        ]
    );
    assert_eq!(step.wake_at, None);
    // Both answers in one chunk; the arm is up.
    let mut both = hex("00 04 00 00 00 06 01 05 00 00 00 00");
    both.extend(hex("00 05 00 00 00 04 01 02 01 03"));
    let step = ModbusRelay::decode(step.state, Input::Bytes(both), t + 520).unwrap();
    assert_eq!(
        step.events,
        [
            input(1, InputRole::ArmOpen, true),
            Event::Barrier(BarrierPosition::Open)
        ]
    );
}

#[test]
fn exceptions_and_silence_are_faults() {
    let t = now();
    let state = configured(&[("unit-id", "17"), ("open-coil", "3")]);
    let step = ModbusRelay::encode(state, Command::OpenBarrier, t).unwrap();
    assert_eq!(sent(&step), [hex("00 01 00 00 00 06 11 05 00 03 FF 00")]);
    let step = ModbusRelay::decode(
        step.state,
        Input::Bytes(hex("00 01 00 00 00 03 11 85 02")),
        t,
    )
    .unwrap();
    assert_eq!(codes(&step), ["modbus-exception-2"]);
    let Event::Fault(f) = &step.events[0] else {
        unreachable!()
    };
    assert!(f.message.contains("illegal data address"), "{}", f.message);

    // A read goes unanswered: after the answer time it is a fault and read again.
    let step = ModbusRelay::poll(step.state, t + 1).unwrap();
    assert_eq!(sent(&step).len(), 1);
    let step = ModbusRelay::poll(step.state, t + 2).unwrap();
    assert!(sent(&step).is_empty(), "one read in flight at a time");
    let step = ModbusRelay::poll(step.state, t + 1 + relay::ANSWER_MS).unwrap();
    assert_eq!(codes(&step), ["modbus-timeout"]);
    // The pulse's end was due as well: coil off, then the new read.
    assert_eq!(
        sent(&step),
        [
            hex("00 03 00 00 00 06 11 05 00 03 00 00"),
            hex("00 04 00 00 00 06 11 02 00 00 00 03")
        ]
    );
    // The late answer to the given-up read is ignored.
    let step = ModbusRelay::decode(
        step.state,
        Input::Bytes(hex("00 02 00 00 00 04 11 02 01 07")),
        t,
    )
    .unwrap();
    assert!(step.events.is_empty());
}

/// A stream out of step is malformed (the host reconnects); the previous state stands.
#[test]
fn malformed_streams() {
    let state = configured(&[]);
    let step = ModbusRelay::poll(state, now()).unwrap();
    for (bytes, want) in [
        ("00 01 00 00 00 04 02 02 01 04", "unit 2"),
        ("00 01 00 07 00 04 01 02 01 04", "protocol id 7"),
        ("00 01 00 00 00 06 01 05 00 00 FF 00", "answered"),
        (
            "00 01 00 00 00 03 01 02 00",
            "0 inputs answered, input 0 missing",
        ),
    ] {
        match ModbusRelay::decode(step.state.clone(), Input::Bytes(hex(bytes)), now()) {
            Err(DeviceError::Malformed(m)) => assert!(m.contains(want), "{m}"),
            other => panic!("{want}: {other:?}"),
        }
    }
    assert!(matches!(
        ModbusRelay::decode(step.state.clone(), Input::Unanswered("x".into()), now()),
        Err(DeviceError::Malformed(_))
    ));
    assert!(matches!(
        ModbusRelay::encode(step.state, Command::CloseBarrier, now()),
        Err(DeviceError::RejectedCommand(_))
    ));
}

#[test]
fn wiring_mistakes() {
    fn check(pairs: &[(&str, &str)], want: &str) {
        let config = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        match ModbusRelay::configure(config, 0) {
            Err(DeviceError::BadConfig(m)) => assert!(m.contains(want), "{pairs:?}: {m}"),
            other => panic!("{pairs:?}: {other:?}"),
        }
    }
    check(&[("loop-input", "1")], "three different inputs");
    check(&[("arm-closed-input", "2500")], "within 2000");
    check(&[("unit-id", "256")], "0..=255");
    check(&[("pulse-ms", "10")], "100..=10000");
    check(&[("coil", "1")], "unknown field \"coil\"");
}
