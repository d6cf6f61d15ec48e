//! P18.9 — the owner has no tax debt, vehicle tax included (taxpayer cabinet, service
//! `KGD_TAX_DEBT` via the e-government gateway; mocks/PROTOCOLS.md §4, check 9).
//!
//! Any debt fails, even 1 KZT: `totalAmount` (Σ amount + penalty) must be 0. An answer whose
//! total disagrees with its own debt lines cannot be read and is a `bad-response`.

use kezek_adapter_sdk::xml::{self, Element};
use kezek_adapter_sdk::{
    Adapter, CheckError, CheckRequest, Descriptor, Finding, RequestFields, date, finding, flag,
    gateway, require_iin,
};

const SERVICE_ID: &str = "KGD_TAX_DEBT";

struct TaxDebt;

impl Adapter for TaxDebt {
    fn describe() -> Descriptor {
        Descriptor {
            id: "tax-debt".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            registry: "Taxpayer cabinet (tax debts)".into(),
            checks: vec![9],
            reads: RequestFields::OWNER,
        }
    }

    fn check(req: CheckRequest) -> Result<Finding, CheckError> {
        let owner = require_iin(req.owner.iin_bin.as_ref(), "the owner")?;
        let data = xml::element("TaxDebtRequest", &[("iinBin", owner)]);
        let answer = gateway::call(&req.correlation_id, gateway::Call::new(SERVICE_ID, data))?;
        let account = parse(&answer).map_err(CheckError::BadResponse)?;
        Ok(judge(account.as_ref()))
    }
}

kezek_adapter_sdk::export_adapter!(TaxDebt);

/// The taxpayer's debts as the cabinet states them.
#[derive(Debug, PartialEq)]
struct Account {
    as_of: String,
    debts: Vec<Debt>,
    total: u64,
}

#[derive(Debug, PartialEq)]
struct Debt {
    kind: String,
    /// Amount plus penalty, KZT.
    owed: u64,
}

fn amount(e: &Element, name: &str) -> Result<u64, String> {
    e.required(name)?
        .parse()
        .map_err(|_| format!("<{name}> is not a non-negative KZT amount"))
}

fn parse(answer: &Element) -> Result<Option<Account>, String> {
    if answer.name != "TaxDebtResponse" {
        return Err(format!("expected <TaxDebtResponse>, got <{}>", answer.name));
    }
    if !flag(answer.text_of("found"), "found")
        .map_err(|_| "<found> is not true/false".to_owned())?
    {
        return Ok(None);
    }
    let debts = answer
        .child("debts")
        .ok_or("found=true without <debts>")?
        .children_named("debt")
        .map(|d| {
            let owed = amount(d, "amount")?
                .checked_add(amount(d, "penalty")?)
                .ok_or("debt amount overflows")?;
            Ok(Debt {
                kind: d.required("kind")?.to_owned(),
                owed,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let total = amount(answer, "totalAmount")?;
    let sum = debts
        .iter()
        .try_fold(0u64, |s, d| s.checked_add(d.owed))
        .ok_or("debt amounts overflow")?;
    if sum != total {
        return Err(format!(
            "<totalAmount> {total} differs from the sum of the debts {sum}"
        ));
    }
    Ok(Some(Account {
        as_of: date::iso_date(answer.required("asOf")?, "<asOf>")?.to_owned(),
        debts,
        total,
    }))
}

fn describe_kind(kind: &str) -> String {
    match kind {
        "vehicle-tax" => "vehicle tax".into(),
        "property-tax" => "property tax".into(),
        "personal-income-tax" => "personal income tax".into(),
        "corporate-income-tax" => "corporate income tax".into(),
        "vat" => "VAT".into(),
        "social" => "social payments".into(),
        other => other.replace('-', " "),
    }
}

fn judge(account: Option<&Account>) -> Finding {
    let Some(account) = account else {
        return finding::fail(
            "taxpayer-not-found",
            "the owner is not known to the taxpayer cabinet, so the absence of tax debt cannot be confirmed",
        );
    };
    if account.total == 0 {
        return finding::pass(
            "no-tax-debt",
            format!(
                "the owner has no tax debt, vehicle tax included, as of {}",
                account.as_of
            ),
        );
    }
    let parts: Vec<String> = account
        .debts
        .iter()
        .filter(|d| d.owed > 0)
        .map(|d| format!("{} {}", describe_kind(&d.kind), kzt(d.owed)))
        .collect();
    finding::fail(
        "tax-debt",
        format!(
            "tax debt {} as of {}: {}",
            kzt(account.total),
            account.as_of,
            parts.join(", ")
        ),
    )
}

fn kzt(amount: u64) -> String {
    date::kzt(i64::try_from(amount).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kezek_adapter_sdk::Verdict;

    fn account(xml: &str) -> Result<Option<Account>, String> {
        parse(&Element::parse(xml).unwrap())
    }

    #[test]
    fn one_tenge_of_vehicle_tax_fails() {
        let a = account(
            "<TaxDebtResponse><found>true</found><iinBin>240340100005</iinBin><asOf>2026-11-30</asOf>\
             <debts><debt><kind>vehicle-tax</kind><amount>1</amount><penalty>0</penalty></debt></debts>\
             <totalAmount>1</totalAmount></TaxDebtResponse>",
        )
        .unwrap();
        let f = judge(a.as_ref());
        assert_eq!(
            (f.verdict, f.reason_code.as_str()),
            (Verdict::Fail, "tax-debt")
        );
        assert_eq!(
            f.message,
            "tax debt 1 KZT as of 2026-11-30: vehicle tax 1 KZT"
        );
        assert!(!f.message.contains("240340100005"));
    }

    #[test]
    fn penalties_count_and_amounts_are_grouped() {
        let a = account(
            "<TaxDebtResponse><found>true</found><iinBin>1</iinBin><asOf>2026-11-30</asOf><debts>\
             <debt><kind>vehicle-tax</kind><amount>40000</amount><penalty>5000</penalty></debt>\
             <debt><kind>vat</kind><amount>0</amount><penalty>0</penalty></debt></debts>\
             <totalAmount>45000</totalAmount></TaxDebtResponse>",
        )
        .unwrap();
        assert_eq!(
            judge(a.as_ref()).message,
            "tax debt 45 000 KZT as of 2026-11-30: vehicle tax 45 000 KZT"
        );
    }

    #[test]
    fn no_debt_passes_and_unknown_taxpayer_fails() {
        let a = account(
            "<TaxDebtResponse><found>true</found><iinBin>1</iinBin><asOf>2026-11-30</asOf><debts/>\
             <totalAmount>0</totalAmount></TaxDebtResponse>",
        )
        .unwrap();
        assert_eq!(judge(a.as_ref()).verdict, Verdict::Pass);
        assert_eq!(judge(a.as_ref()).reason_code, "no-tax-debt");
        let none = account("<TaxDebtResponse><found>false</found></TaxDebtResponse>").unwrap();
        assert_eq!(judge(none.as_ref()).reason_code, "taxpayer-not-found");
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(account("<Other/>").is_err());
        assert!(account("<TaxDebtResponse><found>yes</found></TaxDebtResponse>").is_err());
        assert!(account("<TaxDebtResponse><found>true</found></TaxDebtResponse>").is_err());
        // A total that contradicts the debt lines is never read as "no debt".
        assert!(
            account(
                "<TaxDebtResponse><found>true</found><asOf>2026-11-30</asOf><debts><debt>\
                 <kind>vehicle-tax</kind><amount>1</amount><penalty>0</penalty></debt></debts>\
                 <totalAmount>0</totalAmount></TaxDebtResponse>"
            )
            .is_err()
        );
        assert!(
            account(
                "<TaxDebtResponse><found>true</found><asOf>2026-11-30</asOf><debts><debt>\
                 <kind>vat</kind><amount>-5</amount><penalty>0</penalty></debt></debts>\
                 <totalAmount>-5</totalAmount></TaxDebtResponse>"
            )
            .is_err()
        );
    }
}
