//! P18.6 — the agricultural machine is in the state register of agricultural machinery,
//! registered to the owner (service `MSH_AGRI_MACHINERY` via the e-government gateway;
//! mocks/PROTOCOLS.md §4, check 6). Only for `agricultural-machine` (P19).
//!
//! The register looks the machine up by plate and returns the VIN it holds. A record with
//! another VIN is another machine under this plate: the applicant's machine is then not
//! registered (`machine-not-registered`, the contract has no VIN-specific code).

use kezek_adapter_sdk::xml::{self, Element};
use kezek_adapter_sdk::{
    Adapter, CheckError, CheckRequest, Descriptor, Finding, RequestFields, VehicleKind, finding,
    flag, gateway, require_iin, same_id,
};

const SERVICE_ID: &str = "MSH_AGRI_MACHINERY";

struct MachineryRegistration;

impl Adapter for MachineryRegistration {
    fn describe() -> Descriptor {
        Descriptor {
            id: "machinery-registration".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "State register of agricultural machinery".into(),
            checks: vec![6],
            reads: RequestFields::OWNER | RequestFields::VEHICLE,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        if req.vehicle.kind != VehicleKind::AgriculturalMachine {
            return Err(CheckError::RejectedInput(
                "check 6 applies to agricultural machinery only".into(),
            ));
        }
        let owner = require_iin(req.owner.iin_bin.as_ref(), "the owner")?;
        let machine = lookup(&req.correlation_id, &req.vehicle.plate, &req.vehicle.vin)?;
        Ok(judge(
            &req.vehicle.plate,
            &req.vehicle.vin,
            owner,
            machine.as_ref(),
        ))
    }
}

kezek_adapter_sdk::export_adapter!(MachineryRegistration);

/// What the register holds about one plate.
#[derive(Debug, PartialEq)]
struct Machine {
    vin: String,
    owner_iin_bin: String,
    registered: bool,
    registration_date: Option<String>,
}

fn lookup(correlation_id: &str, plate: &str, vin: &str) -> Result<Option<Machine>, CheckError> {
    let data = xml::element("MachineRequest", &[("plate", plate), ("vin", vin)]);
    let answer = gateway::call(correlation_id, gateway::Call::new(SERVICE_ID, data))?;
    parse(&answer).map_err(CheckError::BadResponse)
}

fn parse(answer: &Element) -> Result<Option<Machine>, String> {
    if answer.name != "MachineResponse" {
        return Err(format!("expected <MachineResponse>, got <{}>", answer.name));
    }
    if !flag(answer.text_of("found"), "found")
        .map_err(|_| "<found> is not true/false".to_owned())?
    {
        return Ok(None);
    }
    let machine = answer
        .child("machine")
        .ok_or("found=true without <machine>")?;
    let registered = match machine.required("status")? {
        "registered" => true,
        "deregistered" => false,
        other => return Err(format!("unexpected machine status {other:?}")),
    };
    Ok(Some(Machine {
        vin: machine.required("vin")?.to_owned(),
        owner_iin_bin: machine.required("ownerIinBin")?.to_owned(),
        registered,
        registration_date: machine.text_of("registrationDate").map(str::to_owned),
    }))
}

/// The first failing rule decides: registered at all (this VIN), still registered, same owner.
fn judge(plate: &str, vin: &str, owner: &str, machine: Option<&Machine>) -> Finding {
    let Some(machine) = machine else {
        return finding::fail(
            "machine-not-registered",
            format!("machine {plate} is not in the state register of agricultural machinery"),
        );
    };
    if !same_id(&machine.vin, vin) {
        return finding::fail(
            "machine-not-registered",
            format!(
                "machine {plate} with VIN {vin} is not in the register of agricultural \
                 machinery: the plate is registered with VIN {}",
                machine.vin
            ),
        );
    }
    if !machine.registered {
        return finding::fail(
            "machine-deregistered",
            format!("machine {plate} is deregistered in the register of agricultural machinery"),
        );
    }
    if machine.owner_iin_bin != owner {
        return finding::fail(
            "machine-owner-mismatch",
            format!("machine {plate} is registered to another owner, not to the applicant"),
        );
    }
    finding::pass(
        "machine-registered",
        format!(
            "machine {plate} is registered to the owner in the register of agricultural \
             machinery{}",
            machine
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

    const OWNER: &str = "240340040484";
    const VIN: &str = "RUBM1221000000004";

    fn machine(status: &str) -> Option<Machine> {
        let xml = format!(
            "<MachineResponse><found>true</found><machine><plate>04AGR02</plate><vin>{VIN}</vin>\
             <kind>combine-harvester</kind><ownerIinBin>{OWNER}</ownerIinBin>\
             <status>{status}</status><registrationDate>2020-08-01</registrationDate>\
             </machine></MachineResponse>"
        );
        parse(&Element::parse(&xml).unwrap()).unwrap()
    }

    fn code(f: &Finding) -> (Verdict, &str) {
        (f.verdict, f.reason_code.as_str())
    }

    #[test]
    fn registered_to_the_owner_passes() {
        let m = machine("registered");
        assert_eq!(
            code(&judge("04 AGR 02", "rubm1221000000004", OWNER, m.as_ref())),
            (Verdict::Pass, "machine-registered")
        );
    }

    #[test]
    fn failures() {
        let m = machine("registered");
        assert_eq!(
            code(&judge("04AGR02", VIN, "999999999999", m.as_ref())),
            (Verdict::Fail, "machine-owner-mismatch")
        );
        assert_eq!(
            code(&judge("04AGR02", "OTHERVIN", OWNER, m.as_ref())),
            (Verdict::Fail, "machine-not-registered")
        );
        let m = machine("deregistered");
        assert_eq!(
            code(&judge("04AGR02", VIN, OWNER, m.as_ref())),
            (Verdict::Fail, "machine-deregistered")
        );
        let none = parse(
            &Element::parse("<MachineResponse><found>false</found></MachineResponse>").unwrap(),
        )
        .unwrap();
        assert_eq!(
            code(&judge("25AGR02", VIN, OWNER, none.as_ref())),
            (Verdict::Fail, "machine-not-registered")
        );
    }

    #[test]
    fn garbage_is_an_error() {
        let p = |s: &str| parse(&Element::parse(s).unwrap());
        assert!(p("<MachineResponse><found>true</found></MachineResponse>").is_err());
        assert!(p("<MachineResponse><found>TRUE</found></MachineResponse>").is_err());
        assert!(
            p("<MachineResponse><found>true</found><machine><vin>V</vin>\
             <ownerIinBin>1</ownerIinBin><status>seized</status></machine></MachineResponse>")
            .is_err()
        );
        assert!(
            p("<MachineResponse><found>true</found><machine><vin>V</vin>\
             <status>registered</status></machine></MachineResponse>")
            .is_err()
        );
        assert!(p("<Other/>").is_err());
    }
}
