//! P18.1 — the user's account exists: the owner in the state database of legal entities
//! (ГБД ЮЛ, service `GBDUL_COMPANY_BY_BIN`) or of individuals (ГБД ФЛ,
//! `GBDFL_PERSON_BY_IIN`, with the person's consent token, P16), then every driver in
//! ГБД ФЛ (mocks/PROTOCOLS.md §3 and §4, check 1).
//!
//! A resident without an IIN/BIN cannot be checked (`rejected-input`); a non-resident
//! without one is not looked up (P16.3: "for non-residents, if any" — their consent is the
//! user agreement). The owner goes first, then the drivers in order; the first failing
//! subject decides. A consent refusal is a finding (`consent-missing`, or not found when
//! the consent service does not know the IIN); every other error stays an error.
//!
//! Residency is established here, not taken from the application (P16.3, P19, ADR 0011): a
//! subject declared non-resident whom ГБД ФЛ records as a resident, or an owner declared
//! non-resident whose BIN is in ГБД ЮЛ (a Kazakh legal entity), fails with
//! `residency-mismatch`, so the lighter non-resident rule set cannot be claimed.

use kezek_adapter_sdk::xml::{self, Element};
use kezek_adapter_sdk::{
    Adapter, CheckError, CheckRequest, ConsentRefusal, Descriptor, Finding, PartyKind,
    RequestFields, Residency, consent_refusal, finding, flag, gateway, soap,
};

const COMPANY_SERVICE: &str = "GBDUL_COMPANY_BY_BIN";
const PERSON_SERVICE: &str = "GBDFL_PERSON_BY_IIN";

struct Account;

impl Adapter for Account {
    fn describe() -> Descriptor {
        Descriptor {
            id: "account".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "ГБД ЮЛ (legal entities) / ГБД ФЛ (individuals)".into(),
            checks: vec![1],
            reads: RequestFields::OWNER | RequestFields::DRIVERS,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        let subjects = subjects(&req)?;
        if subjects.is_empty() {
            return Ok(finding::pass(
                "non-resident-user-agreement",
                "non-resident application without an IIN/BIN: consent is given through the \
                 user agreement, nothing to look up",
            ));
        }
        for subject in &subjects {
            let record = lookup(&req.correlation_id, subject);
            let found = match record {
                Ok(found) => judge(subject, found.as_ref()),
                Err(e) => match consent_refusal(&e) {
                    Some(refusal) => refused(subject, refusal),
                    None => return Err(e),
                },
            };
            if found.verdict != kezek_adapter_sdk::Verdict::Pass {
                return Ok(found);
            }
        }
        Ok(finding::pass(
            "account-confirmed",
            format!("{} found in the state databases", summary(&subjects)),
        ))
    }
}

kezek_adapter_sdk::export_adapter!(Account);

/// Who is looked up, in order: the owner, then every driver.
#[derive(Debug, Clone, PartialEq)]
enum Role {
    OwnerCompany,
    OwnerPerson,
    /// Position in the request, from 1.
    Driver(usize),
}

#[derive(Debug)]
struct Subject<'a> {
    role: Role,
    id: &'a str,
    /// What the application says; the registry has the last word.
    declared: Residency,
}

impl Subject<'_> {
    fn who(&self) -> String {
        match self.role {
            Role::OwnerCompany => "the owner company".into(),
            Role::OwnerPerson => "the owner".into(),
            Role::Driver(n) => format!("driver {n}"),
        }
    }

    fn is_owner(&self) -> bool {
        !matches!(self.role, Role::Driver(_))
    }
}

/// The subjects to look up; a resident without an IIN/BIN is a rejected input.
fn subjects(req: &CheckRequest) -> Result<Vec<Subject<'_>>, CheckError> {
    let mut out = Vec::new();
    let owner = &req.owner;
    match owner.iin_bin.as_deref().filter(|s| !s.is_empty()) {
        Some(id) => out.push(Subject {
            role: match owner.kind {
                PartyKind::LegalEntity => Role::OwnerCompany,
                PartyKind::NaturalPerson => Role::OwnerPerson,
            },
            id,
            declared: owner.residency,
        }),
        None if owner.residency == Residency::Resident => {
            return Err(CheckError::RejectedInput(
                "the resident owner has no IIN/BIN".into(),
            ));
        }
        None => {}
    }
    for (i, driver) in req.drivers.iter().enumerate() {
        match driver.iin.as_deref().filter(|s| !s.is_empty()) {
            Some(id) => out.push(Subject {
                role: Role::Driver(i + 1),
                id,
                declared: driver.residency,
            }),
            None if driver.residency == Residency::Resident => {
                return Err(CheckError::RejectedInput(format!(
                    "resident driver {} has no IIN",
                    i + 1
                )));
            }
            None => {}
        }
    }
    Ok(out)
}

/// What the state databases hold about one subject. A company in ГБД ЮЛ is a Kazakh legal
/// entity, hence a resident; a person's residency is ГБД ФЛ's `<residency>`.
#[derive(Debug, PartialEq)]
enum Record {
    Company { liquidated: bool },
    Person { deceased: bool, resident: bool },
}

impl Record {
    fn resident(&self) -> bool {
        match self {
            Record::Company { .. } => true,
            Record::Person { resident, .. } => *resident,
        }
    }
}

fn lookup(correlation_id: &str, subject: &Subject<'_>) -> Result<Option<Record>, CheckError> {
    let answer = if subject.role == Role::OwnerCompany {
        let data = xml::element("CompanyRequest", &[("bin", subject.id)]);
        gateway::call(correlation_id, gateway::Call::new(COMPANY_SERVICE, data))?
    } else {
        let mut data = String::from("<PersonRequest>");
        xml::leaf(&mut data, "iin", subject.id);
        // The placeholder is written raw: the host replaces it with the token.
        data.push_str("<kdpToken>");
        data.push_str(soap::CONSENT_TOKEN_PLACEHOLDER);
        data.push_str("</kdpToken></PersonRequest>");
        gateway::call(
            correlation_id,
            gateway::Call {
                service_id: PERSON_SERVICE,
                data,
                consent_iin: Some(subject.id),
            },
        )?
    };
    parse(&answer, subject.id).map_err(CheckError::BadResponse)
}

/// Reads a `CompanyResponse` or `PersonResponse` about `id`.
fn parse(answer: &Element, id: &str) -> Result<Option<Record>, String> {
    let (item, key) = match answer.name.as_str() {
        "CompanyResponse" => ("company", "bin"),
        "PersonResponse" => ("person", "iin"),
        other => {
            return Err(format!(
                "expected <CompanyResponse> or <PersonResponse>, got <{other}>"
            ));
        }
    };
    if !flag(answer.text_of("found"), "found")
        .map_err(|_| "<found> is not true/false".to_owned())?
    {
        return Ok(None);
    }
    let record = answer
        .child(item)
        .ok_or_else(|| format!("found=true without <{item}>"))?;
    if record.required(key)? != id {
        return Err(format!("the answer is about another <{key}>"));
    }
    let status = record.required("status")?;
    let resident = || match record.required("residency")? {
        "resident" => Ok(true),
        "non-resident" => Ok(false),
        other => Err(format!("unexpected residency {other:?}")),
    };
    match (item, status) {
        ("company", "active") => Ok(Some(Record::Company { liquidated: false })),
        ("company", "liquidated") => Ok(Some(Record::Company { liquidated: true })),
        ("person", "alive") => Ok(Some(Record::Person {
            deceased: false,
            resident: resident()?,
        })),
        ("person", "deceased") => Ok(Some(Record::Person {
            deceased: true,
            resident: resident()?,
        })),
        _ => Err(format!("unexpected {item} status {status:?}")),
    }
}

fn not_found(subject: &Subject<'_>) -> Finding {
    let register = if subject.role == Role::OwnerCompany {
        "the state database of legal entities"
    } else {
        "the state database of individuals"
    };
    let code = if subject.is_owner() {
        "owner-not-found"
    } else {
        "driver-not-found"
    };
    finding::fail(
        code,
        format!("{} is not found in {register}", subject.who()),
    )
}

/// The first failing rule decides: found at all, then still active / alive.
fn judge(subject: &Subject<'_>, record: Option<&Record>) -> Finding {
    match record {
        None => not_found(subject),
        Some(Record::Company { liquidated: true }) => finding::fail(
            "owner-liquidated",
            format!(
                "{} is liquidated in the state database of legal entities",
                subject.who()
            ),
        ),
        Some(Record::Person { deceased: true, .. }) => finding::fail(
            "person-deceased",
            format!(
                "{} is recorded as deceased in the state database of individuals",
                subject.who()
            ),
        ),
        Some(found) if subject.declared == Residency::NonResident && found.resident() => {
            let register = match subject.role {
                Role::OwnerCompany => "the state database of legal entities",
                _ => "the state database of individuals",
            };
            finding::fail(
                "residency-mismatch",
                format!(
                    "{} is declared a non-resident, but {register} records a resident: apply                      as a resident (P16.3, P19)",
                    subject.who()
                ),
            )
        }
        Some(_) => finding::pass(
            "account-confirmed",
            format!("{} is found in the state databases", subject.who()),
        ),
    }
}

/// The consent service refused the token (PROTOCOLS.md §3).
fn refused(subject: &Subject<'_>, refusal: ConsentRefusal) -> Finding {
    match refusal {
        ConsentRefusal::NotGiven => finding::fail(
            "consent-missing",
            format!(
                "{} has not given consent to the processing of personal data in the state \
                 consent service",
                subject.who()
            ),
        ),
        ConsentRefusal::SubjectNotFound => not_found(subject),
    }
}

fn summary(subjects: &[Subject<'_>]) -> String {
    let owner = subjects.iter().any(Subject::is_owner);
    let drivers = subjects.iter().filter(|s| !s.is_owner()).count();
    match (owner, drivers) {
        (true, 0) => "the owner is".into(),
        (true, 1) => "the owner and the driver are".into(),
        (true, n) => format!("the owner and all {n} drivers are"),
        (false, 1) => "the driver is".into(),
        (false, n) => format!("all {n} drivers are"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_adapter_sdk::Verdict;

    fn record(xml: &str, id: &str) -> Result<Option<Record>, String> {
        parse(&Element::parse(xml).unwrap(), id)
    }

    const OWNER: Subject<'static> = Subject {
        role: Role::OwnerCompany,
        id: "240340010175",
        declared: Residency::Resident,
    };
    const DRIVER: Subject<'static> = Subject {
        role: Role::Driver(2),
        id: "730404300107",
        declared: Residency::Resident,
    };

    const COMPANY: &str = "<CompanyResponse><found>true</found><company><bin>240340010175</bin>\
        <name>TOO Kezek</name><registrationDate>2024-03-01</registrationDate>\
        <status>STATUS</status></company></CompanyResponse>";
    const PERSON: &str = "<PersonResponse><found>true</found><person><iin>730404300107</iin>\
        <lastName>Kassymov</lastName><firstName>Yerlan</firstName><birthDate>1973-04-04</birthDate>\
        <citizenship>KZ</citizenship><residency>resident</residency><status>STATUS</status>\
        </person></PersonResponse>";

    fn verdict(f: &Finding) -> (Verdict, &str) {
        (f.verdict, f.reason_code.as_str())
    }

    #[test]
    fn active_company_and_alive_person_pass() {
        let c = record(&COMPANY.replace("STATUS", "active"), OWNER.id).unwrap();
        assert_eq!(
            verdict(&judge(&OWNER, c.as_ref())),
            (Verdict::Pass, "account-confirmed")
        );
        let p = record(&PERSON.replace("STATUS", "alive"), DRIVER.id).unwrap();
        assert_eq!(
            verdict(&judge(&DRIVER, p.as_ref())),
            (Verdict::Pass, "account-confirmed")
        );
    }

    #[test]
    fn liquidated_deceased_and_not_found_fail() {
        let c = record(&COMPANY.replace("STATUS", "liquidated"), OWNER.id).unwrap();
        assert_eq!(
            verdict(&judge(&OWNER, c.as_ref())),
            (Verdict::Fail, "owner-liquidated")
        );
        let p = record(&PERSON.replace("STATUS", "deceased"), DRIVER.id).unwrap();
        let f = judge(&DRIVER, p.as_ref());
        assert_eq!(verdict(&f), (Verdict::Fail, "person-deceased"));
        assert!(f.message.starts_with("driver 2 "));
        assert!(!f.message.contains(DRIVER.id));
        let none = record(
            "<PersonResponse><found>false</found></PersonResponse>",
            DRIVER.id,
        )
        .unwrap();
        assert_eq!(
            verdict(&judge(&DRIVER, none.as_ref())),
            (Verdict::Fail, "driver-not-found")
        );
        assert_eq!(
            verdict(&judge(&OWNER, None)),
            (Verdict::Fail, "owner-not-found")
        );
    }

    /// P16.3, P19: residency is the registries' to say. `(declared, role, record) → verdict`.
    #[test]
    fn a_declared_non_resident_whom_the_registries_know_as_resident_fails() {
        let check = |declared, role, xml: &str, expect: (Verdict, &str)| {
            let subject = Subject {
                role,
                id: if xml.contains("<bin>") {
                    OWNER.id
                } else {
                    DRIVER.id
                },
                declared,
            };
            let found = record(xml, subject.id).unwrap();
            let f = judge(&subject, found.as_ref());
            assert_eq!(verdict(&f), expect, "{declared:?} {xml}");
        };
        let company = COMPANY.replace("STATUS", "active");
        let resident = PERSON.replace("STATUS", "alive");
        let non_resident = resident.replace(">resident<", ">non-resident<");
        use Residency::{NonResident, Resident};
        use Verdict::{Fail, Pass};
        check(
            NonResident,
            Role::OwnerCompany,
            &company,
            (Fail, "residency-mismatch"),
        );
        check(
            Resident,
            Role::OwnerCompany,
            &company,
            (Pass, "account-confirmed"),
        );
        check(
            NonResident,
            Role::OwnerPerson,
            &resident,
            (Fail, "residency-mismatch"),
        );
        check(
            NonResident,
            Role::Driver(1),
            &resident,
            (Fail, "residency-mismatch"),
        );
        check(
            NonResident,
            Role::Driver(1),
            &non_resident,
            (Pass, "account-confirmed"),
        );
        check(
            Resident,
            Role::Driver(1),
            &resident,
            (Pass, "account-confirmed"),
        );
        // A residency the adapter cannot read is no answer.
        assert!(record(&resident.replace(">resident<", ">maybe<"), DRIVER.id).is_err());
    }

    #[test]
    fn consent_refusals_are_findings() {
        assert_eq!(
            verdict(&refused(&DRIVER, ConsentRefusal::NotGiven)),
            (Verdict::Fail, "consent-missing")
        );
        let owner = Subject {
            role: Role::OwnerPerson,
            id: "1",
            declared: Residency::Resident,
        };
        assert_eq!(
            verdict(&refused(&owner, ConsentRefusal::SubjectNotFound)),
            (Verdict::Fail, "owner-not-found")
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(record(&COMPANY.replace("STATUS", "dormant"), OWNER.id).is_err());
        assert!(record(&COMPANY.replace("STATUS", "active"), "999999999999").is_err());
        assert!(record("<CompanyResponse><found>yes</found></CompanyResponse>", "1").is_err());
        assert!(record("<PersonResponse><found>true</found></PersonResponse>", "1").is_err());
        assert!(record("<Other/>", "1").is_err());
        let no_status = "<PersonResponse><found>true</found><person><iin>1</iin></person>\
            </PersonResponse>";
        assert!(record(no_status, "1").is_err());
    }
}
