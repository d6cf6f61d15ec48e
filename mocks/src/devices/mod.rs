//! Mock field devices on loopback (issue 13 item 6; DESIGN.md: tests never reach the
//! network): an ANPR camera that pushes ISAPI alerts, an ISAPI barrier gate, a Modbus TCP
//! relay module and an LED board. They speak what the drivers in `adapters/devices/` speak
//! (ADR 0020), and record what they were told so tests can check it.
//!
//! Each server binds `127.0.0.1:0` (or the address given, for `make run` and reconnect
//! tests) and stops when its handle is dropped.

pub mod board;
pub mod camera;
pub mod checkpoint;
pub mod isapi_barrier;
/// The drivers' Modbus TCP codec (`adapters/device-sdk`), compiled in: one definition of
/// the frames on both sides of the wire.
#[path = "../../../adapters/device-sdk/src/modbus.rs"]
pub mod modbus;
pub mod relay;

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A loopback listener handing each connection to a task; dropping it stops accepting and
/// ends the connections.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
}

impl Server {
    pub(crate) async fn start_at<F, Fut>(addr: SocketAddr, on_connection: F) -> io::Result<Server>
    where
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else {
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        };
                        let connection = on_connection(stream);
                        let mut stopped = stopped.clone();
                        tokio::spawn(async move {
                            tokio::select! {
                                () = connection => {}
                                _ = stopped.changed() => {}
                            }
                        });
                    }
                }
            }
        });
        Ok(Server { addr, stop })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// One HTTP/1.1 exchange on a fresh connection (`Connection: close`): the status and the
/// body. What a camera does to push, and what tests do to ask a mock.
pub async fn http_exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "not an HTTP/1.1 answer");
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let status = std::str::from_utf8(&answer[..end])
        .ok()
        .and_then(|head| head.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, answer[end + 4..].to_vec()))
}
