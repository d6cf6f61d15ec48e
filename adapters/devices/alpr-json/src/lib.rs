//! P10, P30: a JSON ALPR source (Plate Recognizer or OpenALPR webhooks) pushing top-N
//! candidates with scores. Each vehicle in a push is one `plate-read`; a push without a
//! vehicle is a sign of life. Codec in `results.rs`; this file is the thin export.

mod results;

use kezek_device_sdk::config::Config;
use kezek_device_sdk::state::{Reader, Writer};
use kezek_device_sdk::{
    Capabilities, Command, ConfigType, Descriptor, DeviceError, DeviceKind, Direction, Driver,
    Event, Input, PlateRead, Step, Timestamp, Transport, header, optional,
};

const STATE: u8 = 1;

struct AlprJson;

fn max_candidates(blob: &[u8]) -> Result<u8, DeviceError> {
    let mut r = Reader::new(blob, STATE)?;
    let n = r.u8()?;
    r.end()?;
    Ok(n)
}

impl Driver for AlprJson {
    fn describe() -> Descriptor {
        Descriptor {
            id: "alpr-json".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: DeviceKind::Camera,
            protocol: "JSON ALPR webhook (Plate Recognizer, OpenALPR)".into(),
            transport: Transport::HttpPush,
            capabilities: Capabilities::READ_PLATES,
            config: vec![optional(
                "max-candidates",
                ConfigType::Integer,
                "5",
                "how many of a read's candidates to keep, best first",
            )],
            poll_interval_ms: None,
            // A webhook source only speaks when it sees a vehicle.
            silence_ms: 3_600_000,
        }
    }

    fn configure(config: Vec<(String, String)>, _now: Timestamp) -> Result<Vec<u8>, DeviceError> {
        let config = Config::parse(&Self::describe().config, config)?;
        Ok(Writer::new(STATE)
            .u8(config.integer("max-candidates", 1, 20)?)
            .finish())
    }

    fn decode(state: Vec<u8>, input: Input, _now: Timestamp) -> Result<Step, DeviceError> {
        let max = max_candidates(&state)?;
        let push = match input {
            Input::Push(push) => push,
            Input::Connected => return Ok(Step::keep(state)),
            Input::Bytes(_) | Input::Response(_) | Input::Unanswered(_) => {
                return Err(DeviceError::Malformed(
                    "this driver takes only pushed results".into(),
                ));
            }
        };
        let content_type = header(&push.headers, "content-type").unwrap_or("application/json");
        let results = results::parse_push(content_type, &push.body, usize::from(max))
            .map_err(DeviceError::Malformed)?;
        let mut step = Step::keep(state);
        if results.reads.is_empty() {
            step.events.push(Event::Heartbeat);
        }
        for read in results.reads {
            step.events.push(Event::PlateRead(PlateRead {
                candidates: read.candidates,
                country: read.country,
                direction: Direction::Unknown,
                device_event: results.event.clone(),
                device_time: results.time.clone(),
                pictures: results.pictures.clone(),
            }));
        }
        Ok(step)
    }

    fn encode(_state: Vec<u8>, _command: Command, _now: Timestamp) -> Result<Step, DeviceError> {
        Err(DeviceError::RejectedCommand(
            "a camera takes no commands".into(),
        ))
    }

    fn poll(state: Vec<u8>, _now: Timestamp) -> Result<Step, DeviceError> {
        max_candidates(&state)?;
        Ok(Step::keep(state))
    }
}

kezek_device_sdk::export_driver!(AlprJson);

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_device_sdk::HttpRequest;

    fn pushed(body: &str) -> Input {
        Input::Push(HttpRequest {
            tag: String::new(),
            method: "POST".into(),
            path: "/kezek/alpr".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        })
    }

    #[test]
    fn each_vehicle_is_a_read_and_an_empty_push_a_sign_of_life() {
        let config = vec![("max-candidates".to_string(), "2".to_string())];
        let state = AlprJson::configure(config, 0).unwrap();
        let body = r#"{"results": [{"plate": "123ABC02", "score": 0.6, "candidates": [{"plate": "123A8C02", "score": 0.7}, {"plate": "I23ABC02", "score": 0.1}]}, {"plate": "01123ABC", "score": 0.9}]}"#;
        let step = AlprJson::decode(state.clone(), pushed(body), 0).unwrap();
        let reads: Vec<Vec<&str>> = step
            .events
            .iter()
            .map(|e| match e {
                Event::PlateRead(r) => r.candidates.iter().map(|c| c.plate.as_str()).collect(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(reads, [vec!["123A8C02", "123ABC02"], vec!["01123ABC"]]);
        let step = AlprJson::decode(state.clone(), pushed(r#"{"results": []}"#), 0).unwrap();
        assert_eq!(step.events, [Event::Heartbeat]);
        assert!(matches!(
            AlprJson::decode(state, pushed("[]"), 0),
            Err(DeviceError::Malformed(_))
        ));
        let config = vec![("max-candidates".to_string(), "0".to_string())];
        assert!(matches!(
            AlprJson::configure(config, 0),
            Err(DeviceError::BadConfig(_))
        ));
    }
}
