//! `kezek:registry@1.0.0`: its bindings and what it does differently from the other
//! versions (the rest is `conversions.rs`). Frozen with the WIT it speaks.
//!
//! The 1.0.0 request record has no optional parts, so an adapter is handed neutral
//! placeholders for every part it did not declare (ADR 0019): an owner with empty strings
//! and the first case of each enum, no drivers, a vehicle with empty strings, no trailer,
//! empty cargo, an empty checkpoint and travel date. No personal data it did not ask for,
//! and nothing that changes without its cache key changing.

use super::{CallState, Descriptor};
use kezek_domain::{CheckError, CheckId, Projection};
use kezek_egress::EgressError;

wasmtime::component::bindgen!({
    path: "../../wit/registry@1.0.0",
    world: "adapter",
    imports: { default: async },
    exports: { default: async },
});

use kezek::registry::{outbound as wit_out, types as wit};

shared_conversions!();

/// The request of a 1.0.0 adapter, which names the check by its P18 number: only P18.1 to
/// P18.18 cross this boundary (ADR 0018).
fn request(
    app: Projection<'_>,
    check: &CheckId,
    correlation_id: &str,
) -> Result<wit::CheckRequest, CheckError> {
    let number = check.p18_number().ok_or_else(|| {
        CheckError::AdapterMissing(format!(
            "{check}: an adapter on kezek:registry@1.0.0 names checks by P18 number and serves \
             P18.1 to P18.18 only"
        ))
    })?;
    Ok(wit::CheckRequest {
        correlation_id: correlation_id.to_owned(),
        check: number,
        owner: app.owner.map(owner).unwrap_or(wit::Owner {
            residency: wit::Residency::Resident,
            kind: wit::PartyKind::NaturalPerson,
            name: String::new(),
            iin_bin: None,
            country: String::new(),
        }),
        drivers: app.drivers.unwrap_or_default().iter().map(driver).collect(),
        vehicle: app.vehicle.map(vehicle).unwrap_or(wit::Vehicle {
            kind: wit::VehicleKind::Truck,
            country: String::new(),
            plate: String::new(),
            vin: String::new(),
        }),
        trailer: app.trailer.flatten().map(trailer),
        cargo: app.cargo.map(cargo).unwrap_or(wit::Cargo {
            classes: Vec::new(),
            hs_codes: Vec::new(),
            declaration_number: None,
            description: String::new(),
        }),
        checkpoint: app.checkpoint.unwrap_or_default().to_owned(),
        travel_date: app.travel_date.unwrap_or_default().to_owned(),
    })
}

fn check_error(e: wit::CheckError) -> CheckError {
    match e {
        wit::CheckError::Unavailable(m) => CheckError::Unavailable(m),
        wit::CheckError::BadResponse(m) => CheckError::BadResponse(m),
        wit::CheckError::RejectedInput(m) => CheckError::RejectedInput(m),
        wit::CheckError::Timeout(m) => CheckError::Timeout(m),
    }
}

fn check_id(n: u8) -> Result<CheckId, String> {
    CheckId::p18(n).ok_or_else(|| {
        format!("describe() names check {n}; kezek:registry@1.0.0 speaks P18 numbers 1 to 18")
    })
}

fn outbound_error(e: EgressError) -> wit_out::OutboundError {
    use wit_out::OutboundError as O;
    match e {
        EgressError::Denied(m) => O::Denied(m),
        EgressError::ConnectFailed(m) => O::ConnectFailed(m),
        // WIT 1.0.0 is frozen and has no variant of its own for a broken connection; its
        // adapters treat connect-failed as an outage, which is what this is.
        EgressError::Transport(m) => O::ConnectFailed(m),
        EgressError::Timeout(m) => O::Timeout(m),
        EgressError::TooLarge(m) => O::TooLarge(m),
        // 1.0.0 carries a refusal as text led by its code ("consent-not-given: …"), which
        // its SDK reads back (adapters/sdk, `consent_refusal`).
        e @ (EgressError::ConsentRefused { .. } | EgressError::CredentialUnavailable(_)) => {
            O::CredentialUnavailable(e.credential_detail())
        }
        EgressError::Protocol(m) => O::Protocol(m),
    }
}
