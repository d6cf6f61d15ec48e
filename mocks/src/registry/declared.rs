//! Serving the registries a scenario declares ([`crate::declared`]) that have their own
//! path: direct SOAP at `POST /{id}/soap` and JSON REST at `POST /{id}/v1/{service-id}`.
//! The egov-soap family is served by the gateway at `/bip-sync/` (`gateway.rs`), routed by
//! `serviceId` like the built-in services. Request validation and faults are the built-in
//! registries' own (`soap.rs`, `apply_faults`).

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde_json::json;

use super::{
    Answer, Family, RecordedRequest, Routed, Shared, client_fault, keys_of, soap_operation,
};
use crate::declared::{DeclaredRegistry, ProtocolFamily, select_from_json, select_from_xml};
use crate::soap;

/// Key fields of a request, as recorded.
type Keys = BTreeMap<String, String>;

/// The path a declared registry is served at.
pub(crate) fn path(r: &DeclaredRegistry) -> String {
    match r.family {
        ProtocolFamily::EgovSoap => "/bip-sync/".to_string(),
        ProtocolFamily::Soap => format!("/{}/soap", r.id),
        ProtocolFamily::Rest => format!("/{}/v1/{}", r.id, r.service_id),
    }
}

/// The answer of the declared registry at `path`, or `None` when none is there.
pub(crate) fn handle(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    body: &str,
    correlation_id: Option<String>,
) -> Option<Result<Routed, super::Early>> {
    let scenario = shared.scenario();
    let declared = scenario
        .registries
        .iter()
        .find(|r| r.family != ProtocolFamily::EgovSoap && self::path(r) == path)?;
    if *method != Method::POST {
        return Some(Err(Box::new(super::response(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "this mock registry takes POST",
        ))));
    }
    let called = match declared.family {
        ProtocolFamily::Soap => soap_call(declared, body),
        _ => rest_call(declared, body),
    };
    Some(called.map(|(keys, answer)| {
        let (family, content_type) = match declared.family {
            ProtocolFamily::Soap => (Family::Soap, "text/xml; charset=utf-8"),
            _ => (Family::Json, "application/json"),
        };
        Routed {
            registry: declared.id.as_str().into(),
            family,
            record: RecordedRequest::direct(
                declared.id.as_str(),
                "POST",
                path,
                Some(declared.service_id.clone()),
                keys,
                body,
                &correlation_id,
            ),
            answer: Answer::Plain {
                status: StatusCode::OK,
                content_type,
                body: answer,
                correlation_id,
            },
        }
    }))
}

/// A direct SOAP 1.1 call, answered like ЕСБД: a malformed envelope, another operation or a
/// missing selecting field is a `soap:Client` Fault; the answer is the filled template in a
/// plain SOAP body (200), with `X-Correlation-Id` echoed. Gives the key fields and the body.
fn soap_call(r: &DeclaredRegistry, body: &str) -> Result<(Keys, String), super::Early> {
    let op = soap_operation(body, &r.service_id)?;
    let wanted = select_from_xml(r, &op).map_err(|e| client_fault(&e))?;
    Ok((keys_of(&op), soap::wrap_body(&r.answer_for(&wanted))))
}

/// A JSON REST call, answered like the toll operator: a body that is not a JSON object with
/// the selecting fields is HTTP 400 `bad-request`; the answer is the filled template (200).
fn rest_call(r: &DeclaredRegistry, body: &str) -> Result<(Keys, String), super::Early> {
    let bad_request = |message: String| -> super::Early {
        Box::new(super::response(
            StatusCode::BAD_REQUEST,
            "application/json",
            json!({"error": "bad-request", "message": message}).to_string(),
        ))
    };
    let request: serde_json::Value =
        serde_json::from_str(body).map_err(|e| bad_request(e.to_string()))?;
    let wanted = select_from_json(r, &request).map_err(bad_request)?;
    let answer = r.answer_for(&wanted);
    Ok((r.select.iter().cloned().zip(wanted).collect(), answer))
}
