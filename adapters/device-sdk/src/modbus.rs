//! Modbus TCP frames (MBAP header + PDU) for relay modules: write single coil (FC05) and
//! read discrete inputs (FC02), both directions, byte-exact.
//!
//! Why a codec here and not a crate (ADR 0020): tokio-modbus is pre-1.0, has many yanked
//! releases, owns its socket and does not reconnect; a driver must hold no socket at all.
//! The two functions a relay needs are a few dozen lines, and the host owns the connection.

/// The MBAP header: transaction id, protocol id (0), length, unit id.
const MBAP: usize = 7;
/// The largest PDU Modbus allows (function code + 252 bytes).
const MAX_PDU: usize = 253;

pub const WRITE_SINGLE_COIL: u8 = 0x05;
pub const READ_DISCRETE_INPUTS: u8 = 0x02;

/// What a client asks a relay module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// FC05: set one coil on (0xFF00) or off (0x0000).
    WriteSingleCoil { address: u16, on: bool },
    /// FC02: read `count` (1..=2000) discrete inputs from `address`.
    ReadDiscreteInputs { address: u16, count: u16 },
}

/// What a relay module answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// FC05 echoes the request.
    WriteSingleCoil { address: u16, on: bool },
    /// FC02: the inputs, whole bytes' worth, LSB first; the asker knows how many it wanted.
    DiscreteInputs(Vec<bool>),
    /// The function code (without the 0x80 bit) and the exception code.
    Exception { function: u8, code: u8 },
}

/// One frame with its MBAP addressing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<T> {
    pub transaction: u16,
    pub unit: u8,
    pub body: T,
}

/// What the start of a buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<T> {
    /// A whole frame and its length in bytes.
    Frame(Frame<T>, usize),
    NeedMore,
}

impl Request {
    fn pdu(&self) -> [u8; 5] {
        match *self {
            Request::WriteSingleCoil { address, on } => {
                let [a, b] = address.to_be_bytes();
                let [v, w] = coil_value(on).to_be_bytes();
                [WRITE_SINGLE_COIL, a, b, v, w]
            }
            Request::ReadDiscreteInputs { address, count } => {
                let [a, b] = address.to_be_bytes();
                let [c, d] = count.to_be_bytes();
                [READ_DISCRETE_INPUTS, a, b, c, d]
            }
        }
    }
}

impl Response {
    fn pdu(&self) -> Vec<u8> {
        match self {
            Response::WriteSingleCoil { address, on } => Request::WriteSingleCoil {
                address: *address,
                on: *on,
            }
            .pdu()
            .to_vec(),
            Response::DiscreteInputs(bits) => {
                let mut out = vec![READ_DISCRETE_INPUTS, bits.len().div_ceil(8) as u8];
                for byte in bits.chunks(8) {
                    out.push(
                        byte.iter()
                            .enumerate()
                            .fold(0u8, |acc, (i, &on)| acc | (u8::from(on) << i)),
                    );
                }
                out
            }
            Response::Exception { function, code } => vec![function | 0x80, *code],
        }
    }
}

fn coil_value(on: bool) -> u16 {
    if on { 0xFF00 } else { 0x0000 }
}

/// The standard name of an exception code, for an operator's fault message.
pub fn exception_name(code: u8) -> &'static str {
    match code {
        1 => "illegal function",
        2 => "illegal data address",
        3 => "illegal data value",
        4 => "server device failure",
        5 => "acknowledge",
        6 => "server device busy",
        8 => "memory parity error",
        0x0A => "gateway path unavailable",
        0x0B => "gateway target device failed to respond",
        _ => "unknown exception",
    }
}

fn frame(transaction: u16, unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MBAP + pdu.len());
    out.extend_from_slice(&transaction.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(pdu.len() as u16 + 1).to_be_bytes());
    out.push(unit);
    out.extend_from_slice(pdu);
    out
}

pub fn encode_request(f: &Frame<Request>) -> Vec<u8> {
    frame(f.transaction, f.unit, &f.body.pdu())
}

/// For mock servers and tests.
pub fn encode_response(f: &Frame<Response>) -> Vec<u8> {
    frame(f.transaction, f.unit, &f.body.pdu())
}

/// Reads one frame from the start of `buf`: the MBAP header here, the PDU by `body`.
fn decode<T>(
    buf: &[u8],
    body: impl FnOnce(&[u8]) -> Result<T, String>,
) -> Result<Decoded<T>, String> {
    if buf.len() < MBAP {
        return Ok(Decoded::NeedMore);
    }
    let protocol = u16::from_be_bytes([buf[2], buf[3]]);
    if protocol != 0 {
        return Err(format!("protocol id {protocol}, Modbus is 0"));
    }
    let length = u16::from_be_bytes([buf[4], buf[5]]) as usize;
    if !(2..=MAX_PDU + 1).contains(&length) {
        return Err(format!("MBAP length {length} is not 2..={}", MAX_PDU + 1));
    }
    let used = MBAP - 1 + length;
    if buf.len() < used {
        return Ok(Decoded::NeedMore);
    }
    let frame = Frame {
        transaction: u16::from_be_bytes([buf[0], buf[1]]),
        unit: buf[6],
        body: body(&buf[MBAP..used])?,
    };
    Ok(Decoded::Frame(frame, used))
}

fn u16_at(pdu: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([pdu[at], pdu[at + 1]])
}

fn coil(value: u16) -> Result<bool, String> {
    match value {
        0xFF00 => Ok(true),
        0x0000 => Ok(false),
        v => Err(format!("coil value {v:#06x} is neither 0xFF00 nor 0x0000")),
    }
}

/// Reads a response frame from the start of `buf`.
pub fn decode_response(buf: &[u8]) -> Result<Decoded<Response>, String> {
    decode(buf, |pdu| {
        let function = pdu[0];
        match (function, pdu.len()) {
            (f, 2) if f & 0x80 != 0 => Ok(Response::Exception {
                function: f & 0x7F,
                code: pdu[1],
            }),
            (WRITE_SINGLE_COIL, 5) => Ok(Response::WriteSingleCoil {
                address: u16_at(pdu, 1),
                on: coil(u16_at(pdu, 3))?,
            }),
            (READ_DISCRETE_INPUTS, n) if n >= 2 && pdu[1] as usize == n - 2 => {
                Ok(Response::DiscreteInputs(
                    pdu[2..]
                        .iter()
                        .flat_map(|byte| (0..8).map(move |i| byte & (1 << i) != 0))
                        .collect(),
                ))
            }
            (WRITE_SINGLE_COIL | READ_DISCRETE_INPUTS, n) => Err(format!(
                "function {function:#04x} answer of {n} bytes is malformed"
            )),
            _ => Err(format!("unexpected function code {function:#04x}")),
        }
    })
}

/// Reads a request frame from the start of `buf` (mock servers).
pub fn decode_request(buf: &[u8]) -> Result<Decoded<Request>, String> {
    decode(buf, |pdu| {
        if pdu.len() != 5 {
            return Err(format!("request PDU of {} bytes, expected 5", pdu.len()));
        }
        let (address, value) = (u16_at(pdu, 1), u16_at(pdu, 3));
        match pdu[0] {
            WRITE_SINGLE_COIL => Ok(Request::WriteSingleCoil {
                address,
                on: coil(value)?,
            }),
            READ_DISCRETE_INPUTS if (1..=2000).contains(&value) => {
                Ok(Request::ReadDiscreteInputs {
                    address,
                    count: value,
                })
            }
            READ_DISCRETE_INPUTS => Err(format!("input count {value} is not 1..=2000")),
            f => Err(format!("unsupported function code {f:#04x}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    /// Issue 13: FC05 and FC02 frames byte-exact, with transaction ids.
    #[test]
    fn requests_byte_exact() {
        fn check(transaction: u16, unit: u8, body: Request, expect: &str) {
            let f = Frame {
                transaction,
                unit,
                body,
            };
            assert_eq!(encode_request(&f), hex(expect), "{f:?}");
            assert_eq!(
                decode_request(&hex(expect)),
                Ok(Decoded::Frame(f, hex(expect).len()))
            );
        }
        check(
            1,
            1,
            Request::WriteSingleCoil {
                address: 0,
                on: true,
            },
            "00 01 00 00 00 06 01 05 00 00 FF 00",
        );
        check(
            0x1234,
            17,
            Request::WriteSingleCoil {
                address: 3,
                on: false,
            },
            "12 34 00 00 00 06 11 05 00 03 00 00",
        );
        check(
            0xFFFF,
            255,
            Request::ReadDiscreteInputs {
                address: 0,
                count: 4,
            },
            "FF FF 00 00 00 06 FF 02 00 00 00 04",
        );
        check(
            7,
            1,
            Request::ReadDiscreteInputs {
                address: 0x10,
                count: 2000,
            },
            "00 07 00 00 00 06 01 02 00 10 07 D0",
        );
    }

    #[test]
    fn responses_byte_exact() {
        fn check(body: Response, expect: &str) {
            let f = Frame {
                transaction: 0x0A0B,
                unit: 1,
                body,
            };
            assert_eq!(encode_response(&f), hex(expect), "{f:?}");
            let Decoded::Frame(back, used) = decode_response(&hex(expect)).unwrap() else {
                panic!("{expect}: short");
            };
            assert_eq!((back, used), (f, hex(expect).len()));
        }
        check(
            Response::WriteSingleCoil {
                address: 0,
                on: true,
            },
            "0A 0B 00 00 00 06 01 05 00 00 FF 00",
        );
        let mut bits = vec![true, false, true, true, false, false, false, false];
        check(
            Response::DiscreteInputs(bits.clone()),
            "0A 0B 00 00 00 04 01 02 01 0D",
        );
        bits.extend([false, false, false, false, false, false, false, true]);
        check(
            Response::DiscreteInputs(bits),
            "0A 0B 00 00 00 05 01 02 02 0D 80",
        );
        check(
            Response::Exception {
                function: 5,
                code: 2,
            },
            "0A 0B 00 00 00 03 01 85 02",
        );
        check(
            Response::Exception {
                function: 2,
                code: 0x0B,
            },
            "0A 0B 00 00 00 03 01 82 0B",
        );
    }

    /// A truncated frame waits for more; a wrong one is an error, never a guess.
    #[test]
    fn short_and_malformed_frames() {
        fn check(frame: &str, expect: Result<(), &str>) {
            match (decode_response(&hex(frame)), expect) {
                (Ok(Decoded::NeedMore), Ok(())) => {}
                (Err(e), Err(want)) => assert!(e.contains(want), "{frame}: {e}"),
                (other, _) => panic!("{frame}: {other:?}"),
            }
        }
        check("", Ok(()));
        check("00 01 00 00 00", Ok(()));
        check("00 01 00 00 00 06 01 05 00 00 FF", Ok(()));
        check("00 01 00 00 00 04 01 02 01", Ok(()));
        check("00 01 00 01 00 06 01 05 00 00 FF 00", Err("protocol id 1"));
        check("00 01 00 00 00 01 01", Err("MBAP length 1"));
        check("00 01 00 00 01 00 01", Err("MBAP length 256"));
        check(
            "00 01 00 00 00 06 01 05 00 00 12 34",
            Err("coil value 0x1234"),
        );
        check("00 01 00 00 00 05 01 02 03 0D 80", Err("malformed"));
        check("00 01 00 00 00 05 01 05 00 00 FF", Err("malformed"));
        check(
            "00 01 00 00 00 03 01 03 00",
            Err("unexpected function code 0x03"),
        );
    }

    #[test]
    fn back_to_back_frames_split_by_length() {
        let mut buf = hex("00 01 00 00 00 06 01 05 00 00 FF 00");
        buf.extend(hex("00 02 00 00 00 04 01 02 01 01"));
        let Decoded::Frame(first, used) = decode_response(&buf).unwrap() else {
            panic!()
        };
        assert_eq!((first.transaction, used), (1, 12));
        let Decoded::Frame(second, used) = decode_response(&buf[12..]).unwrap() else {
            panic!()
        };
        assert_eq!((second.transaction, used), (2, 10));
    }

    #[test]
    fn bad_requests_are_refused() {
        fn check(frame: &str, want: &str) {
            let e = decode_request(&hex(frame)).unwrap_err();
            assert!(e.contains(want), "{frame}: {e}");
        }
        check("00 01 00 00 00 06 01 02 00 00 00 00", "input count 0");
        check(
            "00 01 00 00 00 06 01 03 00 00 00 01",
            "unsupported function code 0x03",
        );
        check("00 01 00 00 00 04 01 05 00 00", "expected 5");
    }
}
