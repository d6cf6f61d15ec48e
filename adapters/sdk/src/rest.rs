//! JSON REST calls to registries reached directly (toll operators, weigh stations).

use crate::CheckError;
use crate::outbound;

/// Sends a JSON request to a logical endpoint and returns the parsed JSON answer.
///
/// 404 is returned as `Ok(None)`: for a lookup by key it means "the registry has no such
/// record", which each adapter turns into its own finding. Any other non-2xx status, or a
/// body that is not JSON, is an error.
pub fn call(
    endpoint: &str,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
    correlation_id: &str,
) -> Result<Option<serde_json::Value>, CheckError> {
    let mut headers = vec![
        ("accept".to_owned(), "application/json".to_owned()),
        ("x-correlation-id".to_owned(), correlation_id.to_owned()),
    ];
    if body.is_some() {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    let response = outbound::send(&outbound::Request {
        endpoint: endpoint.to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        headers,
        body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        credentials: Vec::new(),
    })?;
    if (200..300).contains(&response.status) || response.status == 404 {
        check_correlation(endpoint, &response.headers, correlation_id)?;
    }
    match response.status {
        200..=299 => serde_json::from_slice(&response.body)
            .map(Some)
            .map_err(|e| CheckError::BadResponse(format!("{endpoint} answered invalid JSON: {e}"))),
        404 => Ok(None),
        429 | 500..=599 => Err(CheckError::Unavailable(format!(
            "{endpoint} answered HTTP {}",
            response.status
        ))),
        s => Err(CheckError::BadResponse(format!(
            "{endpoint} answered HTTP {s}"
        ))),
    }
}

/// Registries reached directly echo `X-Correlation-Id`; an answer that carries another
/// request's id (or none) belongs to someone else and is never used.
pub fn check_correlation(
    endpoint: &str,
    headers: &[(String, String)],
    correlation_id: &str,
) -> Result<(), CheckError> {
    let echoed = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-correlation-id"))
        .map(|(_, value)| value.as_str());
    match echoed {
        Some(id) if id == correlation_id => Ok(()),
        Some(_) => Err(CheckError::BadResponse(format!(
            "{endpoint} answered another request (X-Correlation-Id mismatch)"
        ))),
        None => Err(CheckError::BadResponse(format!(
            "{endpoint} answer has no X-Correlation-Id"
        ))),
    }
}

/// Percent-encodes one path segment (plates and VINs are plain ASCII, but never trust it).
pub fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A required field of a JSON answer, or a bad-response error naming it.
pub fn field<'a>(
    value: &'a serde_json::Value,
    name: &str,
) -> Result<&'a serde_json::Value, CheckError> {
    value
        .get(name)
        .filter(|v| !v.is_null())
        .ok_or_else(|| CheckError::BadResponse(format!("answer has no \"{name}\"")))
}

pub fn str_field<'a>(value: &'a serde_json::Value, name: &str) -> Result<&'a str, CheckError> {
    field(value, name)?
        .as_str()
        .ok_or_else(|| CheckError::BadResponse(format!("\"{name}\" is not a string")))
}

pub fn int_field(value: &serde_json::Value, name: &str) -> Result<i64, CheckError> {
    field(value, name)?
        .as_i64()
        .ok_or_else(|| CheckError::BadResponse(format!("\"{name}\" is not an integer")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn segment_encodes() {
        assert_eq!(super::segment("123 AB/01"), "123%20AB%2F01");
    }
}
