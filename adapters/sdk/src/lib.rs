//! Guest SDK shared by every Kezek registry adapter.
//!
//! Every adapter has the same anatomy (see `adapters/registries/vehicle-registration` for
//! the one to read first):
//!
//! 1. `describe()` returns a [`Descriptor`] built from constants;
//! 2. `check()` builds the registry's business request from the [`CheckRequest`],
//! 3. sends it through the host ([`gateway::call`] for state databases behind the
//!    e-government gateway, [`rest`] for registries reached directly),
//! 4. reads the answer with [`xml::Element`] or `serde_json`, and
//! 5. maps it to a [`Finding`] with [`finding`] — or to a [`CheckError`], never to a pass,
//!    when the answer is unknown, malformed or ambiguous.
//!
//! The SDK never sees a credential: the envelope carries placeholders that the host fills
//! in on the way out (`wit/registry@1.0.0`, interface `outbound`).
//!
//! This crate speaks `kezek:registry@1.0.0`; new adapters use `kezek-adapter-sdk-1-1`
//! (`sdk/v1_1`), which compiles the same modules against `kezek:registry@1.1.0`. One crate
//! per version, not a feature or two modules: two worlds in one component's metadata merge
//! into one that must export both checkers, and cargo would unify a feature across the
//! adapters workspace (ADR 0019).

wit_bindgen::generate!({
    path: "../../wit/registry@1.0.0",
    world: "adapter",
    pub_export_macro: true,
    export_macro_name: "export_adapter",
    default_bindings_module: "kezek_adapter_sdk",
});

pub mod date;
pub mod finding;
pub mod gateway;
mod helpers;
pub mod rest;
pub mod soap;
pub mod xml;

pub use helpers::{ConsentRefusal, flag, require_iin, same_id};

/// Plates and VINs in the identifier form the whole system compares them in.
pub use kezek_domain::plate;
/// Re-exported so adapters name the JSON values `rest::call` returns without a dependency of their own.
pub use serde_json;

pub use exports::kezek::registry::checker::Guest as Adapter;
pub use kezek::registry::outbound;
pub use kezek::registry::types::{
    CargoClass, CheckError, CheckRequest, Descriptor, Driver, Finding, Owner, PartyKind,
    RequestFields, Residency, Trailer, Vehicle, VehicleKind, Verdict,
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
            O::ConnectFailed(m) => CheckError::Unavailable(m),
            O::CredentialUnavailable(m) => {
                CheckError::Unavailable(format!("credential unavailable: {m}"))
            }
        }
    }
}

/// Reads a consent refusal out of the error a gateway call returned, if that is what it is.
/// WIT 1.0.0 carries it as text led by the consent service's code; 1.1.0 types it
/// (`kezek-adapter-sdk-1-1`).
pub fn consent_refusal(error: &CheckError) -> Option<ConsentRefusal> {
    let CheckError::Unavailable(message) = error else {
        return None;
    };
    let code = message.strip_prefix("credential unavailable: ")?;
    if code.starts_with("consent-not-given") {
        Some(ConsentRefusal::NotGiven)
    } else if code.starts_with("subject-not-found") {
        Some(ConsentRefusal::SubjectNotFound)
    } else {
        None
    }
}
