//! SOAP 1.1 envelopes: the e-government gateway's synchronous `SendMessage`, and the plain
//! envelope of registries that speak their own SOAP (ЕСБД).

use crate::xml::{self, Element};
use crate::{CheckError, outbound};

pub const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// Namespace of the gateway's synchronous channel as public clients use it.
pub const GATEWAY_NS: &str = "http://bip.bee.kz/SyncChannel/v10/Types";

/// Placeholders the host replaces with the operator's gateway sender credentials.
pub const SENDER_ID_PLACEHOLDER: &str = "{{kezek:sender-id}}";
pub const SENDER_PASSWORD_PLACEHOLDER: &str = "{{kezek:sender-password}}";
/// Placeholder the host replaces with the consent token (kdpToken) it obtained.
pub const CONSENT_TOKEN_PLACEHOLDER: &str = "{{kezek:consent-token}}";

/// Wraps a body in a SOAP 1.1 envelope.
pub fn envelope(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body>{body}</soap:Body></soap:Envelope>"#
    )
}

/// The gateway's `SendMessage` request. Business data goes into CDATA, so adapters write
/// it as plain XML; a `]]>` inside it is split so the CDATA cannot be closed early.
pub fn send_message(message_id: &str, service_id: &str, message_date: &str, data: &str) -> String {
    let mut body = String::with_capacity(512 + data.len());
    body.push_str(r#"<typ:SendMessage xmlns:typ=""#);
    body.push_str(GATEWAY_NS);
    body.push_str(r#""><request><requestInfo>"#);
    xml::leaf(&mut body, "messageId", message_id);
    xml::leaf(&mut body, "serviceId", service_id);
    xml::leaf(&mut body, "messageDate", message_date);
    body.push_str("<sender><senderId>");
    body.push_str(SENDER_ID_PLACEHOLDER);
    body.push_str("</senderId><password>");
    body.push_str(SENDER_PASSWORD_PLACEHOLDER);
    body.push_str("</password></sender></requestInfo><requestData><data><![CDATA[");
    body.push_str(&data.replace("]]>", "]]]]><![CDATA[>"));
    body.push_str("]]></data></requestData></request></typ:SendMessage>");
    envelope(&body)
}

/// A SOAP Fault, or the `Body`'s first element.
#[derive(Debug)]
pub enum Body {
    Fault { code: String, message: String },
    Content(Element),
}

/// Parses an envelope down to its body's first element.
pub fn parse_body(doc: &str) -> Result<Body, String> {
    let root = Element::parse(doc)?;
    if root.name != "Envelope" {
        return Err(format!("expected a SOAP Envelope, got <{}>", root.name));
    }
    let body = root.child("Body").ok_or("SOAP envelope has no Body")?;
    let first = body.children.first().ok_or("SOAP Body is empty")?;
    if first.name == "Fault" {
        return Ok(Body::Fault {
            code: first.text_of("faultcode").unwrap_or_default().to_owned(),
            message: first.text_of("faultstring").unwrap_or_default().to_owned(),
        });
    }
    Ok(Body::Content(first.clone()))
}

/// Calls a registry that speaks its own SOAP 1.1 (no gateway envelope, no credentials in
/// the body: the host authenticates the connection). Returns the Body's first element.
///
/// The registry must echo `X-Correlation-Id`; an answer for another request is an error.
pub fn call_direct(
    endpoint: &str,
    path: &str,
    soap_action: &str,
    body: &str,
    correlation_id: &str,
) -> Result<Element, CheckError> {
    let response = outbound::send(&outbound::Request {
        endpoint: endpoint.to_owned(),
        method: "POST".to_owned(),
        path: path.to_owned(),
        headers: vec![
            (
                "content-type".to_owned(),
                "text/xml; charset=utf-8".to_owned(),
            ),
            ("soapaction".to_owned(), format!("\"{soap_action}\"")),
            ("x-correlation-id".to_owned(), correlation_id.to_owned()),
        ],
        body: envelope(body).into_bytes(),
        credentials: Vec::new(),
    })?;
    let text = std::str::from_utf8(&response.body)
        .map_err(|_| CheckError::BadResponse(format!("{endpoint} answer is not UTF-8")))?;
    let ok = (200..300).contains(&response.status);
    let content = match (parse_body(text), ok) {
        (Ok(Body::Fault { code, message }), _) => {
            return Err(CheckError::Unavailable(format!(
                "{endpoint} SOAP fault {code}: {message}"
            )));
        }
        (Ok(Body::Content(content)), true) => content,
        (_, false) => {
            return Err(CheckError::Unavailable(format!(
                "{endpoint} answered HTTP {}",
                response.status
            )));
        }
        (Err(e), true) => return Err(CheckError::BadResponse(format!("{endpoint} answer: {e}"))),
    };
    crate::rest::check_correlation(endpoint, &response.headers, correlation_id)?;
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_message_carries_placeholders_not_credentials() {
        let env = send_message("m-1", "SVC", "2026-11-21T10:00:00Z", "<q>1</q>");
        assert!(env.contains(SENDER_ID_PLACEHOLDER));
        assert!(env.contains(SENDER_PASSWORD_PLACEHOLDER));
        let Body::Content(msg) = parse_body(&env).unwrap() else {
            panic!("fault")
        };
        let info = msg.find("requestInfo").unwrap();
        assert_eq!(info.text_of("serviceId"), Some("SVC"));
        assert_eq!(msg.find("data").unwrap().text, "<q>1</q>");
    }

    #[test]
    fn cdata_cannot_be_closed_by_the_data() {
        let env = send_message("m", "S", "d", "<q>]]></q>");
        let Body::Content(msg) = parse_body(&env).unwrap() else {
            panic!("fault")
        };
        assert_eq!(msg.find("data").unwrap().text, "<q>]]></q>");
    }

    #[test]
    fn faults_are_recognised() {
        let env = envelope(
            "<soap:Fault><faultcode>soap:Server</faultcode><faultstring>boom</faultstring></soap:Fault>",
        );
        match parse_body(&env).unwrap() {
            Body::Fault { message, .. } => assert_eq!(message, "boom"),
            Body::Content(_) => panic!("fault not recognised"),
        }
    }
}
