//! ISAPI barrier gate messages: the control request, the status read, and the answers.
//!
//! `PUT /ISAPI/Parking/channels/<n>/barrierGate` with `<ctrlMode>open</ctrlMode>` (or
//! close) answers an ISAPI `ResponseStatus`; `GET …/barrierGate/barrierGateStatus` answers
//! the arm's state: 0 no signal, 1 closed, 2 open. Namespaces vary by firmware, so elements
//! are matched by local name.

use kezek_device_sdk::BarrierPosition;
use kezek_device_sdk::xml::Element;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Open,
    Close,
}

impl Control {
    pub fn mode(self) -> &'static str {
        match self {
            Control::Open => "open",
            Control::Close => "close",
        }
    }
}

pub fn control_path(channel: u16) -> String {
    format!("/ISAPI/Parking/channels/{channel}/barrierGate")
}

pub fn status_path(channel: u16) -> String {
    format!("/ISAPI/Parking/channels/{channel}/barrierGate/barrierGateStatus")
}

pub fn control_body(control: Control) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<BarrierGate version=\"2.0\" xmlns=\"http://www.isapi.org/ver20/XMLSchema\"><ctrlMode>{}</ctrlMode></BarrierGate>",
        control.mode()
    )
}

/// An ISAPI refusal: `statusCode` other than 1 (OK), with its `subStatusCode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status_code: String,
    pub sub_status: String,
}

/// Reads a `ResponseStatus`; an HTTP error without one is a refusal with the HTTP status.
pub fn response_status(http_status: u16, body: &[u8]) -> Result<Result<(), Refusal>, String> {
    let parsed = std::str::from_utf8(body)
        .ok()
        .and_then(|text| Element::parse(text).ok())
        .filter(|root| root.name == "ResponseStatus");
    let Some(root) = parsed else {
        return if (200..300).contains(&http_status) {
            Err(format!("HTTP {http_status} without a ResponseStatus"))
        } else {
            Ok(Err(Refusal {
                status_code: format!("http-{http_status}"),
                sub_status: String::new(),
            }))
        };
    };
    let code = root.required("statusCode")?;
    if code == "1" && (200..300).contains(&http_status) {
        return Ok(Ok(()));
    }
    Ok(Err(Refusal {
        status_code: code.to_string(),
        sub_status: root.text_of("subStatusCode").unwrap_or("").to_string(),
    }))
}

/// Reads the arm's state from a status answer.
pub fn position(body: &[u8]) -> Result<BarrierPosition, String> {
    let text = std::str::from_utf8(body).map_err(|_| "status answer is not UTF-8".to_string())?;
    let root = Element::parse(text)?;
    let value = root
        .find("barrierGateStatus")
        .filter(|e| e.children.is_empty())
        .map(|e| e.text.trim())
        .ok_or_else(|| format!("<{}> has no <barrierGateStatus>", root.name))?;
    match value {
        "0" => Ok(BarrierPosition::Unknown),
        "1" => Ok(BarrierPosition::Closed),
        "2" => Ok(BarrierPosition::Open),
        other => Err(format!("barrierGateStatus {other:?} is not 0, 1 or 2")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_requests() {
        assert_eq!(control_path(1), "/ISAPI/Parking/channels/1/barrierGate");
        assert_eq!(
            status_path(2),
            "/ISAPI/Parking/channels/2/barrierGate/barrierGateStatus"
        );
        let body = control_body(Control::Open);
        let root = Element::parse(&body).unwrap();
        assert_eq!(
            (root.name.as_str(), root.text_of("ctrlMode")),
            ("BarrierGate", Some("open"))
        );
        assert!(control_body(Control::Close).contains("<ctrlMode>close</ctrlMode>"));
    }

    #[test]
    fn response_statuses() {
        fn check(http: u16, body: &str, expect: Result<Result<(), (&str, &str)>, &str>) {
            let got = response_status(http, body.as_bytes());
            match (&got, expect) {
                (Err(e), Err(want)) => assert!(e.contains(want), "{body}: {e}"),
                (Ok(r), Ok(want)) => {
                    let r = r
                        .as_ref()
                        .map(|_| ())
                        .map_err(|e| (e.status_code.as_str(), e.sub_status.as_str()));
                    assert_eq!(r, want, "{http} {body}");
                }
                _ => panic!("{http} {body}: {got:?}"),
            }
        }
        let ok = "<ResponseStatus version=\"2.0\" xmlns=\"http://www.hikvision.com/ver20/XMLSchema\"><requestURL>/ISAPI/Parking/channels/1/barrierGate</requestURL><statusCode>1</statusCode><statusString>OK</statusString><subStatusCode>ok</subStatusCode></ResponseStatus>";
        check(200, ok, Ok(Ok(())));
        check(
            200,
            "<ResponseStatus><statusCode>1</statusCode></ResponseStatus>",
            Ok(Ok(())),
        );
        let refused = "<isapi:ResponseStatus xmlns:isapi=\"http://www.isapi.org/ver20/XMLSchema\"><isapi:statusCode>4</isapi:statusCode><isapi:statusString>Invalid Operation</isapi:statusString><isapi:subStatusCode>invalidOperation</isapi:subStatusCode></isapi:ResponseStatus>";
        check(400, refused, Ok(Err(("4", "invalidOperation"))));
        check(200, refused, Ok(Err(("4", "invalidOperation"))));
        check(401, "", Ok(Err(("http-401", ""))));
        check(200, "", Err("without a ResponseStatus"));
        check(
            200,
            "<ResponseStatus><statusString>OK</statusString></ResponseStatus>",
            Err("no <statusCode>"),
        );
    }

    #[test]
    fn positions() {
        fn check(body: &str, expect: Result<BarrierPosition, &str>) {
            match (position(body.as_bytes()), expect) {
                (Err(e), Err(want)) => assert!(e.contains(want), "{body}: {e}"),
                (got, expect) => assert_eq!(got, expect.map_err(String::from), "{body}"),
            }
        }
        check(
            "<BarrierGateStatus xmlns=\"http://www.isapi.org/ver20/XMLSchema\"><barrierGateStatus>1</barrierGateStatus></BarrierGateStatus>",
            Ok(BarrierPosition::Closed),
        );
        check(
            "<BarrierGateStatus><barrierGateStatus> 2 </barrierGateStatus></BarrierGateStatus>",
            Ok(BarrierPosition::Open),
        );
        check(
            "<a:BarrierGateStatusList xmlns:a=\"urn:x\"><a:BarrierGateStatus><a:barrierGateStatus>0</a:barrierGateStatus></a:BarrierGateStatus></a:BarrierGateStatusList>",
            Ok(BarrierPosition::Unknown),
        );
        check(
            "<BarrierGateStatus><barrierGateStatus>7</barrierGateStatus></BarrierGateStatus>",
            Err("not 0, 1 or 2"),
        );
        check("<BarrierGateStatus/>", Err("no <barrierGateStatus>"));
        check("<BarrierGateStatus>", Err("ends inside"));
    }
}
