//! Table tests of the register's answers (O505.ADR, issue 12 item 7): every answer either
//! decides the check or is an error; none that cannot be read is a pass.

use super::*;
use kezek_adapter_sdk_1_1::Verdict;

const TRAVEL: &str = "2030-06-10";

fn certificate(status: &str, until: &str) -> String {
    format!(
        "<AdrCertificateResponse><found>true</found><certificate><number>KZ-ADR-1</number>\
         <validUntil>{until}</validUntil><status>{status}</status></certificate>\
         </AdrCertificateResponse>"
    )
}

fn check(answer: &str, expect: Result<(Verdict, &str), &str>) {
    let got = judge("driver 1", &Element::parse(answer).unwrap(), TRAVEL);
    match (got, expect) {
        (Ok(f), Ok((verdict, reason))) => {
            assert_eq!(
                (f.verdict, f.reason_code.as_str()),
                (verdict, reason),
                "{answer}"
            )
        }
        (Err(CheckError::BadResponse(e)), Err(part)) => assert!(e.contains(part), "{e}"),
        (got, _) => panic!("{answer}: {got:?}"),
    }
}

#[test]
fn the_certificate_must_be_valid_on_the_travel_date() {
    let pass = Ok((Verdict::Pass, "adr-certificate-valid"));
    let expired = Ok((Verdict::Fail, "adr-certificate-expired"));
    check(&certificate("valid", "2031-01-01"), pass);
    // Valid through the travel day itself.
    check(&certificate("valid", TRAVEL), pass);
    check(&certificate("valid", "2030-06-09"), expired);
    let revoked = Ok((Verdict::Fail, "adr-certificate-revoked"));
    check(&certificate("revoked", "2031-01-01"), revoked);
    check(
        "<AdrCertificateResponse><found>false</found></AdrCertificateResponse>",
        Ok((Verdict::Fail, "adr-certificate-missing")),
    );
}

#[test]
fn an_answer_that_cannot_be_read_is_an_error() {
    check("<AdrCertificateResponse/>", Err("<found>"));
    check(
        "<AdrCertificateResponse><found>yes</found></AdrCertificateResponse>",
        Err("<found>"),
    );
    check(
        "<AdrCertificateResponse><found>true</found></AdrCertificateResponse>",
        Err("no <certificate>"),
    );
    check(&certificate("valid", "soon"), Err("<validUntil>"));
}

#[test]
fn a_pass_says_how_long_it_holds() {
    let f = judge(
        "driver 1",
        &Element::parse(&certificate("valid", "2031-01-01")).unwrap(),
        TRAVEL,
    )
    .unwrap();
    assert_eq!(f.valid_until.as_deref(), Some("2031-01-01"));
}
