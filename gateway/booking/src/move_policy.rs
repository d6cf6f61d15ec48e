//! ADR 0006, the fair move policy of a capacity change (D13), as a pure function: no SQL, no
//! I/O. `change_capacity` reads the rows, calls [`plan`] and writes what it says.
//!
//! 1. Rank the day's bookings: P6 priority first, then booking order.
//! 2. Keep a booking while the day has room under its new capacity, its hour is open and has
//!    room, and — for a priority booking — the P6 quota of the *new* capacity (rounded down)
//!    has room. The rest are displaced.
//! 3. Move the displaced, in rank order, to the first free slot at or after their hour: the
//!    same day first, then the following days within the horizon, the P6 quota applying on
//!    the target day.
//! 4. No slot left: cancelled, fee refund due (not the user's doing, P28 does not apply).

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
    /// P6 bookings counted against the day's quota.
    pub priority_booked: i64,
    pub hours: [HourLoad; 24],
}

impl DayLoad {
    /// P6: the cap on priority bookings, `quota_bp` basis points of the capacity, rounded
    /// down.
    pub fn quota(&self, quota_bp: i64) -> i64 {
        self.capacity * quota_bp / 10_000
    }

    /// Whether one more booking fits the day (and, for priority, its P6 quota).
    fn has_room(&self, priority: bool, quota_bp: i64) -> bool {
        self.booked < self.capacity && (!priority || self.priority_booked < self.quota(quota_bp))
    }

    fn hour_has_room(&self, hour: u8) -> bool {
        let h = self.hours[hour as usize];
        h.booked < h.capacity
    }

    /// The first hour at or after `from` with room.
    fn free_hour(&self, from: u8) -> Option<u8> {
        (from..24).find(|&h| self.hour_has_room(h))
    }

    fn take(&mut self, hour: u8, priority: bool) {
        self.booked += 1;
        self.priority_booked += priority as i64;
        self.hours[hour as usize].booked += 1;
    }
}

/// A booking of the changed day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ranked {
    pub id: String,
    /// P6: served out of turn.
    pub priority: bool,
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
    /// P6 cap, basis points of the capacity.
    pub quota_bp: i64,
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
    pub priority: bool,
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
    ranked.sort_by(|a, b| (!a.priority, &a.order).cmp(&(!b.priority, &b.order)));
    let mut kept = DayLoad {
        day: change.day,
        capacity: change.capacity,
        booked: 0,
        priority_booked: 0,
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
        if kept.has_room(b.priority, change.quota_bp) && kept.hour_has_room(b.hour) {
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
                .has_room(b.priority, change.quota_bp)
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
    //! `per_hour` places each; a booking as (id, priority, hour), booked in the order given
    //! unless the test says otherwise.

    use super::*;
    use time::macros::date;

    const D: Date = date!(2026 - 06 - 02);
    /// P6: 15 %.
    const BP: i64 = 1500;

    fn day(day: Date, capacity: i64, per_hour: i64) -> DayLoad {
        DayLoad {
            day,
            capacity,
            booked: 0,
            priority_booked: 0,
            hours: std::array::from_fn(|h| HourLoad {
                capacity: if (9..18).contains(&h) { per_hour } else { 0 },
                booked: 0,
            }),
        }
    }

    fn next(n: i64) -> Date {
        D + time::Duration::days(n)
    }

    /// `bookings` as (id, priority, hour), in booking order.
    fn change(capacity: i64, per_hour: i64, bookings: &[(&str, bool, u8)]) -> Change {
        Change {
            day: D,
            capacity,
            hour_capacity: day(D, capacity, per_hour).hours.map(|h| h.capacity),
            closed: None,
            quota_bp: BP,
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
            ("a", false, 10),
            ("b", false, 10),
            ("c", false, 10),
            ("d", false, 11),
            ("e", false, 11),
            ("f", false, 11),
            ("g", false, 12),
            ("h", false, 12),
            ("p", true, 12),
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
        let mut input = change(1, 3, &[("late", false, 10), ("early", false, 10)]);
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
            &[
                ("a", false, 10),
                ("b", false, 10),
                ("c", false, 11),
                ("d", false, 12),
            ],
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
        let input = change(13, 3, &[("p1", true, 9), ("p2", true, 9), ("a", false, 9)]);
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
        let mut input = change(7, 3, &[("p1", true, 9), ("p2", true, 9)]);
        input.following[0].priority_booked = input.following[0].quota(BP);
        check(
            input,
            Expect {
                stay: &["p1"],
                moved: &[("p2", 2, 9)],
                cancelled: &[],
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
            &[
                ("a", false, 16),
                ("b", false, 16),
                ("c", false, 16),
                ("d", false, 9),
            ],
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
        let mut input = change(
            1,
            3,
            &[("a", false, 10), ("b", false, 10), ("c", false, 17)],
        );
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
        let bookings = [("p", true, 9), ("a", false, 9), ("b", false, 10)];
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
        assert_eq!((plan.kept.booked, plan.kept.priority_booked), (3, 1));
        assert_eq!(plan.kept.hours[9].booked, 2);
    }
}
