//! P12: an LED information board speaking a plain text-line protocol over TCP. `show-text`
//! becomes `CLR` and one `TXT` line per row; the board answers each line, and the command
//! is `done` once every line is answered `OK`. A `PING` on every poll keeps the host
//! knowing the board is there. Codec in `lines.rs`; this file is the thin export.

mod lines;

use kezek_device_sdk::config::Config;
use kezek_device_sdk::state::{Reader, Writer};
use kezek_device_sdk::{
    Capabilities, Command, ConfigType, Descriptor, DeviceError, DeviceKind, Driver, Event, Input,
    Outbound, Step, Timestamp, Transport, fault, optional,
};
use lines::Answer;

const STATE: u8 = 1;
/// An answer later than this is given up on.
const ANSWER_MS: u64 = 5000;

struct TextBoard;

/// What the next answer line answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Line = 1,
    /// The last line of a `show-text`.
    LastLine = 2,
    Pong = 3,
}

struct State {
    rows: u8,
    width: u16,
    expected: Vec<Expect>,
    /// A line of the command being answered was refused.
    failed: bool,
    /// When the oldest unanswered line was sent.
    waiting_since: Timestamp,
    buffer: Vec<u8>,
}

impl State {
    fn read(blob: &[u8]) -> Result<State, DeviceError> {
        let mut r = Reader::new(blob, STATE)?;
        let (rows, width) = (r.u8()?, r.u16()?);
        let expected = r
            .bytes()?
            .iter()
            .map(|&b| match b {
                1 => Ok(Expect::Line),
                2 => Ok(Expect::LastLine),
                3 => Ok(Expect::Pong),
                n => Err(DeviceError::BadState(format!("expected answer {n}"))),
            })
            .collect::<Result<_, _>>()?;
        let failed = r.bool()?;
        let waiting_since = r.u64()?;
        let buffer = r.bytes()?.to_vec();
        r.end()?;
        Ok(State {
            rows,
            width,
            expected,
            failed,
            waiting_since,
            buffer,
        })
    }

    fn write(&self) -> Vec<u8> {
        let expected: Vec<u8> = self.expected.iter().map(|&e| e as u8).collect();
        Writer::new(STATE)
            .u8(self.rows)
            .u16(self.width)
            .bytes(&expected)
            .bool(self.failed)
            .u64(self.waiting_since)
            .bytes(&self.buffer)
            .finish()
    }

    fn send(&mut self, step: &mut Step, line: &str, expect: Expect, now: Timestamp) {
        if self.expected.is_empty() {
            self.waiting_since = now;
        }
        self.expected.push(expect);
        step.outbound
            .push(Outbound::Bytes(format!("{line}\r\n").into_bytes()));
    }
}

impl Driver for TextBoard {
    fn describe() -> Descriptor {
        Descriptor {
            id: "text-board".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: DeviceKind::Board,
            protocol: "LED board text-line protocol (CLR / TXT / PING over TCP)".into(),
            transport: Transport::TcpStream,
            capabilities: Capabilities::SHOW_TEXT | Capabilities::HEARTBEAT,
            config: vec![
                optional(
                    "rows",
                    ConfigType::Integer,
                    "2",
                    "rows of text the board shows",
                ),
                optional("width", ConfigType::Integer, "16", "characters per row"),
            ],
            poll_interval_ms: Some(10_000),
            silence_ms: 30_000,
        }
    }

    fn configure(config: Vec<(String, String)>, _now: Timestamp) -> Result<Vec<u8>, DeviceError> {
        let config = Config::parse(&Self::describe().config, config)?;
        Ok(State {
            rows: config.integer("rows", 1, 16)?,
            width: config.integer("width", 4, 200)?,
            expected: Vec::new(),
            failed: false,
            waiting_since: 0,
            buffer: Vec::new(),
        }
        .write())
    }

    fn decode(state: Vec<u8>, input: Input, _now: Timestamp) -> Result<Step, DeviceError> {
        let mut state = State::read(&state)?;
        let mut step = Step::keep(Vec::new());
        match input {
            Input::Bytes(bytes) => {
                state.buffer.extend_from_slice(&bytes);
                for answer in lines::answers(&mut state.buffer).map_err(DeviceError::Malformed)? {
                    // An answer with nothing expected is a late one to a line given up on.
                    let Some(expect) =
                        (!state.expected.is_empty()).then(|| state.expected.remove(0))
                    else {
                        continue;
                    };
                    match (expect, answer) {
                        (Expect::Pong, Answer::Pong) => step.events.push(Event::Heartbeat),
                        (Expect::Line | Expect::LastLine, Answer::Ok) => {}
                        (Expect::Line | Expect::LastLine, Answer::Err(code)) => {
                            state.failed = true;
                            step.events.push(fault(
                                format!("board-{code}"),
                                "the board refused a line of text",
                            ));
                        }
                        (expect, answer) => {
                            return Err(DeviceError::Malformed(format!(
                                "the board answered {answer:?} where {expect:?} was due"
                            )));
                        }
                    }
                    if expect == Expect::LastLine {
                        if !state.failed {
                            step.events.push(Event::Done);
                        }
                        state.failed = false;
                    }
                }
            }
            Input::Connected => {
                state.expected.clear();
                state.buffer.clear();
                state.failed = false;
            }
            Input::Push(_) | Input::Response(_) | Input::Unanswered(_) => {
                return Err(DeviceError::Malformed(
                    "this driver speaks a TCP line protocol, not HTTP".into(),
                ));
            }
        }
        step.state = state.write();
        Ok(step)
    }

    fn encode(state: Vec<u8>, command: Command, now: Timestamp) -> Result<Step, DeviceError> {
        let mut state = State::read(&state)?;
        let Command::ShowText(text) = command else {
            return Err(DeviceError::RejectedCommand(
                "a board only shows text".into(),
            ));
        };
        let lines = lines::show(&text.lines, state.rows, state.width)
            .map_err(DeviceError::RejectedCommand)?;
        let mut step = Step::keep(Vec::new());
        let last = lines.len() - 1;
        for (i, line) in lines.iter().enumerate() {
            let expect = if i == last {
                Expect::LastLine
            } else {
                Expect::Line
            };
            state.send(&mut step, line, expect, now);
        }
        step.state = state.write();
        Ok(step)
    }

    fn poll(state: Vec<u8>, now: Timestamp) -> Result<Step, DeviceError> {
        let mut state = State::read(&state)?;
        let mut step = Step::keep(Vec::new());
        if !state.expected.is_empty() && now.saturating_sub(state.waiting_since) >= ANSWER_MS {
            state.expected.clear();
            state.failed = false;
            step.events
                .push(fault("no-answer", "the board did not answer in time"));
        }
        if state.expected.is_empty() {
            state.send(&mut step, "PING", Expect::Pong, now);
        }
        step.state = state.write();
        Ok(step)
    }
}

kezek_device_sdk::export_driver!(TextBoard);

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_device_sdk::BoardText;

    fn show(rows: &[&str]) -> Command {
        Command::ShowText(BoardText {
            lines: rows.iter().map(|r| r.to_string()).collect(),
        })
    }

    fn sent(step: &Step) -> String {
        step.outbound
            .iter()
            .map(|o| match o {
                Outbound::Bytes(b) => String::from_utf8(b.clone()).unwrap(),
                Outbound::Http(r) => panic!("{r:?}"),
            })
            .collect()
    }

    fn answer(state: Vec<u8>, text: &str) -> Result<Step, DeviceError> {
        TextBoard::decode(state, Input::Bytes(text.as_bytes().to_vec()), 0)
    }

    /// P12: the board shows the called plate; done once every line is answered.
    #[test]
    fn text_is_shown_and_acknowledged() {
        let state = TextBoard::configure(Vec::new(), 0).unwrap();
        let step = TextBoard::encode(state, show(&["123ABC02", "-> GATE 3"]), 0).unwrap();
        assert_eq!(sent(&step), "CLR\r\nTXT 1 123ABC02\r\nTXT 2 -> GATE 3\r\n");
        let step = answer(step.state, "OK\r\nOK\r\nO").unwrap();
        assert!(step.events.is_empty());
        let step = answer(step.state, "K\r\n").unwrap();
        assert_eq!(step.events, [Event::Done]);

        let step = TextBoard::encode(step.state, show(&["", "x"]), 0).unwrap();
        let step = answer(step.state, "OK\r\nERR bad-glyph 123ABC02\r\n").unwrap();
        assert!(
            matches!(&step.events[..], [Event::Fault(f)] if f.code == "board-bad-glyph" && !f.message.contains("123")),
            "{:?}",
            step.events
        );
    }

    #[test]
    fn pings_and_silence() {
        let state = TextBoard::configure(vec![("rows".into(), "1".into())], 0).unwrap();
        let step = TextBoard::poll(state, 1000).unwrap();
        assert_eq!(sent(&step), "PING\r\n");
        let step = TextBoard::poll(step.state, 2000).unwrap();
        assert_eq!(sent(&step), "", "one ping in flight");
        let step = answer(step.state, "PONG\r\n").unwrap();
        assert_eq!(step.events, [Event::Heartbeat]);
        let step = TextBoard::poll(step.state, 3000).unwrap();
        let step = TextBoard::poll(step.state, 3000 + ANSWER_MS).unwrap();
        assert!(matches!(&step.events[..], [Event::Fault(f)] if f.code == "no-answer"));
        assert_eq!(sent(&step), "PING\r\n");
        assert!(matches!(
            answer(step.state.clone(), "OK\r\n"),
            Err(DeviceError::Malformed(_))
        ));
        let reconnected = TextBoard::decode(step.state, Input::Connected, 0).unwrap();
        assert!(
            answer(reconnected.state, "OK\r\n")
                .unwrap()
                .events
                .is_empty()
        );
    }

    #[test]
    fn text_the_board_cannot_show_is_refused() {
        let state = TextBoard::configure(vec![("width".into(), "8".into())], 0).unwrap();
        for (rows, want) in [
            (&["123ABC02X"][..], "9 characters"),
            (&["a\nb"][..], "control"),
            (&["a", "b", "c"][..], "3 rows"),
        ] {
            match TextBoard::encode(state.clone(), show(rows), 0) {
                Err(DeviceError::RejectedCommand(m)) => assert!(m.contains(want), "{m}"),
                other => panic!("{rows:?}: {other:?}"),
            }
        }
        assert!(matches!(
            TextBoard::encode(state, Command::OpenBarrier, 0),
            Err(DeviceError::RejectedCommand(_))
        ));
        assert!(matches!(
            TextBoard::configure(vec![("rows".into(), "0".into())], 0),
            Err(DeviceError::BadConfig(_))
        ));
    }
}
