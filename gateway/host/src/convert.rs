//! Conversions between domain types and the `kezek:registry@1.0.0` bindings.

use super::Descriptor;
use super::bindings::v1::kezek::registry::{outbound as wit_out, types as wit};
use kezek_domain::{self as domain, CheckError, CheckId, Finding, RequestFields, Verdict};
use kezek_egress::{CredentialRequest, EgressError, OutboundRequest, OutboundResponse};

/// The request of a 1.0.0 adapter, which names the check by its P18 number: only P18.1 to
/// P18.18 cross this boundary (ADR 0018).
pub(super) fn request(
    app: &domain::Application,
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
        owner: wit::Owner {
            residency: residency(app.owner.residency),
            kind: match app.owner.kind {
                domain::PartyKind::NaturalPerson => wit::PartyKind::NaturalPerson,
                domain::PartyKind::LegalEntity => wit::PartyKind::LegalEntity,
            },
            name: app.owner.name.clone(),
            iin_bin: app.owner.iin_bin.clone(),
            country: app.owner.country.clone(),
        },
        drivers: app
            .drivers
            .iter()
            .map(|d| wit::Driver {
                residency: residency(d.residency),
                full_name: d.full_name.clone(),
                birth_date: d.birth_date.clone(),
                iin: d.iin.clone(),
                phone: d.phone.clone(),
                email: d.email.clone(),
                document: wit::IdentityDocument {
                    kind: d.document.kind.clone(),
                    issuing_country: d.document.issuing_country.clone(),
                    number: d.document.number.clone(),
                    expires: d.document.expires.clone(),
                },
            })
            .collect(),
        vehicle: wit::Vehicle {
            kind: match app.vehicle.kind {
                domain::VehicleKind::Truck => wit::VehicleKind::Truck,
                domain::VehicleKind::TractorUnit => wit::VehicleKind::TractorUnit,
                domain::VehicleKind::AgriculturalMachine => wit::VehicleKind::AgriculturalMachine,
            },
            country: app.vehicle.country.clone(),
            plate: app.vehicle.plate.clone(),
            vin: app.vehicle.vin.clone(),
        },
        trailer: app.trailer.as_ref().map(|t| wit::Trailer {
            country: t.country.clone(),
            plate: t.plate.clone(),
            vin: t.vin.clone(),
        }),
        cargo: wit::Cargo {
            classes: app
                .cargo
                .classes
                .iter()
                .map(|c| match c {
                    domain::CargoClass::General => wit::CargoClass::General,
                    domain::CargoClass::Animal => wit::CargoClass::Animal,
                    domain::CargoClass::Plant => wit::CargoClass::Plant,
                    domain::CargoClass::Perishable => wit::CargoClass::Perishable,
                    domain::CargoClass::Dangerous => wit::CargoClass::Dangerous,
                    domain::CargoClass::Empty => wit::CargoClass::Empty,
                })
                .collect(),
            hs_codes: app.cargo.hs_codes.clone(),
            declaration_number: app.cargo.declaration_number.clone(),
            description: app.cargo.description.clone(),
        },
        checkpoint: app.checkpoint.clone(),
        travel_date: app.travel_date.clone(),
    })
}

fn residency(r: domain::Residency) -> wit::Residency {
    match r {
        domain::Residency::Resident => wit::Residency::Resident,
        domain::Residency::NonResident => wit::Residency::NonResident,
    }
}

pub(super) fn finding(f: wit::Finding) -> Finding {
    Finding {
        verdict: match f.verdict {
            wit::Verdict::Pass => Verdict::Pass,
            wit::Verdict::Fail => Verdict::Fail,
            wit::Verdict::Notice => Verdict::Notice,
        },
        reason_code: f.reason_code,
        message: f.message,
        registry_reference: f.registry_reference,
        valid_until: f.valid_until,
    }
}

pub(super) fn check_error(e: wit::CheckError) -> CheckError {
    match e {
        wit::CheckError::Unavailable(m) => CheckError::Unavailable(m),
        wit::CheckError::BadResponse(m) => CheckError::BadResponse(m),
        wit::CheckError::RejectedInput(m) => CheckError::RejectedInput(m),
        wit::CheckError::Timeout(m) => CheckError::Timeout(m),
    }
}

pub(super) fn descriptor(d: wit::Descriptor) -> Result<Descriptor, String> {
    let checks = d
        .checks
        .iter()
        .map(|&n| {
            CheckId::p18(n).ok_or_else(|| {
                format!(
                    "describe() names check {n}; kezek:registry@1.0.0 speaks P18 numbers 1 to 18"
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let reads = RequestFields {
        owner: d.reads.contains(wit::RequestFields::OWNER),
        drivers: d.reads.contains(wit::RequestFields::DRIVERS),
        vehicle: d.reads.contains(wit::RequestFields::VEHICLE),
        trailer: d.reads.contains(wit::RequestFields::TRAILER),
        cargo: d.reads.contains(wit::RequestFields::CARGO),
        checkpoint: d.reads.contains(wit::RequestFields::CHECKPOINT),
        travel_date: d.reads.contains(wit::RequestFields::TRAVEL_DATE),
    };
    Ok(Descriptor {
        id: d.id,
        version: d.version,
        registry: d.registry,
        checks,
        reads,
    })
}

pub(super) fn outbound_request(r: wit_out::Request) -> OutboundRequest {
    OutboundRequest {
        endpoint: r.endpoint,
        method: r.method,
        path: r.path,
        headers: r.headers,
        body: r.body,
        credentials: r
            .credentials
            .into_iter()
            .map(|c| match c {
                wit_out::Credential::GatewaySender => CredentialRequest::GatewaySender,
                wit_out::Credential::ConsentToken(s) => CredentialRequest::ConsentToken {
                    service_id: s.service_id,
                    iin: s.iin,
                },
            })
            .collect(),
    }
}

pub(super) fn outbound_response(r: OutboundResponse) -> wit_out::Response {
    wit_out::Response {
        status: r.status,
        headers: r.headers,
        body: r.body,
    }
}

pub(super) fn outbound_error(e: EgressError) -> wit_out::OutboundError {
    match e {
        EgressError::Denied(m) => wit_out::OutboundError::Denied(m),
        EgressError::ConnectFailed(m) => wit_out::OutboundError::ConnectFailed(m),
        // WIT 1.0.0 is frozen and has no variant of its own for a broken connection; its
        // adapters treat connect-failed as an outage, which is what this is.
        EgressError::Transport(m) => wit_out::OutboundError::ConnectFailed(m),
        EgressError::Timeout(m) => wit_out::OutboundError::Timeout(m),
        EgressError::TooLarge(m) => wit_out::OutboundError::TooLarge(m),
        EgressError::CredentialUnavailable(m) => wit_out::OutboundError::CredentialUnavailable(m),
        EgressError::Protocol(m) => wit_out::OutboundError::Protocol(m),
    }
}
