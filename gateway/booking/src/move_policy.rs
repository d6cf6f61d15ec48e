//! ADR 0006, the fair move policy of a capacity change (D13), as a pure function: no SQL, no
//! I/O. `change_capacity` reads the rows, calls [`plan`] and writes what it says.
//!
//! 1. Rank the day's bookings: P6 priority first, then booking order.
//! 2. Keep a booking while the day has room under its new capacity, its hour is open and has
//!    room, and — for a priority booking — the P6 quota covering its category, of the day's
//!    edition and the *new* capacity (rounded down), has room. The rest are displaced.
//! 3. Move the displaced, in rank order, to the first free slot at or after their hour: the
//!    same day first, then the following days within the horizon, the quota of the target
//!    day's own edition applying there (ADR 0013: a day takes the edition in force on it).
//! 4. No slot left: cancelled, fee refund due (not the user's doing, P28 does not apply).

use crate::policy::{ByCategory, PriorityPolicy};
use crate::rules::PriorityCategory;
use std::sync::Arc;
use time::Date;

/// One hour interval: its capacity and the bookings in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct HourLoad {
    pub capacity: i64,
    pub booked: i64,
}

/// A checkpoint-day as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DayLoad {
    pub day: Date,
    pub capacity: i64,
    pub booked: i64,
    /// P6 bookings by category, each counted against the quota of the day's edition that
    /// covers it.
    pub priority: ByCategory,
    pub hours: [HourLoad; 24],
}

impl DayLoad {
    /// Whether one more booking fits the day and, out of turn, the quota of the day's edition
    /// covering its category (P6; a category the edition does not serve never fits).
    fn has_room(&self, priority: Option<PriorityCategory>, policy: &PriorityPolicy) -> bool {
        self.booked < self.capacity
            && priority.is_none_or(|category| {
                policy
                    .quota_on(self.day, category)
                    .is_ok_and(|(_, q)| self.priority.used(q) < q.cap(self.capacity))
            })
    }

    fn hour_has_room(&self, hour: u8) -> bool {
        let h = self.hours[hour as usize];
        h.booked < h.capacity
    }

    /// The first hour at or after `from` with room.
    fn free_hour(&self, from: u8) -> Option<u8> {
        (from..24).find(|&h| self.hour_has_room(h))
    }

    fn take(&mut self, hour: u8, priority: Option<PriorityCategory>) {
        self.booked += 1;
        if let Some(category) = priority {
            self.priority.add(category, 1);
        }
        self.hours[hour as usize].booked += 1;
    }
}

/// A booking of the changed day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ranked {
    pub id: String,
    /// P6: served out of turn, in this category.
    pub priority: Option<PriorityCategory>,
    pub hour: u8,
    /// Booking order (`created_order`): earlier sorts first.
    pub order: String,
}

/// What ops ask for, and what the policy needs to know to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Change {
    pub day: Date,
    /// The new capacity of the day.
    pub capacity: i64,
    /// The day's hour capacities before the change.
    pub hour_capacity: [i64; 24],
    /// Hours `from..to` closed (capacity 0).
    pub closed: Option<(u8, u8)>,
    /// P6: the quotas of each edition; each day takes the edition in force on it.
    pub policy: Arc<PriorityPolicy>,
    /// The day's held and active bookings, in any order.
    pub bookings: Vec<Ranked>,
    /// Last day of the booking horizon (P22): nothing moves past it.
    pub last: Date,
    /// The days after `day`, as they are now, in date order; a move goes no further.
    pub following: Vec<DayLoad>,
}

/// Where a displaced booking goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Move {
    pub id: String,
    pub priority: Option<PriorityCategory>,
    pub from_hour: u8,
    pub day: Date,
    pub hour: u8,
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    /// The changed day with only the bookings that stay: what its rows are set to before
    /// the moves are written.
    pub kept: DayLoad,
    /// Bookings that keep their place, in rank order.
    pub stay: Vec<String>,
    /// Displaced bookings with a new slot, in rank order.
    pub moves: Vec<Move>,
    /// Displaced bookings with no slot left within the horizon: cancelled, refund due.
    pub cancel: Vec<String>,
}

/// ADR 0006: who stays, who moves where, who is cancelled with a refund due.
pub(super) fn plan(change: &Change) -> Plan {
    let (kept, stay, displaced) = keep(change);
    let (moves, cancel) = place(change, &kept, &displaced);
    Plan {
        kept,
        stay,
        moves,
        cancel,
    }
}

/// Steps 1–2: the day under its new capacity and closed hours, with the best-ranked
/// bookings that fit it (P6 first, then booking order); the rest displaced, in rank order.
fn keep(change: &Change) -> (DayLoad, Vec<String>, Vec<&Ranked>) {
    let mut ranked: Vec<&Ranked> = change.bookings.iter().collect();
    ranked.sort_by(|a, b| (a.priority.is_none(), &a.order).cmp(&(b.priority.is_none(), &b.order)));
    let mut kept = DayLoad {
        day: change.day,
        capacity: change.capacity,
        booked: 0,
        priority: ByCategory::default(),
        hours: std::array::from_fn(|h| HourLoad {
            capacity: match change.closed {
                Some((from, to)) if (from as usize..to as usize).contains(&h) => 0,
                _ => change.hour_capacity[h],
            },
            booked: 0,
        }),
    };
    let mut stay = Vec::new();
    let mut displaced = Vec::new();
    for b in ranked {
        if kept.has_room(b.priority, &change.policy) && kept.hour_has_room(b.hour) {
            kept.take(b.hour, b.priority);
            stay.push(b.id.clone());
        } else {
            displaced.push(b);
        }
    }
    (kept, stay, displaced)
}

/// Steps 3 and 5: each displaced booking, in rank order, to the first free slot at or after
/// its hour on the same day, else from the first hour of the following days up to the
/// horizon; cancelled when there is none.
fn place(change: &Change, kept: &DayLoad, displaced: &[&Ranked]) -> (Vec<Move>, Vec<String>) {
    let mut targets: Vec<DayLoad> = std::iter::once(kept.clone())
        .chain(change.following.iter().cloned())
        .filter(|d| d.day >= change.day && d.day <= change.last)
        .collect();
    let mut moves = Vec::new();
    let mut cancel = Vec::new();
    for b in displaced {
        let slot = targets.iter_mut().find_map(|d| {
            let from = if d.day == change.day { b.hour } else { 0 };
            let hour = d
                .has_room(b.priority, &change.policy)
                .then(|| d.free_hour(from))
                .flatten()?;
            d.take(hour, b.priority);
            Some((d.day, hour))
        });
        match slot {
            Some((day, hour)) => moves.push(Move {
                id: b.id.clone(),
                priority: b.priority,
                from_hour: b.hour,
                day,
                hour,
            }),
            None => cancel.push(b.id.clone()),
        }
    }
    (moves, cancel)
}

#[cfg(test)]
mod tests {
    //! ADR 0006 table tests. A day is written as its capacity and open hours `9..18` with
    //! `per_hour` places each; a booking as (id, P6 category or `R` for a regular one, hour),
    //! booked in the order given unless the test says otherwise.

    use super::*;
    use crate::policy::test_policy::{self, NOT_PAID, order_707_as_published, split_on};
    use time::macros::date;

    const D: Date = date!(2026 - 06 - 02);
    /// A regular booking.
    const R: Option<PriorityCategory> = None;
    const PERISHABLE: Option<PriorityCategory> = Some(PriorityCategory::Perishable);
    const PAID: Option<PriorityCategory> = Some(PriorityCategory::Paid);

    fn day(day: Date, capacity: i64, per_hour: i64) -> DayLoad {
        DayLoad {
            day,
            capacity,
            booked: 0,
            priority: ByCategory::default(),
            hours: std::array::from_fn(|h| HourLoad {
                capacity: if (9..18).contains(&h) { per_hour } else { 0 },
                booked: 0,
            }),
        }
    }

    fn next(n: i64) -> Date {
        D + time::Duration::days(n)
    }

    /// P6 as Order 707 was published: 15 % for all categories together, every day of the
    /// test.
    fn fifteen_percent() -> Arc<PriorityPolicy> {
        Arc::new(order_707_as_published(next(-365)))
    }

    /// `bookings` as (id, category, hour), in booking order, under 15 %.
    fn change(
        capacity: i64,
        per_hour: i64,
        bookings: &[(&str, Option<PriorityCategory>, u8)],
    ) -> Change {
        Change {
            day: D,
            capacity,
            hour_capacity: day(D, capacity, per_hour).hours.map(|h| h.capacity),
            closed: None,
            policy: fifteen_percent(),
            bookings: bookings
                .iter()
                .enumerate()
                .map(|(i, &(id, priority, hour))| Ranked {
                    id: id.into(),
                    priority,
                    hour,
                    order: format!("{i:03}"),
                })
                .collect(),
            last: next(90),
            following: (1..=3).map(|n| day(next(n), 60, 3)).collect(),
        }
    }

    /// Expected answer: who stays; who moves to (days after D, hour); who is cancelled.
    struct Expect<'a> {
        stay: &'a [&'a str],
        moved: &'a [(&'a str, i64, u8)],
        cancelled: &'a [&'a str],
    }

    fn check(input: Change, expect: Expect<'_>) {
        let plan = plan(&input);
        let moved: Vec<(&str, i64, u8)> = plan
            .moves
            .iter()
            .map(|m| (m.id.as_str(), (m.day - D).whole_days(), m.hour))
            .collect();
        assert_eq!(plan.stay, expect.stay, "stay: {plan:?}");
        assert_eq!(moved, expect.moved, "moved: {plan:?}");
        assert_eq!(plan.cancel, expect.cancelled, "cancelled: {plan:?}");
        // Every booking has exactly one fate; the kept day matches who stays.
        assert_eq!(
            plan.stay.len() + plan.moves.len() + plan.cancel.len(),
            input.bookings.len()
        );
        let moved_in = plan.moves.iter().filter(|m| m.day == D).count() as i64;
        assert_eq!(plan.kept.booked as usize, plan.stay.len(), "{plan:?}");
        assert!(plan.kept.booked + moved_in <= input.capacity, "{plan:?}");
    }

    /// ADR 0006 step 2, P6: priority bookings keep their places first, whatever their order
    /// (capacity 7: quota 1); then booking order. The displaced move to the next day's first
    /// free hour. (The rule test d13_lowering_capacity_… checks the same on both databases.)
    #[test]
    fn adr0006_d13_p6_priority_first_then_booking_order() {
        let bookings = [
            ("a", R, 10),
            ("b", R, 10),
            ("c", R, 10),
            ("d", R, 11),
            ("e", R, 11),
            ("f", R, 11),
            ("g", R, 12),
            ("h", R, 12),
            ("p", PERISHABLE, 12),
        ];
        check(
            change(7, 3, &bookings),
            Expect {
                stay: &["p", "a", "b", "c", "d", "e", "f"],
                moved: &[("g", 1, 9), ("h", 1, 9)],
                cancelled: &[],
            },
        );
    }

    /// Booking order is `created_order`, not the order rows arrive in.
    #[test]
    fn adr0006_d13_booking_order_is_the_created_order() {
        let mut input = change(1, 3, &[("late", R, 10), ("early", R, 10)]);
        input.bookings[0].order = "999".into();
        check(
            input,
            Expect {
                stay: &["early"],
                moved: &[("late", 1, 9)],
                cancelled: &[],
            },
        );
    }

    /// ADR 0006 step 1, D13: closed hours get capacity 0; their bookings move to the first
    /// free hour at or after theirs on the same day.
    #[test]
    fn adr0006_d13_closed_hours_move_to_later_hours_of_the_same_day() {
        let mut input = change(
            60,
            2,
            &[("a", R, 10), ("b", R, 10), ("c", R, 11), ("d", R, 12)],
        );
        input.closed = Some((10, 12));
        check(
            input,
            Expect {
                stay: &["d"],
                moved: &[("a", 0, 12), ("b", 0, 13), ("c", 0, 13)],
                cancelled: &[],
            },
        );
    }

    /// P6: the quota is of the *new* capacity, rounded down: 13 × 15 % = 1.95 → 1. The
    /// second priority booking is displaced though the day has room; it moves to a day whose
    /// quota has room.
    #[test]
    fn adr0006_p6_quota_of_the_new_capacity_rounded_down() {
        let input = change(
            13,
            3,
            &[("p1", PERISHABLE, 9), ("p2", PERISHABLE, 9), ("a", R, 9)],
        );
        check(
            input,
            Expect {
                stay: &["p1", "a"],
                moved: &[("p2", 1, 9)],
                cancelled: &[],
            },
        );
    }

    /// P6 applies on the target day too: a day whose quota is used up is skipped.
    #[test]
    fn adr0006_p6_quota_applies_on_the_target_day() {
        let mut input = change(7, 3, &[("p1", PERISHABLE, 9), ("p2", PAID, 9)]);
        // 15 % of 60: nine, all categories together.
        input.following[0]
            .priority
            .add(PriorityCategory::Perishable, 9);
        check(
            input,
            Expect {
                stay: &["p1"],
                moved: &[("p2", 2, 9)],
                cancelled: &[],
            },
        );
    }

    /// P6 as Order 505 amended it: paid and out-of-turn have quotas of their own. A day of
    /// 100 holds one paid (1 %) and five out-of-turn (5 %) bookings: the second paid is
    /// displaced while out-of-turn still has room, the sixth out-of-turn while paid had room;
    /// each moves to the first day whose quota for *its* category has room.
    #[test]
    fn adr0006_p6_order_505_paid_and_out_of_turn_each_have_their_quota() {
        let mut bookings = vec![("paid-1", PAID, 9), ("paid-2", PAID, 9)];
        let out_of_turn: Vec<String> = (1..=6).map(|i| format!("oot-{i}")).collect();
        bookings.extend(out_of_turn.iter().map(|id| (id.as_str(), PERISHABLE, 10)));
        let mut input = change(100, 10, &bookings);
        input.policy = Arc::new(split_on(next(-365), next(-1)));
        // Day +1 (capacity 60): out-of-turn 3, paid 0.6 → 0. Day +2 (capacity 100): paid 1.
        input.following[1] = day(next(2), 100, 10);
        check(
            input,
            Expect {
                stay: &["paid-1", "oot-1", "oot-2", "oot-3", "oot-4", "oot-5"],
                moved: &[("paid-2", 2, 9), ("oot-6", 1, 9)],
                cancelled: &[],
            },
        );
    }

    /// P6, ADR 0013: a move takes the target day's own edition. The changed day and day +1
    /// are under 15 % for all; from day +2 Order 505's split applies: the perishable booking
    /// goes to day +2 (out-of-turn 5 % of 60 = 3), the paid one past it to day +3, the first
    /// day whose 1 % is a whole booking.
    #[test]
    fn adr0006_p6_order_505_a_move_takes_the_target_days_edition() {
        let mut input = change(
            7,
            3,
            &[
                ("p1", PERISHABLE, 9),
                ("p2", PERISHABLE, 9),
                ("p3", PAID, 9),
            ],
        );
        input.policy = Arc::new(split_on(next(-365), next(2)));
        input.following[0]
            .priority
            .add(PriorityCategory::Perishable, 9);
        input.following[2] = day(next(3), 100, 3);
        check(
            input,
            Expect {
                stay: &["p1"],
                moved: &[("p2", 2, 9), ("p3", 3, 9)],
                cancelled: &[],
            },
        );
    }

    /// P6: a category the day's edition does not serve never fits a day — displaced, and
    /// cancelled with a refund due when no day within the horizon serves it.
    #[test]
    fn adr0006_p6_a_category_no_edition_serves_finds_no_day() {
        let mut input = change(60, 3, &[("p", PAID, 9), ("a", R, 9)]);
        input.policy = Arc::new(test_policy::policy(&[(
            "no-paid",
            next(-365),
            &[("out-of-turn", NOT_PAID, 5.0)],
        )]));
        check(
            input,
            Expect {
                stay: &["a"],
                moved: &[],
                cancelled: &["p"],
            },
        );
    }

    /// ADR 0006 step 3: the same day first (at or after the hour, never before), then the
    /// following days from their first hour, skipping full days.
    #[test]
    fn adr0006_d13_same_day_first_then_following_days() {
        let mut input = change(
            3,
            1,
            &[("a", R, 16), ("b", R, 16), ("c", R, 16), ("d", R, 9)],
        );
        input.following[0].booked = input.following[0].capacity;
        check(
            input,
            Expect {
                stay: &["a", "d"],
                moved: &[("b", 0, 17), ("c", 2, 9)],
                cancelled: &[],
            },
        );
    }

    /// ADR 0006 step 5, P28: nothing left within the horizon → cancelled with a refund due.
    /// Days past the horizon (P22) are never used.
    #[test]
    fn adr0006_p28_nothing_left_within_the_horizon_cancels_with_refund_due() {
        let mut input = change(1, 3, &[("a", R, 10), ("b", R, 10), ("c", R, 17)]);
        input.last = next(1);
        input.following = vec![day(next(1), 1, 3), day(next(2), 60, 3)];
        check(
            input,
            Expect {
                stay: &["a"],
                moved: &[("b", 1, 9)],
                cancelled: &["c"],
            },
        );
    }

    /// ADR 0006, consequences: raising capacity is the same call and moves nobody.
    #[test]
    fn adr0006_d13_raising_capacity_moves_nobody() {
        let bookings = [("p", PERISHABLE, 9), ("a", R, 9), ("b", R, 10)];
        let input = change(100, 3, &bookings);
        let plan = plan(&input);
        check(
            input,
            Expect {
                stay: &["p", "a", "b"],
                moved: &[],
                cancelled: &[],
            },
        );
        assert_eq!((plan.kept.booked, plan.kept.priority.total()), (3, 1));
        assert_eq!(plan.kept.hours[9].booked, 2);
    }
}
