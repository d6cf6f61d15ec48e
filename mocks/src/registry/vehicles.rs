//! Vehicle registries behind the gateway: "Automobile" registrations (P18.2) and licences
//! (P18.3), wanted vehicles (P18.4), agricultural machinery (P18.6), international permits
//! (P18.7), technical inspection (P18.14).

use super::norm;
use crate::scenario::Scenario;
use crate::xml::{Node, XmlOut};

/// Plate and/or VIN from a request, normalised; at least one is required.
fn plate_vin(data: &Node) -> Result<(Option<String>, Option<String>), String> {
    let plate = data.text_of("plate").map(|p| norm(&p));
    let vin = data.text_of("vin").map(|v| norm(&v));
    if plate.is_none() && vin.is_none() {
        return Err(format!("{} needs plate or vin", data.name));
    }
    Ok((plate, vin))
}

/// Matches on the plate when the request has one, else on the VIN. The record's own VIN is
/// returned, so an adapter that sends both detects a VIN mismatch instead of "not found".
fn matches(plate: &Option<String>, vin: &Option<String>, rp: &str, rv: &str) -> bool {
    match (plate, vin) {
        (Some(p), _) => *p == norm(rp),
        (None, Some(v)) => *v == norm(rv),
        (None, None) => false,
    }
}

/// Registration record of a power vehicle or a trailer.
pub(crate) fn registration(s: &Scenario, data: &Node) -> Result<String, String> {
    let (plate, vin) = plate_vin(data)?;
    let mut out = XmlOut::new();
    out.open("VehicleResponse");
    if let Some(v) = s
        .vehicles
        .iter()
        .find(|v| matches(&plate, &vin, &v.plate, &v.vin))
    {
        out.leaf("found", "true")
            .open("vehicle")
            .leaf("plate", &v.plate)
            .leaf("vin", &v.vin)
            .leaf("kind", &v.kind)
            .leaf("make", &v.make)
            .leaf("model", &v.model)
            .leaf("ownerIinBin", &v.owner_iin_bin)
            .leaf("status", &v.status)
            .leaf("registrationDate", &v.registration_date)
            .close("vehicle");
    } else if let Some(t) = s
        .trailers
        .iter()
        .find(|t| matches(&plate, &vin, &t.plate, &t.vin))
    {
        out.leaf("found", "true")
            .open("vehicle")
            .leaf("plate", &t.plate)
            .leaf("vin", &t.vin)
            .leaf("kind", &t.kind)
            .leaf("ownerIinBin", &t.owner_iin_bin)
            .leaf("status", &t.status)
            .leaf("registrationDate", &t.registration_date)
            .leaf("maxMassKg", t.max_mass_kg)
            .close("vehicle");
    } else {
        out.leaf("found", "false");
    }
    out.close("VehicleResponse");
    Ok(out.finish())
}

/// Driver licence by IIN.
pub(crate) fn licence(s: &Scenario, data: &Node) -> Result<String, String> {
    let iin = data.required("iin")?;
    let mut out = XmlOut::new();
    out.open("LicenceResponse");
    match s.licences.iter().find(|l| l.iin == iin) {
        None => {
            out.leaf("found", "false");
        }
        Some(l) => {
            out.leaf("found", "true")
                .open("licence")
                .leaf("iin", &l.iin)
                .leaf("number", &l.number)
                .open("categories");
            for c in &l.categories {
                out.leaf("category", c);
            }
            out.close("categories")
                .leaf("issueDate", &l.issue_date)
                .leaf("expiryDate", &l.expiry_date)
                .leaf("status", &l.status)
                .close("licence");
        }
    }
    out.close("LicenceResponse");
    Ok(out.finish())
}

/// Wanted-vehicle records matching the plate or the VIN.
pub(crate) fn wanted(s: &Scenario, data: &Node) -> Result<String, String> {
    let (plate, vin) = plate_vin(data)?;
    let hits: Vec<_> = s
        .wanted_vehicles
        .iter()
        .filter(|w| {
            (plate.is_some() && w.plate.as_deref().map(norm) == plate)
                || (vin.is_some() && w.vin.as_deref().map(norm) == vin)
        })
        .collect();
    let mut out = XmlOut::new();
    out.open("WantedVehicleResponse")
        .leaf("wanted", if hits.is_empty() { "false" } else { "true" })
        .open("records");
    for w in hits {
        out.open("record")
            .opt_leaf("plate", w.plate.as_deref())
            .opt_leaf("vin", w.vin.as_deref())
            .leaf("since", &w.since)
            .leaf("reason", &w.reason)
            .leaf("initiator", &w.initiator)
            .close("record");
    }
    out.close("records").close("WantedVehicleResponse");
    Ok(out.finish())
}

/// Agricultural machine registration.
pub(crate) fn agri(s: &Scenario, data: &Node) -> Result<String, String> {
    let (plate, vin) = plate_vin(data)?;
    let mut out = XmlOut::new();
    out.open("MachineResponse");
    match s
        .agri_machines
        .iter()
        .find(|m| matches(&plate, &vin, &m.plate, &m.vin))
    {
        None => {
            out.leaf("found", "false");
        }
        Some(m) => {
            out.leaf("found", "true")
                .open("machine")
                .leaf("plate", &m.plate)
                .leaf("vin", &m.vin)
                .leaf("kind", &m.kind)
                .leaf("ownerIinBin", &m.owner_iin_bin)
                .leaf("status", &m.status)
                .leaf("registrationDate", &m.registration_date)
                .close("machine");
        }
    }
    out.close("MachineResponse");
    Ok(out.finish())
}

/// International road permits held for a plate (optionally only this carrier's).
pub(crate) fn permits(s: &Scenario, data: &Node) -> Result<String, String> {
    let plate = norm(&data.required("plate")?);
    let carrier = data.text_of("carrierIinBin");
    let mut out = XmlOut::new();
    out.open("PermitResponse").open("permits");
    for p in s.permits.iter().filter(|p| {
        norm(&p.plate) == plate && carrier.as_ref().is_none_or(|c| *c == p.carrier_iin_bin)
    }) {
        out.open("permit")
            .leaf("number", &p.number)
            .leaf("kind", &p.kind)
            .leaf("country", &p.country)
            .leaf("plate", &p.plate)
            .leaf("carrierIinBin", &p.carrier_iin_bin)
            .leaf("validFrom", &p.valid_from)
            .leaf("validTo", &p.valid_to)
            .leaf("status", &p.status)
            .close("permit");
    }
    out.close("permits").close("PermitResponse");
    Ok(out.finish())
}

/// Technical inspection records of a vehicle, newest first.
pub(crate) fn inspections(s: &Scenario, data: &Node) -> Result<String, String> {
    let (plate, vin) = plate_vin(data)?;
    let mut hits: Vec<_> = s
        .inspections
        .iter()
        .filter(|i| matches(&plate, &vin, &i.plate, &i.vin))
        .collect();
    hits.sort_by(|a, b| b.date.cmp(&a.date));
    let mut out = XmlOut::new();
    out.open("InspectionResponse").open("inspections");
    for i in hits {
        out.open("inspection")
            .leaf("number", &i.number)
            .leaf("plate", &i.plate)
            .leaf("vin", &i.vin)
            .leaf("date", &i.date)
            .leaf("validUntil", &i.valid_until)
            .leaf("result", &i.result)
            .leaf("operator", &i.operator)
            .close("inspection");
    }
    out.close("inspections").close("InspectionResponse");
    Ok(out.finish())
}
