//! P10, P30: a Hikvision ANPR camera in listening mode. The camera pushes ISAPI
//! `EventNotificationAlert`s to the host's listener; a read becomes a `plate-read` event
//! with its pictures, a heartbeat (or any other alert) a `heartbeat`. A camera re-sends an
//! alert it thinks was lost with the same `activePostCount`: the driver remembers the
//! counts it saw within a window and drops the re-sends. Codec in `alert.rs`; this file is
//! the thin export.

mod alert;

use alert::Alert;
use kezek_device_sdk::config::Config;
use kezek_device_sdk::state::{Reader, Writer};
use kezek_device_sdk::{
    Capabilities, Command, ConfigType, Descriptor, DeviceError, DeviceKind, Driver, Event, Input,
    PlateCandidate, PlateRead, Step, Timestamp, Transport, header, optional,
};

const STATE: u8 = 1;
/// Counts remembered at most (a camera posts far fewer alerts per window).
const SEEN_MAX: usize = 64;

struct HikvisionAnpr;

/// The de-duplication window and the alerts seen in it: (channel, post count, when).
struct State {
    window_ms: u32,
    seen: Vec<(u16, u32, Timestamp)>,
}

impl State {
    fn read(blob: &[u8]) -> Result<State, DeviceError> {
        let mut r = Reader::new(blob, STATE)?;
        let window_ms = r.u32()?;
        let mut seen = Vec::new();
        for _ in 0..r.u8()? {
            seen.push((r.u16()?, r.u32()?, r.u64()?));
        }
        r.end()?;
        Ok(State { window_ms, seen })
    }

    fn write(&self) -> Vec<u8> {
        let mut w = Writer::new(STATE);
        w.u32(self.window_ms).u8(self.seen.len() as u8);
        for &(channel, count, at) in &self.seen {
            w.u16(channel).u32(count).u64(at);
        }
        w.finish()
    }

    /// Whether this alert was seen in the window; remembers it if not.
    fn repeated(&mut self, channel: u16, count: u32, now: Timestamp) -> bool {
        let window = u64::from(self.window_ms);
        self.seen
            .retain(|&(_, _, at)| now.saturating_sub(at) < window);
        if self
            .seen
            .iter()
            .any(|&(ch, c, _)| ch == channel && c == count)
        {
            return true;
        }
        if self.seen.len() == SEEN_MAX {
            self.seen.remove(0);
        }
        self.seen.push((channel, count, now));
        false
    }
}

impl Driver for HikvisionAnpr {
    fn describe() -> Descriptor {
        Descriptor {
            id: "hikvision-anpr".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: DeviceKind::Camera,
            protocol: "Hikvision ISAPI ANPR (EventNotificationAlert, listening mode)".into(),
            transport: Transport::HttpPush,
            capabilities: Capabilities::READ_PLATES | Capabilities::HEARTBEAT,
            config: vec![optional(
                "dedup-window-ms",
                ConfigType::Integer,
                "60000",
                "how long a re-sent alert (same activePostCount) is recognised",
            )],
            poll_interval_ms: None,
            // Three missed heartbeats at the cameras' default 30 s.
            silence_ms: 90_000,
        }
    }

    fn configure(config: Vec<(String, String)>, _now: Timestamp) -> Result<Vec<u8>, DeviceError> {
        let config = Config::parse(&Self::describe().config, config)?;
        let window_ms = config.integer("dedup-window-ms", 1000, 3_600_000)?;
        Ok(State {
            window_ms,
            seen: Vec::new(),
        }
        .write())
    }

    fn decode(state: Vec<u8>, input: Input, now: Timestamp) -> Result<Step, DeviceError> {
        let mut state = State::read(&state)?;
        let push = match input {
            Input::Push(push) => push,
            Input::Connected => return Ok(Step::keep(state.write())),
            Input::Bytes(_) | Input::Response(_) | Input::Unanswered(_) => {
                return Err(DeviceError::Malformed(
                    "this driver takes only pushed alerts".into(),
                ));
            }
        };
        let content_type = header(&push.headers, "content-type").unwrap_or("application/xml");
        let alert = alert::parse_push(content_type, &push.body).map_err(DeviceError::Malformed)?;
        let mut step = Step::keep(Vec::new());
        match alert {
            Alert::Anpr(read) => {
                let repeated = read
                    .post_count
                    .is_some_and(|count| state.repeated(read.channel, count, now));
                if !repeated {
                    step.events.push(Event::PlateRead(PlateRead {
                        candidates: vec![PlateCandidate {
                            plate: read.plate,
                            confidence: read.confidence,
                        }],
                        country: None,
                        direction: read.direction,
                        device_event: read.post_count.map(|c| format!("{}/{c}", read.channel)),
                        device_time: read.date_time,
                        pictures: read.pictures,
                    }));
                }
            }
            // The camera is alive; a vehicle it could not read is the loop's and the
            // officer's business, not a plate.
            Alert::Unread | Alert::Heartbeat | Alert::Other => step.events.push(Event::Heartbeat),
        }
        step.state = state.write();
        Ok(step)
    }

    fn encode(_state: Vec<u8>, _command: Command, _now: Timestamp) -> Result<Step, DeviceError> {
        Err(DeviceError::RejectedCommand(
            "a camera takes no commands".into(),
        ))
    }

    fn poll(state: Vec<u8>, _now: Timestamp) -> Result<Step, DeviceError> {
        Ok(Step::keep(State::read(&state)?.write()))
    }
}

kezek_device_sdk::export_driver!(HikvisionAnpr);

#[cfg(test)]
mod tests {
    use super::alert::samples::*;
    use super::*;
    use kezek_device_sdk::{Direction, HttpRequest, PictureKind};

    fn now() -> Timestamp {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as Timestamp
    }

    fn pushed(content_type: &str, body: Vec<u8>) -> Input {
        Input::Push(HttpRequest {
            tag: String::new(),
            method: "POST".into(),
            path: "/kezek/anpr".into(),
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
        })
    }

    fn alert(post_count: u32, when: &str) -> Input {
        let xml = anpr(
            r#"xmlns="http://www.hikvision.com/ver20/XMLSchema""#,
            "",
            "123ABC02",
            post_count,
            when,
        );
        pushed(
            "multipart/form-data; boundary=boundary",
            push("boundary", &xml, &jpeg("boundary"), &[7; 32]),
        )
    }

    fn reads(step: &Step) -> usize {
        step.events
            .iter()
            .filter(|e| matches!(e, Event::PlateRead(_)))
            .count()
    }

    /// P10: a pushed read becomes a plate-read event with its pictures.
    #[test]
    fn a_push_is_a_plate_read() {
        let t = now();
        let state = HikvisionAnpr::configure(Vec::new(), t).unwrap();
        let when = camera_time();
        let step = HikvisionAnpr::decode(state, alert(5, &when), t).unwrap();
        let [Event::PlateRead(read)] = step.events.as_slice() else {
            panic!("{:?}", step.events)
        };
        assert_eq!(read.candidates.len(), 1);
        assert_eq!(read.candidates[0].plate, "123ABC02");
        assert_eq!(read.direction, Direction::Approaching);
        assert_eq!(read.device_event.as_deref(), Some("1/5"));
        assert_eq!(read.device_time, Some(when));
        let kinds: Vec<_> = read.pictures.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [PictureKind::Plate, PictureKind::Vehicle]);
    }

    /// Issue 13: re-sends (same activePostCount) within the window are dropped.
    #[test]
    fn resends_are_deduplicated_by_active_post_count() {
        let t = now();
        let when = camera_time();
        let config = vec![("dedup-window-ms".to_string(), "10000".to_string())];
        let state = HikvisionAnpr::configure(config, t).unwrap();
        let step = HikvisionAnpr::decode(state, alert(5, &when), t).unwrap();
        assert_eq!(reads(&step), 1);
        let step = HikvisionAnpr::decode(step.state, alert(5, &when), t + 2000).unwrap();
        assert_eq!(reads(&step), 0, "a re-send");
        assert!(step.events.is_empty());
        let step = HikvisionAnpr::decode(step.state, alert(6, &when), t + 2500).unwrap();
        assert_eq!(reads(&step), 1, "the next alert");
        let step = HikvisionAnpr::decode(step.state, alert(5, &when), t + 10_000).unwrap();
        assert_eq!(
            reads(&step),
            1,
            "the window is over (a restarted camera counts again)"
        );
    }

    #[test]
    fn heartbeats_and_errors() {
        let t = now();
        let state = HikvisionAnpr::configure(Vec::new(), t).unwrap();
        let step = HikvisionAnpr::decode(
            state.clone(),
            pushed("application/xml", heartbeat(&camera_time()).into_bytes()),
            t,
        )
        .unwrap();
        assert_eq!(step.events, [Event::Heartbeat]);
        let bad = HikvisionAnpr::decode(
            state.clone(),
            pushed("application/xml", b"<x/>".to_vec()),
            t,
        );
        assert!(
            matches!(bad, Err(DeviceError::Malformed(m)) if m.contains("not an EventNotificationAlert"))
        );
        let bytes = HikvisionAnpr::decode(state.clone(), Input::Bytes(vec![1]), t);
        assert!(matches!(bytes, Err(DeviceError::Malformed(_))));
        assert!(matches!(
            HikvisionAnpr::encode(state, Command::OpenBarrier, t),
            Err(DeviceError::RejectedCommand(_))
        ));
        let config = vec![("dedup-window-ms".to_string(), "10".to_string())];
        assert!(
            matches!(HikvisionAnpr::configure(config, t), Err(DeviceError::BadConfig(m)) if m.contains("1000..=3600000"))
        );
    }
}
