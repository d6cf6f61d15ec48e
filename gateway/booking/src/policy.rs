//! P6 as effective-dated data (issue 10 item 6, ADR 0013): the out-of-turn quotas of each
//! edition of the law, and which edition governs a checkpoint-day.
//!
//! Order 707 P6 as first published caps all out-of-turn bookings of a working day together
//! at 15 % of the checkpoint's actual daily capacity. Order 505 of 17 September 2025 (in force
//! 23 September 2025) splits that: out-of-turn passage at most 5 %, paid accelerated passage
//! at most 1 %. Both are editions of one document (`deploy/priority-policy.json`, checked
//! against `schemas/priority-policy.schema.json`, replaceable by `[booking.priority]
//! editions`). A day is governed by the edition in force **on that day** — the booked day,
//! not the day the booking is made — so a day after an amendment takes the amendment's caps
//! whenever it is booked.
//!
//! Pure data and arithmetic; the engine counts bookings per category in the store and
//! compares a quota's use with [`Quota::cap`] under the day row's lock (`slots::take_day`).

use crate::rules::PriorityCategory;
use kezek_schema::{self as schemas, Schema};
use serde::Deserialize;
use std::path::Path;
use time::Date;

/// The policy compiled into the binary.
pub const EMBEDDED: &str = include_str!("../../../deploy/priority-policy.json");

/// Every edition, in the order they took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityPolicy {
    pub version: String,
    editions: Vec<Edition>,
}

/// One edition of P6: from its day on, until the next edition, these quotas apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edition {
    pub id: String,
    /// The legal act, as every refusal under this edition cites it.
    pub act: String,
    pub in_force_from: Date,
    pub quotas: Vec<Quota>,
}

/// A cap on the out-of-turn bookings of some categories per checkpoint-day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    pub id: String,
    pub categories: Vec<PriorityCategory>,
    /// Basis points (hundredths of a percent) of the day's actual capacity.
    pub cap_bp: i64,
}

impl Quota {
    /// P6: the most bookings this quota allows on a day of `capacity`, rounded down.
    pub fn cap(&self, capacity: i64) -> i64 {
        capacity.max(0) * self.cap_bp / 10_000
    }

    pub fn covers(&self, category: PriorityCategory) -> bool {
        self.categories.contains(&category)
    }

    /// The cap as the law writes it: `5`, `1.5`, `0.25` (percent).
    pub fn percent(&self) -> String {
        percent(self.cap_bp)
    }

    /// The cap as a number, for the availability answer.
    pub fn percent_value(&self) -> f64 {
        self.cap_bp as f64 / 100.0
    }
}

impl Edition {
    /// The quota `category` counts against under this edition; `None`: not out of turn.
    pub fn quota_for(&self, category: PriorityCategory) -> Option<&Quota> {
        self.quotas.iter().find(|q| q.covers(category))
    }
}

/// Basis points as a percentage: `1500` → `15`, `150` → `1.5`.
fn percent(bp: i64) -> String {
    let (whole, hundredths) = (bp / 100, bp % 100);
    if hundredths == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{hundredths:02}")
            .trim_end_matches('0')
            .to_owned()
    }
}

/// Why a policy document was refused at load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("priority policy: not JSON: {0}")]
    Json(String),
    #[error("priority policy: {0}")]
    Schema(schemas::Violation),
    #[error(
        "priority policy: edition {later} (in force from {later_from}) must take effect after \
         edition {earlier} ({earlier_from}): list editions in the order they took effect, one \
         per date"
    )]
    Order {
        earlier: String,
        earlier_from: String,
        later: String,
        later_from: String,
    },
    #[error("priority policy: edition {edition}: in-force-from {date} is not a day")]
    Date { edition: String, date: String },
    #[error("priority policy: edition id {0} is used twice")]
    DuplicateEdition(String),
    #[error("priority policy: edition {edition} has two quotas named {quota}")]
    DuplicateQuota { edition: String, quota: String },
    #[error(
        "priority policy: edition {edition} counts {category} against two quotas, {first} and \
         {second}; a category belongs to at most one quota"
    )]
    CategoryInTwoQuotas {
        edition: String,
        category: &'static str,
        first: String,
        second: String,
    },
    #[error(
        "priority policy: edition {edition}, quota {quota}: cap-percent {percent} is not a \
         percentage from 0 to 100 in hundredths"
    )]
    Cap {
        edition: String,
        quota: String,
        percent: String,
    },
    #[error(
        "priority policy: edition {edition}: its quotas add up to {percent} % of the day, more \
         than the whole day"
    )]
    CapsOverTheDay { edition: String, percent: String },
}

/// The document as written (`schemas/priority-policy.schema.json`).
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Document {
    version: String,
    editions: Vec<EditionDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct EditionDoc {
    id: String,
    act: String,
    in_force_from: String,
    quotas: Vec<QuotaDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct QuotaDoc {
    id: String,
    categories: Vec<PriorityCategory>,
    cap_percent: f64,
}

impl PriorityPolicy {
    /// The policy at `path` (`[booking.priority] editions`), or the one compiled in.
    pub fn open(path: Option<&Path>) -> anyhow::Result<Self> {
        match path {
            None => Ok(Self::embedded()),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
                Self::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            }
        }
    }

    pub fn embedded() -> Self {
        Self::parse(EMBEDDED).expect("deploy/priority-policy.json is valid")
    }

    /// Parses and validates a policy: its schema, then what a schema cannot say.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| PolicyError::Json(e.to_string()))?;
        if let Some(v) = schemas::violations(Schema::PriorityPolicy, &value)
            .into_iter()
            .next()
        {
            return Err(PolicyError::Schema(v));
        }
        let doc: Document =
            serde_json::from_value(value).map_err(|e| PolicyError::Json(e.to_string()))?;
        let mut editions: Vec<Edition> = Vec::with_capacity(doc.editions.len());
        for e in doc.editions {
            let edition = edition(e)?;
            if let Some(earlier) = editions.iter().find(|x| x.id == edition.id) {
                return Err(PolicyError::DuplicateEdition(earlier.id.clone()));
            }
            if let Some(earlier) = editions.last()
                && earlier.in_force_from >= edition.in_force_from
            {
                return Err(PolicyError::Order {
                    earlier: earlier.id.clone(),
                    earlier_from: earlier.in_force_from.to_string(),
                    later: edition.id,
                    later_from: edition.in_force_from.to_string(),
                });
            }
            editions.push(edition);
        }
        Ok(Self {
            version: doc.version,
            editions,
        })
    }

    /// The edition in force on `day`: the latest to take effect on or before it. `None`
    /// before the first: no out-of-turn booking is capped, so none is served.
    pub fn in_force(&self, day: Date) -> Option<&Edition> {
        self.editions.iter().rev().find(|e| e.in_force_from <= day)
    }

    /// The edition in force on `day` and its quota covering `category` — or why there is
    /// none, naming the edition (the P6 refusal's detail).
    pub fn quota_on(
        &self,
        day: Date,
        category: PriorityCategory,
    ) -> Result<(&Edition, &Quota), String> {
        let edition = self.in_force(day).ok_or_else(|| {
            format!("no edition of P6 is in force on {day}: nothing is served out of turn")
        })?;
        let quota = edition.quota_for(category).ok_or_else(|| {
            format!(
                "{} is not served out of turn on {day} under {} ({})",
                category.as_str(),
                edition.id,
                edition.act
            )
        })?;
        Ok((edition, quota))
    }

    pub fn editions(&self) -> &[Edition] {
        &self.editions
    }
}

/// Test policies in the document's own format, so they pass the same validation: editions
/// as `(id, in-force-from, quotas)`, quotas as `(id, categories, cap-percent)`.
#[cfg(test)]
pub(crate) mod test_policy {
    use super::PriorityPolicy;
    use time::Date;

    /// Order 707's seven categories.
    pub const ALL: &[&str] = &[
        "animals",
        "perishable",
        "dangerous",
        "postal-operator",
        "aeo",
        "customs-art-147",
        "paid",
    ];
    /// Order 505's out-of-turn categories: all but paid.
    pub const NOT_PAID: &[&str] = ALL.split_last().expect("seven").1;

    pub type Editions<'a> = &'a [(&'a str, Date, &'a [(&'a str, &'a [&'a str], f64)])];

    pub fn document(editions: Editions<'_>) -> String {
        let editions: Vec<serde_json::Value> = editions
            .iter()
            .map(|(id, from, quotas)| {
                serde_json::json!({
                    "id": id, "act": format!("test act {id}"), "in-force-from": from.to_string(),
                    "quotas": quotas.iter().map(|(q, categories, percent)| serde_json::json!({
                        "id": q, "categories": categories, "cap-percent": percent
                    })).collect::<Vec<_>>()
                })
            })
            .collect();
        serde_json::json!({"version": "test", "editions": editions}).to_string()
    }

    pub fn policy(editions: Editions<'_>) -> PriorityPolicy {
        PriorityPolicy::parse(&document(editions)).expect("a valid test policy")
    }

    /// As Order 707 was published: one 15 % quota for all seven categories, from `from`.
    pub fn order_707_as_published(from: Date) -> PriorityPolicy {
        policy(&[("as-published", from, &[("out-of-turn", ALL, 15.0)])])
    }

    /// As published until the day before `split`; from `split` as Order 505 has it: 5 % out
    /// of turn, 1 % paid.
    pub fn split_on(from: Date, split: Date) -> PriorityPolicy {
        policy(&[
            ("as-published", from, &[("out-of-turn", ALL, 15.0)]),
            (
                "amended",
                split,
                &[("out-of-turn", NOT_PAID, 5.0), ("paid", &["paid"], 1.0)],
            ),
        ])
    }
}

/// One edition, checked on its own: its date, unique quota ids, each category in at most one
/// quota, caps in hundredths of a percent within the day.
fn edition(doc: EditionDoc) -> Result<Edition, PolicyError> {
    // The schema's pattern admits only YYYY-MM-DD; a day that does not exist is caught here.
    let in_force_from = Date::parse(
        &doc.in_force_from,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| PolicyError::Date {
        edition: doc.id.clone(),
        date: doc.in_force_from.clone(),
    })?;
    let mut quotas: Vec<Quota> = Vec::with_capacity(doc.quotas.len());
    for q in doc.quotas {
        let bp = q.cap_percent * 100.0;
        if !(0.0..=10_000.0).contains(&bp) || (bp - bp.round()).abs() > 1e-6 {
            return Err(PolicyError::Cap {
                edition: doc.id,
                quota: q.id,
                percent: q.cap_percent.to_string(),
            });
        }
        if quotas.iter().any(|x| x.id == q.id) {
            return Err(PolicyError::DuplicateQuota {
                edition: doc.id,
                quota: q.id,
            });
        }
        for &category in &q.categories {
            if let Some(first) = quotas.iter().find(|x| x.covers(category)) {
                return Err(PolicyError::CategoryInTwoQuotas {
                    edition: doc.id,
                    category: category.as_str(),
                    first: first.id.clone(),
                    second: q.id,
                });
            }
        }
        quotas.push(Quota {
            id: q.id,
            categories: q.categories,
            cap_bp: bp.round() as i64,
        });
    }
    let total: i64 = quotas.iter().map(|q| q.cap_bp).sum();
    if total > 10_000 {
        return Err(PolicyError::CapsOverTheDay {
            edition: doc.id,
            percent: percent(total),
        });
    }
    Ok(Edition {
        id: doc.id,
        act: doc.act,
        in_force_from,
        quotas,
    })
}

/// Out-of-turn bookings of one checkpoint-day, by category (the store's `cp_day_priority`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByCategory([i64; PriorityCategory::ALL.len()]);

impl ByCategory {
    fn slot(category: PriorityCategory) -> usize {
        PriorityCategory::ALL
            .iter()
            .position(|&c| c == category)
            .expect("ALL lists every category")
    }

    pub fn get(&self, category: PriorityCategory) -> i64 {
        self.0[Self::slot(category)]
    }

    pub fn add(&mut self, category: PriorityCategory, n: i64) {
        self.0[Self::slot(category)] += n;
    }

    /// The bookings counted against `quota`: those of its categories.
    pub fn used(&self, quota: &Quota) -> i64 {
        quota.categories.iter().map(|&c| self.get(c)).sum()
    }

    /// Every out-of-turn booking of the day.
    pub fn total(&self) -> i64 {
        self.0.iter().sum()
    }

    /// The categories with bookings, and how many.
    pub fn counted(&self) -> impl Iterator<Item = (PriorityCategory, i64)> + '_ {
        PriorityCategory::ALL
            .into_iter()
            .map(|c| (c, self.get(c)))
            .filter(|&(_, n)| n != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::test_policy::{ALL, NOT_PAID, document as doc};
    use super::*;
    use PriorityCategory as P;
    use time::Duration;
    use time::macros::date;

    /// The day Order 505 took effect: law, not test data.
    const ORDER_505_IN_FORCE: Date = date!(2025 - 09 - 23);

    /// P6, Order 505: a day is governed by the edition in force on it — the day before an
    /// in-force date by the earlier edition, the day itself and after by the later one.
    #[test]
    fn p6_order_505_a_day_takes_the_edition_in_force_on_it() {
        let policy = PriorityPolicy::embedded();
        let check = |day: Date, expect: Option<&str>| {
            assert_eq!(policy.in_force(day).map(|e| e.id.as_str()), expect, "{day}");
        };
        let first = policy.editions()[0].in_force_from;
        check(first - Duration::days(1), None);
        check(first, Some("order-707"));
        check(ORDER_505_IN_FORCE - Duration::days(1), Some("order-707"));
        check(ORDER_505_IN_FORCE, Some("order-505"));
        check(ORDER_505_IN_FORCE + Duration::days(1), Some("order-505"));
        check(ORDER_505_IN_FORCE + Duration::days(4000), Some("order-505"));
    }

    /// P6, Order 505: the compiled-in policy parses, validates, and gives Order 505's caps —
    /// 5 % for the six out-of-turn categories, 1 % for paid accelerated passage — on any
    /// day from 23 September 2025; Order 707's 15 % for all seven before it.
    #[test]
    fn p6_order_505_compiled_in_policy_gives_5_and_1_percent_from_its_day() {
        let policy = PriorityPolicy::parse(EMBEDDED).unwrap();
        for offset in [0, 1, 100, 365, 3650] {
            let day = ORDER_505_IN_FORCE + Duration::days(offset);
            let edition = policy.in_force(day).unwrap();
            assert!(edition.act.contains("505"), "{}", edition.act);
            for c in PriorityCategory::ALL {
                let q = edition.quota_for(c).unwrap();
                let expect = if c == P::Paid {
                    ("paid", 100)
                } else {
                    ("out-of-turn", 500)
                };
                assert_eq!((q.id.as_str(), q.cap_bp), expect, "{c:?} on {day}");
            }
        }
        let before = policy
            .in_force(ORDER_505_IN_FORCE - Duration::days(1))
            .unwrap();
        assert_eq!(before.quotas.len(), 1);
        assert_eq!(before.quotas[0].cap_bp, 1500);
        assert_eq!(before.quotas[0].categories, PriorityCategory::ALL);
    }

    /// P6: "at most N % of the actual daily capacity" — rounded down, never up.
    #[test]
    fn p6_quota_arithmetic_rounds_down() {
        let check = |cap_bp: i64, capacity: i64, expect: i64| {
            let q = Quota {
                id: "q".into(),
                categories: vec![P::Paid],
                cap_bp,
            };
            assert_eq!(q.cap(capacity), expect, "{cap_bp} bp of {capacity}");
        };
        check(1500, 60, 9);
        check(1500, 13, 1); // 1.95
        check(1500, 6, 0); // 0.9
        check(500, 60, 3);
        check(500, 19, 0); // 0.95
        check(500, 20, 1);
        check(500, 480, 24);
        check(100, 99, 0); // 0.99
        check(100, 100, 1);
        check(100, 480, 4); // 4.8
        check(150, 200, 3);
        check(500, 0, 0);
        check(500, -5, 0);
    }

    #[test]
    fn p6_caps_are_written_as_the_law_writes_them() {
        let check = |cap_bp: i64, expect: &str| {
            let q = Quota {
                id: "q".into(),
                categories: vec![],
                cap_bp,
            };
            assert_eq!(q.percent(), expect);
        };
        check(1500, "15");
        check(500, "5");
        check(100, "1");
        check(150, "1.5");
        check(25, "0.25");
        check(5, "0.05");
        check(0, "0");
    }

    /// Load-time validation: each mistake is refused with an error that names it.
    #[test]
    fn p6_a_bad_policy_is_refused_naming_the_mistake() {
        let d = date!(2025 - 09 - 23);
        let later = d + Duration::days(10);
        let check = |text: String, expect: &str| {
            let e = PriorityPolicy::parse(&text).expect_err(expect).to_string();
            assert!(e.contains(expect), "{e}\n  expected: {expect}");
        };
        check(
            doc(&[
                ("a", d, &[("q", NOT_PAID, 5.0)]),
                ("b", d, &[("q", NOT_PAID, 1.0)]),
            ]),
            "edition b (in force from 2025-09-23) must take effect after edition a",
        );
        check(
            doc(&[
                ("a", later, &[("q", NOT_PAID, 5.0)]),
                ("b", d, &[("q", NOT_PAID, 1.0)]),
            ]),
            "edition b (in force from 2025-09-23) must take effect after edition a (2025-10-03)",
        );
        check(
            doc(&[
                ("a", d, &[("q", NOT_PAID, 5.0)]),
                ("a", later, &[("q", NOT_PAID, 1.0)]),
            ]),
            "edition id a is used twice",
        );
        check(
            doc(&[(
                "a",
                d,
                &[("q", &["paid", "aeo"], 5.0), ("p", &["paid"], 1.0)],
            )]),
            "edition a counts paid against two quotas, q and p",
        );
        check(
            doc(&[("a", d, &[("q", &["aeo"], 5.0), ("q", &["paid"], 1.0)])]),
            "edition a has two quotas named q",
        );
        check(
            doc(&[("a", d, &[("q", &["camels"], 5.0)])]),
            "/editions/0/quotas/0/categories/0",
        );
        check(
            doc(&[("a", d, &[("q", &["paid"], 101.0)])]),
            "/editions/0/quotas/0/cap-percent",
        );
        check(
            doc(&[("a", d, &[("q", &["paid"], -1.0)])]),
            "/editions/0/quotas/0/cap-percent",
        );
        check(
            doc(&[("a", d, &[("q", &["paid"], 0.125)])]),
            "quota q: cap-percent 0.125 is not a percentage from 0 to 100 in hundredths",
        );
        check(
            doc(&[("a", d, &[("q", &["paid"], 60.0), ("p", &["aeo"], 50.0)])]),
            "edition a: its quotas add up to 110 % of the day",
        );
        check(
            doc(&[("a", d, &[("q", ALL, 1.0)])]).replace(
                "\"version\":\"test\"",
                "\"version\":\"test\",\"cap_percent\":15",
            ),
            "cap_percent",
        );
        check(
            doc(&[("a", d, &[("q", &["paid"], 1.0)])]).replace("2025-09-23", "2025-02-30"),
            "edition a: in-force-from 2025-02-30 is not a day",
        );
        check("{".into(), "not JSON");
    }

    /// One spelling of every category (issue 10): the schema's enum is the serde enum.
    #[test]
    fn p6_the_schema_lists_every_category() {
        let schema: serde_json::Value =
            serde_json::from_str(Schema::PriorityPolicy.source()).unwrap();
        let listed: Vec<&str> =
            schema["$defs"]["quota"]["properties"]["categories"]["items"]["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
        let ours: Vec<&str> = PriorityCategory::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, ours);
    }

    #[test]
    fn p6_bookings_are_counted_by_category_and_summed_by_quota() {
        let mut n = ByCategory::default();
        n.add(P::Perishable, 2);
        n.add(P::Aeo, 1);
        n.add(P::Paid, 1);
        let out_of_turn = Quota {
            id: "out-of-turn".into(),
            categories: vec![P::Perishable, P::Aeo, P::Animals],
            cap_bp: 500,
        };
        assert_eq!((n.used(&out_of_turn), n.total()), (3, 4));
        assert_eq!(
            n.counted().collect::<Vec<_>>(),
            [(P::Perishable, 2), (P::Aeo, 1), (P::Paid, 1)]
        );
    }
}
