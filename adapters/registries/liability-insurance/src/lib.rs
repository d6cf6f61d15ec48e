//! P18.8 — a third-party liability insurance contract (insurer, insured drivers, term) is
//! in force on the travel date for the vehicle and covers every driver (ЕСБД, the unified
//! insurance database, reached directly with its own SOAP 1.1 operation
//! `GetPoliciesByVehicle`; mocks/PROTOCOLS.md §4, check 8).
//!
//! ЕСБД returns facts — every policy of the vehicle, past and future — and the adapter
//! decides. A policy is in force when it is not rescinded, `DateBeg` ≤ T ≤ `DateEnd` and
//! its VIN is the request's VIN; a policy that ended the day before travel is expired.

use kezek_adapter_sdk::xml::{self, Element};
use kezek_adapter_sdk::{
    Adapter, CheckError, CheckRequest, Descriptor, Driver, Finding, RequestFields, date, finding,
    flag, same_id, soap,
};

const ENDPOINT: &str = "esbd";
const PATH: &str = "/soap";
const OPERATION: &str = "GetPoliciesByVehicle";
const NAMESPACE: &str = "urn:kz:esbd:mock:v1";

struct LiabilityInsurance;

impl Adapter for LiabilityInsurance {
    fn describe() -> Descriptor {
        Descriptor {
            id: "liability-insurance".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "ЕСБД (unified insurance database)".into(),
            checks: vec![8],
            reads: RequestFields::DRIVERS | RequestFields::VEHICLE | RequestFields::TRAVEL_DATE,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        let travel_date =
            date::iso_date(&req.travel_date, "travel date").map_err(CheckError::RejectedInput)?;
        let mut body = format!("<{OPERATION} xmlns=\"{NAMESPACE}\">");
        xml::leaf(&mut body, "plate", &req.vehicle.plate);
        xml::leaf(&mut body, "vin", &req.vehicle.vin);
        body.push_str("</");
        body.push_str(OPERATION);
        body.push('>');
        let answer = soap::call_direct(ENDPOINT, PATH, OPERATION, &body, &req.correlation_id)?;
        let policies = parse(&answer).map_err(CheckError::BadResponse)?;
        let drivers: Vec<Insured> = req.drivers.iter().map(Insured::from).collect();
        Ok(judge(
            &req.vehicle.plate,
            &req.vehicle.vin,
            travel_date,
            &drivers,
            &policies,
        ))
    }
}

kezek_adapter_sdk::export_adapter!(LiabilityInsurance);

/// One policy as ЕСБД holds it.
#[derive(Debug, Clone, PartialEq)]
struct Policy {
    number: String,
    insurer: String,
    vin: String,
    begins: String,
    ends: String,
    unlimited: bool,
    rescinded: bool,
    drivers: Vec<Insured>,
}

/// A person, as a policy names an insured driver or as the request names a driver.
#[derive(Debug, Clone, PartialEq)]
struct Insured {
    iin: Option<String>,
    full_name: String,
    birth_date: String,
}

impl From<&Driver> for Insured {
    fn from(d: &Driver) -> Self {
        Insured {
            iin: d.iin.clone().filter(|i| !i.is_empty()),
            full_name: d.full_name.clone(),
            birth_date: d.birth_date.clone(),
        }
    }
}

fn parse(answer: &Element) -> Result<Vec<Policy>, String> {
    if answer.name != "GetPoliciesByVehicleResponse" {
        return Err(format!(
            "expected <GetPoliciesByVehicleResponse>, got <{}>",
            answer.name
        ));
    }
    let result = answer
        .child("GetPoliciesByVehicleResult")
        .ok_or("answer has no <GetPoliciesByVehicleResult>")?;
    let count: usize = result
        .required("PolicyCount")?
        .parse()
        .map_err(|_| "<PolicyCount> is not a count".to_owned())?;
    let policies = match result.child("Policies") {
        Some(list) => list
            .children_named("Policy")
            .map(parse_policy)
            .collect::<Result<Vec<_>, _>>()?,
        None if count == 0 => Vec::new(),
        None => return Err("<PolicyCount> is not 0 but there is no <Policies>".into()),
    };
    if policies.len() != count {
        return Err(format!(
            "<PolicyCount> says {count} but {} <Policy> elements came",
            policies.len()
        ));
    }
    Ok(policies)
}

fn parse_policy(p: &Element) -> Result<Policy, String> {
    let bool_of =
        |name: &str| flag(p.text_of(name), name).map_err(|_| format!("<{name}> is not true/false"));
    let drivers = p
        .child("InsuredDrivers")
        .ok_or("<Policy> has no <InsuredDrivers>")?
        .children_named("Driver")
        .map(|d| {
            Ok(Insured {
                iin: d
                    .text_of("Iin")
                    .filter(|i| !i.is_empty())
                    .map(str::to_owned),
                full_name: d.required("FullName")?.to_owned(),
                birth_date: date::iso_date(d.required("BirthDate")?, "<BirthDate>")?.to_owned(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Policy {
        number: p.required("PolicyNumber")?.to_owned(),
        insurer: p.required("InsurerName")?.to_owned(),
        vin: p.required("Vin")?.to_owned(),
        begins: date::iso_date(p.required("DateBeg")?, "<DateBeg>")?.to_owned(),
        ends: date::iso_date(p.required("DateEnd")?, "<DateEnd>")?.to_owned(),
        unlimited: bool_of("Unlimited")?,
        rescinded: bool_of("Rescinded")?,
        drivers,
    })
}

impl Policy {
    fn in_force(&self, t: &str) -> bool {
        !self.rescinded && self.begins.as_str() <= t && t <= self.ends.as_str()
    }

    /// Unlimited covers anyone; else the driver's IIN, or for a driver without one, the
    /// full name (case-insensitive) and the birth date.
    fn covers(&self, driver: &Insured) -> bool {
        self.unlimited
            || self.drivers.iter().any(|named| match &driver.iin {
                Some(iin) => named.iin.as_deref() == Some(iin.as_str()),
                None => {
                    same_name(&named.full_name, &driver.full_name)
                        && named.birth_date == driver.birth_date
                }
            })
    }

    /// Position (1-based) of the first driver this policy does not cover.
    fn first_uncovered(&self, drivers: &[Insured]) -> Option<usize> {
        drivers.iter().position(|d| !self.covers(d)).map(|i| i + 1)
    }
}

fn same_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

/// The first matching row of the protocol's table decides.
fn judge(plate: &str, vin: &str, t: &str, drivers: &[Insured], policies: &[Policy]) -> Finding {
    if policies.is_empty() {
        return finding::fail(
            "no-policy",
            format!(
                "no liability insurance policy for vehicle {plate} in the unified insurance database"
            ),
        );
    }
    // ЕСБД finds policies by plate; one written for another VIN is not this vehicle's.
    let own: Vec<&Policy> = policies.iter().filter(|p| same_id(&p.vin, vin)).collect();
    if own.is_empty() {
        return finding::fail(
            "no-policy",
            format!(
                "no liability insurance policy for vehicle {plate} with its VIN in the unified insurance database: \
                 the policies found for the plate name another VIN"
            ),
        );
    }
    let in_force: Vec<&Policy> = own.iter().copied().filter(|p| p.in_force(t)).collect();
    if let Some(p) = in_force
        .iter()
        .filter(|p| p.first_uncovered(drivers).is_none())
        .max_by(|a, b| a.ends.cmp(&b.ends))
    {
        let who = if p.unlimited {
            "any driver"
        } else if drivers.len() == 1 {
            "the driver"
        } else {
            "every driver"
        };
        return finding::pass(
            "policy-valid",
            format!(
                "liability insurance with {} for vehicle {plate} is in force from {} to {}, \
                 covering {who}",
                p.insurer, p.begins, p.ends
            ),
        )
        .with_reference(Some(&p.number))
        .valid_until(Some(&p.ends));
    }
    if let Some(p) = in_force.first() {
        let missing = p.first_uncovered(drivers).unwrap_or(1);
        return finding::fail(
            "driver-not-insured",
            format!(
                "driver {missing} is not insured under the liability insurance policy of vehicle \
                 {plate} in force on the travel date {t}"
            ),
        )
        .with_reference(Some(&p.number));
    }
    let live = || own.iter().filter(|p| !p.rescinded);
    if let Some(p) = live()
        .filter(|p| p.ends.as_str() < t)
        .max_by(|a, b| a.ends.cmp(&b.ends))
    {
        return finding::fail(
            "policy-expired",
            format!(
                "liability insurance of vehicle {plate} ended on {}, before the travel date {t}",
                p.ends
            ),
        )
        .with_reference(Some(&p.number));
    }
    if let Some(p) = live()
        .filter(|p| p.begins.as_str() > t)
        .min_by(|a, b| a.begins.cmp(&b.begins))
    {
        return finding::fail(
            "policy-not-yet-valid",
            format!(
                "liability insurance of vehicle {plate} starts on {}, after the travel date {t}",
                p.begins
            ),
        )
        .with_reference(Some(&p.number));
    }
    finding::fail(
        "policy-rescinded",
        format!("the liability insurance policy of vehicle {plate} has been rescinded"),
    )
    .with_reference(own.first().map(|p| p.number.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_adapter_sdk::Verdict;

    const VIN: &str = "XTC65115000000005";
    const T: &str = "2026-12-01";

    fn policies(xml: &str) -> Result<Vec<Policy>, String> {
        parse(&Element::parse(xml).unwrap())
    }

    fn answer(policies: &[&str]) -> String {
        format!(
            "<GetPoliciesByVehicleResponse xmlns=\"urn:kz:esbd:mock:v1\"><GetPoliciesByVehicleResult>\
             <PolicyCount>{}</PolicyCount><Policies>{}</Policies></GetPoliciesByVehicleResult>\
             </GetPoliciesByVehicleResponse>",
            policies.len(),
            policies.concat()
        )
    }

    fn policy(begins: &str, ends: &str, unlimited: bool, rescinded: bool, drivers: &str) -> String {
        format!(
            "<Policy><PolicyNumber>ESBD-000005</PolicyNumber><InsurerName>Nomad Insurance</InsurerName>\
             <InsurerBin>990140000126</InsurerBin><PolicyHolderName>TOO Test</PolicyHolderName>\
             <Plate>105KEF02</Plate><Vin>{VIN}</Vin><DateBeg>{begins}</DateBeg><DateEnd>{ends}</DateEnd>\
             <Unlimited>{unlimited}</Unlimited><Rescinded>{rescinded}</Rescinded>\
             <InsuredDrivers>{drivers}</InsuredDrivers></Policy>"
        )
    }

    const AIBEK: &str = "<Driver><Iin>850416300503</Iin><FullName>Akhmetov Aibek</FullName>\
        <BirthDate>1985-04-16</BirthDate></Driver>";
    const SERIK: &str =
        "<Driver><FullName>Utegenov Serik</FullName><BirthDate>1976-07-10</BirthDate></Driver>";

    fn driver(iin: Option<&str>, name: &str, birth: &str) -> Insured {
        Insured {
            iin: iin.map(str::to_owned),
            full_name: name.into(),
            birth_date: birth.into(),
        }
    }

    fn aibek() -> Insured {
        driver(Some("850416300503"), "Akhmetov Aibek", "1985-04-16")
    }

    fn verdict(xml: &str, drivers: &[Insured]) -> (Verdict, String) {
        let f = judge("105KEF02", VIN, T, drivers, &policies(xml).unwrap());
        (f.verdict, f.reason_code)
    }

    #[test]
    fn in_force_policy_naming_the_driver_passes_with_reference_and_end() {
        let p = policies(&answer(&[&policy(
            "2026-03-01",
            "2027-02-28",
            false,
            false,
            AIBEK,
        )]))
        .unwrap();
        let f = judge("105KEF02", VIN, T, &[aibek()], &p);
        assert_eq!(
            (f.verdict, f.reason_code.as_str()),
            (Verdict::Pass, "policy-valid")
        );
        assert_eq!(f.registry_reference.as_deref(), Some("ESBD-000005"));
        assert_eq!(f.valid_until.as_deref(), Some("2027-02-28"));
        assert!(!f.message.contains("850416300503"));
    }

    #[test]
    fn a_policy_that_ended_the_day_before_travel_is_expired() {
        let xml = answer(&[&policy("2026-03-01", "2026-11-30", false, false, AIBEK)]);
        assert_eq!(
            verdict(&xml, &[aibek()]),
            (Verdict::Fail, "policy-expired".into())
        );
        let xml = answer(&[&policy("2026-03-01", T, false, false, AIBEK)]);
        assert_eq!(verdict(&xml, &[aibek()]).1, "policy-valid");
    }

    #[test]
    fn future_rescinded_and_absent_policies_fail() {
        let xml = answer(&[&policy("2026-12-02", "2027-01-01", true, false, "")]);
        assert_eq!(verdict(&xml, &[aibek()]).1, "policy-not-yet-valid");
        let xml = answer(&[&policy("2026-11-25", "2026-12-24", true, true, "")]);
        assert_eq!(verdict(&xml, &[aibek()]).1, "policy-rescinded");
        assert_eq!(
            verdict(&answer(&[]), &[aibek()]),
            (Verdict::Fail, "no-policy".into())
        );
    }

    #[test]
    fn drivers_are_covered_by_iin_by_name_and_birth_date_or_by_unlimited() {
        let named = answer(&[&policy("2026-11-25", "2026-12-24", false, false, SERIK)]);
        let serik = driver(None, "UTEGENOV  serik", "1976-07-10");
        assert_eq!(
            verdict(&named, std::slice::from_ref(&serik)).1,
            "policy-valid"
        );
        let older = driver(None, "Utegenov Serik", "1976-07-11");
        assert_eq!(verdict(&named, &[older]).1, "driver-not-insured");
        let other = answer(&[&policy("2026-03-01", "2027-02-28", false, false, AIBEK)]);
        let f = judge(
            "105KEF02",
            VIN,
            T,
            &[aibek(), serik.clone()],
            &policies(&other).unwrap(),
        );
        assert_eq!(f.reason_code, "driver-not-insured");
        assert!(f.message.contains("driver 2"));
        let unlimited = answer(&[&policy("2026-03-01", "2027-02-28", true, false, "")]);
        assert_eq!(verdict(&unlimited, &[aibek(), serik]).1, "policy-valid");
    }

    #[test]
    fn a_policy_for_another_vin_is_not_this_vehicles() {
        let xml = answer(&[&policy("2026-03-01", "2027-02-28", true, false, "")]);
        let f = judge(
            "105KEF02",
            "XTC65115000000099",
            T,
            &[aibek()],
            &policies(&xml).unwrap(),
        );
        assert_eq!(f.reason_code, "no-policy");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(policies("<Other/>").is_err());
        assert!(policies(
            "<GetPoliciesByVehicleResponse><GetPoliciesByVehicleResult><PolicyCount>1</PolicyCount>\
             <Policies/></GetPoliciesByVehicleResult></GetPoliciesByVehicleResponse>"
        )
        .is_err());
        let bad_flag = answer(&[&policy("2026-03-01", "2027-02-28", false, false, AIBEK)
            .replace("<Rescinded>false", "<Rescinded>no")]);
        assert!(policies(&bad_flag).is_err());
        let bad_date = answer(&[&policy("01.03.2026", "2027-02-28", false, false, AIBEK)]);
        assert!(policies(&bad_date).is_err());
        let no_drivers = answer(&[&policy("2026-03-01", "2027-02-28", false, false, "")
            .replace("<InsuredDrivers></InsuredDrivers>", "")]);
        assert!(policies(&no_drivers).is_err());
    }
}
