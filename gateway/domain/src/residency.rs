//! What an application's own facts say about residency, before any registry is asked
//! (P16.3, P16.4, P19; ADR 0011, ADR 0016). The registries establish residency in the gate
//! (check 1); these are the contradictions no registry is needed to see, answered as what
//! to change.

use crate::clock::DateProblem;
use crate::{Application, Residency};

/// Kazakhstan's country code, as the application writes registration and issuing countries.
const KAZAKHSTAN: &str = "KZ";

/// Every place where the application contradicts the residency it declares.
///
/// - A vehicle registered in Kazakhstan has an owner with an IIN/BIN (registration needs
///   one), and P16.3 asks a non-resident for it "if any": without it the gate could not
///   confirm the owner's residency, so it is required.
/// - An identity document issued by Kazakhstan is a resident's: a driver declared
///   non-resident with one is asked to declare the residency and the IIN.
pub fn contradictions(app: &Application) -> Vec<DateProblem> {
    let mut problems = Vec::new();
    if app.owner.residency == Residency::NonResident
        && app.owner.iin_bin.is_none()
        && app.vehicle.country.eq_ignore_ascii_case(KAZAKHSTAN)
    {
        problems.push(DateProblem {
            rule: "P16.3",
            pointer: "/owner/iin-bin".to_owned(),
            detail: "the vehicle is registered in Kazakhstan, so its owner has an IIN/BIN: \
                     give it, so that the owner's residency can be confirmed (P19)"
                .to_owned(),
        });
    }
    for (i, driver) in app.drivers.iter().enumerate() {
        if driver.residency == Residency::NonResident
            && driver
                .document
                .issuing_country
                .eq_ignore_ascii_case(KAZAKHSTAN)
        {
            problems.push(DateProblem {
                rule: "P16.4",
                pointer: format!("/drivers/{i}/residency"),
                detail: format!(
                    "driver {}'s identity document was issued by Kazakhstan: declare the driver \
                     a resident, with their IIN (P19)",
                    i + 1
                ),
            });
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    /// P16.3, P16.4, P19: the declared residency against the application's own evidence.
    #[test]
    fn residency_contradictions() {
        // (owner residency, owner IIN/BIN, vehicle country, drivers' (residency, document
        // issuer)) → the pointers blamed.
        let check = |owner: (&str, Option<&str>),
                     vehicle_country: &str,
                     drivers: &[(&str, &str)],
                     expect: &[&str]| {
            let drivers: Vec<serde_json::Value> = drivers
                .iter()
                .map(|(residency, issuer)| {
                    serde_json::json!({
                        "residency": residency, "full-name": "n", "birth-date": "1980-01-01",
                        "phone": "+1", "document": {"kind": "passport", "issuing-country": issuer,
                        "number": "1", "expires": "2099-01-01"}
                    })
                })
                .collect();
            let mut owner_json = serde_json::json!({
                "residency": owner.0, "kind": "legal-entity", "name": "n", "country": "UZ"
            });
            if let Some(bin) = owner.1 {
                owner_json["iin-bin"] = bin.into();
            }
            let app: Application = serde_json::from_value(serde_json::json!({
                "owner": owner_json,
                "drivers": drivers,
                "vehicle": {"kind": "truck", "country": vehicle_country, "plate": "1", "vin": "1"},
                "cargo": {"classes": ["general"]},
                "checkpoint": "KZ-A",
                "travel-date": "2099-01-01"
            }))
            .unwrap();
            let blamed: Vec<String> = contradictions(&app)
                .into_iter()
                .map(|p| p.pointer)
                .collect();
            assert_eq!(blamed, expect, "{owner:?} {vehicle_country} {drivers:?}");
        };
        let foreign_driver = [("non-resident", "UZ")];
        check(("non-resident", None), "UZ", &foreign_driver, &[]);
        check(
            ("non-resident", None),
            "KZ",
            &foreign_driver,
            &["/owner/iin-bin"],
        );
        check(
            ("non-resident", None),
            "kz",
            &foreign_driver,
            &["/owner/iin-bin"],
        );
        check(
            ("non-resident", Some("123456789012")),
            "KZ",
            &foreign_driver,
            &[],
        );
        check(
            ("resident", Some("123456789012")),
            "KZ",
            &foreign_driver,
            &[],
        );
        check(
            ("resident", Some("123456789012")),
            "KZ",
            &[("resident", "KZ"), ("non-resident", "KZ")],
            &["/drivers/1/residency"],
        );
        check(("non-resident", None), "UZ", &[("resident", "UZ")], &[]);
    }
}
