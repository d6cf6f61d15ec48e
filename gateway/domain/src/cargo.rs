//! What the goods are, as the checks care: the classes an applicant declares, and the
//! classes their HS codes imply. Veterinary and phytosanitary control (P18.15) follows the
//! goods, so a class left out of the declaration does not skip the check (issue 10).

use crate::clock::DateProblem;
use crate::{Application, CargoClass};

/// The chapter of an HS code: its first two digits.
pub fn hs_chapter(code: &str) -> Option<u8> {
    code.get(..2).and_then(|c| c.parse().ok())
}

/// The classes HS codes imply: chapters 01–05 (live animals and animal products) are under
/// veterinary control, 06–14 (plants and vegetable products) under phytosanitary control.
pub fn implied_classes(hs_codes: &[String]) -> Vec<CargoClass> {
    let mut classes = Vec::new();
    for code in hs_codes {
        let class = match hs_chapter(code) {
            Some(1..=5) => CargoClass::Animal,
            Some(6..=14) => CargoClass::Plant,
            _ => continue,
        };
        if !classes.contains(&class) {
            classes.push(class);
        }
    }
    classes
}

/// The declared classes together with the implied ones: what a rule's cargo condition reads.
pub fn effective_classes(app: &Application) -> Vec<CargoClass> {
    let mut classes = app.cargo.classes.clone();
    for class in implied_classes(&app.cargo.hs_codes) {
        if !classes.contains(&class) {
            classes.push(class);
        }
    }
    classes
}

/// A declaration that contradicts its own HS codes: goods of a controlled chapter declared
/// without their class. Said as what to change, with the rule it serves (P18.15).
pub fn contradictions(app: &Application) -> Vec<DateProblem> {
    implied_classes(&app.cargo.hs_codes)
        .into_iter()
        .filter(|class| !app.cargo.classes.contains(class))
        .map(|class| {
            let (name, chapters) = match class {
                CargoClass::Animal => ("animal", "01–05, live animals and animal products"),
                _ => ("plant", "06–14, plants and vegetable products"),
            };
            DateProblem {
                rule: "P18.15",
                pointer: "/cargo/classes".to_owned(),
                detail: format!(
                    "the HS codes include chapters {chapters}: declare the class {name}"
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use CargoClass::*;

    #[test]
    fn hs_chapters_imply_classes() {
        let check = |codes: &[&str], expect: &[CargoClass]| {
            let codes: Vec<String> = codes.iter().map(|c| (*c).to_owned()).collect();
            assert_eq!(implied_classes(&codes), expect, "{codes:?}");
        };
        check(&[], &[]);
        check(&["010229"], &[Animal]); // live cattle
        check(&["0207"], &[Animal]); // poultry meat
        check(&["050400"], &[Animal]); // guts and stomachs
        check(&["060110"], &[Plant]); // bulbs
        check(&["100199", "080810"], &[Plant]); // wheat, apples
        check(&["140490"], &[Plant]);
        check(&["150710"], &[]); // soya oil: not under this rule
        check(&["870421"], &[]); // trucks
        check(&["010229", "100199", "010410"], &[Animal, Plant]);
    }
}
