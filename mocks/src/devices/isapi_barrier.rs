//! A Hikvision barrier gate over ISAPI: `PUT /ISAPI/Parking/channels/1/barrierGate` with a
//! `ctrlMode` (open, close, lock, unlock) moves the arm at once and answers an ISAPI
//! `ResponseStatus`; `GET …/barrierGate/barrierGateStatus` reads 0 no signal, 1 closed,
//! 2 open. The commands it received are recorded.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::Server;

const CONTROL: &str = "/ISAPI/Parking/channels/1/barrierGate";
const STATUS: &str = "/ISAPI/Parking/channels/1/barrierGate/barrierGateStatus";

/// What the arm does, as the status read says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    NoSignal = 0,
    Closed = 1,
    Open = 2,
}

#[derive(Debug)]
struct Gate {
    arm: Arm,
    commands: Vec<String>,
    /// A fault: commands are accepted, and the arm does not move.
    stuck: bool,
    /// `Authorization` the gate requires (HTTP Basic, as `user:password`), if any.
    basic: Option<String>,
}

/// A running barrier.
#[derive(Debug)]
pub struct BarrierMock {
    server: Server,
    gate: Arc<Mutex<Gate>>,
}

impl BarrierMock {
    /// Starts with the arm closed.
    pub async fn start() -> io::Result<BarrierMock> {
        Self::start_at("127.0.0.1:0".parse().expect("an address")).await
    }

    pub async fn start_at(addr: SocketAddr) -> io::Result<BarrierMock> {
        let gate = Arc::new(Mutex::new(Gate {
            arm: Arm::Closed,
            commands: Vec::new(),
            stuck: false,
            basic: None,
        }));
        let shared = gate.clone();
        let server = Server::start_at(addr, move |stream| {
            let gate = shared.clone();
            async move {
                let service = hyper::service::service_fn(move |req| handle(gate.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        })
        .await?;
        Ok(BarrierMock { server, gate })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn arm(&self) -> Arm {
        self.gate.lock().expect("gate lock").arm
    }

    /// Sets the arm as if it moved by hand or lost its sensor.
    pub fn set_arm(&self, arm: Arm) {
        self.gate.lock().expect("gate lock").arm = arm;
    }

    /// A fault: accept commands and leave the arm where it is (a jammed arm, a cut wire).
    pub fn set_stuck(&self, stuck: bool) {
        self.gate.lock().expect("gate lock").stuck = stuck;
    }

    /// Answer 401 to any request without this HTTP Basic `user:password`.
    pub fn require_basic(&self, user: &str, password: &str) {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.gate.lock().expect("gate lock").basic = Some(format!("Basic {token}"));
    }

    /// The `ctrlMode`s received, oldest first.
    pub fn commands(&self) -> Vec<String> {
        self.gate.lock().expect("gate lock").commands.clone()
    }
}

fn xml(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/xml"),
    );
    response
}

/// An ISAPI `ResponseStatus`: code 1 is OK, 4 an invalid operation, 5 bad XML.
fn response_status(status: StatusCode, url: &str, code: u8, sub: &str) -> Response<Full<Bytes>> {
    let text = match code {
        1 => "OK",
        4 => "Invalid Operation",
        _ => "Invalid XML Content",
    };
    xml(
        status,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<ResponseStatus version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema"><requestURL>{url}</requestURL><statusCode>{code}</statusCode><statusString>{text}</statusString><subStatusCode>{sub}</subStatusCode></ResponseStatus>"#
        ),
    )
}

async fn handle(
    gate: Arc<Mutex<Gate>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let Ok(body) = Limited::new(body, 64 << 10).collect().await else {
        return Ok(response_status(
            StatusCode::BAD_REQUEST,
            parts.uri.path(),
            5,
            "badXmlContent",
        ));
    };
    let body = String::from_utf8_lossy(&body.to_bytes()).into_owned();
    let path = parts.uri.path();
    let required = gate.lock().expect("gate lock").basic.clone();
    if let Some(required) = required {
        let given = parts.headers.get(hyper::header::AUTHORIZATION);
        if given.and_then(|v| v.to_str().ok()) != Some(required.as_str()) {
            return Ok(response_status(
                StatusCode::UNAUTHORIZED,
                path,
                4,
                "unauthorized",
            ));
        }
    }
    Ok(match (&parts.method, path) {
        (&Method::PUT, CONTROL) => {
            let mode = crate::xml::parse(&body)
                .ok()
                .filter(|root| root.name == "BarrierGate")
                .and_then(|root| root.text_of("ctrlMode"));
            let mut gate = gate.lock().expect("gate lock");
            let arm = match mode.as_deref() {
                Some("open") => Arm::Open,
                Some("close") => Arm::Closed,
                Some("lock" | "unlock") => gate.arm,
                _ => {
                    return Ok(response_status(
                        StatusCode::BAD_REQUEST,
                        path,
                        5,
                        "badXmlContent",
                    ));
                }
            };
            if gate.arm == Arm::NoSignal {
                return Ok(response_status(StatusCode::OK, path, 4, "deviceError"));
            }
            if !gate.stuck {
                gate.arm = arm;
            }
            gate.commands.extend(mode);
            response_status(StatusCode::OK, path, 1, "ok")
        }
        (&Method::GET, STATUS) => {
            let arm = gate.lock().expect("gate lock").arm as u8;
            xml(
                StatusCode::OK,
                format!(
                    r#"<?xml version="1.0" encoding="UTF-8"?>
<BarrierGateStatus version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema"><barrierGateStatus>{arm}</barrierGateStatus></BarrierGateStatus>"#
                ),
            )
        }
        _ => response_status(StatusCode::NOT_FOUND, path, 4, "invalidOperation"),
    })
}

#[cfg(test)]
mod tests {
    use super::super::http_exchange;
    use super::*;

    /// PUTs a `ctrlMode`: the status and the body as text.
    async fn control(barrier: &BarrierMock, mode: &str) -> (u16, String) {
        let body = format!(
            r#"<BarrierGate version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema"><ctrlMode>{mode}</ctrlMode></BarrierGate>"#
        );
        let (code, answer) = http_exchange(
            barrier.addr(),
            "PUT",
            CONTROL,
            "application/xml",
            body.as_bytes(),
        )
        .await
        .unwrap();
        (code, String::from_utf8(answer).unwrap())
    }

    async fn status(barrier: &BarrierMock) -> String {
        let (code, body) = http_exchange(barrier.addr(), "GET", STATUS, "application/xml", b"")
            .await
            .unwrap();
        assert_eq!(code, 200);
        String::from_utf8(body).unwrap()
    }

    /// P11: open and close move the arm; the status read says where it is.
    #[tokio::test]
    async fn opens_closes_and_reports() {
        let barrier = BarrierMock::start().await.unwrap();
        assert!(status(&barrier).await.contains("<barrierGateStatus>1<"));
        let (code, body) = control(&barrier, "open").await;
        assert_eq!(code, 200);
        assert!(body.contains("<statusCode>1<"));
        assert_eq!(barrier.arm(), Arm::Open);
        assert!(status(&barrier).await.contains("<barrierGateStatus>2<"));
        control(&barrier, "close").await;
        assert_eq!(barrier.commands(), ["open", "close"]);
    }

    #[tokio::test]
    async fn refusals_are_response_statuses() {
        let barrier = BarrierMock::start().await.unwrap();
        let (code, body) = control(&barrier, "fly").await;
        assert_eq!(code, 400);
        assert!(body.contains("<subStatusCode>badXmlContent<"));
        barrier.set_arm(Arm::NoSignal);
        let (_, body) = control(&barrier, "open").await;
        assert!(body.contains("<statusCode>4<"));
        assert!(status(&barrier).await.contains("<barrierGateStatus>0<"));
        let (code, _) = http_exchange(
            barrier.addr(),
            "GET",
            "/ISAPI/elsewhere",
            "application/xml",
            b"",
        )
        .await
        .unwrap();
        assert_eq!(code, 404);
        assert!(barrier.commands().is_empty());
    }
}
