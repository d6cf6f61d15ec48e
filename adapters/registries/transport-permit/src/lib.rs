//! P18.7 — an international road-transport permit is valid for the vehicle on the travel
//! date (E-licensing, service `ELICENSE_INTL_PERMITS` via the e-government gateway;
//! mocks/PROTOCOLS.md §4, check 7).
//!
//! The registry lists the permits held for a plate, filtered by carrier when the owner's
//! IIN/BIN is sent. The adapter counts only permits for this plate (and this carrier); one
//! that is `active` with `validFrom` ≤ T ≤ `validTo` passes. A permit is needed for every
//! international trip (destination-specific exemptions are out of scope).

use kezek_adapter_sdk::xml::{self, Element};
use kezek_adapter_sdk::{
    Adapter, CheckError, CheckRequest, Descriptor, Finding, RequestFields, date, finding, gateway,
    same_id,
};

const SERVICE_ID: &str = "ELICENSE_INTL_PERMITS";

struct TransportPermit;

impl Adapter for TransportPermit {
    fn describe() -> Descriptor {
        Descriptor {
            id: "transport-permit".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "E-licensing (international road-transport permits)".into(),
            checks: vec![7],
            reads: RequestFields::OWNER | RequestFields::VEHICLE | RequestFields::TRAVEL_DATE,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        let travel = date::iso_date(&req.travel_date, "the travel date")
            .map_err(CheckError::RejectedInput)?;
        let carrier = req.owner.iin_bin.as_deref().filter(|s| !s.is_empty());
        let mut data = String::from("<PermitRequest>");
        xml::leaf(&mut data, "plate", &req.vehicle.plate);
        if let Some(carrier) = carrier {
            xml::leaf(&mut data, "carrierIinBin", carrier);
        }
        data.push_str("</PermitRequest>");
        let answer = gateway::call(&req.correlation_id, gateway::Call::new(SERVICE_ID, data))?;
        let permits = parse(&answer).map_err(CheckError::BadResponse)?;
        Ok(judge(&req.vehicle.plate, carrier, travel, &permits))
    }
}

kezek_adapter_sdk::export_adapter!(TransportPermit);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Status {
    Active,
    Used,
    Revoked,
}

#[derive(Debug, PartialEq)]
struct Permit {
    number: String,
    kind: String,
    country: String,
    plate: String,
    carrier_iin_bin: String,
    valid_from: String,
    valid_to: String,
    status: Status,
}

fn parse(answer: &Element) -> Result<Vec<Permit>, String> {
    if answer.name != "PermitResponse" {
        return Err(format!("expected <PermitResponse>, got <{}>", answer.name));
    }
    answer
        .child("permits")
        .ok_or("<PermitResponse> has no <permits>")?
        .children_named("permit")
        .map(|p| {
            let status = match p.required("status")? {
                "active" => Status::Active,
                "used" => Status::Used,
                "revoked" => Status::Revoked,
                other => return Err(format!("unexpected permit status {other:?}")),
            };
            Ok(Permit {
                number: p.required("number")?.to_owned(),
                kind: p.required("kind")?.to_owned(),
                country: p.required("country")?.to_owned(),
                plate: p.required("plate")?.to_owned(),
                carrier_iin_bin: p.required("carrierIinBin")?.to_owned(),
                valid_from: date::iso_date(p.required("validFrom")?, "<validFrom>")?.to_owned(),
                valid_to: date::iso_date(p.required("validTo")?, "<validTo>")?.to_owned(),
                status,
            })
        })
        .collect()
}

/// A permit for this vehicle (and carrier) that is active and valid on T passes; among
/// several, the one valid longest is reported.
fn judge(plate: &str, carrier: Option<&str>, travel: &str, permits: &[Permit]) -> Finding {
    let ours: Vec<&Permit> = permits
        .iter()
        .filter(|p| same_id(&p.plate, plate) && carrier.is_none_or(|c| p.carrier_iin_bin == c))
        .collect();
    let valid: Vec<&Permit> = ours
        .iter()
        .copied()
        .filter(|p| {
            p.status == Status::Active
                && p.valid_from.as_str() <= travel
                && travel <= p.valid_to.as_str()
        })
        .collect();
    if let Some(p) = latest(&valid) {
        return finding::pass(
            "permit-valid",
            format!(
                "{} permit ({}) for vehicle {plate} is valid from {} to {}, covering the travel date {travel}",
                p.kind, p.country, p.valid_from, p.valid_to
            ),
        )
        .with_reference(Some(&p.number))
        .valid_until(Some(&p.valid_to));
    }
    let Some(p) = latest(&ours) else {
        return finding::fail(
            "permit-missing",
            format!("no international road-transport permit is issued for vehicle {plate}"),
        );
    };
    let why = match p.status {
        Status::Used => "is used".to_owned(),
        Status::Revoked => "is revoked".to_owned(),
        Status::Active if p.valid_to.as_str() < travel => format!("ended on {}", p.valid_to),
        Status::Active => format!("starts on {}", p.valid_from),
    };
    finding::fail(
        "permit-not-valid",
        format!(
            "no international road-transport permit for vehicle {plate} is valid on the travel \
             date {travel}: the latest one {why}"
        ),
    )
    .with_reference(Some(&p.number))
}

/// The permit that runs longest.
fn latest<'a>(list: &[&'a Permit]) -> Option<&'a Permit> {
    list.iter()
        .max_by(|a, b| a.valid_to.cmp(&b.valid_to))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_adapter_sdk::Verdict;

    const T: &str = "2026-12-01";
    const CARRIER: &str = "240340010175";

    fn permit(from: &str, to: &str, status: &str) -> String {
        format!(
            "<permit><number>KZP-2026-00001</number><kind>bilateral</kind><country>CN</country>\
             <plate>101KEB02</plate><carrierIinBin>{CARRIER}</carrierIinBin>\
             <validFrom>{from}</validFrom><validTo>{to}</validTo><status>{status}</status></permit>"
        )
    }

    fn permits(inner: &str) -> Result<Vec<Permit>, String> {
        parse(
            &Element::parse(&format!(
                "<PermitResponse><permits>{inner}</permits></PermitResponse>"
            ))
            .unwrap(),
        )
    }

    fn code(f: &Finding) -> (Verdict, &str) {
        (f.verdict, f.reason_code.as_str())
    }

    #[test]
    fn an_active_permit_covering_the_date_passes() {
        let p = permits(&permit("2026-01-01", "2026-12-31", "active")).unwrap();
        let f = judge("101 KEB 02", Some(CARRIER), T, &p);
        assert_eq!(code(&f), (Verdict::Pass, "permit-valid"));
        assert_eq!(f.registry_reference.as_deref(), Some("KZP-2026-00001"));
        assert_eq!(f.valid_until.as_deref(), Some("2026-12-31"));
        let edge = permits(&permit(T, T, "active")).unwrap();
        assert_eq!(judge("101KEB02", None, T, &edge).verdict, Verdict::Pass);
    }

    #[test]
    fn expired_used_or_future_permits_are_not_valid() {
        for (from, to, status, why) in [
            ("2026-01-01", "2026-11-15", "active", "ended on 2026-11-15"),
            ("2026-12-02", "2027-01-01", "active", "starts on 2026-12-02"),
            ("2026-01-01", "2026-12-31", "used", "is used"),
            ("2026-01-01", "2026-12-31", "revoked", "is revoked"),
        ] {
            let p = permits(&permit(from, to, status)).unwrap();
            let f = judge("101KEB02", Some(CARRIER), T, &p);
            assert_eq!(code(&f), (Verdict::Fail, "permit-not-valid"));
            assert!(f.message.ends_with(why), "{}", f.message);
        }
    }

    #[test]
    fn none_or_another_vehicle_is_missing() {
        let empty = permits("").unwrap();
        assert_eq!(
            code(&judge("101KEB02", Some(CARRIER), T, &empty)),
            (Verdict::Fail, "permit-missing")
        );
        let p = permits(&permit("2026-01-01", "2026-12-31", "active")).unwrap();
        assert_eq!(
            judge("999XXX02", Some(CARRIER), T, &p).reason_code,
            "permit-missing"
        );
        assert_eq!(
            judge("101KEB02", Some("111111111111"), T, &p).reason_code,
            "permit-missing"
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(permits(&permit("2026-01-01", "2026-12-31", "paused")).is_err());
        assert!(permits(&permit("01.01.2026", "2026-12-31", "active")).is_err());
        assert!(permits("<permit><number>1</number></permit>").is_err());
        assert!(parse(&Element::parse("<PermitResponse/>").unwrap()).is_err());
        assert!(parse(&Element::parse("<Other><permits/></Other>").unwrap()).is_err());
    }
}
