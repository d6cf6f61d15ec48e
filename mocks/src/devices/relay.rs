//! A Modbus TCP relay module: coils written with FC05 are recorded, discrete inputs (the
//! loop detector, the arm's end switches) are set by the test and read with FC02.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Server;
use super::modbus::{self, Decoded, Frame, Request, Response};

#[derive(Debug, Default)]
struct Module {
    coils: BTreeMap<u16, bool>,
    inputs: BTreeMap<u16, bool>,
    writes: Vec<(u16, bool)>,
    /// Answer every request with this exception code.
    exception: Option<u8>,
    /// The barrier behind the module: (open coil, arm-open input, arm-closed input). Its
    /// arm follows the coil: on opens it, off leaves it open (it closes behind the vehicle,
    /// by [`RelayMock::set_input`]).
    arm: Option<(u16, u16, u16)>,
    /// A fault: the module keeps the connection open and answers nothing.
    stalled: bool,
}

impl Module {
    fn answer(&mut self, request: Request) -> Response {
        let function = match request {
            Request::WriteSingleCoil { .. } => modbus::WRITE_SINGLE_COIL,
            Request::ReadDiscreteInputs { .. } => modbus::READ_DISCRETE_INPUTS,
        };
        if let Some(code) = self.exception {
            return Response::Exception { function, code };
        }
        match request {
            Request::WriteSingleCoil { address, on } => {
                self.coils.insert(address, on);
                self.writes.push((address, on));
                if let Some((coil, open, closed)) = self.arm
                    && coil == address
                    && on
                {
                    self.inputs.insert(open, true);
                    self.inputs.insert(closed, false);
                }
                Response::WriteSingleCoil { address, on }
            }
            Request::ReadDiscreteInputs { address, count } => Response::DiscreteInputs(
                (0..count)
                    .map(|i| {
                        let index = address.saturating_add(i);
                        self.inputs.get(&index).copied().unwrap_or(false)
                    })
                    .collect(),
            ),
        }
    }
}

/// A running relay module.
#[derive(Debug)]
pub struct RelayMock {
    server: Server,
    module: Arc<Mutex<Module>>,
}

impl RelayMock {
    pub async fn start() -> io::Result<RelayMock> {
        Self::start_at("127.0.0.1:0".parse().expect("an address")).await
    }

    /// On a given address: a module coming back where it was (reconnect tests).
    pub async fn start_at(addr: SocketAddr) -> io::Result<RelayMock> {
        let module = Arc::new(Mutex::new(Module::default()));
        let shared = module.clone();
        let server =
            Server::start_at(addr, move |stream| connection(stream, shared.clone())).await?;
        Ok(RelayMock { server, module })
    }

    /// Wires a barrier arm that follows `coil` (see [`Module`]'s `arm`), closed now.
    pub fn with_arm(&self, coil: u16, open_input: u16, closed_input: u16) {
        let mut module = self.module();
        module.arm = Some((coil, open_input, closed_input));
        module.inputs.insert(open_input, false);
        module.inputs.insert(closed_input, true);
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    fn module(&self) -> std::sync::MutexGuard<'_, Module> {
        self.module.lock().expect("relay module lock")
    }

    pub fn set_input(&self, index: u16, active: bool) {
        self.module().inputs.insert(index, active);
    }

    /// Every FC05 write, oldest first.
    pub fn coil_writes(&self) -> Vec<(u16, bool)> {
        self.module().writes.clone()
    }

    pub fn coil(&self, address: u16) -> bool {
        self.module().coils.get(&address).copied().unwrap_or(false)
    }

    /// Keep connections open and answer nothing (a hung module), or answer again.
    pub fn set_stalled(&self, stalled: bool) {
        self.module().stalled = stalled;
    }

    /// Answer everything with this Modbus exception (None: answer normally).
    pub fn fail_with(&self, exception: Option<u8>) {
        self.module().exception = exception;
    }
}

/// Frames in, answers out; a frame that is not Modbus ends the connection, as a module does.
async fn connection(mut stream: TcpStream, module: Arc<Mutex<Module>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
        loop {
            match modbus::decode_request(&buffer) {
                Ok(Decoded::Frame(
                    Frame {
                        transaction,
                        unit,
                        body,
                    },
                    used,
                )) => {
                    buffer.drain(..used);
                    let answered = {
                        let mut module = module.lock().expect("relay module lock");
                        (!module.stalled).then(|| module.answer(body))
                    };
                    let Some(body) = answered else {
                        continue;
                    };
                    let answer = modbus::encode_response(&Frame {
                        transaction,
                        unit,
                        body,
                    });
                    if stream.write_all(&answer).await.is_err() {
                        return;
                    }
                }
                Ok(Decoded::NeedMore) => break,
                Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ask(stream: &mut TcpStream, bytes: &[u8], answer_len: usize) -> Vec<u8> {
        stream.write_all(bytes).await.unwrap();
        let mut answer = vec![0; answer_len];
        stream.read_exact(&mut answer).await.unwrap();
        answer
    }

    fn request(transaction: u16, body: Request) -> Vec<u8> {
        modbus::encode_request(&Frame {
            transaction,
            unit: 1,
            body,
        })
    }

    /// P11: the open coil is pulsed and recorded; inputs read back as set.
    #[tokio::test]
    async fn coils_and_inputs() {
        let relay = RelayMock::start().await.unwrap();
        let mut stream = TcpStream::connect(relay.addr()).await.unwrap();
        let on = request(
            7,
            Request::WriteSingleCoil {
                address: 0,
                on: true,
            },
        );
        assert_eq!(
            ask(&mut stream, &on, 12).await,
            on,
            "FC05 answers with an echo"
        );
        assert!(relay.coil(0));

        relay.set_input(0, true);
        relay.set_input(2, true);
        let read = request(
            8,
            Request::ReadDiscreteInputs {
                address: 0,
                count: 3,
            },
        );
        let answer = ask(&mut stream, &read, 10).await;
        assert_eq!(answer, [0, 8, 0, 0, 0, 4, 1, 2, 1, 0b101]);

        // Two frames in one write, the second split over two writes.
        let off = request(
            9,
            Request::WriteSingleCoil {
                address: 0,
                on: false,
            },
        );
        let mut both = off.clone();
        both.extend_from_slice(&read[..4]);
        stream.write_all(&both).await.unwrap();
        let answer = ask(&mut stream, &read[4..], 12 + 10).await;
        assert_eq!(&answer[..12], off.as_slice());
        assert_eq!(relay.coil_writes(), [(0, true), (0, false)]);

        relay.fail_with(Some(4));
        let answer = ask(&mut stream, &on, 9).await;
        assert_eq!(answer, [0, 7, 0, 0, 0, 3, 1, 0x85, 4]);
    }

    #[tokio::test]
    async fn garbage_ends_the_connection() {
        let relay = RelayMock::start().await.unwrap();
        let mut stream = TcpStream::connect(relay.addr()).await.unwrap();
        stream
            .write_all(&[0, 1, 0, 9, 0, 6, 1, 5, 0, 0, 0xFF, 0])
            .await
            .unwrap();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        assert!(relay.coil_writes().is_empty());
    }
}
