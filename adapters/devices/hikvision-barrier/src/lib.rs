//! P11, D58: a Hikvision barrier gate over ISAPI. `open-barrier` / `close-barrier` become a
//! `PUT …/barrierGate`; an accepted command is read back with a status request, and the
//! status is polled, so the host learns the arm's position (0 no signal, 1 closed, 2 open)
//! whoever moved it. Codec in `isapi.rs`; this file is the thin export.

mod isapi;

use isapi::Control;
use kezek_device_sdk::config::Config;
use kezek_device_sdk::state::{Reader, Writer};
use kezek_device_sdk::{
    BarrierPosition, Capabilities, Command, ConfigType, Descriptor, DeviceError, DeviceKind,
    Driver, Event, HttpRequest, Input, Outbound, Step, Timestamp, Transport, fault, optional,
};

const STATE: u8 = 1;
const STATUS_TAG: &str = "status";

struct HikvisionBarrier;

/// What a call remembers: the channel, and the last position reported (so only changes
/// become events).
struct State {
    channel: u16,
    reported: Option<BarrierPosition>,
}

impl State {
    fn read(blob: &[u8]) -> Result<State, DeviceError> {
        let mut r = Reader::new(blob, STATE)?;
        let channel = r.u16()?;
        let reported = match r.u8()? {
            0 => None,
            1 => Some(BarrierPosition::Closed),
            2 => Some(BarrierPosition::Open),
            3 => Some(BarrierPosition::Moving),
            4 => Some(BarrierPosition::Unknown),
            n => return Err(DeviceError::BadState(format!("position {n}"))),
        };
        r.end()?;
        Ok(State { channel, reported })
    }

    fn write(&self) -> Vec<u8> {
        let position = match self.reported {
            None => 0,
            Some(BarrierPosition::Closed) => 1,
            Some(BarrierPosition::Open) => 2,
            Some(BarrierPosition::Moving) => 3,
            Some(BarrierPosition::Unknown) => 4,
        };
        Writer::new(STATE).u16(self.channel).u8(position).finish()
    }

    fn status_request(&self) -> Outbound {
        Outbound::Http(HttpRequest {
            tag: STATUS_TAG.into(),
            method: "GET".into(),
            path: isapi::status_path(self.channel),
            headers: Vec::new(),
            body: Vec::new(),
        })
    }
}

impl Driver for HikvisionBarrier {
    fn describe() -> Descriptor {
        Descriptor {
            id: "hikvision-barrier".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: DeviceKind::Barrier,
            protocol: "Hikvision ISAPI barrier gate".into(),
            transport: Transport::HttpRequest,
            capabilities: Capabilities::OPEN_BARRIER
                | Capabilities::CLOSE_BARRIER
                | Capabilities::BARRIER_STATE,
            config: vec![optional(
                "channel",
                ConfigType::Integer,
                "1",
                "ISAPI parking channel of the barrier",
            )],
            poll_interval_ms: Some(1000),
            silence_ms: 5000,
        }
    }

    fn configure(config: Vec<(String, String)>, _now: Timestamp) -> Result<Vec<u8>, DeviceError> {
        let config = Config::parse(&Self::describe().config, config)?;
        let channel = config.integer("channel", 1, 64)?;
        Ok(State {
            channel,
            reported: None,
        }
        .write())
    }

    fn decode(state: Vec<u8>, input: Input, _now: Timestamp) -> Result<Step, DeviceError> {
        let mut state = State::read(&state)?;
        let mut step = Step::keep(Vec::new());
        match input {
            Input::Response(answer) if answer.tag == STATUS_TAG => {
                if answer.status != 200 {
                    step.events.push(fault(
                        format!("isapi-http-{}", answer.status),
                        "the barrier refused the status read",
                    ));
                } else {
                    let position = isapi::position(&answer.body).map_err(DeviceError::Malformed)?;
                    if state.reported != Some(position) {
                        state.reported = Some(position);
                        step.events.push(Event::Barrier(position));
                    }
                }
            }
            Input::Response(answer) if answer.tag == "open" || answer.tag == "close" => {
                match isapi::response_status(answer.status, &answer.body)
                    .map_err(DeviceError::Malformed)?
                {
                    Ok(()) => {
                        step.events.push(Event::Done);
                        step.outbound.push(state.status_request());
                    }
                    Err(refusal) => step.events.push(fault(
                        format!("isapi-status-{}", refusal.status_code),
                        format!(
                            "the barrier refused to {}: {}",
                            answer.tag, refusal.sub_status
                        ),
                    )),
                }
            }
            Input::Response(answer) => {
                return Err(DeviceError::Malformed(format!(
                    "an answer to request {:?}, which this driver never sends",
                    answer.tag
                )));
            }
            Input::Unanswered(tag) if tag == "open" || tag == "close" => {
                step.events.push(fault(
                    "no-answer",
                    format!("the barrier did not answer {tag}"),
                ));
            }
            Input::Unanswered(_) | Input::Connected => {}
            Input::Push(_) | Input::Bytes(_) => {
                return Err(DeviceError::Malformed(
                    "this driver takes only answers to its own requests".into(),
                ));
            }
        }
        step.state = state.write();
        Ok(step)
    }

    fn encode(state: Vec<u8>, command: Command, _now: Timestamp) -> Result<Step, DeviceError> {
        let state = State::read(&state)?;
        let control = match command {
            Command::OpenBarrier => Control::Open,
            Command::CloseBarrier => Control::Close,
            Command::ShowText(_) => {
                return Err(DeviceError::RejectedCommand(
                    "a barrier shows no text".into(),
                ));
            }
        };
        let mut step = Step::keep(state.write());
        step.outbound.push(Outbound::Http(HttpRequest {
            tag: control.mode().into(),
            method: "PUT".into(),
            path: isapi::control_path(state.channel),
            headers: vec![("Content-Type".into(), "application/xml".into())],
            body: isapi::control_body(control).into_bytes(),
        }));
        Ok(step)
    }

    fn poll(state: Vec<u8>, _now: Timestamp) -> Result<Step, DeviceError> {
        let state = State::read(&state)?;
        let mut step = Step::keep(state.write());
        step.outbound.push(state.status_request());
        Ok(step)
    }
}

kezek_device_sdk::export_driver!(HikvisionBarrier);

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_device_sdk::HttpResponse;

    fn configured(pairs: &[(&str, &str)]) -> Vec<u8> {
        let config = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        HikvisionBarrier::configure(config, 0).unwrap()
    }

    fn answer(tag: &str, status: u16, body: &str) -> Input {
        Input::Response(HttpResponse {
            tag: tag.into(),
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        })
    }

    fn status_body(value: u8) -> String {
        format!(
            "<BarrierGateStatus xmlns=\"http://www.isapi.org/ver20/XMLSchema\"><barrierGateStatus>{value}</barrierGateStatus></BarrierGateStatus>"
        )
    }

    /// P11: "open" is a PUT of ctrlMode open to the configured channel.
    #[test]
    fn open_is_a_put_to_the_channel() {
        let state = configured(&[("channel", "2")]);
        let step = HikvisionBarrier::encode(state, Command::OpenBarrier, 0).unwrap();
        let [Outbound::Http(req)] = step.outbound.as_slice() else {
            panic!("{:?}", step.outbound)
        };
        assert_eq!(
            (req.method.as_str(), req.path.as_str(), req.tag.as_str()),
            ("PUT", "/ISAPI/Parking/channels/2/barrierGate", "open")
        );
        assert!(String::from_utf8_lossy(&req.body).contains("<ctrlMode>open</ctrlMode>"));
        let refused = HikvisionBarrier::encode(
            step.state,
            Command::ShowText(kezek_device_sdk::BoardText { lines: vec![] }),
            0,
        );
        assert!(matches!(refused, Err(DeviceError::RejectedCommand(_))));
    }

    /// An accepted command is done and read back; a refusal is a fault with ISAPI's code.
    #[test]
    fn command_answers() {
        let state = configured(&[]);
        let ok = "<ResponseStatus><statusCode>1</statusCode></ResponseStatus>";
        let step = HikvisionBarrier::decode(state.clone(), answer("open", 200, ok), 0).unwrap();
        assert_eq!(step.events, [Event::Done]);
        assert!(
            matches!(&step.outbound[..], [Outbound::Http(r)] if r.tag == STATUS_TAG && r.method == "GET")
        );

        let refused = "<ResponseStatus><statusCode>4</statusCode><subStatusCode>invalidOperation</subStatusCode></ResponseStatus>";
        let step =
            HikvisionBarrier::decode(state.clone(), answer("open", 400, refused), 0).unwrap();
        assert!(
            matches!(&step.events[..], [Event::Fault(f)] if f.code == "isapi-status-4"),
            "{:?}",
            step.events
        );
        assert!(step.outbound.is_empty());

        let step =
            HikvisionBarrier::decode(state.clone(), Input::Unanswered("close".into()), 0).unwrap();
        assert!(matches!(&step.events[..], [Event::Fault(f)] if f.code == "no-answer"));

        let odd = HikvisionBarrier::decode(state, answer("lock", 200, ok), 0);
        assert!(matches!(odd, Err(DeviceError::Malformed(_))));
    }

    /// The position becomes an event when it changes, not on every poll.
    #[test]
    fn status_reads_report_changes() {
        let state = configured(&[]);
        let step = HikvisionBarrier::poll(state, 0).unwrap();
        assert!(
            matches!(&step.outbound[..], [Outbound::Http(r)] if r.path.ends_with("/barrierGate/barrierGateStatus"))
        );
        let step =
            HikvisionBarrier::decode(step.state, answer(STATUS_TAG, 200, &status_body(1)), 0)
                .unwrap();
        assert_eq!(step.events, [Event::Barrier(BarrierPosition::Closed)]);
        let step =
            HikvisionBarrier::decode(step.state, answer(STATUS_TAG, 200, &status_body(1)), 0)
                .unwrap();
        assert!(step.events.is_empty());
        let step =
            HikvisionBarrier::decode(step.state, answer(STATUS_TAG, 200, &status_body(2)), 0)
                .unwrap();
        assert_eq!(step.events, [Event::Barrier(BarrierPosition::Open)]);
        let bad = HikvisionBarrier::decode(step.state, answer(STATUS_TAG, 200, &status_body(9)), 0);
        assert!(matches!(bad, Err(DeviceError::Malformed(_))));
    }

    #[test]
    fn configuration_mistakes() {
        for (pairs, want) in [
            (vec![("channel".to_string(), "0".to_string())], "1..=64"),
            (
                vec![("chanel".to_string(), "1".to_string())],
                "unknown field",
            ),
        ] {
            match HikvisionBarrier::configure(pairs, 0) {
                Err(DeviceError::BadConfig(m)) => assert!(m.contains(want), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            HikvisionBarrier::poll(vec![9, 9], 0),
            Err(DeviceError::BadState(_))
        ));
    }
}
