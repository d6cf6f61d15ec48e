//! Rule violations (each cites its rule ID), vehicle keys (P21) and priority categories (P6).

use kezek_domain::{Application, CargoClass, Verification};
use kezek_store::{DbError, TxError};
use serde::{Deserialize, Serialize};

/// A booking operation that did not happen, and why.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BookingError {
    /// A rule of Order 707 (or an issue-5 policy) forbids it.
    #[error("{rule}: {detail}")]
    Rule {
        /// "P21", "P22", "P6"… ("anti-abuse" for rate limits and holds).
        rule: &'static str,
        /// HTTP status the API answers.
        status: u16,
        detail: String,
        /// JSON pointer of the offending field, when one is to blame.
        pointer: Option<String>,
    },
    /// P20: the verification refused the application; the reasons say why.
    #[error("P20: the verification refused the application")]
    Refused(std::sync::Arc<Verification>),
    /// P20: a registry could not answer; unknown is never yes.
    #[error("P20: the verification could not decide: {detail}")]
    Indeterminate {
        detail: String,
        retry_after_s: Option<u64>,
    },
    /// Too many operations this minute for the account or the vehicle (anti-abuse):
    /// 429, come back when the window turns.
    #[error("anti-abuse: {detail}")]
    Limited { detail: String, retry_after_s: u64 },
    #[error("no booking {0}")]
    NotFound(String),
    #[error("{0}")]
    Store(#[from] DbError),
}

impl BookingError {
    pub fn rule(rule: &'static str, status: u16, detail: impl Into<String>) -> Self {
        BookingError::Rule {
            rule,
            status,
            detail: detail.into(),
            pointer: None,
        }
    }

    pub fn at(rule: &'static str, status: u16, pointer: &str, detail: impl Into<String>) -> Self {
        BookingError::Rule {
            rule,
            status,
            detail: detail.into(),
            pointer: Some(pointer.to_owned()),
        }
    }

    /// The rule a violation cites, if any.
    pub fn rule_id(&self) -> Option<&'static str> {
        match self {
            BookingError::Rule { rule, .. } => Some(rule),
            BookingError::Refused(_) | BookingError::Indeterminate { .. } => Some("P20"),
            BookingError::Limited { .. } => Some("anti-abuse"),
            _ => None,
        }
    }
}

impl TxError for BookingError {
    fn is_retryable(&self) -> bool {
        matches!(self, BookingError::Store(DbError::Retry(_)))
    }
}

/// P6 out-of-turn categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PriorityCategory {
    /// Animals (treaties, road transport law).
    Animals,
    /// Perishable goods.
    Perishable,
    /// Dangerous goods.
    Dangerous,
    /// P6.1: the designated postal operator, vehicles listed in advance.
    PostalOperator,
    /// P6.2: authorised economic operators, vehicles listed in advance.
    Aeo,
    /// P6.3: goods of article 147 of the customs code, with a goods or transit declaration.
    #[serde(rename = "customs-art-147")]
    CustomsArt147,
    /// P6.4: paid priority (order No. 538).
    Paid,
}

/// HS chapter 01: live animals.
const LIVE_ANIMALS: [u8; 1] = [1];
/// HS chapters of perishable food: meat (02), fish (03), dairy and eggs (04), vegetables
/// (07), fruit (08).
const PERISHABLE: [u8; 5] = [2, 3, 4, 7, 8];

impl PriorityCategory {
    pub const ALL: [PriorityCategory; 7] = [
        Self::Animals,
        Self::Perishable,
        Self::Dangerous,
        Self::PostalOperator,
        Self::Aeo,
        Self::CustomsArt147,
        Self::Paid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Animals => "animals",
            Self::Perishable => "perishable",
            Self::Dangerous => "dangerous",
            Self::PostalOperator => "postal-operator",
            Self::Aeo => "aeo",
            Self::CustomsArt147 => "customs-art-147",
            Self::Paid => "paid",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether the category needs the vehicle on a list sent in advance (P6.1, P6.2).
    pub fn needs_list(self) -> bool {
        matches!(self, Self::PostalOperator | Self::Aeo)
    }

    /// What the application itself must show for the category, checked before any slot is
    /// held. Lists (P6.1, P6.2) and payment (P6.4) are checked by the engine.
    pub fn evidence(self, application: &Application) -> Result<(), BookingError> {
        let has = |c: CargoClass| application.cargo.classes.contains(&c);
        // The goods must be what the category says, by their HS codes as well as by the
        // declared class: a class added to general cargo proves nothing (issue 10).
        let hs = |chapters: &[u8]| {
            application.cargo.hs_codes.iter().any(|code| {
                kezek_domain::cargo::hs_chapter(code).is_some_and(|c| chapters.contains(&c))
            })
        };
        let ok = match self {
            Self::Animals => has(CargoClass::Animal) && hs(&LIVE_ANIMALS),
            Self::Perishable => has(CargoClass::Perishable) && hs(&PERISHABLE),
            Self::Dangerous => has(CargoClass::Dangerous),
            Self::CustomsArt147 => application
                .cargo
                .declaration_number
                .as_deref()
                .is_some_and(|d| !d.trim().is_empty()),
            Self::PostalOperator | Self::Aeo | Self::Paid => true,
        };
        if ok {
            Ok(())
        } else {
            let pointer = if self == Self::CustomsArt147 {
                "/application/cargo/declaration-number"
            } else {
                "/application/cargo/classes"
            };
            Err(BookingError::at(
                "P6",
                422,
                pointer,
                format!(
                    "priority category {} needs the cargo to show it, by class and HS code",
                    self.as_str()
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p6_categories_parse_both_ways() {
        for c in PriorityCategory::ALL {
            assert_eq!(PriorityCategory::parse(c.as_str()), Some(c));
            // One spelling in serde, config, schema and README (issue 10).
            let json = format!("\"{}\"", c.as_str());
            assert_eq!(serde_json::from_str::<PriorityCategory>(&json).unwrap(), c);
            assert_eq!(serde_json::to_string(&c).unwrap(), json);
        }
    }

    /// P6: a category is proven by the goods — class and HS code together.
    #[test]
    fn p6_evidence_needs_class_and_hs_codes() {
        let check = |category: PriorityCategory, classes: &[CargoClass], hs: &[&str], ok: bool| {
            let mut app: Application = serde_json::from_value(serde_json::json!({
                "owner": {"residency": "resident", "kind": "legal-entity", "name": "T",
                          "iin-bin": "240340010175", "country": "KZ"},
                "drivers": [], "vehicle": {"kind": "truck", "country": "KZ", "plate": "1", "vin": "V"},
                "cargo": {"classes": ["general"]}, "checkpoint": "RU-AKSAI", "travel-date": "2030-01-01"
            }))
            .unwrap();
            app.cargo.classes = classes.to_vec();
            app.cargo.hs_codes = hs.iter().map(|h| (*h).to_owned()).collect();
            assert_eq!(
                category.evidence(&app).is_ok(),
                ok,
                "{category:?} {classes:?} {hs:?}"
            );
        };
        use CargoClass::{Animal, General};
        use PriorityCategory as P;
        check(P::Animals, &[Animal], &["010229"], true);
        check(P::Animals, &[Animal], &[], false);
        check(P::Animals, &[General], &["010229"], false);
        check(
            P::Perishable,
            &[General, CargoClass::Perishable],
            &["870421"],
            false,
        );
        check(P::Perishable, &[CargoClass::Perishable], &["080810"], true);
        check(P::Perishable, &[CargoClass::Perishable], &["020130"], true);
        check(P::Dangerous, &[CargoClass::Dangerous], &[], true);
        check(P::Dangerous, &[General], &[], false);
    }
}
