//! Calls to state databases through the e-government gateway (ШЭП / SmartBridge).

use crate::outbound::{self, ConsentSubject, Credential};
use crate::soap::{self, Body};
use crate::xml::Element;
use crate::{CheckError, date};
use std::cell::Cell;

/// Logical endpoint name; the operator's config maps it to the gateway's URL.
pub const ENDPOINT: &str = "egov-gateway";

/// Status codes the gateway uses for a delivered answer.
const SUCCESS_CODES: &[&str] = &["SCE000"];

thread_local! {
    static SENT: Cell<u32> = const { Cell::new(0) };
}

/// One synchronous gateway call.
#[derive(Debug)]
pub struct Call<'a> {
    pub service_id: &'a str,
    /// Business XML for `requestData/data`, written with [`crate::xml::leaf`].
    pub data: String,
    /// IIN whose consent token the host must obtain and put where the data carries
    /// [`soap::CONSENT_TOKEN_PLACEHOLDER`] (ГБД ФЛ and other personal-data services).
    pub consent_iin: Option<&'a str>,
}

impl<'a> Call<'a> {
    /// A call that needs no consent token.
    pub fn new(service_id: &'a str, data: String) -> Self {
        Self {
            service_id,
            data,
            consent_iin: None,
        }
    }
}

/// Sends the call and returns the business answer (`responseData/data`, parsed).
///
/// Every way this can go wrong is an error: transport failures, gateway status codes
/// (SCE004 unavailable, SCE909 processing error, signature faults), SOAP faults, an answer
/// correlated to another message, or business data that is not XML.
pub fn call(correlation_id: &str, call: Call<'_>) -> Result<Element, CheckError> {
    let message_id = message_id(correlation_id);
    let envelope = soap::send_message(
        &message_id,
        call.service_id,
        &date::now_rfc3339(),
        &call.data,
    );
    let mut credentials = vec![Credential::GatewaySender];
    if let Some(iin) = call.consent_iin {
        credentials.push(Credential::ConsentToken(ConsentSubject {
            service_id: call.service_id.to_owned(),
            iin: iin.to_owned(),
        }));
    }
    let response = outbound::send(&outbound::Request {
        endpoint: ENDPOINT.to_owned(),
        method: "POST".to_owned(),
        path: "/".to_owned(),
        headers: vec![
            (
                "content-type".to_owned(),
                "text/xml; charset=utf-8".to_owned(),
            ),
            ("soapaction".to_owned(), "\"SendMessage\"".to_owned()),
        ],
        body: envelope.into_bytes(),
        credentials,
    })?;
    parse_answer(&message_id, response.status, &response.body)
}

/// Parses the gateway's answer to message `message_id`.
pub fn parse_answer(message_id: &str, status: u16, body: &[u8]) -> Result<Element, CheckError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| CheckError::BadResponse("gateway answer is not UTF-8".into()))?;
    let message = match (soap::parse_body(text), (200..300).contains(&status)) {
        (Ok(Body::Fault { code, message }), _) => {
            return Err(CheckError::Unavailable(format!(
                "gateway SOAP fault {code}: {message}"
            )));
        }
        (Ok(Body::Content(message)), true) => message,
        (_, false) => {
            return Err(CheckError::Unavailable(format!(
                "gateway answered HTTP {status}"
            )));
        }
        (Err(e), true) => return Err(CheckError::BadResponse(format!("gateway answer: {e}"))),
    };
    let info = message
        .find("responseInfo")
        .ok_or_else(|| CheckError::BadResponse("gateway answer has no responseInfo".into()))?;
    let code = info
        .find("status")
        .and_then(|s| s.text_of("code"))
        .ok_or_else(|| CheckError::BadResponse("gateway answer has no status code".into()))?;
    if !SUCCESS_CODES.contains(&code) {
        let detail = info
            .find("status")
            .and_then(|s| s.text_of("message"))
            .unwrap_or("");
        return Err(status_error(code, detail));
    }
    match info.text_of("correlationId") {
        Some(c) if c == message_id => {}
        Some(_) => {
            return Err(CheckError::BadResponse(
                "gateway answer belongs to another message (correlationId mismatch)".into(),
            ));
        }
        None => {
            return Err(CheckError::BadResponse(
                "gateway answer has no correlationId".into(),
            ));
        }
    }
    let data = message
        .find("responseData")
        .and_then(|d| d.find("data"))
        .ok_or_else(|| CheckError::BadResponse("gateway answer has no responseData/data".into()))?;
    if let Some(inline) = data.children.first() {
        return Ok(inline.clone());
    }
    Element::parse(data.text.trim())
        .map_err(|e| CheckError::BadResponse(format!("registry business data: {e}")))
}

fn status_error(code: &str, detail: &str) -> CheckError {
    let unavailable = |what: &str| CheckError::Unavailable(format!("{what} ({code}): {detail}"));
    match code {
        "SCE004" => unavailable("registry service unavailable"),
        "SCE005" | "SCE006" | "SCE007" => unavailable("gateway refused the transport signature"),
        "SCE015" | "SCE016" | "SCE017" => unavailable("gateway refused the data signature"),
        "CONSENT_REQUIRED" => unavailable("registry refused the consent token"),
        "SCE909" => CheckError::BadResponse(format!("gateway processing error (SCE909): {detail}")),
        _ => CheckError::BadResponse(format!("unknown gateway status {code}: {detail}")),
    }
}

/// A fresh UUID-shaped message id per gateway message, derived from the host's correlation
/// id: an adapter that asks about two drivers sends two messages, and the gateway requires
/// every `messageId` to be unique.
fn message_id(correlation_id: &str) -> String {
    let n = SENT.with(|c| {
        let n = c.get();
        c.set(n.wrapping_add(1));
        n
    });
    let hex: String = correlation_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    let mut digits = format!("{hex:0>32}");
    digits.truncate(32);
    let tail = u32::from_str_radix(&digits[24..], 16)
        .unwrap_or(0)
        .wrapping_add(n);
    format!(
        "{}-{}-{}-{}-{}{tail:08x}",
        &digits[0..8],
        &digits[8..12],
        &digits[12..16],
        &digits[16..20],
        &digits[20..24]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: &str, correlation: &str, data: &str) -> Vec<u8> {
        soap::envelope(&format!(
            "<SendMessageResponse><response><responseInfo><messageId>x</messageId>\
             <correlationId>{correlation}</correlationId><status><code>{code}</code>\
             <message>m</message></status></responseInfo><responseData><data><![CDATA[{data}]]>\
             </data></responseData></response></SendMessageResponse>"
        ))
        .into_bytes()
    }

    #[test]
    fn success_returns_business_data() {
        let data = parse_answer(
            "id",
            200,
            &answer("SCE000", "id", "<person><iin>1</iin></person>"),
        )
        .unwrap();
        assert_eq!(data.name, "person");
    }

    #[test]
    fn unavailable_and_processing_errors_are_never_answers() {
        assert!(matches!(
            parse_answer("id", 200, &answer("SCE004", "id", "<a/>")),
            Err(CheckError::Unavailable(_))
        ));
        assert!(matches!(
            parse_answer("id", 200, &answer("SCE909", "id", "<a/>")),
            Err(CheckError::BadResponse(_))
        ));
        assert!(matches!(
            parse_answer("id", 200, &answer("XYZ", "id", "<a/>")),
            Err(CheckError::BadResponse(_))
        ));
    }

    #[test]
    fn wrong_correlation_is_bad_response() {
        assert!(matches!(
            parse_answer("id", 200, &answer("SCE000", "other", "<a/>")),
            Err(CheckError::BadResponse(_))
        ));
    }

    #[test]
    fn garbage_and_http_errors() {
        assert!(matches!(
            parse_answer("id", 200, b"<not-closed"),
            Err(CheckError::BadResponse(_))
        ));
        assert!(matches!(
            parse_answer("id", 500, b"oops"),
            Err(CheckError::Unavailable(_))
        ));
        assert!(matches!(
            parse_answer("id", 200, &answer("SCE000", "id", "<a>")),
            Err(CheckError::BadResponse(_))
        ));
    }

    #[test]
    fn message_ids_are_unique_uuids() {
        let a = message_id("6f1c2d3e-0000-4000-8000-00000000000a");
        let b = message_id("6f1c2d3e-0000-4000-8000-00000000000a");
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
    }
}
