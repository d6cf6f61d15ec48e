//! P18.17 — no toll-road debt for the vehicle (toll-road operator, JSON REST
//! `GET /v1/accounts/{plate}`; mocks/PROTOCOLS.md §4, check 17).
//!
//! P19: a found debt is a `notice`, never a `fail` — residents are notified, the
//! non-resident rule set treats the notice as blocking. The adapter does not know the rule
//! set and does not try to. Parsing never guesses: a missing or unexpected field, or a total
//! that contradicts the listed debts, is a `bad-response`.

use kezek_adapter_sdk::{
    Adapter, CheckError, CheckRequest, Descriptor, Finding, RequestFields, date, finding, same_id,
};
use kezek_adapter_sdk::{plate, rest};
use serde_json::Value;

const ENDPOINT: &str = "toll-operator";

struct TollDebt;

impl Adapter for TollDebt {
    fn describe() -> Descriptor {
        Descriptor {
            id: "toll-debt".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "Toll-road operator".into(),
            checks: vec![17],
            reads: RequestFields::VEHICLE,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        let plate = plate::normalise(&req.vehicle.plate);
        if plate.is_empty() {
            return Err(CheckError::RejectedInput("the vehicle has no plate".into()));
        }
        let answer = rest::call(
            ENDPOINT,
            "GET",
            &format!("/v1/accounts/{}", rest::segment(&plate)),
            None,
            &req.correlation_id,
        )?
        // The operator answers an unknown plate with `"found": false`; a 404 is not that
        // answer (wrong path, wrong service), so it is never read as "no account".
        .ok_or_else(|| finding::bad_response("toll operator answered HTTP 404"))?;
        let account = parse(&answer, &plate)?;
        Ok(judge(&req.vehicle.plate, &account))
    }
}

kezek_adapter_sdk::export_adapter!(TollDebt);

#[derive(Debug, PartialEq)]
struct Debt {
    id: String,
    passage_date: String,
    amount: i64,
}

/// The operator's account for the plate: `None` when it has no passages for it.
#[derive(Debug, PartialEq)]
struct Account {
    total_debt: i64,
    debts: Vec<Debt>,
}

fn bad(what: impl std::fmt::Display) -> CheckError {
    finding::bad_response(what)
}

fn parse(answer: &Value, plate: &str) -> Result<Option<Account>, CheckError> {
    let found = rest::field(answer, "found")?
        .as_bool()
        .ok_or_else(|| bad("\"found\" is not true/false"))?;
    if !same_id(rest::str_field(answer, "plate")?, plate) {
        return Err(bad("the toll operator answered about another plate"));
    }
    if !found {
        return Ok(None);
    }
    let debts = rest::field(answer, "debts")?
        .as_array()
        .ok_or_else(|| bad("\"debts\" is not a list"))?
        .iter()
        .map(|d| {
            let amount = rest::int_field(d, "amount")?;
            if amount < 0 {
                return Err(bad("a debt amount is negative"));
            }
            Ok(Debt {
                id: rest::str_field(d, "id")?.to_owned(),
                passage_date: date::iso_date(rest::str_field(d, "passageDate")?, "passageDate")
                    .map_err(bad)?
                    .to_owned(),
                amount,
            })
        })
        .collect::<Result<Vec<_>, CheckError>>()?;
    let total_debt = rest::int_field(answer, "totalDebt")?;
    let sum = debts
        .iter()
        .try_fold(0i64, |acc, d| acc.checked_add(d.amount))
        .ok_or_else(|| bad("debt amounts overflow"))?;
    if total_debt != sum {
        return Err(bad(format!(
            "\"totalDebt\" {total_debt} differs from the listed debts ({sum})"
        )));
    }
    Ok(Some(Account { total_debt, debts }))
}

fn judge(plate: &str, account: &Option<Account>) -> Finding {
    let Some(account) = account else {
        return finding::pass(
            "no-toll-account",
            format!("the toll-road operator has no passages of vehicle {plate}"),
        );
    };
    if account.total_debt == 0 {
        return finding::pass(
            "no-toll-debt",
            format!("vehicle {plate} has no toll-road debt"),
        );
    }
    let n = account.debts.len();
    let earliest = account
        .debts
        .iter()
        .map(|d| d.passage_date.as_str())
        .min()
        .unwrap_or_default();
    let ids: Vec<&str> = account.debts.iter().map(|d| d.id.as_str()).collect();
    finding::notice(
        "toll-debt",
        format!(
            "toll-road debt {} for vehicle {plate}: {n} unpaid passage{}, the earliest on {earliest}",
            date::kzt(account.total_debt),
            if n == 1 { "" } else { "s" }
        ),
    )
    .with_reference(Some(&ids.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_adapter_sdk::Verdict;

    fn account(json: &str) -> Result<Option<Account>, CheckError> {
        parse(&serde_json::from_str(json).unwrap(), "128KEC02")
    }

    fn verdict(f: &Finding) -> (Verdict, &str) {
        (f.verdict, f.reason_code.as_str())
    }

    #[test]
    fn debt_is_a_notice_never_a_fail() {
        let a = account(
            r#"{"found": true, "plate": "128KEC02", "balance": 5000,
                "debts": [{"id": "TD-1", "roadSection": "Almaty-Kapshagay",
                           "passageDate": "2026-11-02", "amount": 2400}],
                "totalDebt": 2400}"#,
        )
        .unwrap();
        let f = judge("128KEC02", &a);
        assert_eq!(verdict(&f), (Verdict::Notice, "toll-debt"));
        assert!(f.message.contains("2 400 KZT") && f.message.contains("2026-11-02"));
        assert_eq!(f.registry_reference.as_deref(), Some("TD-1"));
    }

    #[test]
    fn no_debt_and_no_account_pass() {
        let a = account(
            r#"{"found": true, "plate": "128 KEC 02", "balance": 0, "debts": [], "totalDebt": 0}"#,
        )
        .unwrap();
        assert_eq!(
            verdict(&judge("128KEC02", &a)),
            (Verdict::Pass, "no-toll-debt")
        );
        let none = account(r#"{"found": false, "plate": "128KEC02"}"#).unwrap();
        assert_eq!(
            verdict(&judge("128KEC02", &none)),
            (Verdict::Pass, "no-toll-account")
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(account(r#"{"plate": "128KEC02"}"#).is_err());
        assert!(account(r#"{"found": "no", "plate": "128KEC02"}"#).is_err());
        assert!(account(r#"{"found": false, "plate": "999ZZZ02"}"#).is_err());
        assert!(account(r#"{"found": true, "plate": "128KEC02", "debts": []}"#).is_err());
        assert!(account(r#"{"found": true, "plate": "128KEC02", "totalDebt": 0}"#).is_err());
        // A total that contradicts the debts, or a debt without its fields.
        assert!(
            account(r#"{"found": true, "plate": "128KEC02", "debts": [], "totalDebt": 100}"#)
                .is_err()
        );
        assert!(
            account(
                r#"{"found": true, "plate": "128KEC02", "totalDebt": 100,
                    "debts": [{"id": "TD-1", "amount": 100}]}"#
            )
            .is_err()
        );
        assert!(
            account(
                r#"{"found": true, "plate": "128KEC02", "totalDebt": -5,
                    "debts": [{"id": "TD-1", "passageDate": "2026-11-02", "amount": -5}]}"#
            )
            .is_err()
        );
    }

    #[test]
    fn plates_are_normalised_for_the_path() {
        assert_eq!(plate::normalise("101 keb-02"), "101KEB02");
    }
}
