//! An LED board speaking the text-line protocol of the `text-board` driver: `CLR`,
//! `TXT <row> <text>`, `PING`, each answered on its own line (`OK`, `ERR <code>`, `PONG`).
//! It keeps what it shows, so a test sees the board as a driver in the lane would (P12).

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::Server;

#[derive(Debug)]
struct Display {
    rows: Vec<String>,
    received: Vec<String>,
}

impl Display {
    fn command(&mut self, line: &str) -> &'static str {
        self.received.push(line.to_string());
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        match verb {
            "CLR" if rest.is_empty() => {
                self.rows.iter_mut().for_each(String::clear);
                "OK"
            }
            "PING" if rest.is_empty() => "PONG",
            "TXT" => {
                let (row, text) = rest.split_once(' ').unwrap_or((rest, ""));
                match row.parse::<usize>().ok().and_then(|r| r.checked_sub(1)) {
                    Some(i) if i < self.rows.len() => {
                        self.rows[i] = text.to_string();
                        "OK"
                    }
                    _ => "ERR row-out-of-range",
                }
            }
            _ => "ERR unknown-command",
        }
    }
}

/// A running board.
#[derive(Debug)]
pub struct BoardMock {
    server: Server,
    display: Arc<Mutex<Display>>,
}

impl BoardMock {
    pub async fn start(rows: usize) -> io::Result<BoardMock> {
        Self::start_at("127.0.0.1:0".parse().expect("an address"), rows).await
    }

    pub async fn start_at(addr: SocketAddr, rows: usize) -> io::Result<BoardMock> {
        let display = Arc::new(Mutex::new(Display {
            rows: vec![String::new(); rows],
            received: Vec::new(),
        }));
        let shared = display.clone();
        let server =
            Server::start_at(addr, move |stream| connection(stream, shared.clone())).await?;
        Ok(BoardMock { server, display })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// What the board shows now, top row first.
    pub fn shown(&self) -> Vec<String> {
        self.display.lock().expect("board lock").rows.clone()
    }

    /// Every line received, oldest first.
    pub fn received(&self) -> Vec<String> {
        self.display.lock().expect("board lock").received.clone()
    }
}

async fn connection(stream: TcpStream, display: Arc<Mutex<Display>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let answer = display
            .lock()
            .expect("board lock")
            .command(line.trim_end_matches('\r'));
        if write
            .write_all(format!("{answer}\r\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// P12: the board shows what it was told and answers each line in order.
    #[tokio::test]
    async fn shows_text_and_answers_each_line() {
        let board = BoardMock::start(2).await.unwrap();
        let stream = TcpStream::connect(board.addr()).await.unwrap();
        let (read, mut write) = stream.into_split();
        write
            .write_all(b"CLR\r\nTXT 1 123ABC02\r\nTXT 2 -> GATE 3\r\nTXT 3 x\r\nPING\r\nHELLO\r\n")
            .await
            .unwrap();
        let mut lines = BufReader::new(read).lines();
        let mut answers = Vec::new();
        for _ in 0..6 {
            answers.push(lines.next_line().await.unwrap().unwrap());
        }
        assert_eq!(
            answers,
            [
                "OK",
                "OK",
                "OK",
                "ERR row-out-of-range",
                "PONG",
                "ERR unknown-command"
            ]
        );
        assert_eq!(board.shown(), ["123ABC02", "-> GATE 3"]);
        assert_eq!(board.received().len(), 6);

        write.write_all(b"CLR\r\n").await.unwrap();
        assert_eq!(lines.next_line().await.unwrap().unwrap(), "OK");
        assert_eq!(board.shown(), ["", ""]);
    }
}
