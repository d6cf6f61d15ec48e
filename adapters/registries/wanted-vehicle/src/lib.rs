//! P18.4 — the vehicle, and its trailer if any, are not wanted (interior ministry wanted
//! vehicles, service `MVD_WANTED_VEHICLES` via the e-government gateway;
//! mocks/PROTOCOLS.md §4, check 4).
//!
//! The registry matches on plate or VIN; the adapter sends both and trusts its `wanted`
//! answer, which must agree with the records it returns. The vehicle goes first, then the
//! trailer.

use kezek_adapter_sdk::xml::{self, Element};
use kezek_adapter_sdk::{
    Adapter, CheckError, CheckRequest, Descriptor, Finding, RequestFields, Verdict, finding, flag,
    gateway,
};

const SERVICE_ID: &str = "MVD_WANTED_VEHICLES";

struct WantedVehicle;

impl Adapter for WantedVehicle {
    fn describe() -> Descriptor {
        Descriptor {
            id: "wanted-vehicle".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "Interior ministry wanted vehicles".into(),
            checks: vec![4],
            reads: RequestFields::VEHICLE | RequestFields::TRAILER,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        let vehicle = lookup(&req.correlation_id, &req.vehicle.plate, &req.vehicle.vin)?;
        let f = judge(Unit::Vehicle, &req.vehicle.plate, &vehicle);
        if f.verdict != Verdict::Pass {
            return Ok(f);
        }
        let Some(trailer) = &req.trailer else {
            return Ok(f);
        };
        let records = lookup(&req.correlation_id, &trailer.plate, &trailer.vin)?;
        let t = judge(Unit::Trailer, &trailer.plate, &records);
        if t.verdict != Verdict::Pass {
            return Ok(t);
        }
        Ok(finding::pass(
            "vehicle-not-wanted",
            format!(
                "neither vehicle {} nor trailer {} is on the wanted list",
                req.vehicle.plate, trailer.plate
            ),
        ))
    }
}

kezek_adapter_sdk::export_adapter!(WantedVehicle);

#[derive(Debug, Clone, Copy)]
enum Unit {
    Vehicle,
    Trailer,
}

/// One wanted-list record (only the facts the message uses).
#[derive(Debug, PartialEq)]
struct Wanted {
    since: String,
    reason: String,
}

fn lookup(correlation_id: &str, plate: &str, vin: &str) -> Result<Vec<Wanted>, CheckError> {
    let data = xml::element("WantedVehicleRequest", &[("plate", plate), ("vin", vin)]);
    let answer = gateway::call(correlation_id, gateway::Call::new(SERVICE_ID, data))?;
    parse(&answer).map_err(CheckError::BadResponse)
}

/// The records on the wanted list; empty when not wanted. `wanted` must agree with them.
fn parse(answer: &Element) -> Result<Vec<Wanted>, String> {
    if answer.name != "WantedVehicleResponse" {
        return Err(format!(
            "expected <WantedVehicleResponse>, got <{}>",
            answer.name
        ));
    }
    let wanted = flag(answer.text_of("wanted"), "wanted")
        .map_err(|_| "<wanted> is not true/false".to_owned())?;
    let records = answer
        .child("records")
        .ok_or("<WantedVehicleResponse> has no <records>")?
        .children_named("record")
        .map(|r| {
            Ok(Wanted {
                since: r.required("since")?.to_owned(),
                reason: r.required("reason")?.to_owned(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if wanted == records.is_empty() {
        return Err(format!(
            "wanted={wanted} contradicts {} wanted-list record(s)",
            records.len()
        ));
    }
    Ok(records)
}

fn judge(unit: Unit, plate: &str, records: &[Wanted]) -> Finding {
    let (what, code) = match unit {
        Unit::Vehicle => ("vehicle", "vehicle-wanted"),
        Unit::Trailer => ("trailer", "trailer-wanted"),
    };
    match records.first() {
        None => finding::pass(
            "vehicle-not-wanted",
            format!("{what} {plate} is not on the wanted list"),
        ),
        Some(w) => finding::fail(
            code,
            format!(
                "{what} {plate} is on the interior ministry's wanted list since {} ({})",
                w.since, w.reason
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(xml: &str) -> Result<Vec<Wanted>, String> {
        parse(&Element::parse(xml).unwrap())
    }

    #[test]
    fn not_wanted_passes() {
        let r = records(
            "<WantedVehicleResponse><wanted>false</wanted><records/></WantedVehicleResponse>",
        )
        .unwrap();
        let f = judge(Unit::Vehicle, "101KEB02", &r);
        assert_eq!(
            (f.verdict, f.reason_code.as_str()),
            (Verdict::Pass, "vehicle-not-wanted")
        );
    }

    #[test]
    fn a_wanted_trailer_fails() {
        let r = records(
            "<WantedVehicleResponse><wanted>true</wanted><records><record>\
             <vin>SKR2400AT00000024</vin><since>2026-08-19</since>\
             <reason>collateral seizure</reason><initiator>DP Karaganda</initiator>\
             </record></records></WantedVehicleResponse>",
        )
        .unwrap();
        let f = judge(Unit::Trailer, "24ZZX02", &r);
        assert_eq!(
            (f.verdict, f.reason_code.as_str()),
            (Verdict::Fail, "trailer-wanted")
        );
        assert_eq!(
            f.message,
            "trailer 24ZZX02 is on the interior ministry's wanted list since 2026-08-19 (collateral seizure)"
        );
        assert_eq!(judge(Unit::Vehicle, "X", &r).reason_code, "vehicle-wanted");
    }

    #[test]
    fn garbage_and_contradictions_are_errors() {
        assert!(
            records(
                "<WantedVehicleResponse><wanted>true</wanted><records/></WantedVehicleResponse>"
            )
            .is_err()
        );
        assert!(records(
            "<WantedVehicleResponse><wanted>false</wanted><records><record><since>2026-01-01</since>\
             <reason>stolen</reason></record></records></WantedVehicleResponse>"
        )
        .is_err());
        assert!(
            records("<WantedVehicleResponse><wanted>no</wanted><records/></WantedVehicleResponse>")
                .is_err()
        );
        assert!(
            records("<WantedVehicleResponse><wanted>false</wanted></WantedVehicleResponse>")
                .is_err()
        );
        assert!(
            records(
                "<WantedVehicleResponse><wanted>true</wanted><records><record><plate>X</plate>\
             </record></records></WantedVehicleResponse>"
            )
            .is_err()
        );
        assert!(records("<Other/>").is_err());
    }
}
