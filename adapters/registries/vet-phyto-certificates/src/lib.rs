//! P18.15 — veterinary and phytosanitary certificates cover the animal and plant cargo
//! (e-Agriculture, service `EAGRI_CERTIFICATES` via the e-government gateway;
//! mocks/PROTOCOLS.md §4, check 15). P19: the host runs it only when `cargo.classes` has
//! `animal` and/or `plant`, for residents and non-residents alike.
//!
//! A certificate is valid when `active` and issued on or before the travel date and valid
//! until at least that date. It covers a cargo HS code when one of its codes is a prefix of
//! it (`0102` covers `010229`). Animal cargo, and every cargo code of chapters 01–05, needs
//! veterinary coverage; plant cargo, and every code of chapters 06–14, phytosanitary
//! coverage. Veterinary is checked first. Parsing never guesses: a missing or unexpected
//! field is a `bad-response`.

use kezek_adapter_sdk::xml::{self, Element};
use kezek_adapter_sdk::{
    Adapter, CargoClass, CheckError, CheckRequest, Descriptor, Finding, RequestFields, date,
    finding, gateway, same_id,
};

const SERVICE_ID: &str = "EAGRI_CERTIFICATES";

struct VetPhytoCertificates;

impl Adapter for VetPhytoCertificates {
    fn describe() -> Descriptor {
        Descriptor {
            id: "vet-phyto-certificates".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "e-Agriculture (veterinary and phytosanitary certificates)".into(),
            checks: vec![15],
            reads: RequestFields::VEHICLE | RequestFields::CARGO | RequestFields::TRAVEL_DATE,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        let travel = date::iso_date(&req.travel_date, "the travel date")
            .map_err(CheckError::RejectedInput)?;
        let codes = cargo_codes(&req.cargo.hs_codes).map_err(CheckError::RejectedInput)?;
        let needed = needed_kinds(&req.cargo.classes, &codes);
        if needed.is_empty() {
            return Err(CheckError::RejectedInput(
                "the cargo is neither animal nor plant: check 15 does not apply".into(),
            ));
        }
        let data = xml::element("CertificateRequest", &[("plate", &req.vehicle.plate)]);
        let answer = gateway::call(&req.correlation_id, gateway::Call::new(SERVICE_ID, data))?;
        let certificates = parse(&answer, &req.vehicle.plate).map_err(CheckError::BadResponse)?;
        Ok(judge(
            &req.vehicle.plate,
            travel,
            &needed,
            &codes,
            &certificates,
        ))
    }
}

kezek_adapter_sdk::export_adapter!(VetPhytoCertificates);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Veterinary,
    Phytosanitary,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Veterinary => "veterinary",
            Kind::Phytosanitary => "phytosanitary",
        }
    }

    fn cargo(self) -> &'static str {
        match self {
            Kind::Veterinary => "animal",
            Kind::Phytosanitary => "plant",
        }
    }

    /// HS chapters whose goods need this certificate: 01–05 animal, 06–14 plant products.
    fn covers_chapter(self, code: &str) -> bool {
        let chapter: u8 = code[..2].parse().unwrap_or(0);
        match self {
            Kind::Veterinary => (1..=5).contains(&chapter),
            Kind::Phytosanitary => (6..=14).contains(&chapter),
        }
    }
}

/// One certificate issued for the vehicle.
#[derive(Debug, PartialEq)]
struct Certificate {
    number: String,
    kind: Kind,
    hs_codes: Vec<String>,
    issue_date: String,
    valid_until: String,
    active: bool,
}

impl Certificate {
    fn valid_on(&self, day: &str) -> bool {
        self.active && self.issue_date.as_str() <= day && day <= self.valid_until.as_str()
    }

    fn covers(&self, code: &str) -> bool {
        self.hs_codes.iter().any(|h| code.starts_with(h.as_str()))
    }
}

/// HS codes as digits only (`0102 29` = `010229`); a code that is not digits, or too short
/// to name its chapter, cannot be checked.
fn hs_digits(raw: &str) -> Option<String> {
    let code: String = raw.chars().filter(|c| !matches!(c, ' ' | '.')).collect();
    (code.len() >= 2 && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

fn cargo_codes(raw: &[String]) -> Result<Vec<String>, String> {
    raw.iter()
        .map(|c| hs_digits(c).ok_or_else(|| format!("cargo HS code {c:?} is not a valid code")))
        .collect()
}

/// Veterinary first, then phytosanitary: the declared cargo classes ask for them, and so
/// does any cargo code in their chapters.
fn needed_kinds(classes: &[CargoClass], codes: &[String]) -> Vec<Kind> {
    [
        (Kind::Veterinary, CargoClass::Animal),
        (Kind::Phytosanitary, CargoClass::Plant),
    ]
    .into_iter()
    .filter(|(kind, class)| classes.contains(class) || codes.iter().any(|c| kind.covers_chapter(c)))
    .map(|(kind, _)| kind)
    .collect()
}

fn parse(answer: &Element, plate: &str) -> Result<Vec<Certificate>, String> {
    if answer.name != "CertificateResponse" {
        return Err(format!(
            "expected <CertificateResponse>, got <{}>",
            answer.name
        ));
    }
    let list = answer
        .child("certificates")
        .ok_or("<CertificateResponse> has no <certificates>")?;
    list.children
        .iter()
        .map(|c| {
            if c.name != "certificate" {
                return Err(format!("unexpected <{}> in <certificates>", c.name));
            }
            let kind = match c.required("type")? {
                "veterinary" => Kind::Veterinary,
                "phytosanitary" => Kind::Phytosanitary,
                other => return Err(format!("certificate type is {other:?}")),
            };
            let active = match c.required("status")? {
                "active" => true,
                "cancelled" => false,
                other => return Err(format!("certificate status is {other:?}")),
            };
            if !same_id(c.required("plate")?, plate) {
                return Err("the answer holds a certificate for another vehicle".into());
            }
            // Optional elements are omitted when empty: no <hsCodes> covers nothing.
            let hs_codes = c
                .child("hsCodes")
                .map(|codes| {
                    codes
                        .children
                        .iter()
                        .map(|h| {
                            if h.name != "hsCode" {
                                return Err(format!("unexpected <{}> in <hsCodes>", h.name));
                            }
                            hs_digits(h.text.trim())
                                .ok_or_else(|| format!("certificate HS code {:?}", h.text))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?
                .unwrap_or_default();
            Ok(Certificate {
                number: c.required("number")?.to_owned(),
                kind,
                hs_codes,
                issue_date: date::iso_date(c.required("issueDate")?, "issueDate")?.to_owned(),
                valid_until: date::iso_date(c.required("validUntil")?, "validUntil")?.to_owned(),
                active,
            })
        })
        .collect()
}

/// The first failing rule decides, veterinary before phytosanitary: a certificate of the
/// kind exists, one is valid on the travel date, the valid ones cover every cargo code of
/// their chapters.
fn judge(
    plate: &str,
    travel: &str,
    needed: &[Kind],
    codes: &[String],
    certificates: &[Certificate],
) -> Finding {
    let mut used: Vec<&Certificate> = Vec::new();
    for &kind in needed {
        let name = kind.name();
        let of_kind: Vec<&Certificate> = certificates.iter().filter(|c| c.kind == kind).collect();
        if of_kind.is_empty() {
            return finding::fail(
                &format!("{name}-certificate-missing"),
                format!(
                    "{} cargo needs a {name} certificate, and e-Agriculture has none for vehicle {plate}",
                    kind.cargo()
                ),
            );
        }
        let valid: Vec<&Certificate> = of_kind
            .iter()
            .copied()
            .filter(|c| c.valid_on(travel))
            .collect();
        if valid.is_empty() {
            let latest_end = of_kind.iter().map(|c| c.valid_until.as_str()).max();
            return finding::fail(
                "certificate-not-valid",
                format!(
                    "no {name} certificate for vehicle {plate} is active and valid on the travel date {travel}{}",
                    latest_end
                        .map(|d| format!(" (the latest is valid until {d})"))
                        .unwrap_or_default()
                ),
            );
        }
        let before = used.len();
        for code in codes.iter().filter(|c| kind.covers_chapter(c)) {
            match valid.iter().find(|c| c.covers(code)) {
                Some(c) => used.push(c),
                None => {
                    return finding::fail(
                        "certificate-hs-mismatch",
                        format!(
                            "the valid {name} certificates for vehicle {plate} do not cover cargo HS code {code}"
                        ),
                    );
                }
            }
        }
        if used.len() == before {
            used.push(valid[0]);
        }
    }
    let mut numbers: Vec<&str> = Vec::new();
    for c in &used {
        if !numbers.contains(&c.number.as_str()) {
            numbers.push(&c.number);
        }
    }
    let until = used.iter().map(|c| c.valid_until.as_str()).min();
    let kinds: Vec<&str> = needed.iter().map(|k| k.name()).collect();
    finding::pass(
        "certificates-valid",
        format!(
            "{} certificates for vehicle {plate} are valid on {travel} and cover the cargo",
            kinds.join(" and ")
        ),
    )
    .with_reference(Some(&numbers.join(", ")))
    .valid_until(until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_adapter_sdk::Verdict;

    const T: &str = "2026-12-01";

    fn certificates(xml: &str) -> Result<Vec<Certificate>, String> {
        parse(&Element::parse(xml).unwrap(), "114KEO02")
    }

    fn cert(number: &str, kind: &str, codes: &[&str], from: &str, to: &str, st: &str) -> String {
        let codes: String = codes
            .iter()
            .map(|c| format!("<hsCode>{c}</hsCode>"))
            .collect();
        format!(
            "<certificate><number>{number}</number><type>{kind}</type><plate>114KEO02</plate>\
             <hsCodes>{codes}</hsCodes><issueDate>{from}</issueDate><validUntil>{to}</validUntil>\
             <status>{st}</status></certificate>"
        )
    }

    fn answer(certs: &[String]) -> Vec<Certificate> {
        certificates(&format!(
            "<CertificateResponse><certificates>{}</certificates></CertificateResponse>",
            certs.concat()
        ))
        .unwrap()
    }

    fn run(classes: &[CargoClass], codes: &[&str], certs: &[Certificate]) -> Finding {
        let codes = cargo_codes(&codes.iter().map(|c| c.to_string()).collect::<Vec<_>>()).unwrap();
        judge("114KEO02", T, &needed_kinds(classes, &codes), &codes, certs)
    }

    fn verdict(f: &Finding) -> (Verdict, &str) {
        (f.verdict, f.reason_code.as_str())
    }

    #[test]
    fn a_covering_valid_certificate_passes() {
        let c = answer(&[cert(
            "VET-14",
            "veterinary",
            &["0102"],
            "2026-11-27",
            "2026-12-15",
            "active",
        )]);
        let f = run(&[CargoClass::Animal], &["010229"], &c);
        assert_eq!(verdict(&f), (Verdict::Pass, "certificates-valid"));
        assert_eq!(f.registry_reference.as_deref(), Some("VET-14"));
        assert_eq!(f.valid_until.as_deref(), Some("2026-12-15"));
    }

    #[test]
    fn missing_certificates_fail_animal_first() {
        let phyto = answer(&[cert(
            "FS-1",
            "phytosanitary",
            &["1001"],
            "2026-11-27",
            "2026-12-15",
            "active",
        )]);
        let f = run(
            &[CargoClass::Plant, CargoClass::Animal],
            &["100199", "010229"],
            &phyto,
        );
        assert_eq!(
            verdict(&f),
            (Verdict::Fail, "veterinary-certificate-missing")
        );
        let f = run(&[CargoClass::Plant], &["080810"], &[]);
        assert_eq!(
            verdict(&f),
            (Verdict::Fail, "phytosanitary-certificate-missing")
        );
    }

    #[test]
    fn expired_cancelled_or_future_certificates_are_not_valid() {
        for (from, to, status) in [
            ("2026-11-10", "2026-11-25", "active"),
            ("2026-11-27", "2026-12-15", "cancelled"),
            ("2026-12-02", "2026-12-15", "active"),
        ] {
            let c = answer(&[cert("FS-16", "phytosanitary", &["1001"], from, to, status)]);
            let f = run(&[CargoClass::Plant], &["100199"], &c);
            assert_eq!(
                verdict(&f),
                (Verdict::Fail, "certificate-not-valid"),
                "{from} {status}"
            );
        }
    }

    #[test]
    fn valid_certificates_must_cover_every_relevant_code() {
        let c = answer(&[cert(
            "VET-17",
            "veterinary",
            &["0102"],
            "2026-11-27",
            "2026-12-15",
            "active",
        )]);
        let f = run(&[CargoClass::Animal], &["010410"], &c);
        assert_eq!(verdict(&f), (Verdict::Fail, "certificate-hs-mismatch"));
        assert!(f.message.contains("010410"));
        // Codes outside chapters 01–14 need no certificate; plant chapters need phyto.
        let f = run(&[CargoClass::Animal], &["010229", "8708"], &c);
        assert_eq!(verdict(&f), (Verdict::Pass, "certificates-valid"));
        let f = run(&[CargoClass::Animal], &["010229", "1001"], &c);
        assert_eq!(
            verdict(&f),
            (Verdict::Fail, "phytosanitary-certificate-missing")
        );
    }

    #[test]
    fn input_and_garbage_errors() {
        assert!(cargo_codes(&["01x2".into()]).is_err());
        assert!(cargo_codes(&["1".into()]).is_err());
        assert!(needed_kinds(&[CargoClass::General], &["8708".into()]).is_empty());
        assert!(certificates("<CertificateResponse/>").is_err());
        assert!(certificates("<Other><certificates/></Other>").is_err());
        let bad = |c: String| {
            certificates(&format!(
                "<CertificateResponse><certificates>{c}</certificates></CertificateResponse>"
            ))
        };
        assert!(
            bad(cert(
                "V",
                "vet",
                &["0102"],
                "2026-11-27",
                "2026-12-15",
                "active"
            ))
            .is_err()
        );
        assert!(
            bad(cert(
                "V",
                "veterinary",
                &["0102"],
                "2026-11-27",
                "2026-12-15",
                "?"
            ))
            .is_err()
        );
        assert!(
            bad(cert(
                "V",
                "veterinary",
                &[""],
                "2026-11-27",
                "2026-12-15",
                "active"
            ))
            .is_err()
        );
        assert!(
            bad(cert(
                "V",
                "veterinary",
                &["0102"],
                "27.11.2026",
                "2026-12-15",
                "active"
            ))
            .is_err()
        );
        assert!(
            bad(cert(
                "V",
                "veterinary",
                &["0102"],
                "2026-11-27",
                "2026-12-15",
                "active"
            )
            .replace("114KEO02", "999ZZZ02"))
            .is_err()
        );
        assert!(bad("<certificate><number>V</number></certificate>".into()).is_err());
    }
}
