//! Rule tests of the booking engine: the same tests against both databases. Each rule test
//! is a function of its `Backend`; `on_both_databases!` at the end makes `<test>::sqlite`
//! and `<test>::postgres`, the latter ignored unless PostgreSQL is there
//! ([`kezek_store::testing`]).

use super::testing::{Script, ScriptedVerifier, sample_application};
use super::*;
use crate::checkpoints::Catalogue;
use crate::engine::{CreateRequest, DayAvailability, Payment, RescheduleRequest, SlotRequest};
use crate::policy::test_policy::{self, order_707_as_published, split_on};
use kezek_domain::clock::ManualClock;
use kezek_store::testing::{self, Backend};
use kezek_store::{Store, StoreConfig};
use std::sync::Arc;
use time::Date;
use time::macros::{datetime, offset};

struct Rig {
    name: &'static str,
    engine: Arc<BookingEngine>,
    clock: Arc<ManualClock>,
    verifier: Arc<ScriptedVerifier>,
    _dir: Option<tempfile::TempDir>,
}

/// 2026-06-01 08:30 in Kazakhstan (+05:00).
const NOW: time::OffsetDateTime = datetime!(2026-06-01 03:30 UTC);

/// The rig clock's date in Kazakhstan (+05:00), `n` days on.
fn today_plus(n: i64) -> Date {
    NOW.to_offset(offset!(+5)).date() + time::Duration::days(n)
}

/// Two test checkpoints, round the clock, plus the real catalogue: RU-SMALL, 60 a day and 3
/// an hour; RU-MID, 100 a day and 5 an hour (P6: 1 % of it is one booking).
fn catalogue() -> Catalogue {
    let mut c = Catalogue::embedded();
    let aksai = c.get("RU-AKSAI").unwrap().clone();
    for (code, daily, hourly) in [("RU-SMALL", 60, 3), ("RU-MID", 100, 5)] {
        let mut cp = aksai.clone();
        cp.code = code.into();
        cp.daily_capacity = daily;
        cp.hourly_capacity = hourly;
        c.checkpoints.insert(cp.code.clone(), cp);
    }
    c
}

/// A rig on `backend`, with its own database, under the P6 policy its config names.
async fn rig_on(backend: Backend, config: BookingConfig) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = backend.store(dir.path(), "b");
    rig(backend.name(), &store, config, Some(dir)).await
}

/// A rig on `backend` under the P6 `policy` given (ADR 0013).
async fn rig_under(backend: Backend, config: BookingConfig, policy: PriorityPolicy) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = backend.store(dir.path(), "b");
    rig_with(backend.name(), &store, config, Some(policy), Some(dir)).await
}

async fn rig(
    name: &'static str,
    store: &StoreConfig,
    config: BookingConfig,
    dir: Option<tempfile::TempDir>,
) -> Rig {
    rig_with(name, store, config, None, dir).await
}

/// `policy`: the P6 policy; `None`, the one the config names, loaded as `start` loads it.
async fn rig_with(
    name: &'static str,
    store: &StoreConfig,
    config: BookingConfig,
    policy: Option<PriorityPolicy>,
    dir: Option<tempfile::TempDir>,
) -> Rig {
    let clock = Arc::new(ManualClock::new(NOW));
    let verifier = Arc::new(ScriptedVerifier::new(Script::Approve));
    let store = Arc::new(Store::open(store).await.unwrap());
    let policy = policy
        .unwrap_or_else(|| PriorityPolicy::open(config.priority.editions.as_deref()).unwrap());
    let engine = Arc::new(
        BookingEngine::new(
            config,
            Arc::new(catalogue()),
            store,
            verifier.clone(),
            clock.clone(),
        )
        .with_policy(Arc::new(policy)),
    );
    Rig {
        name,
        engine,
        clock,
        verifier,
        _dir: dir,
    }
}

fn cfg() -> BookingConfig {
    let mut c = BookingConfig::default();
    c.rate_limits.account_per_minute = 1_000_000;
    c.rate_limits.vehicle_per_minute = 1_000_000;
    c
}

fn req(cp: &str, date: &str, hour: Option<u8>, plate: &str, vin: &str) -> CreateRequest {
    CreateRequest {
        account: "acc-1".into(),
        application: sample_application(cp, date, plate, vin),
        slot: match hour {
            Some(h) => SlotRequest {
                date: Some(date.into()),
                hour: Some(h),
                ..Default::default()
            },
            None => SlotRequest {
                first_free: Some(true),
                ..Default::default()
            },
        },
        priority: None,
        payment: None,
    }
}

fn rule(e: BookingError) -> &'static str {
    e.rule_id().unwrap_or_else(|| panic!("no rule in {e:?}"))
}

async fn p20_tickets_are_sequential_per_checkpoint_day_with_an_interval(backend: Backend) {
    let r = rig_on(backend, cfg()).await;
    let a = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-02",
                Some(10),
                "001AAA01",
                "VIN00000000000001",
            ),
            None,
        )
        .await
        .unwrap()
        .booking;
    let b = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-02",
                Some(11),
                "002AAA01",
                "VIN00000000000002",
            ),
            None,
        )
        .await
        .unwrap()
        .booking;
    let c = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-03",
                Some(11),
                "003AAA01",
                "VIN00000000000003",
            ),
            None,
        )
        .await
        .unwrap()
        .booking;
    let ta = a.ticket.unwrap();
    assert_eq!(ta.number, "RU-SMALL-20260602-00001", "{}", r.name);
    assert_eq!(b.ticket.unwrap().sequence, 2);
    assert_eq!(c.ticket.unwrap().sequence, 1, "numbering restarts per day");
    assert_eq!(ta.interval.from, "2026-06-02T10:00:00+05:00");
    assert_eq!(ta.interval.to, "2026-06-02T11:00:00+05:00");
    assert_eq!(a.status, "active");
}

async fn p16_first_free_slot_skips_full_hours_and_days(backend: Backend) {
    let r = rig_on(backend, cfg()).await;
    // Today is 2026-06-01 08:30: the first free interval is 09:00 today.
    let first = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-01",
                None,
                "101AAA01",
                "VIN00000000000101",
            ),
            None,
        )
        .await
        .unwrap()
        .booking;
    assert_eq!(
        (first.slot.date.as_str(), first.slot.hour),
        ("2026-06-01", 9),
        "{}",
        r.name
    );
    for i in 0..2 {
        r.engine
            .create(
                req(
                    "RU-SMALL",
                    "2026-06-01",
                    Some(9),
                    &format!("1{i}2AAA01"),
                    &format!("VIN0000000000020{i}"),
                ),
                None,
            )
            .await
            .unwrap();
    }
    let e = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-01",
                Some(9),
                "1X2AAA01",
                "VIN0000000000020X",
            ),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(rule(e), "P22", "09:00 is full");
    let d = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-01",
                None,
                "105AAA01",
                "VIN00000000000105",
            ),
            None,
        )
        .await
        .unwrap()
        .booking;
    assert_eq!(d.slot.hour, 10, "09:00 holds 3");
}

async fn p22_at_most_90_days_ahead_and_p16_not_in_the_past(backend: Backend) {
    let r = rig_on(backend, cfg()).await;
    let e = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-08-31",
                Some(10),
                "201AAA01",
                "VIN00000000000201",
            ),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(rule(e), "P22", "{}", r.name);
    r.engine
        .create(
            req(
                "RU-SMALL",
                "2026-08-30",
                Some(10),
                "202AAA01",
                "VIN00000000000202",
            ),
            None,
        )
        .await
        .unwrap();
    let e = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-01",
                Some(8),
                "203AAA01",
                "VIN00000000000203",
            ),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(rule(e), "P16");
    // A daytime checkpoint is closed at night.
    let e = r
        .engine
        .create(
            req(
                "CN-BAKHTY",
                "2026-06-02",
                Some(22),
                "204AAA01",
                "VIN00000000000204",
            ),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(rule(e), "P16");
}

/// P16 and P22 around local midnight: the checkpoint's calendar decides, not UTC's. At
/// 18:59:59 UTC it is 23:59:59 at a +05:00 checkpoint; one second later it is tomorrow there.
/// P22, issue 11: availability asked for a day past the horizon — the year 9999 included,
/// where adding days overflows the calendar — is a 422 naming `/from`, not a panic.
async fn p22_availability_past_the_horizon_is_refused(backend: Backend) {
    let r = rig_on(backend, cfg()).await;
    for from in ["9999-12-31", "2026-12-31"] {
        let err = r
            .engine
            .availability("RU-SMALL", Some(from), 31)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, BookingError::Rule { rule: "P22", status: 422, pointer: Some(p), .. } if p == "/from"),
            "{from}: {err:?}"
        );
    }
    let last = r
        .engine
        .availability("RU-SMALL", Some("2026-08-30"), 31)
        .await
        .unwrap();
    assert_eq!(last.len(), 1, "the horizon's last day alone");
}

async fn p16_p22_around_local_midnight(backend: Backend) {
    let r = rig_on(backend, cfg()).await;
    // (now in UTC, booked date and hour, the rule that refuses it or None)
    let cases: &[(time::OffsetDateTime, &str, u8, Option<&str>)] = &[
        (
            datetime!(2026-06-01 18:59:59 UTC),
            "2026-06-01",
            23,
            Some("P16"),
        ),
        (datetime!(2026-06-01 18:59:59 UTC), "2026-06-02", 0, None),
        (
            datetime!(2026-06-01 19:00 UTC),
            "2026-06-01",
            23,
            Some("P16"),
        ),
        (
            datetime!(2026-06-01 19:00 UTC),
            "2026-06-02",
            0,
            Some("P16"),
        ),
        (datetime!(2026-06-01 19:00 UTC), "2026-06-02", 1, None),
        // The horizon moves with the local date: 2026-08-31 is day 90 from 2026-06-02.
        (
            datetime!(2026-06-01 18:59:59 UTC),
            "2026-08-31",
            10,
            Some("P22"),
        ),
        (datetime!(2026-06-01 19:00 UTC), "2026-08-31", 10, None),
    ];
    for (i, &(now, date, hour, expect)) in cases.iter().enumerate() {
        r.clock.set(now);
        let plate = format!("{i}MID01");
        let result = r
            .engine
            .create(
                req(
                    "RU-SMALL",
                    date,
                    Some(hour),
                    &plate,
                    &format!("VINMIDNIGHT{i:06}"),
                ),
                None,
            )
            .await;
        assert_eq!(
            result.err().map(rule),
            expect,
            "{}: at {now}, {date} hour {hour}",
            r.name
        );
    }
}

async fn p21_one_active_booking_per_vehicle_by_plate_and_by_vin(backend: Backend) {
    let r = rig_on(backend, cfg()).await;
    let a = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-02",
                Some(10),
                "301 АВС 01",
                "VIN00000000000301",
            ),
            None,
        )
        .await
        .unwrap()
        .booking;
    // Same plate spelled differently, other VIN.
    let e = r
        .engine
        .create(
            req(
                "CN-DOSTYK",
                "2026-06-05",
                Some(10),
                "301abc01",
                "VIN00000000000999",
            ),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(rule(e), "P21", "{}", r.name);
    // Other plate, same VIN.
    let e = r
        .engine
        .create(
            req(
                "CN-DOSTYK",
                "2026-06-05",
                Some(10),
                "399ZZZ01",
                "vin00000000000301",
            ),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(rule(e), "P21");
    r.engine.cancel(&a.id, "acc-1").await.unwrap();
    r.engine
        .create(
            req(
                "CN-DOSTYK",
                "2026-06-05",
                Some(10),
                "301ABC01",
                "VIN00000000000301",
            ),
            None,
        )
        .await
        .unwrap();
}

async fn p20_verification_before_a_slot_is_held_refusal_reasons_and_unknown_is_never_yes(
    backend: Backend,
) {
    let r = rig_on(backend, cfg()).await;
    r.verifier.script_plate(
        "401AAA01",
        Script::Refuse(vec![(9, "tax-debt".into()), (4, "vehicle-wanted".into())]),
    );
    let e = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-02",
                Some(10),
                "401AAA01",
                "VIN00000000000401",
            ),
            None,
        )
        .await
        .unwrap_err();
    match &e {
        BookingError::Refused(v) => assert_eq!(v.checks.len(), 2),
        other => panic!("{other:?}"),
    }
    r.verifier.script_plate("402AAA01", Script::Indeterminate);
    let e = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-02",
                Some(10),
                "402AAA01",
                "VIN00000000000402",
            ),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            BookingError::Indeterminate {
                retry_after_s: Some(60),
                ..
            }
        ),
        "{}",
        r.name
    );
    let day = r
        .engine
        .availability("RU-SMALL", Some("2026-06-02"), 1)
        .await
        .unwrap();
    assert_eq!(
        day[0].booked, 0,
        "no slot was held for refused or undecided applications"
    );
}

async fn p36_owner_only_and_drivers_can_be_added(backend: Backend) {
    let r = rig_on(backend, cfg()).await;
    let a = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-02",
                Some(10),
                "501AAA01",
                "VIN00000000000501",
            ),
            None,
        )
        .await
        .unwrap()
        .booking;
    let e = r.engine.cancel(&a.id, "someone-else").await.unwrap_err();
    assert_eq!(rule(e), "P36", "{}", r.name);
    let extra = sample_application("RU-SMALL", "2026-06-02", "x", "y").drivers;
    let b = r.engine.add_drivers(&a.id, "acc-1", extra).await.unwrap();
    assert_eq!(b.trusted_drivers, 2);
    assert_eq!((b.checkpoint, b.vehicle), (a.checkpoint, a.vehicle));
}

/// A priority booking of `category` on `date` at `hour` (the first free hour if `None`),
/// vehicle number `i`, with the evidence the category needs (P6): perishable goods by class
/// and HS code, a paid priority fee of 1 KZT.
fn priority_req(
    cp: &str,
    date: &str,
    hour: Option<u8>,
    i: usize,
    category: PriorityCategory,
) -> CreateRequest {
    let mut q = req(
        cp,
        date,
        hour,
        &format!("{i:03}PQR01"),
        &format!("VINPRIORITY{i:06}"),
    );
    match category {
        PriorityCategory::Perishable => {
            q.application.cargo.classes = vec![kezek_domain::CargoClass::Perishable];
            q.application.cargo.hs_codes = vec!["080810".into()]; // apples
        }
        PriorityCategory::Paid => {
            q.payment = Some(Payment {
                reference: format!("priority-{i}"),
                amount_kzt: 1,
            });
        }
        _ => {}
    }
    q.priority = Some(category);
    q
}

/// The P6 refusal's detail, or a panic naming what came instead.
fn p6_detail(e: BookingError) -> String {
    match e {
        BookingError::Rule {
            rule: "P6", detail, ..
        } => detail,
        e => panic!("expected a P6 refusal, got {e:?}"),
    }
}

/// P6 as amended by Order 505 (in force 2025-09-23), the compiled-in policy: on a day after
/// it, out-of-turn bookings are capped at 5 % of the day's actual capacity (60 → 3), and the
/// refusal names the quota, its percentage and the edition. Evidence still decides who may
/// ask (animals need animals; AEO the list).
async fn p6_order_505_out_of_turn_capped_at_5_percent_of_actual_capacity(backend: Backend) {
    let r = rig_on(backend, cfg()).await;
    let day = today_plus(1).to_string();
    let mut ok = 0;
    let mut last = None;
    for i in 0..12 {
        let q = priority_req(
            "RU-SMALL",
            &day,
            Some(i as u8 + 1),
            600 + i,
            PriorityCategory::Perishable,
        );
        match r.engine.create(q, None).await {
            Ok(_) => ok += 1,
            Err(e) => last = Some(p6_detail(e)),
        }
    }
    assert_eq!(ok, 3, "{}: 5 % of 60", r.name);
    let last = last.unwrap();
    for part in ["out-of-turn quota", "5 %", "order-505", "Order No. 505"] {
        assert!(last.contains(part), "{part}: {last}");
    }
    let avail = r
        .engine
        .availability("RU-SMALL", Some(&day), 1)
        .await
        .unwrap();
    assert_eq!(avail[0].priority_edition.as_deref(), Some("order-505"));
    assert_eq!((avail[0].priority_cap, avail[0].priority_free), (3, 0));
    // Evidence: animals without animals is refused; AEO needs the list.
    let next = today_plus(2).to_string();
    let mut q = req("RU-SMALL", &next, Some(5), "690AAA01", "VIN00000000000690");
    q.priority = Some(PriorityCategory::Animals);
    assert_eq!(rule(r.engine.create(q, None).await.unwrap_err()), "P6");
    let mut q = req("RU-SMALL", &next, Some(5), "691AAA01", "VIN00000000000691");
    q.priority = Some(PriorityCategory::Aeo);
    assert_eq!(
        rule(r.engine.create(q.clone(), None).await.unwrap_err()),
        "P6"
    );
    r.engine
        .set_priority_list(
            PriorityCategory::Aeo,
            vec![("KZ".into(), "691AAA01".into())],
        )
        .await
        .unwrap();
    assert_eq!(
        r.engine
            .create(q, None)
            .await
            .unwrap()
            .booking
            .priority
            .as_deref(),
        Some("aeo")
    );
}

/// P6, ADR 0013: the caps are configuration — `[booking.priority] editions` names a policy
/// file that replaces the compiled-in one, and `categories` says which are served at all. A
/// category the config does not serve is refused; one the day's edition has no quota for is
/// refused naming the edition; paid takes its own 5 % here (60 → 3).
async fn p6_cap_and_categories_are_configuration(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p6.json");
    std::fs::write(
        &file,
        test_policy::document(&[(
            "local-paid-only",
            today_plus(-10),
            &[("paid", &["paid"], 5.0)],
        )]),
    )
    .unwrap();
    let mut c = cfg();
    c.priority.editions = Some(file);
    // P6.4: paid priority exists only with a priority fee to pay.
    c.priority_fee_kzt = 1;
    c.priority.categories = vec![PriorityCategory::Paid, PriorityCategory::Aeo];
    let r = rig_on(backend, c).await;
    let day = today_plus(1).to_string();
    let mut q = req("RU-SMALL", &day, Some(3), "701AAA01", "VIN00000000000701");
    q.application.cargo.classes = vec![kezek_domain::CargoClass::Dangerous];
    q.priority = Some(PriorityCategory::Dangerous);
    let e = r.engine.create(q, None).await.unwrap_err();
    assert!(p6_detail(e).contains("not an out-of-turn category here"));
    let mut q = req("RU-SMALL", &day, Some(3), "702AAA01", "VIN00000000000702");
    q.priority = Some(PriorityCategory::Aeo);
    let e = p6_detail(r.engine.create(q, None).await.unwrap_err());
    assert!(e.contains("under local-paid-only"), "{e}");
    let mut n = 0;
    for i in 0..5 {
        let q = priority_req(
            "RU-SMALL",
            &day,
            Some(4 + i as u8),
            710 + i,
            PriorityCategory::Paid,
        );
        if r.engine.create(q, None).await.is_ok() {
            n += 1;
        }
    }
    assert_eq!(n, 3, "{}: 5 % of 60", r.name);
}

/// P6, Order 505, ADR 0013: a day takes the caps of the edition in force *on it* — the
/// booked day, not today. The test policy is amended three days after the rig's today: the
/// day before still allows 15 % for all seven categories together; from the day of the
/// amendment on, out-of-turn 5 % and paid 1 % apart. Paid fills its 1 % while out-of-turn
/// has room, and out-of-turn its 5 % while paid has room; a cancellation gives the place
/// back to its own quota.
async fn p6_order_505_a_day_takes_the_caps_of_the_edition_in_force_on_it(backend: Backend) {
    use PriorityCategory::{Paid, Perishable};
    let amended = today_plus(3);
    let policy = split_on(today_plus(-365), amended);
    let r = rig_under(backend, paid_priority(), policy).await;
    let mut vehicle = 0;
    let mut book = |day: Date, category: PriorityCategory| {
        vehicle += 1;
        let q = priority_req(
            "RU-MID",
            &day.to_string(),
            Some((vehicle % 20) as u8 + 1),
            vehicle,
            category,
        );
        let engine = r.engine.clone();
        async move { engine.create(q, None).await.map(|c| c.booking) }
    };

    // The day before: 15 % of 100, all categories together.
    let before = amended - time::Duration::days(1);
    let early = book(before, Perishable).await.unwrap();
    for _ in 1..14 {
        book(before, Perishable).await.unwrap();
    }
    book(before, Paid).await.unwrap();
    for category in [Perishable, Paid] {
        let e = p6_detail(book(before, category).await.unwrap_err());
        for part in ["out-of-turn quota", "15 %", "as-published"] {
            assert!(e.contains(part), "{}: {part}: {e}", r.name);
        }
    }

    // The day of the amendment: paid fills its 1 % while out-of-turn still has room…
    let paid = book(amended, Paid).await.unwrap();
    let e = p6_detail(book(amended, Paid).await.unwrap_err());
    for part in ["paid quota", "1 %", "amended"] {
        assert!(e.contains(part), "{}: {part}: {e}", r.name);
    }
    for _ in 0..5 {
        book(amended, Perishable).await.unwrap();
    }
    let e = p6_detail(book(amended, Perishable).await.unwrap_err());
    assert!(e.contains("out-of-turn quota") && e.contains("5 %"), "{e}");

    // …and the day after: out-of-turn fills its 5 % while paid still has room.
    let after = amended + time::Duration::days(1);
    for _ in 0..5 {
        book(after, Perishable).await.unwrap();
    }
    assert_eq!(rule(book(after, Perishable).await.unwrap_err()), "P6");
    book(after, Paid).await.unwrap();

    // Availability says the same, per quota of each day's edition.
    let days = r
        .engine
        .availability("RU-MID", Some(&before.to_string()), 3)
        .await
        .unwrap();
    let quotas = |d: &DayAvailability| -> Vec<(String, i64, i64)> {
        d.priority_quotas
            .iter()
            .map(|q| (q.id.clone(), q.cap, q.free))
            .collect()
    };
    assert_eq!(days[0].priority_edition.as_deref(), Some("as-published"));
    assert_eq!(quotas(&days[0]), [("out-of-turn".to_owned(), 15, 0)]);
    assert_eq!(days[1].priority_edition.as_deref(), Some("amended"));
    assert_eq!(
        quotas(&days[1]),
        [("out-of-turn".to_owned(), 5, 0), ("paid".to_owned(), 1, 0)]
    );
    assert_eq!((days[1].priority_cap, days[1].priority_free), (6, 0));

    // A cancelled paid booking gives its place back to the paid quota, not to out-of-turn.
    r.engine.cancel(&paid.id, "acc-1").await.unwrap();
    assert_eq!(rule(book(amended, Perishable).await.unwrap_err()), "P6");
    book(amended, Paid).await.unwrap();

    // A reschedule meets the quota of its new day's edition, and gives its old place back.
    let to = |day: Date| RescheduleRequest {
        account: "acc-1".into(),
        slot: SlotRequest {
            date: Some(day.to_string()),
            hour: Some(22),
            ..Default::default()
        },
        payment: None,
    };
    let e = r.engine.reschedule(&early.id, to(after)).await.unwrap_err();
    assert!(p6_detail(e).contains("5 %"), "{}", r.name);
    let later = after + time::Duration::days(1);
    let moved = r.engine.reschedule(&early.id, to(later)).await.unwrap();
    assert_eq!(moved.slot.date, later.to_string());
    book(before, Paid).await.unwrap();
    assert_eq!(rule(book(before, Paid).await.unwrap_err()), "P6");
    assert_eq!(priority_count_mismatches(&r).await, 0, "{}", r.name);
}

/// P6, Order 505, under concurrency: 80 vehicles at once ask for out-of-turn and paid places
/// on one day of 100 — exactly 5 and 1 are sold, on SQLite and on PostgreSQL, and the
/// per-category counts agree with the bookings.
async fn p6_order_505_quotas_hold_under_a_storm(backend: Backend) {
    let r = rig_on(backend, paid_priority()).await;
    let sold = p6_storm(std::slice::from_ref(&r)).await;
    assert_eq!(sold, (5, 1), "{}: 5 % and 1 % of 100", r.name);
    assert_eq!(priority_count_mismatches(&r).await, 0, "{}", r.name);
}

/// P6, Order 505, across gateway instances: two engines sharing one PostgreSQL sell the 5 %
/// and the 1 % once between them (the day row's lock is the database's, not a mutex's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: KEZEK_TEST_POSTGRES_URL and --include-ignored"]
async fn p6_order_505_quotas_hold_across_two_instances_sharing_postgres() {
    let pg = testing::postgres(8);
    let a = rig("postgres-a", &pg, paid_priority(), None).await;
    let b = rig("postgres-b", &pg, paid_priority(), None).await;
    assert_eq!(p6_storm(&[a, b]).await, (5, 1), "5 % and 1 % of 100");
}

/// The rule tests' config with paid priority offered (P6.4: a fee of 1 KZT).
fn paid_priority() -> BookingConfig {
    let mut c = cfg();
    c.priority_fee_kzt = 1;
    c
}

/// 80 vehicles, half perishable and half paid, at once for tomorrow at RU-MID (100 a day),
/// spread over `rigs`; every refusal is P6. The out-of-turn and paid bookings sold.
async fn p6_storm(rigs: &[Rig]) -> (usize, usize) {
    let day = today_plus(1).to_string();
    let mut tasks = Vec::new();
    for i in 0..80 {
        let category = if i % 2 == 0 {
            PriorityCategory::Perishable
        } else {
            PriorityCategory::Paid
        };
        let q = priority_req("RU-MID", &day, None, i, category);
        let engine = rigs[i % rigs.len()].engine.clone();
        tasks.push(tokio::spawn(async move {
            (category, engine.create(q, None).await)
        }));
    }
    let (mut perishable, mut paid) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            (PriorityCategory::Paid, Ok(_)) => paid += 1,
            (_, Ok(_)) => perishable += 1,
            (_, Err(e)) => assert_eq!(rule(e), "P6", "{}", rigs[0].name),
        }
    }
    (perishable, paid)
}

/// Days whose per-category P6 counts disagree with the bookings holding a place on them
/// (held, active, completed).
async fn priority_count_mismatches(r: &Rig) -> i64 {
    r.engine
        .store()
        .transact(|tx| -> Result<i64, kezek_store::DbError> {
            tx.query(
                "SELECT COUNT(*) FROM cp_day_priority p WHERE p.booked <> (SELECT COUNT(*) FROM bookings b \
                 WHERE b.checkpoint = p.checkpoint AND b.day = p.day AND b.priority = p.category \
                 AND b.status IN ('held', 'active', 'completed') AND b.hour >= 0)",
                &[],
            )?[0][0]
                .int()
        })
        .await
        .unwrap()
}

/// Migration 3 (ADR 0013) keeps existing data valid: out-of-turn bookings made before it
/// count, per category, against the quotas of their day's edition after it. The store is
/// taken back to its version-2 shape by hand (one `priority_booked` total per day), then
/// reopened and migrated again.
async fn p6_migration_counts_earlier_bookings_by_category(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = backend.store(dir.path(), "m");
    let c = paid_priority();
    let day = today_plus(1).to_string();
    let r = rig_with(backend.name(), &store, c.clone(), None, None).await;
    for (i, category) in [
        PriorityCategory::Perishable,
        PriorityCategory::Perishable,
        PriorityCategory::Paid,
    ]
    .into_iter()
    .enumerate()
    {
        let q = priority_req("RU-MID", &day, Some(10), i, category);
        r.engine.create(q, None).await.unwrap();
    }
    r.engine
        .store()
        .transact(|tx| -> Result<(), kezek_store::DbError> {
            tx.execute(
                "ALTER TABLE cp_days ADD COLUMN priority_booked BIGINT NOT NULL DEFAULT 0",
                &[],
            )?;
            tx.execute(
                "UPDATE cp_days SET priority_booked = (SELECT COALESCE(SUM(booked), 0) FROM \
                 cp_day_priority p WHERE p.checkpoint = cp_days.checkpoint AND p.day = cp_days.day)",
                &[],
            )?;
            tx.execute("DROP TABLE cp_day_priority", &[])?;
            tx.execute("DELETE FROM schema_migrations WHERE version = 3", &[])?;
            Ok(())
        })
        .await
        .unwrap();
    drop(r);
    let r = rig_with(backend.name(), &store, c, None, Some(dir)).await;
    assert_eq!(priority_count_mismatches(&r).await, 0, "{}", r.name);
    let avail = r
        .engine
        .availability("RU-MID", Some(&day), 1)
        .await
        .unwrap();
    let free: Vec<i64> = avail[0].priority_quotas.iter().map(|q| q.free).collect();
    assert_eq!(free, [3, 0], "{}: out-of-turn 5 - 2, paid 1 - 1", r.name);
    let q = priority_req("RU-MID", &day, Some(11), 9, PriorityCategory::Paid);
    assert_eq!(rule(r.engine.create(q, None).await.unwrap_err()), "P6");
}

async fn p23_p27_p28_fees_debt_cancellation_and_reschedules(backend: Backend) {
    let mut c = cfg();
    c.fee_kzt = 5000;
    let r = rig_on(backend, c.clone()).await;
    // P27: debt blocks booking.
    r.engine.set_debt("acc-1", 700).await.unwrap();
    let e = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-02",
                Some(10),
                "801AAA01",
                "VIN00000000000801",
            ),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(rule(e), "P27", "{}", r.name);
    r.engine.set_debt("acc-1", 0).await.unwrap();
    // Unpaid → held; paying confirms; the fee is recorded.
    let held = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-02",
                Some(10),
                "801AAA01",
                "VIN00000000000801",
            ),
            None,
        )
        .await
        .unwrap()
        .booking;
    assert_eq!(
        (held.status.as_str(), held.ticket.is_none()),
        ("held", true)
    );
    let e = r
        .engine
        .pay(
            &held.id,
            "acc-1",
            Payment {
                reference: "p".into(),
                amount_kzt: 10,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(rule(e), "P23");
    let b = r
        .engine
        .pay(
            &held.id,
            "acc-1",
            Payment {
                reference: "bank-1".into(),
                amount_kzt: 5000,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (b.status.as_str(), b.paid_kzt, b.fee_kzt),
        ("active", 5000, 5000)
    );
    // P28: two free reschedules, the third refused.
    for (i, h) in [(1, 12u8), (2, 13)] {
        let b = r
            .engine
            .reschedule(
                &b.id,
                RescheduleRequest {
                    account: "acc-1".into(),
                    slot: SlotRequest {
                        date: Some("2026-06-03".into()),
                        hour: Some(h),
                        ..Default::default()
                    },
                    payment: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(b.reschedules_used, i);
        assert_eq!(b.ticket.unwrap().date, "2026-06-03");
    }
    let e = r
        .engine
        .reschedule(
            &b.id,
            RescheduleRequest {
                account: "acc-1".into(),
                slot: SlotRequest {
                    first_free: Some(true),
                    ..Default::default()
                },
                payment: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(rule(e), "P28");
    // Cancellation keeps the fee.
    let x = r.engine.cancel(&b.id, "acc-1").await.unwrap();
    assert_eq!((x.status.as_str(), x.paid_kzt), ("cancelled", 5000));
    let day = r
        .engine
        .availability("RU-SMALL", Some("2026-06-03"), 1)
        .await
        .unwrap();
    assert_eq!(day[0].booked, 0, "the slot is free again");
    c.extra_reschedule = ExtraReschedule::Charge;
    c.extra_reschedule_fee_kzt = 2000;
    c.free_reschedules = 0;
    let r = rig_on(backend, c).await;
    let b = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-02",
                Some(10),
                "802AAA01",
                "VIN00000000000802",
            ),
            None,
        )
        .await
        .unwrap()
        .booking;
    let b = r
        .engine
        .pay(
            &b.id,
            "acc-1",
            Payment {
                reference: "bank".into(),
                amount_kzt: 5000,
            },
        )
        .await
        .unwrap();
    let slot = SlotRequest {
        date: Some("2026-06-04".into()),
        hour: Some(1),
        ..Default::default()
    };
    let e = r
        .engine
        .reschedule(
            &b.id,
            RescheduleRequest {
                account: "acc-1".into(),
                slot: slot.clone(),
                payment: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(rule(e), "P28");
    let b = r
        .engine
        .reschedule(
            &b.id,
            RescheduleRequest {
                account: "acc-1".into(),
                slot,
                payment: Some(Payment {
                    reference: "bank-2".into(),
                    amount_kzt: 2000,
                }),
            },
        )
        .await
        .unwrap();
    assert_eq!(b.slot.date, "2026-06-04", "{}", r.name);
}

async fn anti_abuse_holds_expire_and_release_the_slot(backend: Backend) {
    let mut c = cfg();
    c.fee_kzt = 100;
    c.hold_ttl_s = 600;
    let r = rig_on(backend, c.clone()).await;
    let held = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-02",
                Some(10),
                "901AAA01",
                "VIN00000000000901",
            ),
            None,
        )
        .await
        .unwrap()
        .booking;
    r.clock.advance(time::Duration::seconds(601));
    assert_eq!(r.engine.expire_holds().await.unwrap(), 1, "{}", r.name);
    assert_eq!(r.engine.get(&held.id).await.unwrap().status, "expired");
    let day = r
        .engine
        .availability("RU-SMALL", Some("2026-06-02"), 1)
        .await
        .unwrap();
    assert_eq!(day[0].booked, 0);
    // Paying an expired hold is refused.
    let again = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-02",
                Some(10),
                "901AAA01",
                "VIN00000000000901",
            ),
            None,
        )
        .await
        .unwrap()
        .booking;
    r.clock.advance(time::Duration::seconds(601));
    let e = r
        .engine
        .pay(
            &again.id,
            "acc-1",
            Payment {
                reference: "late".into(),
                amount_kzt: 100,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(rule(e), "anti-abuse");
    assert_eq!(r.engine.get(&again.id).await.unwrap().status, "expired");
    let mut c = cfg();
    c.rate_limits.vehicle_per_minute = 2;
    let r = rig_on(backend, c).await;
    for _ in 0..2 {
        let _ = r
            .engine
            .create(
                req(
                    "RU-SMALL",
                    "2026-06-02",
                    Some(10),
                    "902AAA01",
                    "VIN00000000000902",
                ),
                None,
            )
            .await;
    }
    let e = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-02",
                Some(10),
                "902AAA01",
                "VIN00000000000902",
            ),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(rule(e.clone()), "anti-abuse");
    assert!(
        matches!(
            e,
            BookingError::Limited {
                retry_after_s: 1..=60,
                ..
            }
        ),
        "429 with the seconds until the minute turns: {e:?}"
    );
}

async fn p35_no_show_annuls_and_frees_the_vehicle(backend: Backend) {
    let r = rig_on(backend, cfg()).await;
    let b = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-01",
                Some(10),
                "A01AAA01",
                "VIN0000000000A001",
            ),
            None,
        )
        .await
        .unwrap()
        .booking;
    r.clock.advance(time::Duration::hours(3)); // 11:30; interval ended 11:00; grace 60 min.
    assert_eq!(r.engine.annul_no_shows().await.unwrap(), 0, "{}", r.name);
    r.clock.advance(time::Duration::minutes(31));
    assert_eq!(r.engine.annul_no_shows().await.unwrap(), 1);
    let b = r.engine.get(&b.id).await.unwrap();
    assert_eq!(b.status, "annulled");
    assert!(b.notifications.iter().any(|n| n.kind == "annulled"));
    r.engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-02",
                Some(10),
                "A01AAA01",
                "VIN0000000000A001",
            ),
            None,
        )
        .await
        .unwrap();
}

/// D13, ADR 0006: priority first, then booking order. Under P6 as Order 707 was published
/// (15 %: a day of 7 keeps one priority place; under Order 505's 5 % it would keep none).
async fn d13_lowering_capacity_moves_priority_first_then_booking_order(backend: Backend) {
    let r = rig_under(backend, cfg(), order_707_as_published(today_plus(-365))).await;
    let mut ids = Vec::new();
    for i in 0..9u8 {
        let mut q = req(
            "RU-SMALL",
            "2026-06-02",
            Some(10 + i / 3),
            &format!("B{i}0AAA01"),
            &format!("VIN0000000000B0{i}"),
        );
        if i == 8 {
            q.application.cargo.classes = vec![kezek_domain::CargoClass::Animal];
            q.application.cargo.hs_codes = vec!["010229".into()]; // live cattle
            q.priority = Some(PriorityCategory::Animals);
        }
        ids.push(r.engine.create(q, None).await.unwrap().booking.id);
        r.clock.advance(time::Duration::seconds(1));
    }
    // Lower to 7 (P6 quota: 1): the priority booking (booked last) and the six earliest
    // keep their places; the two latest regular ones move.
    let report = r
        .engine
        .change_capacity("RU-SMALL", "2026-06-02", 7, None, "road works")
        .await
        .unwrap();
    assert_eq!(report.kept, 7, "{}", r.name);
    let moved: Vec<&str> = report.moved.iter().map(|m| m.booking.as_str()).collect();
    assert_eq!(moved, vec![ids[6].as_str(), ids[7].as_str()]);
    for id in &moved {
        let b = r.engine.get(id).await.unwrap();
        assert_eq!(
            (
                b.status.as_str(),
                b.slot.date.as_str(),
                b.moves,
                b.reschedules_used
            ),
            ("active", "2026-06-03", 1, 0)
        );
        assert!(b.notifications.iter().any(|n| n.kind == "moved"));
    }
    assert_eq!(r.engine.get(&ids[8]).await.unwrap().slot.date, "2026-06-02");
    // A closure of 10:00–11:00 moves the three kept there to later hours of the day.
    let report = r
        .engine
        .change_capacity("RU-SMALL", "2026-06-02", 7, Some((10, 11)), "closure")
        .await
        .unwrap();
    assert_eq!(report.moved.len(), 3, "{report:?}");
    assert!(
        report
            .moved
            .iter()
            .all(|m| m.to.starts_with("2026-06-02T1")),
        "{report:?}"
    );
    let day = r
        .engine
        .availability("RU-SMALL", Some("2026-06-02"), 1)
        .await
        .unwrap();
    assert_eq!(day[0].booked, 7);
    assert!(day[0].hours.iter().all(|h| h.hour != 10));
}

/// D13, ADR 0006 step 5: a displaced booking with no slot left within the horizon (P22) is
/// cancelled and its fee is due back — P28's no-refund rule covers the user's doing only. A
/// held booking moves without a ticket (P20 comes with payment).
async fn d13_no_slot_left_within_the_horizon_cancels_with_the_fee_refund_due(backend: Backend) {
    let mut c = cfg();
    c.fee_kzt = 5000;
    c.horizon_days = 1;
    let r = rig_on(backend, c).await;
    let held = r
        .engine
        .create(
            req(
                "RU-SMALL",
                "2026-06-02",
                Some(10),
                "D01AAA01",
                "VIN0000000000D001",
            ),
            None,
        )
        .await
        .unwrap()
        .booking;
    r.clock.advance(time::Duration::seconds(1));
    let mut q = req(
        "RU-SMALL",
        "2026-06-02",
        Some(10),
        "D02AAA01",
        "VIN0000000000D002",
    );
    q.payment = Some(Payment {
        reference: "pay-d02".into(),
        amount_kzt: 5000,
    });
    let paid = r.engine.create(q, None).await.unwrap().booking;
    assert_eq!(
        (held.status.as_str(), paid.status.as_str()),
        ("held", "active")
    );
    // 10:00 closes and one place is left: the earlier booking takes 11:00; for the later
    // one, 2026-06-03 is past the horizon.
    let report = r
        .engine
        .change_capacity("RU-SMALL", "2026-06-02", 1, Some((10, 11)), "closure")
        .await
        .unwrap();
    assert_eq!(report.kept, 0, "{}: {report:?}", r.name);
    let moved: Vec<&str> = report.moved.iter().map(|m| m.booking.as_str()).collect();
    assert_eq!(moved, vec![held.id.as_str()]);
    assert_eq!(report.moved[0].to, "2026-06-02T11:00:00+05:00");
    assert_eq!(report.cancelled, vec![paid.id.clone()]);
    let h = r.engine.get(&held.id).await.unwrap();
    assert_eq!(
        (h.status.as_str(), h.slot.hour, h.ticket.is_none(), h.moves),
        ("held", 11, true, 1)
    );
    let p = r.engine.get(&paid.id).await.unwrap();
    assert_eq!(p.status, "cancelled");
    assert!(
        p.notifications
            .iter()
            .any(|n| n.kind == "cancelled-by-checkpoint")
    );
    let id = paid.id.clone();
    let refunds = r
        .engine
        .store()
        .transact(move |tx| -> Result<Vec<i64>, kezek_store::DbError> {
            tx.query(
                "SELECT amount_kzt FROM ledger WHERE booking_id = $1 AND kind = 'refund-due'",
                &[(&id).into()],
            )?
            .iter()
            .map(|row| row[0].int())
            .collect()
        })
        .await
        .unwrap();
    assert_eq!(refunds, vec![5000]);
    let day = r
        .engine
        .availability("RU-SMALL", Some("2026-06-02"), 1)
        .await
        .unwrap();
    assert_eq!((day[0].capacity, day[0].booked), (1, 1));
}

async fn idempotency_key_returns_the_same_booking(backend: Backend) {
    let r = rig_on(backend, cfg()).await;
    let q = req(
        "RU-SMALL",
        "2026-06-02",
        Some(10),
        "C01AAA01",
        "VIN0000000000C001",
    );
    let a = r.engine.create(q.clone(), Some("k1".into())).await.unwrap();
    let b = r.engine.create(q.clone(), Some("k1".into())).await.unwrap();
    assert!(!a.replayed && b.replayed, "{}", r.name);
    assert_eq!(a.booking.id, b.booking.id);
    let mut other = q;
    other.slot.hour = Some(11);
    assert_eq!(
        rule(r.engine.create(other, Some("k1".into())).await.unwrap_err()),
        "idempotency"
    );
}

/// DESIGN.md: a confirmed booking is never double-sold. Thousands of simultaneous attempts
/// for the places of one checkpoint-day: exactly the capacity is sold, each vehicle at most
/// once, tickets 1..=capacity without gaps or duplicates, and the rest are refused as full —
/// first-free never spills into a day the applications were not verified for (P20).
async fn storm_no_overbooking_and_no_double_booking_on_both_databases(backend: Backend) {
    let r = rig_on(backend, cfg()).await;
    let attempts = 2000;
    let mut tasks = Vec::new();
    for i in 0..attempts {
        let engine = r.engine.clone();
        // Every vehicle tries twice (two tabs / a bot): P21 must hold too.
        let v = i / 2;
        let mut q = req(
            "RU-SMALL",
            "2026-06-02",
            None,
            &format!("S{v:04}AA01"),
            &format!("VINSTORM{v:09}"),
        );
        q.slot = SlotRequest {
            first_free: Some(true),
            not_before: Some("2026-06-02".into()),
            ..Default::default()
        };
        q.application.travel_date = "2026-06-02".into();
        q.account = format!("acc-{v}");
        tasks.push(tokio::spawn(async move { engine.create(q, None).await }));
    }
    let mut ok = Vec::new();
    let mut p21 = 0;
    let mut full = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(c) => ok.push(c.booking),
            Err(e) if e.rule_id() == Some("P21") => p21 += 1,
            Err(e) if e.rule_id() == Some("P22") => full += 1,
            Err(e) => panic!("{}: {e:?}", r.name),
        }
    }
    assert_eq!(ok.len() + p21 + full, attempts);
    assert_eq!(ok.len(), 60, "{}: the day's capacity is sold", r.name);
    let vehicles: std::collections::BTreeSet<_> = ok.iter().map(|b| b.vehicle.clone()).collect();
    assert_eq!(
        vehicles.len(),
        ok.len(),
        "{}: one booking per vehicle",
        r.name
    );
    // Every booking is on the verified day, which holds 60.
    let mut per_day = std::collections::BTreeMap::<String, Vec<i64>>::new();
    for b in &ok {
        per_day
            .entry(b.slot.date.clone())
            .or_default()
            .push(b.ticket.as_ref().unwrap().sequence);
    }
    assert_eq!(
        per_day.keys().collect::<Vec<_>>(),
        ["2026-06-02"],
        "{}: only the verified day",
        r.name
    );
    for (day, mut seqs) in per_day {
        seqs.sort();
        assert!(
            seqs.len() <= 60,
            "{}: {day} overbooked: {}",
            r.name,
            seqs.len()
        );
        assert_eq!(
            seqs,
            (1..=seqs.len() as i64).collect::<Vec<_>>(),
            "{day}: tickets without gaps"
        );
    }
    let avail = r
        .engine
        .availability("RU-SMALL", Some("2026-06-02"), 20)
        .await
        .unwrap();
    for d in &avail {
        assert!(d.booked <= d.capacity);
        assert!(d.hours.iter().all(|h| h.free >= 0));
    }
}

/// Several gateway instances share one PostgreSQL: two engines, two pools, one schema; the
/// last places are sold once (DESIGN.md; the arbitration is the database's, not a mutex's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: KEZEK_TEST_POSTGRES_URL and --include-ignored"]
async fn storm_across_two_instances_sharing_postgres() {
    let pg = testing::postgres(8);
    let a = rig("postgres-a", &pg, cfg(), None).await;
    let b = rig("postgres-b", &pg, cfg(), None).await;
    let mut tasks = Vec::new();
    for i in 0..400 {
        let engine = if i % 2 == 0 {
            a.engine.clone()
        } else {
            b.engine.clone()
        };
        let mut q = req(
            "RU-SMALL",
            "2026-06-02",
            Some(12),
            &format!("M{i:04}AA01"),
            &format!("VINMULTI{i:09}"),
        );
        q.account = format!("acc-{i}");
        tasks.push(tokio::spawn(async move { engine.create(q, None).await }));
    }
    let mut sold = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(c) => sold.push(c.booking.ticket.unwrap().sequence),
            Err(e) => assert_eq!(e.rule_id(), Some("P22"), "{e:?}"),
        }
    }
    sold.sort();
    assert_eq!(
        sold,
        vec![1, 2, 3],
        "12:00 holds 3, sold once across both instances"
    );
}

/// P20 (issue 10): a booking's day is the day its verification was for. First-free with a
/// not-before after the travel date is refused (it would book a day never verified); one
/// before it, even 0000-01-01, still books the travel date, never an earlier day.
async fn p20_a_booking_lands_only_on_the_verified_day(backend: Backend) {
    let r = rig_on(backend, cfg()).await;
    let mut later = req(
        "RU-SMALL",
        "2026-06-03",
        None,
        "901AAA01",
        "VIN00000000000901",
    );
    later.slot.not_before = Some("2026-06-20".into());
    let e = r.engine.create(later, None).await.unwrap_err();
    assert_eq!(rule(e), "P20", "{}", r.name);
    let mut earlier = req(
        "RU-SMALL",
        "2026-06-03",
        None,
        "902AAA01",
        "VIN00000000000902",
    );
    earlier.slot.not_before = Some("0000-01-01".into());
    let b = r.engine.create(earlier, None).await.unwrap().booking;
    assert_eq!(b.slot.date, "2026-06-03", "{}", r.name);
}

/// `<test>::sqlite` and `<test>::postgres` for each rule test above.
macro_rules! on_both_databases {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            use kezek_store::testing::Backend;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$test(Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs PostgreSQL: KEZEK_TEST_POSTGRES_URL and --include-ignored"]
            async fn postgres() {
                super::$test(Backend::Postgres).await
            }
        }
    )*};
}

on_both_databases!(
    p20_a_booking_lands_only_on_the_verified_day,
    p20_tickets_are_sequential_per_checkpoint_day_with_an_interval,
    p16_first_free_slot_skips_full_hours_and_days,
    p22_at_most_90_days_ahead_and_p16_not_in_the_past,
    p16_p22_around_local_midnight,
    p22_availability_past_the_horizon_is_refused,
    p21_one_active_booking_per_vehicle_by_plate_and_by_vin,
    p20_verification_before_a_slot_is_held_refusal_reasons_and_unknown_is_never_yes,
    p36_owner_only_and_drivers_can_be_added,
    p6_order_505_out_of_turn_capped_at_5_percent_of_actual_capacity,
    p6_cap_and_categories_are_configuration,
    p6_order_505_a_day_takes_the_caps_of_the_edition_in_force_on_it,
    p6_order_505_quotas_hold_under_a_storm,
    p6_migration_counts_earlier_bookings_by_category,
    p23_p27_p28_fees_debt_cancellation_and_reschedules,
    anti_abuse_holds_expire_and_release_the_slot,
    p35_no_show_annuls_and_frees_the_vehicle,
    d13_lowering_capacity_moves_priority_first_then_booking_order,
    d13_no_slot_left_within_the_horizon_cancels_with_the_fee_refund_due,
    idempotency_key_returns_the_same_booking,
    storm_no_overbooking_and_no_double_booking_on_both_databases,
);
