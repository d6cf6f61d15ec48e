//! Who is calling, from a verified token's claims: the four roles and what each may name
//! (P15, P4; ADR 0014). Pure: the table tests below are the whole mapping.

use kezek_domain::Application;
use serde::Deserialize;
use std::collections::BTreeSet;

/// A verified caller. The account a booking or verification belongs to is always taken from
/// here, never from a request body (ARCHITECTURE.md "Who is calling").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A user registered with the registrar (P15): acts on their own account, the token's
    /// `sub`. `iin`: the IIN/BIN the registrar established from the user's digital signature,
    /// when the token carries it; then only applications naming it are theirs to verify.
    Applicant {
        account: String,
        iin: Option<String>,
    },
    /// The registrar's back end (`sub`: which one), acting for the account in the token's
    /// signed `account` claim.
    Registrar { client: String, account: String },
    /// An OGD officer (P4): reads at the checkpoints in the token's `checkpoints` claim.
    Officer {
        officer: String,
        checkpoints: BTreeSet<String>,
    },
    /// An operator: the admin listener only.
    Operator { subject: String },
}

/// The claims Kezek reads besides those the JWT library checks (`iss`, `aud`, `exp`, `nbf`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Claims {
    #[serde(default)]
    pub sub: String,
    /// `applicant`, `registrar`, `officer` or `operator`.
    #[serde(default)]
    pub role: Option<String>,
    /// Registrar tokens only: the account it acts for.
    #[serde(default)]
    pub account: Option<String>,
    /// Officer tokens only: checkpoint codes (Order 707 appendix).
    #[serde(default)]
    pub checkpoints: Option<Vec<String>>,
    /// Applicant tokens only: the applicant's own IIN/BIN (P15: established by the registrar
    /// from the digital signature).
    #[serde(default)]
    pub iin: Option<String>,
}

impl Caller {
    /// The caller a token's claims describe, or why they describe none.
    pub fn from_claims(claims: Claims) -> Result<Self, &'static str> {
        let Claims {
            sub,
            role,
            account,
            checkpoints,
            iin,
        } = claims;
        if !well_formed(&sub) {
            return Err("the token's subject is missing or malformed");
        }
        let role = role.ok_or("the token names no role")?;
        if account.is_some() && role != "registrar" {
            return Err("only a registrar token names an account to act for");
        }
        if checkpoints.is_some() && role != "officer" {
            return Err("only an officer token names checkpoints");
        }
        if iin.is_some() && role != "applicant" {
            return Err("only an applicant token names its IIN/BIN");
        }
        match role.as_str() {
            "applicant" => match iin {
                Some(iin) if !(iin.len() == 12 && iin.bytes().all(|b| b.is_ascii_digit())) => {
                    Err("the token's IIN/BIN is not 12 digits")
                }
                iin => Ok(Self::Applicant { account: sub, iin }),
            },
            "registrar" => match account {
                Some(account) if well_formed(&account) => Ok(Self::Registrar {
                    client: sub,
                    account,
                }),
                _ => Err("a registrar token must name the account it acts for"),
            },
            "officer" => {
                let checkpoints: BTreeSet<String> =
                    checkpoints.unwrap_or_default().into_iter().collect();
                if checkpoints.is_empty() || !checkpoints.iter().all(|c| well_formed(c)) {
                    return Err("an officer token must name the checkpoints it reads at");
                }
                Ok(Self::Officer {
                    officer: sub,
                    checkpoints,
                })
            }
            "operator" => Ok(Self::Operator { subject: sub }),
            _ => Err("the token's role is not one Kezek knows"),
        }
    }

    /// The account this caller books and verifies for: the applicant's own, or the one the
    /// registrar acts for. Officers and operators have none.
    pub fn account(&self) -> Option<&str> {
        match self {
            Self::Applicant { account, .. } | Self::Registrar { account, .. } => Some(account),
            Self::Officer { .. } | Self::Operator { .. } => None,
        }
    }

    /// Whether this caller reads what happens at this checkpoint (P4: officers, at theirs).
    pub fn reads_at(&self, checkpoint: &str) -> bool {
        matches!(self, Self::Officer { checkpoints, .. } if checkpoints.contains(checkpoint))
    }

    /// Whether this caller may verify or book this application (issue 11 item 2): an
    /// applicant whose token carries its IIN/BIN only one that names it, as the owner or as a
    /// driver; so nobody asks the registries about strangers. The registrar vouches for the
    /// accounts it acts for.
    pub fn applies_for(&self, application: &Application) -> bool {
        match self {
            Self::Applicant { iin: Some(iin), .. } => {
                application.owner.iin_bin.as_deref() == Some(iin.as_str())
                    || application
                        .drivers
                        .iter()
                        .any(|d| d.iin.as_deref() == Some(iin.as_str()))
            }
            _ => true,
        }
    }

    /// The role's name, for logs and problems (never the subject: that is personal data).
    pub fn role(&self) -> &'static str {
        match self {
            Self::Applicant { .. } => "applicant",
            Self::Registrar { .. } => "registrar",
            Self::Officer { .. } => "officer",
            Self::Operator { .. } => "operator",
        }
    }
}

/// An account or checkpoint as the booking schemas allow them: 1–128 of `A-Za-z0-9._:@-`.
pub(super) fn well_formed(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:_@-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(
        role: Option<&str>,
        sub: &str,
        account: Option<&str>,
        cps: Option<&[&str]>,
    ) -> Claims {
        Claims {
            sub: sub.into(),
            role: role.map(Into::into),
            account: account.map(Into::into),
            checkpoints: cps.map(|c| c.iter().map(|s| s.to_string()).collect()),
            iin: None,
        }
    }

    fn with_iin(mut claims: Claims, iin: &str) -> Claims {
        claims.iin = Some(iin.into());
        claims
    }

    fn check(input: Claims, expect: Result<Caller, &str>) {
        let got = Caller::from_claims(input.clone());
        assert_eq!(got, expect, "{input:?}");
    }

    /// ADR 0014: the role comes from the token, and each role may name only what is its own.
    #[test]
    fn claims_map_to_one_caller_or_none() {
        let ok_cps: BTreeSet<String> = ["CN-NUR-ZHOLY".to_owned()].into();
        let table: Vec<(Claims, Result<Caller, &str>)> = vec![
            // P15: an applicant's account is the token's subject.
            (
                claims(Some("applicant"), "acc-001", None, None),
                Ok(Caller::Applicant {
                    account: "acc-001".into(),
                    iin: None,
                }),
            ),
            // P15: the registrar may say whose digital signature the account has.
            (
                with_iin(
                    claims(Some("applicant"), "acc-001", None, None),
                    "900210300019",
                ),
                Ok(Caller::Applicant {
                    account: "acc-001".into(),
                    iin: Some("900210300019".into()),
                }),
            ),
            (
                with_iin(
                    claims(Some("applicant"), "acc-001", None, None),
                    "90021030001",
                ),
                Err("the token's IIN/BIN is not 12 digits"),
            ),
            (
                with_iin(
                    claims(Some("registrar"), "reg", Some("acc-001"), None),
                    "900210300019",
                ),
                Err("only an applicant token names its IIN/BIN"),
            ),
            // An applicant cannot name another account to act for.
            (
                claims(Some("applicant"), "acc-001", Some("acc-002"), None),
                Err("only a registrar token names an account to act for"),
            ),
            (
                claims(Some("applicant"), "", None, None),
                Err("the token's subject is missing or malformed"),
            ),
            (
                claims(Some("applicant"), "acc 001/../x", None, None),
                Err("the token's subject is missing or malformed"),
            ),
            (
                claims(Some("applicant"), &"a".repeat(129), None, None),
                Err("the token's subject is missing or malformed"),
            ),
            // The registrar acts for the account in its signed claim.
            (
                claims(Some("registrar"), "registrar-web", Some("acc-001"), None),
                Ok(Caller::Registrar {
                    client: "registrar-web".into(),
                    account: "acc-001".into(),
                }),
            ),
            (
                claims(Some("registrar"), "registrar-web", None, None),
                Err("a registrar token must name the account it acts for"),
            ),
            (
                claims(Some("registrar"), "registrar-web", Some(""), None),
                Err("a registrar token must name the account it acts for"),
            ),
            // P4: officers read at the checkpoints in their claim.
            (
                claims(Some("officer"), "ogd-17", None, Some(&["CN-NUR-ZHOLY"])),
                Ok(Caller::Officer {
                    officer: "ogd-17".into(),
                    checkpoints: ok_cps,
                }),
            ),
            (
                claims(Some("officer"), "ogd-17", None, Some(&[])),
                Err("an officer token must name the checkpoints it reads at"),
            ),
            (
                claims(Some("officer"), "ogd-17", None, None),
                Err("an officer token must name the checkpoints it reads at"),
            ),
            (
                claims(
                    Some("officer"),
                    "ogd-17",
                    Some("acc-001"),
                    Some(&["CN-NUR-ZHOLY"]),
                ),
                Err("only a registrar token names an account to act for"),
            ),
            (
                claims(Some("applicant"), "acc-001", None, Some(&["CN-NUR-ZHOLY"])),
                Err("only an officer token names checkpoints"),
            ),
            (
                claims(Some("operator"), "ops-1", None, None),
                Ok(Caller::Operator {
                    subject: "ops-1".into(),
                }),
            ),
            (
                claims(None, "acc-001", None, None),
                Err("the token names no role"),
            ),
            (
                claims(Some("admin"), "acc-001", None, None),
                Err("the token's role is not one Kezek knows"),
            ),
        ];
        for (input, expect) in table {
            check(input, expect);
        }
    }

    /// Issue 11 item 2: an applicant whose token carries its IIN/BIN verifies only
    /// applications that name it (owner or driver); the registrar and tokens without one are
    /// not narrowed here.
    #[test]
    fn an_applicant_with_an_iin_applies_only_for_itself() {
        let application: Application = serde_json::from_value(serde_json::json!({
            "owner": { "residency": "resident", "kind": "legal-entity", "name": "ТОО Тест",
                       "iin-bin": "123456789012", "country": "KZ" },
            "drivers": [{ "residency": "resident", "full-name": "Тестов Тест", "birth-date": "1980-01-01",
                          "iin": "800101300123", "phone": "+77010000000",
                          "document": { "kind": "id-card", "issuing-country": "KZ", "number": "012345678",
                                        "expires": "1990-01-01" } }],
            "vehicle": { "kind": "tractor-unit", "country": "KZ", "plate": "123ABC02", "vin": "XTA00000000000001" },
            "cargo": { "classes": ["general"], "hs-codes": ["8708"], "description": "parts" },
            "checkpoint": "CN-NUR-ZHOLY",
            "travel-date": "1990-01-01"
        }))
        .expect("an application");
        let applicant = |iin: Option<&str>| Caller::Applicant {
            account: "acc-1".into(),
            iin: iin.map(Into::into),
        };
        for (caller, expect) in [
            (applicant(Some("123456789012")), true),
            (applicant(Some("800101300123")), true),
            (applicant(Some("900210300019")), false),
            (applicant(None), true),
            (
                Caller::Registrar {
                    client: "r".into(),
                    account: "acc-1".into(),
                },
                true,
            ),
        ] {
            assert_eq!(caller.applies_for(&application), expect, "{caller:?}");
        }
    }

    #[test]
    fn what_each_role_may_reach() {
        let applicant = Caller::Applicant {
            account: "acc-1".into(),
            iin: None,
        };
        let registrar = Caller::Registrar {
            client: "r".into(),
            account: "acc-2".into(),
        };
        let officer = Caller::Officer {
            officer: "o".into(),
            checkpoints: ["CN-DOSTYK".to_owned()].into(),
        };
        let operator = Caller::Operator {
            subject: "ops".into(),
        };
        for (caller, account, reads_dostyk) in [
            (&applicant, Some("acc-1"), false),
            (&registrar, Some("acc-2"), false),
            (&officer, None, true),
            (&operator, None, false),
        ] {
            assert_eq!(
                (caller.account(), caller.reads_at("CN-DOSTYK")),
                (account, reads_dostyk),
                "{caller:?}"
            );
            assert!(!caller.reads_at("CN-NUR-ZHOLY"));
        }
    }
}
