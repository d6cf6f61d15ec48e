//! Guest SDK for adapters built against `kezek:registry@1.1.0` (ADR 0019).
//!
//! The same anatomy and the same modules as `kezek-adapter-sdk` (the 1.0.0 SDK, whose
//! sources these are, compiled here against 1.1.0's bindings), and what 1.1.0 adds:
//!
//! - every part of a [`CheckRequest`] is `None` unless the adapter declared it in
//!   `reads`; [`declared`] reads one, or says which one the adapter forgot to declare;
//! - checks are named as the rules cite them ("P18.13");
//! - a refused consent is a typed [`CredentialError`], read with [`consent_refusal`].

wit_bindgen::generate!({
    path: "../../../wit/registry@1.1.0",
    world: "adapter",
    pub_export_macro: true,
    export_macro_name: "export_adapter",
    default_bindings_module: "kezek_adapter_sdk_1_1",
});

#[path = "../../src/date.rs"]
pub mod date;
#[path = "../../src/finding.rs"]
pub mod finding;
#[path = "../../src/gateway.rs"]
pub mod gateway;
#[path = "../../src/helpers.rs"]
mod helpers;
#[path = "../../src/rest.rs"]
pub mod rest;
#[path = "../../src/soap.rs"]
pub mod soap;
#[path = "../../src/xml.rs"]
pub mod xml;

pub use helpers::{ConsentRefusal, flag, require_iin, same_id};

/// Plates and VINs in the identifier form the whole system compares them in.
pub use kezek_domain::plate;
/// Re-exported so adapters name the JSON values `rest::call` returns without a dependency of their own.
pub use serde_json;

pub use exports::kezek::registry::checker::Guest as Adapter;
pub use kezek::registry::outbound;
pub use kezek::registry::types::{
    CargoClass, CheckError, CheckRequest, CredentialError, Descriptor, Driver, Finding, Owner,
    PartyKind, RequestFields, Residency, Trailer, Vehicle, VehicleKind, Verdict,
};

/// Maps the host's outbound failure to the check error the pipeline understands.
/// A refused egress is reported as unavailable: the registry could not be asked.
impl From<outbound::OutboundError> for CheckError {
    fn from(e: outbound::OutboundError) -> Self {
        use outbound::OutboundError as O;
        match e {
            O::Timeout(m) => CheckError::Timeout(m),
            O::TooLarge(m) => CheckError::BadResponse(format!("response too large: {m}")),
            O::Protocol(m) => CheckError::BadResponse(m),
            O::Denied(m) => CheckError::Unavailable(format!("egress denied: {m}")),
            O::ConnectFailed(m) | O::ConnectionLost(m) => CheckError::Unavailable(m),
            O::CredentialUnavailable(c) => CheckError::Credential(c),
        }
    }
}

/// The consent refusal behind the error a gateway call returned, if that is what it is.
pub fn consent_refusal(error: &CheckError) -> Option<ConsentRefusal> {
    match error {
        CheckError::Credential(CredentialError::ConsentNotGiven(_)) => {
            Some(ConsentRefusal::NotGiven)
        }
        CheckError::Credential(CredentialError::SubjectNotFound(_)) => {
            Some(ConsentRefusal::SubjectNotFound)
        }
        _ => None,
    }
}

/// A request part the adapter declared in `reads`. `None` means it did not: the host hands
/// only declared parts (ADR 0019), so this is the adapter's mistake, reported as such
/// rather than checked against nothing.
pub fn declared<'a, T>(part: Option<&'a T>, name: &str) -> Result<&'a T, CheckError> {
    part.ok_or_else(|| {
        CheckError::RejectedInput(format!(
            "the adapter reads the {name} without declaring it in its request-fields"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ADR 0019: a refused consent is read from its type; an outage is not a refusal.
    #[test]
    fn consent_refusals_are_typed() {
        let refusal = |c| {
            consent_refusal(&CheckError::from(
                outbound::OutboundError::CredentialUnavailable(c),
            ))
        };
        assert_eq!(
            refusal(CredentialError::ConsentNotGiven("m".into())),
            Some(ConsentRefusal::NotGiven)
        );
        assert_eq!(
            refusal(CredentialError::SubjectNotFound("m".into())),
            Some(ConsentRefusal::SubjectNotFound)
        );
        assert_eq!(refusal(CredentialError::Unavailable("down".into())), None);
        // A message that merely looks like a refusal is not one.
        assert_eq!(
            consent_refusal(&CheckError::Unavailable(
                "credential unavailable: consent-not-given".into()
            )),
            None
        );
    }

    #[test]
    fn an_undeclared_part_is_named() {
        let vehicle: Option<&String> = None;
        let Err(CheckError::RejectedInput(m)) = declared(vehicle, "vehicle") else {
            panic!("an undeclared part must be an error");
        };
        assert!(m.contains("vehicle"), "{m}");
        assert_eq!(declared(Some(&1), "owner").unwrap(), &1);
    }
}
