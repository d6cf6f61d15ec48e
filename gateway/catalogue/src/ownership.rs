//! Which package serves a check that two packages claim (issue 12). One pure rule for a
//! reload and a cold start alike (a cold start first restores the set recorded as in force,
//! so "served before" means the same in both):
//!
//! 1. A check stays with the package that served it in the set in force, as long as that
//!    package still claims it.
//! 2. A check nobody served goes to the claimant whose id sorts first.
//!
//! A package that loses any check is refused whole (its running version, if any, keeps
//! serving). The loser's refusal names the check, the winner and the reason. Generic over
//! the check's key, so it does not care how checks are numbered.

use std::collections::BTreeMap;
use std::fmt::Display;

/// One package's claim on checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim<K> {
    /// The package (= adapter id).
    pub id: String,
    /// The checks its candidate version claims.
    pub checks: Vec<K>,
    /// The checks it served in the set in force.
    pub served: Vec<K>,
}

/// A package refused because another one owns a check it claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lost {
    pub package: String,
    pub reason: String,
}

/// The packages that lose a claim, in id order, each with the reason in words.
pub fn resolve<K: Ord + Clone + Display>(claims: &[Claim<K>]) -> Vec<Lost> {
    let mut order: Vec<&Claim<K>> = claims.iter().collect();
    order.sort_by(|a, b| a.id.cmp(&b.id));
    // Rule 1: what a package served stays its own while it still claims it. Served sets
    // come from one set, where a check has one owner, so these never collide.
    let mut owner: BTreeMap<K, (&str, bool)> = BTreeMap::new();
    for claim in &order {
        for check in claim.checks.iter().filter(|c| claim.served.contains(c)) {
            owner.insert(check.clone(), (&claim.id, true));
        }
    }
    // Rule 2: the rest, the lowest id first.
    let mut lost = Vec::new();
    for claim in &order {
        let taken = claim
            .checks
            .iter()
            .find_map(|check| match owner.get(check) {
                Some(&(other, served)) if other != claim.id => Some((check, other, served)),
                _ => None,
            });
        match taken {
            Some((check, other, true)) => lost.push(Lost {
                package: claim.id.clone(),
                reason: format!(
                    "{check} stays with {other}, which served it before (a package keeps the checks it serves)"
                ),
            }),
            Some((check, other, false)) => lost.push(Lost {
                package: claim.id.clone(),
                reason: format!(
                    "{check} goes to {other}: neither served it before, and the lower id wins"
                ),
            }),
            None => {
                for check in &claim.checks {
                    owner.entry(check.clone()).or_insert((&claim.id, false));
                }
            }
        }
    }
    lost
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(id, claims, served)` → the refused ids. Keys are plain numbers: the rule is the
    /// same whatever a check is called.
    #[test]
    fn a_check_stays_with_who_served_it_else_goes_to_the_lowest_id() {
        type Row<'a> = (&'a [(&'a str, &'a [u8], &'a [u8])], &'a [&'a str]);
        let table: &[Row<'_>] = &[
            // No overlap: everyone serves.
            (&[("a", &[1], &[1]), ("b", &[2], &[])], &[]),
            // A newcomer claiming a served check is refused, whatever its name.
            (&[("z", &[3], &[3]), ("a", &[3], &[])], &["a"]),
            (&[("a", &[3], &[3]), ("z", &[3], &[])], &["z"]),
            // Refused whole: one taken check refuses the package, and its other checks stay
            // free for the next claimant.
            (
                &[("r", &[3], &[3]), ("x", &[3, 7], &[]), ("y", &[7], &[])],
                &["x"],
            ),
            // Nobody served it (a cold start with no record): the lowest id wins.
            (&[("b", &[5], &[]), ("a", &[5], &[])], &["b"]),
            // A running package's new version reaching for another running package's
            // check: the one that served it keeps it, though its id sorts later.
            (&[("a", &[1, 2], &[1]), ("b", &[2], &[2])], &["a"]),
            // A check its owner stopped claiming is free for the others at once.
            (&[("a", &[1], &[1, 2]), ("b", &[2], &[])], &[]),
            // Several contested checks, each decided on its own.
            (
                &[("m", &[4, 6], &[6]), ("k", &[4], &[]), ("n", &[6], &[])],
                &["m", "n"],
            ),
        ];
        for (claims, expect) in table {
            let claims: Vec<Claim<u8>> = claims
                .iter()
                .map(|(id, checks, served)| Claim {
                    id: (*id).to_owned(),
                    checks: checks.to_vec(),
                    served: served.to_vec(),
                })
                .collect();
            let refused: Vec<String> = resolve(&claims).into_iter().map(|l| l.package).collect();
            assert_eq!(&refused, expect, "claims {claims:?}");
            // Reload and cold start must agree: the order claims arrive in changes nothing.
            let mut reversed = claims.clone();
            reversed.reverse();
            let again: Vec<String> = resolve(&reversed).into_iter().map(|l| l.package).collect();
            assert_eq!(&again, expect, "claims reversed {reversed:?}");
        }
    }

    #[test]
    fn a_refusal_names_the_check_the_winner_and_why() {
        let claim = |id: &str, checks: &[&str], served: &[&str]| Claim {
            id: id.to_owned(),
            checks: checks.iter().map(|c| (*c).to_owned()).collect(),
            served: served.iter().map(|c| (*c).to_owned()).collect(),
        };
        let lost = resolve(&[
            claim("owner", &["P18.9"], &["P18.9"]),
            claim("newcomer", &["P18.9"], &[]),
        ]);
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].package, "newcomer");
        assert!(
            lost[0]
                .reason
                .contains("P18.9 stays with owner, which served it before"),
            "{lost:?}"
        );
        let lost = resolve(&[claim("b", &["x"], &[]), claim("a", &["x"], &[])]);
        assert!(
            lost[0].reason.contains("x goes to a") && lost[0].reason.contains("lower id"),
            "{lost:?}"
        );
    }
}
