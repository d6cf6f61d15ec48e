//! P18.16 — a released customs declaration (export, transit, re-export, temporary import)
//! covers the goods and the vehicle (ASTANA-1, service `ASTANA1_DECLARATIONS` via the
//! e-government gateway; mocks/PROTOCOLS.md §4, check 16). P19: residents and
//! non-residents alike.
//!
//! With a declaration number in the cargo the declaration is looked up by number (the
//! vehicle is then ignored by the lookup) and must list this vehicle by plate or VIN and be
//! released. Without one, an empty vehicle needs no declaration; otherwise some declaration
//! listing the vehicle must be released. Parsing never guesses: a missing or unexpected
//! field is a `bad-response`.

use kezek_adapter_sdk::xml::{self, Element};
use kezek_adapter_sdk::{
    Adapter, CargoClass, CheckError, CheckRequest, Descriptor, Finding, RequestFields, finding,
    gateway, same_id,
};

const SERVICE_ID: &str = "ASTANA1_DECLARATIONS";

const PROCEDURES: &[&str] = &["export", "transit", "re-export", "temporary-import"];
const STATUSES: &[&str] = &["registered", "released", "rejected", "cancelled"];

struct CustomsDeclarations;

impl Adapter for CustomsDeclarations {
    fn describe() -> Descriptor {
        Descriptor {
            id: "customs-declarations".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "ASTANA-1 (customs declarations)".into(),
            checks: vec![16],
            reads: RequestFields::VEHICLE | RequestFields::CARGO,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        let vehicle = VehicleId {
            plate: &req.vehicle.plate,
            vin: &req.vehicle.vin,
        };
        let number = req
            .cargo
            .declaration_number
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        let mut data = String::from("<DeclarationRequest>");
        match number {
            Some(number) => xml::leaf(&mut data, "declarationNumber", number),
            None if req.cargo.classes == [CargoClass::Empty] => {
                return Ok(finding::pass(
                    "no-declaration-required",
                    format!(
                        "vehicle {} travels empty, so no customs declaration is required",
                        vehicle.plate
                    ),
                ));
            }
            None => {
                xml::leaf(&mut data, "plate", vehicle.plate);
                xml::leaf(&mut data, "vin", vehicle.vin);
            }
        }
        data.push_str("</DeclarationRequest>");
        let answer = gateway::call(&req.correlation_id, gateway::Call::new(SERVICE_ID, data))?;
        let declarations = parse(&answer).map_err(CheckError::BadResponse)?;
        match number {
            Some(number) => by_number(number, &vehicle, &declarations),
            None => Ok(by_vehicle(&vehicle, &declarations)),
        }
        .map_err(CheckError::BadResponse)
    }
}

kezek_adapter_sdk::export_adapter!(CustomsDeclarations);

#[derive(Debug, Clone, Copy)]
struct VehicleId<'a> {
    plate: &'a str,
    vin: &'a str,
}

/// One declaration as ASTANA-1 holds it.
#[derive(Debug, PartialEq)]
struct Declaration {
    number: String,
    procedure: String,
    status: String,
    /// (plate, VIN) of each vehicle the declaration lists.
    vehicles: Vec<(String, String)>,
}

impl Declaration {
    fn lists(&self, v: &VehicleId<'_>) -> bool {
        self.vehicles
            .iter()
            .any(|(plate, vin)| same_id(plate, v.plate) || same_id(vin, v.vin))
    }

    fn released(&self) -> bool {
        self.status == "released"
    }
}

fn parse(answer: &Element) -> Result<Vec<Declaration>, String> {
    if answer.name != "DeclarationResponse" {
        return Err(format!(
            "expected <DeclarationResponse>, got <{}>",
            answer.name
        ));
    }
    let list = answer
        .child("declarations")
        .ok_or("<DeclarationResponse> has no <declarations>")?;
    list.children
        .iter()
        .map(|d| {
            if d.name != "declaration" {
                return Err(format!("unexpected <{}> in <declarations>", d.name));
            }
            let procedure = d.required("procedure")?;
            if !PROCEDURES.contains(&procedure) {
                return Err(format!("declaration procedure is {procedure:?}"));
            }
            let status = d.required("status")?;
            if !STATUSES.contains(&status) {
                return Err(format!("declaration status is {status:?}"));
            }
            let vehicles = d
                .child("vehicles")
                .map(|vs| {
                    vs.children
                        .iter()
                        .map(|v| {
                            if v.name != "vehicle" {
                                return Err(format!("unexpected <{}> in <vehicles>", v.name));
                            }
                            let plate = v.text_of("plate").unwrap_or_default();
                            let vin = v.text_of("vin").unwrap_or_default();
                            if plate.is_empty() && vin.is_empty() {
                                return Err("a declared vehicle has neither plate nor VIN".into());
                            }
                            Ok((plate.to_owned(), vin.to_owned()))
                        })
                        .collect::<Result<Vec<_>, String>>()
                })
                .transpose()?
                .unwrap_or_default();
            Ok(Declaration {
                number: d.required("number")?.to_owned(),
                procedure: procedure.to_owned(),
                status: status.to_owned(),
                vehicles,
            })
        })
        .collect()
}

/// The declaration the applicant named: found, lists this vehicle, released. An answer
/// holding another number, or the same number twice, is not an answer to the question.
fn by_number(
    number: &str,
    v: &VehicleId<'_>,
    declarations: &[Declaration],
) -> Result<Finding, String> {
    if declarations.iter().any(|d| d.number != number) {
        return Err("the answer holds a declaration with another number".into());
    }
    let d = match declarations {
        [] => {
            return Ok(finding::fail(
                "declaration-not-found",
                "the customs declaration given for the cargo is not in ASTANA-1",
            ));
        }
        [d] => d,
        _ => return Err("the answer holds the declaration more than once".into()),
    };
    let reference = Some(d.number.as_str());
    if !d.lists(v) {
        return Ok(finding::fail(
            "declaration-vehicle-mismatch",
            format!(
                "the customs declaration given for the cargo does not list vehicle {}",
                v.plate
            ),
        )
        .with_reference(reference));
    }
    if !d.released() {
        return Ok(finding::fail(
            "declaration-not-released",
            format!(
                "the {} declaration for vehicle {} is {}, not released by customs",
                d.procedure, v.plate, d.status
            ),
        )
        .with_reference(reference));
    }
    Ok(pass(v, d))
}

/// Without a number: some declaration listing the vehicle must be released. Declarations
/// that do not list it are ignored: they cannot clear this vehicle.
fn by_vehicle(v: &VehicleId<'_>, declarations: &[Declaration]) -> Finding {
    let listing: Vec<&Declaration> = declarations.iter().filter(|d| d.lists(v)).collect();
    if let Some(d) = listing.iter().find(|d| d.released()) {
        return pass(v, d);
    }
    match listing.first() {
        None => finding::fail(
            "declaration-missing",
            format!(
                "ASTANA-1 has no customs declaration listing vehicle {}",
                v.plate
            ),
        ),
        Some(d) => finding::fail(
            "declaration-not-released",
            format!(
                "no customs declaration listing vehicle {} is released (the {} declaration is {})",
                v.plate, d.procedure, d.status
            ),
        )
        .with_reference(Some(&d.number)),
    }
}

fn pass(v: &VehicleId<'_>, d: &Declaration) -> Finding {
    finding::pass(
        "declaration-valid",
        format!(
            "the {} declaration for vehicle {} is released by customs",
            d.procedure, v.plate
        ),
    )
    .with_reference(Some(&d.number))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_adapter_sdk::Verdict;

    const NUMBER: &str = "50101/011226/0000001";
    const V: VehicleId<'static> = VehicleId {
        plate: "101 KEB 02",
        vin: "XTC65115000000001",
    };

    fn declarations(xml: &str) -> Result<Vec<Declaration>, String> {
        parse(&Element::parse(xml).unwrap())
    }

    fn decl(number: &str, status: &str, plate: &str, vin: &str) -> String {
        format!(
            "<declaration><number>{number}</number><procedure>export</procedure>\
             <status>{status}</status><registrationDate>2026-11-28</registrationDate>\
             <declarantIinBin>240340010175</declarantIinBin><vehicles><vehicle>\
             <plate>{plate}</plate><vin>{vin}</vin></vehicle></vehicles>\
             <hsCodes><hsCode>8708</hsCode></hsCodes></declaration>"
        )
    }

    fn answer(ds: &[String]) -> Vec<Declaration> {
        declarations(&format!(
            "<DeclarationResponse><declarations>{}</declarations></DeclarationResponse>",
            ds.concat()
        ))
        .unwrap()
    }

    fn verdict(f: &Finding) -> (Verdict, &str) {
        (f.verdict, f.reason_code.as_str())
    }

    #[test]
    fn by_number_released_and_listing_the_vehicle_passes() {
        let d = answer(&[decl(NUMBER, "released", "101KEB02", "XTC65115000000001")]);
        let f = by_number(NUMBER, &V, &d).unwrap();
        assert_eq!(verdict(&f), (Verdict::Pass, "declaration-valid"));
        assert_eq!(f.registry_reference.as_deref(), Some(NUMBER));
        assert!(!f.message.contains(NUMBER));
        // The VIN alone identifies the vehicle too.
        let d = answer(&[decl(NUMBER, "released", "999KEZ02", "XTC65115000000001")]);
        assert_eq!(
            verdict(&by_number(NUMBER, &V, &d).unwrap()),
            (Verdict::Pass, "declaration-valid")
        );
    }

    #[test]
    fn by_number_failures() {
        assert_eq!(
            verdict(&by_number(NUMBER, &V, &answer(&[])).unwrap()),
            (Verdict::Fail, "declaration-not-found")
        );
        let other = answer(&[decl(NUMBER, "released", "999KEZ02", "XTC65115999999999")]);
        assert_eq!(
            verdict(&by_number(NUMBER, &V, &other).unwrap()),
            (Verdict::Fail, "declaration-vehicle-mismatch")
        );
        let registered = answer(&[decl(NUMBER, "registered", "101KEB02", "X")]);
        assert_eq!(
            verdict(&by_number(NUMBER, &V, &registered).unwrap()),
            (Verdict::Fail, "declaration-not-released")
        );
        // Another number, or the number twice, is not an answer.
        let wrong = answer(&[decl("1/2/3", "released", "101KEB02", "X")]);
        assert!(by_number(NUMBER, &V, &wrong).is_err());
        let twice = answer(&[
            decl(NUMBER, "released", "101KEB02", "X"),
            decl(NUMBER, "released", "101KEB02", "X"),
        ]);
        assert!(by_number(NUMBER, &V, &twice).is_err());
    }

    #[test]
    fn by_vehicle_some_released_one_passes() {
        let d = answer(&[
            decl("A", "cancelled", "101KEB02", "X"),
            decl("B", "released", "101KEB02", "X"),
        ]);
        let f = by_vehicle(&V, &d);
        assert_eq!(verdict(&f), (Verdict::Pass, "declaration-valid"));
        assert_eq!(f.registry_reference.as_deref(), Some("B"));
        assert_eq!(
            verdict(&by_vehicle(&V, &answer(&[]))),
            (Verdict::Fail, "declaration-missing")
        );
        let not_released = answer(&[decl("A", "rejected", "101KEB02", "X")]);
        assert_eq!(
            verdict(&by_vehicle(&V, &not_released)),
            (Verdict::Fail, "declaration-not-released")
        );
        // A released declaration of another vehicle does not clear this one.
        let foreign = answer(&[decl("A", "released", "999KEZ02", "Y")]);
        assert_eq!(
            verdict(&by_vehicle(&V, &foreign)),
            (Verdict::Fail, "declaration-missing")
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(declarations("<DeclarationResponse/>").is_err());
        assert!(declarations("<Other><declarations/></Other>").is_err());
        let bad = |d: String| {
            declarations(&format!(
                "<DeclarationResponse><declarations>{d}</declarations></DeclarationResponse>"
            ))
        };
        assert!(bad(decl(NUMBER, "approved", "101KEB02", "X")).is_err());
        assert!(
            bad(decl(NUMBER, "released", "101KEB02", "X").replace("export", "import")).is_err()
        );
        assert!(bad(decl(NUMBER, "released", "", "")).is_err());
        assert!(bad("<declaration><number>1</number></declaration>".into()).is_err());
        assert!(bad("<item/>".into()).is_err());
    }
}
