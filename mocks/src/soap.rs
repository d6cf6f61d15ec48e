//! SOAP 1.1 envelopes: the e-government gateway (ШЭП/SmartBridge) synchronous
//! `SendMessage` envelope, plain SOAP bodies (ЕСБД) and SOAP Faults.

use crate::xml::{self, Node, XmlOut};

pub const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// Namespace of the synchronous channel types, as used by the real gateway.
pub const SYNC_NS: &str = "http://bip.bee.kz/SyncChannel/v10/Types";
/// Success status code of the mock gateway.
pub const STATUS_OK: &str = "SCE000";

/// The parts of `SendMessage/request/requestInfo` the mock uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRequest {
    pub message_id: String,
    pub service_id: String,
    pub message_date: Option<String>,
    pub sender_id: Option<String>,
    pub sender_password: Option<String>,
    pub session_id: Option<String>,
    /// Business XML from `requestData/data` (escaped text, CDATA or inline elements).
    pub data: Option<Node>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error(transparent)]
    Xml(#[from] xml::XmlError),
    #[error("not a SOAP envelope: {0}")]
    Shape(String),
}

/// Returns the first element inside `Envelope/Body`.
pub fn body_payload(root: &Node) -> Result<&Node, EnvelopeError> {
    if root.name != "Envelope" {
        return Err(EnvelopeError::Shape(format!(
            "root element is {:?}, expected Envelope",
            root.name
        )));
    }
    root.child("Body")
        .and_then(|b| b.children.first())
        .ok_or_else(|| EnvelopeError::Shape("empty or missing Body".into()))
}

/// Parses a gateway `SendMessage` envelope.
pub fn parse_gateway_request(text: &str) -> Result<GatewayRequest, EnvelopeError> {
    let root = xml::parse(text)?;
    let send = body_payload(&root)?;
    if send.name != "SendMessage" {
        return Err(EnvelopeError::Shape(format!(
            "Body holds {:?}, expected SendMessage",
            send.name
        )));
    }
    let request = send
        .child("request")
        .ok_or_else(|| EnvelopeError::Shape("SendMessage/request is missing".into()))?;
    let info = request
        .child("requestInfo")
        .ok_or_else(|| EnvelopeError::Shape("request/requestInfo is missing".into()))?;
    let message_id = info
        .text_of("messageId")
        .ok_or_else(|| EnvelopeError::Shape("requestInfo/messageId is missing".into()))?;
    let service_id = info
        .text_of("serviceId")
        .ok_or_else(|| EnvelopeError::Shape("requestInfo/serviceId is missing".into()))?;
    let sender = info.child("sender");
    let data = match request.path(&["requestData", "data"]) {
        None => None,
        Some(d) if !d.children.is_empty() => {
            // Inline business XML: wrap so callers always get the business root element.
            d.children.first().cloned()
        }
        Some(d) if d.text.trim().is_empty() => None,
        Some(d) => Some(xml::parse(d.text.trim())?),
    };
    Ok(GatewayRequest {
        message_id,
        service_id,
        message_date: info.text_of("messageDate"),
        sender_id: sender.and_then(|s| s.text_of("senderId")),
        sender_password: sender.and_then(|s| s.text_of("password")),
        session_id: info.text_of("sessionId"),
        data,
    })
}

/// The answer's `responseInfo` and business data.
#[derive(Debug, Clone)]
pub struct GatewayResponse<'a> {
    pub message_id: &'a str,
    pub correlation_id: &'a str,
    pub response_date: &'a str,
    pub status_code: &'a str,
    pub status_message: &'a str,
    pub session_id: Option<&'a str>,
    /// Business XML, sent in CDATA.
    pub data: Option<&'a str>,
}

/// Writes a `SendMessageResponse` envelope.
pub fn write_gateway_response(r: &GatewayResponse<'_>) -> String {
    let mut out = XmlOut::with_decl();
    out.open_with("soap:Envelope", &[("xmlns:soap", SOAP_ENV_NS)])
        .open("soap:Body")
        .open_with("ns2:SendMessageResponse", &[("xmlns:ns2", SYNC_NS)])
        .open("response")
        .open("responseInfo")
        .leaf("messageId", r.message_id)
        .leaf("correlationId", r.correlation_id)
        .leaf("responseDate", r.response_date)
        .open("status")
        .leaf("code", r.status_code)
        .leaf("message", r.status_message)
        .close("status")
        .opt_leaf("sessionId", r.session_id)
        .close("responseInfo");
    if let Some(data) = r.data {
        out.open("responseData")
            .cdata_leaf("data", data)
            .close("responseData");
    }
    out.close("response")
        .close("ns2:SendMessageResponse")
        .close("soap:Body")
        .close("soap:Envelope");
    out.finish()
}

/// Writes a SOAP 1.1 Fault; `detail_code` goes into `detail/errorCode`.
pub fn write_fault(faultcode: &str, faultstring: &str, detail_code: Option<&str>) -> String {
    let mut out = XmlOut::with_decl();
    out.open_with("soap:Envelope", &[("xmlns:soap", SOAP_ENV_NS)])
        .open("soap:Body")
        .open("soap:Fault")
        .leaf("faultcode", faultcode)
        .leaf("faultstring", faultstring);
    if let Some(code) = detail_code {
        out.open("detail").leaf("errorCode", code).close("detail");
    }
    out.close("soap:Fault")
        .close("soap:Body")
        .close("soap:Envelope");
    out.finish()
}

/// Wraps an already written payload element in a plain SOAP 1.1 envelope.
pub fn wrap_body(payload: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"{SOAP_ENV_NS}\"><soap:Body>{payload}</soap:Body></soap:Envelope>"
    )
}

/// Builds a gateway request envelope (used by tests and documented as the example).
pub fn write_gateway_request(
    message_id: &str,
    service_id: &str,
    message_date: &str,
    sender_id: &str,
    password: &str,
    business_xml: &str,
) -> String {
    let mut out = XmlOut::with_decl();
    out.open_with("soapenv:Envelope", &[("xmlns:soapenv", SOAP_ENV_NS)])
        .open("soapenv:Body")
        .open_with("typ:SendMessage", &[("xmlns:typ", SYNC_NS)])
        .open("request")
        .open("requestInfo")
        .leaf("messageId", message_id)
        .leaf("serviceId", service_id)
        .leaf("messageDate", message_date)
        .open("sender")
        .leaf("senderId", sender_id)
        .leaf("password", password)
        .close("sender")
        .close("requestInfo")
        .open("requestData")
        .cdata_leaf("data", business_xml)
        .close("requestData")
        .close("request")
        .close("typ:SendMessage")
        .close("soapenv:Body")
        .close("soapenv:Envelope");
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_request_round_trip_cdata_and_escaped_text() {
        let env = write_gateway_request(
            "m-1",
            "S",
            "2026-12-01T00:00:00Z",
            "id",
            "pw",
            "<Q><iin>1</iin></Q>",
        );
        let req = parse_gateway_request(&env).unwrap();
        assert_eq!(req.message_id, "m-1");
        assert_eq!(req.sender_password.as_deref(), Some("pw"));
        assert_eq!(req.data.unwrap().text_of("iin").unwrap(), "1");

        let escaped = env.replace(
            "<data><![CDATA[<Q><iin>1</iin></Q>]]></data>",
            "<data>&lt;Q&gt;&lt;iin&gt;1&lt;/iin&gt;&lt;/Q&gt;</data>",
        );
        assert_ne!(escaped, env);
        let req = parse_gateway_request(&escaped).unwrap();
        assert_eq!(req.data.unwrap().name, "Q");
    }

    #[test]
    fn gateway_response_parses_back() {
        let s = write_gateway_response(&GatewayResponse {
            message_id: "r",
            correlation_id: "m",
            response_date: "d",
            status_code: STATUS_OK,
            status_message: "OK",
            session_id: None,
            data: Some("<A><b>x</b></A>"),
        });
        let root = xml::parse(&s).unwrap();
        let resp = body_payload(&root).unwrap();
        assert_eq!(
            resp.path(&["response", "responseInfo", "correlationId"])
                .unwrap()
                .text,
            "m"
        );
        let data = resp.path(&["response", "responseData", "data"]).unwrap();
        assert_eq!(xml::parse(&data.text).unwrap().text_of("b").unwrap(), "x");
    }
}
