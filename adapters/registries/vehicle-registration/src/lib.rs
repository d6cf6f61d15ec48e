//! P18.2 — the vehicle, and its trailer if any, are state-registered to the owner
//! ("Automobile" database, service `AUTO_VEHICLE_REGISTRATION` via the e-government
//! gateway; mocks/PROTOCOLS.md §4, check 2).
//!
//! Every adapter reads like this one: `describe()` from constants; `check()` builds the
//! business request, sends it through the SDK, parses the answer into a small record, and
//! judges the record. Parsing never guesses: a missing or unexpected field is a
//! `bad-response`, so an answer that cannot be read is never a pass.

use kezek_adapter_sdk::xml::{self, Element};
use kezek_adapter_sdk::{
    Adapter, CheckError, CheckRequest, Descriptor, Finding, RequestFields, finding, flag, gateway,
    require_iin, same_id,
};

const SERVICE_ID: &str = "AUTO_VEHICLE_REGISTRATION";

struct VehicleRegistration;

impl Adapter for VehicleRegistration {
    fn describe() -> Descriptor {
        Descriptor {
            id: "vehicle-registration".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "Automobile (vehicle registrations)".into(),
            checks: vec![2],
            reads: RequestFields::OWNER | RequestFields::VEHICLE | RequestFields::TRAILER,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        let owner = require_iin(req.owner.iin_bin.as_ref(), "the owner")?;
        let vehicle = lookup(&req.correlation_id, &req.vehicle.plate, &req.vehicle.vin)?;
        let finding = judge(
            Unit::Vehicle,
            &req.vehicle.plate,
            &req.vehicle.vin,
            owner,
            vehicle.as_ref(),
        );
        if finding.verdict != kezek_adapter_sdk::Verdict::Pass {
            return Ok(finding);
        }
        let Some(trailer) = &req.trailer else {
            return Ok(finding);
        };
        let record = lookup(&req.correlation_id, &trailer.plate, &trailer.vin)?;
        let trailer_finding = judge(
            Unit::Trailer,
            &trailer.plate,
            &trailer.vin,
            owner,
            record.as_ref(),
        );
        if trailer_finding.verdict != kezek_adapter_sdk::Verdict::Pass {
            return Ok(trailer_finding);
        }
        Ok(finding::pass(
            "vehicle-registered",
            format!(
                "vehicle {} and trailer {} are registered to the owner",
                req.vehicle.plate, trailer.plate
            ),
        ))
    }
}

kezek_adapter_sdk::export_adapter!(VehicleRegistration);

/// What the registry holds about one plate.
#[derive(Debug, PartialEq)]
struct Registration {
    vin: String,
    owner_iin_bin: String,
    status: String,
    registration_date: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Unit {
    Vehicle,
    Trailer,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Vehicle => "vehicle",
            Unit::Trailer => "trailer",
        }
    }
}

fn lookup(
    correlation_id: &str,
    plate: &str,
    vin: &str,
) -> Result<Option<Registration>, CheckError> {
    let data = xml::element("VehicleRequest", &[("plate", plate), ("vin", vin)]);
    let answer = gateway::call(correlation_id, gateway::Call::new(SERVICE_ID, data))?;
    parse(&answer).map_err(CheckError::BadResponse)
}

fn parse(answer: &Element) -> Result<Option<Registration>, String> {
    if answer.name != "VehicleResponse" {
        return Err(format!("expected <VehicleResponse>, got <{}>", answer.name));
    }
    if !flag(answer.text_of("found"), "found")
        .map_err(|_| "<found> is not true/false".to_owned())?
    {
        return Ok(None);
    }
    let vehicle = answer
        .child("vehicle")
        .ok_or("found=true without <vehicle>")?;
    Ok(Some(Registration {
        vin: vehicle.required("vin")?.to_owned(),
        owner_iin_bin: vehicle.required("ownerIinBin")?.to_owned(),
        status: vehicle.required("status")?.to_owned(),
        registration_date: vehicle.text_of("registrationDate").map(str::to_owned),
    }))
}

/// The first failing rule decides: registered at all, same VIN, still registered, same owner.
fn judge(
    unit: Unit,
    plate: &str,
    vin: &str,
    owner: &str,
    record: Option<&Registration>,
) -> Finding {
    let what = unit.name();
    let Some(record) = record else {
        return finding::fail(
            &format!("{what}-not-registered"),
            format!("{what} {plate} is not in the state vehicle register"),
        );
    };
    if !same_id(&record.vin, vin) {
        return finding::fail(
            &format!("{what}-vin-mismatch"),
            format!(
                "{what} {plate} is registered with VIN {}, not {vin}",
                record.vin
            ),
        );
    }
    if record.status != "registered" {
        return finding::fail(
            &format!("{what}-deregistered"),
            format!(
                "{what} {plate} is {} in the state vehicle register",
                record.status
            ),
        );
    }
    if record.owner_iin_bin != owner {
        return finding::fail(
            &format!("{what}-owner-mismatch"),
            format!("{what} {plate} is registered to another owner, not to the applicant"),
        );
    }
    finding::pass(
        "vehicle-registered",
        format!(
            "{what} {plate} is registered to the owner{}",
            record
                .registration_date
                .as_deref()
                .map(|d| format!(" since {d}"))
                .unwrap_or_default()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_adapter_sdk::Verdict;

    fn record(xml: &str) -> Result<Option<Registration>, String> {
        parse(&Element::parse(xml).unwrap())
    }

    const FOUND: &str = "<VehicleResponse><found>true</found><vehicle><plate>101KEB02</plate>\
        <vin>XTC65115000000001</vin><kind>truck</kind><ownerIinBin>240340010175</ownerIinBin>\
        <status>registered</status><registrationDate>2020-01-01</registrationDate></vehicle></VehicleResponse>";

    #[test]
    fn registered_to_the_owner_passes() {
        let r = record(FOUND).unwrap();
        let f = judge(
            Unit::Vehicle,
            "101KEB02",
            "xtc 65115000000001",
            "240340010175",
            r.as_ref(),
        );
        assert_eq!(
            (f.verdict, f.reason_code.as_str()),
            (Verdict::Pass, "vehicle-registered")
        );
    }

    #[test]
    fn a_trailer_of_someone_else_fails() {
        let r = record(FOUND).unwrap();
        let f = judge(
            Unit::Trailer,
            "06ZZG02",
            "XTC65115000000001",
            "999999999999",
            r.as_ref(),
        );
        assert_eq!(
            (f.verdict, f.reason_code.as_str()),
            (Verdict::Fail, "trailer-owner-mismatch")
        );
    }

    #[test]
    fn not_found_fails_and_garbage_is_an_error() {
        let f = judge(
            Unit::Vehicle,
            "X",
            "Y",
            "1",
            record("<VehicleResponse><found>false</found></VehicleResponse>")
                .unwrap()
                .as_ref(),
        );
        assert_eq!(f.reason_code, "vehicle-not-registered");
        assert!(record("<VehicleResponse><found>maybe</found></VehicleResponse>").is_err());
        assert!(record("<VehicleResponse><found>true</found></VehicleResponse>").is_err());
        assert!(record("<Other/>").is_err());
    }
}
