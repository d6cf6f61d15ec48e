//! ЕСБД, the unified insurance database (P18.8), reached directly with its own SOAP 1.1
//! API at `/esbd/soap` (operation `GetPoliciesByVehicle`). No gateway envelope: the host
//! authenticates with a client certificate in production, so the body has no credentials.

use std::sync::Arc;

use hyper::StatusCode;

use super::{
    Answer, Family, RecordedRequest, RegistryId, Routed, Shared, client_fault, keys_of, norm,
    soap_operation,
};
use crate::soap;
use crate::xml::XmlOut;

/// Namespace of the mock's ЕСБД operations.
pub const ESBD_NS: &str = "urn:kz:esbd:mock:v1";

/// ЕСБД's one operation.
pub(crate) const OPERATION: &str = "GetPoliciesByVehicle";

pub(crate) fn handle(
    shared: &Arc<Shared>,
    path: &str,
    body: &str,
    correlation_id: Option<String>,
) -> Result<Routed, super::Early> {
    let op = soap_operation(body, OPERATION)?;
    let plate = op.text_of("plate").map(|p| norm(&p));
    let vin = op.text_of("vin").map(|v| norm(&v));
    if plate.is_none() && vin.is_none() {
        return Err(client_fault("GetPoliciesByVehicle needs plate or vin"));
    }
    let record = RecordedRequest::direct(
        RegistryId::Esbd,
        "POST",
        path,
        Some(OPERATION.into()),
        keys_of(&op),
        body,
        &correlation_id,
    );
    let scenario = shared.scenario();
    let hits: Vec<_> = scenario
        .policies
        .iter()
        .filter(|p| match (&plate, &vin) {
            (Some(pl), _) => *pl == norm(&p.plate),
            (None, Some(v)) => *v == norm(&p.vin),
            (None, None) => false,
        })
        .collect();
    let mut out = XmlOut::new();
    out.open_with("GetPoliciesByVehicleResponse", &[("xmlns", ESBD_NS)])
        .open("GetPoliciesByVehicleResult")
        .leaf("PolicyCount", hits.len())
        .open("Policies");
    for p in hits {
        out.open("Policy")
            .leaf("PolicyNumber", &p.number)
            .leaf("InsurerName", &p.insurer_name)
            .leaf("InsurerBin", &p.insurer_bin)
            .opt_leaf("PolicyHolderIinBin", p.holder_iin_bin.as_deref())
            .leaf("PolicyHolderName", &p.holder_name)
            .leaf("Plate", &p.plate)
            .leaf("Vin", &p.vin)
            .leaf("DateBeg", &p.start)
            .leaf("DateEnd", &p.end)
            .leaf("Unlimited", p.unlimited)
            .leaf("Rescinded", p.rescinded)
            .open("InsuredDrivers");
        for d in &p.insured_drivers {
            out.open("Driver")
                .opt_leaf("Iin", d.iin.as_deref())
                .leaf("FullName", &d.full_name)
                .leaf("BirthDate", &d.birth_date)
                .close("Driver");
        }
        out.close("InsuredDrivers").close("Policy");
    }
    out.close("Policies")
        .close("GetPoliciesByVehicleResult")
        .close("GetPoliciesByVehicleResponse");
    Ok(Routed {
        registry: RegistryId::Esbd.into(),
        family: Family::Soap,
        record,
        answer: Answer::Plain {
            status: StatusCode::OK,
            content_type: "text/xml; charset=utf-8",
            body: soap::wrap_body(&out.finish()),
            correlation_id,
        },
    })
}
