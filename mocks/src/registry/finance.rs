//! Money owed to the state behind the gateway: taxpayer cabinet (P18.9) and ЕРАП fines
//! (P18.10). Amounts are KZT integers.

use crate::scenario::Scenario;
use crate::xml::{Node, XmlOut};

/// Tax debts of a taxpayer by IIN/BIN, vehicle tax included.
pub(crate) fn tax(s: &Scenario, data: &Node) -> Result<String, String> {
    let id = data.required("iinBin")?;
    let mut out = XmlOut::new();
    out.open("TaxDebtResponse");
    match s.taxpayers.iter().find(|t| t.iin_bin == id) {
        None => {
            out.leaf("found", "false");
        }
        Some(t) => {
            out.leaf("found", "true")
                .leaf("iinBin", &t.iin_bin)
                .leaf("asOf", &t.as_of)
                .open("debts");
            for d in &t.debts {
                out.open("debt")
                    .leaf("kind", &d.kind)
                    .leaf("amount", d.amount)
                    .leaf("penalty", d.penalty)
                    .close("debt");
            }
            let total: u64 = t.debts.iter().map(|d| d.amount + d.penalty).sum();
            out.close("debts").leaf("totalAmount", total);
        }
    }
    out.close("TaxDebtResponse");
    Ok(out.finish())
}

/// Unpaid fines by person IIN and/or vehicle plate (either matches).
pub(crate) fn fines(s: &Scenario, data: &Node) -> Result<String, String> {
    let iin = data.text_of("iin");
    let plate = data.text_of("plate").map(|p| super::norm(&p));
    if iin.is_none() && plate.is_none() {
        return Err("FinesRequest needs iin or plate".into());
    }
    let hits: Vec<_> = s
        .fines
        .iter()
        .filter(|f| !f.paid)
        .filter(|f| {
            (iin.is_some() && f.subject_iin == iin)
                || (plate.is_some() && f.plate.as_deref().map(super::norm) == plate)
        })
        .collect();
    let mut out = XmlOut::new();
    out.open("FinesResponse").open("fines");
    for f in &hits {
        out.open("fine")
            .leaf("protocolNumber", &f.protocol_number)
            .leaf("article", &f.article)
            .leaf("offenceDate", &f.offence_date)
            .leaf("amount", f.amount)
            .leaf("dueDate", &f.due_date)
            .opt_leaf("subjectIin", f.subject_iin.as_deref())
            .opt_leaf("plate", f.plate.as_deref())
            .close("fine");
    }
    let total: u64 = hits.iter().map(|f| f.amount).sum();
    out.close("fines")
        .leaf("totalAmount", total)
        .close("FinesResponse");
    Ok(out.finish())
}
