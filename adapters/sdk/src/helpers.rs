//! Helpers every contract version's SDK shares (compiled into each SDK crate against its
//! own bindings: `crate::CheckError` is that version's).

use crate::CheckError;

/// Plates and VINs compare after upper-casing and dropping everything but letters and
/// digits (`101 KEB 02` = `101KEB02`), as the registries match them.
pub fn same_id(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_uppercase)
            .collect()
    };
    norm(a) == norm(b)
}

/// Reads a registry boolean; anything but `true`/`false` is a bad response, never a guess.
pub fn flag(value: Option<&str>, what: &str) -> Result<bool, CheckError> {
    match value {
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        other => Err(CheckError::BadResponse(format!(
            "{what} is {other:?}, expected true or false"
        ))),
    }
}

/// The IIN/BIN the adapter must send, or a `rejected-input` error naming the role.
pub fn require_iin<'a>(iin: Option<&'a String>, role: &str) -> Result<&'a str, CheckError> {
    iin.map(String::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| CheckError::RejectedInput(format!("{role} has no IIN/BIN")))
}

/// Why the state consent service refused a token (PROTOCOLS.md §3): a finding to make,
/// not an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentRefusal {
    /// The person has not consented to the processing of personal data (P16).
    NotGiven,
    /// The consent service does not know the IIN.
    SubjectNotFound,
}
