//! Rule tests of the booking engine: the same tests against both databases. Each rule test
//! is a function of its `Backend`; `on_both_databases!` at the end makes `<test>::sqlite`
//! and `<test>::postgres`, the latter ignored unless PostgreSQL is there
//! ([`kezek_store::testing`]).

use super::testing::{Script, ScriptedVerifier, sample_application};
use super::*;
use crate::checkpoints::Catalogue;
use crate::engine::{CreateRequest, Payment, RescheduleRequest, SlotRequest};
use kezek_domain::clock::ManualClock;
use kezek_store::testing::{self, Backend};
use kezek_store::{Store, StoreConfig};
use std::sync::Arc;
use time::macros::datetime;

struct Rig {
    name: &'static str,
    engine: Arc<BookingEngine>,
    clock: Arc<ManualClock>,
    verifier: Arc<ScriptedVerifier>,
    _dir: Option<tempfile::TempDir>,
}

/// 2026-06-01 08:30 in Kazakhstan (+05:00).
const NOW: time::OffsetDateTime = datetime!(2026-06-01 03:30 UTC);

/// One small checkpoint: 10 a day, 2 an hour, round the clock; plus the real catalogue.
fn catalogue() -> Catalogue {
    let mut c = Catalogue::embedded();
    let mut small = c
        .get("KZ-TEST")
        .cloned()
        .unwrap_or_else(|| c.get("RU-AKSAI").unwrap().clone());
    small.code = "RU-SMALL".into();
    small.daily_capacity = 60;
    small.hourly_capacity = 3;
    c.checkpoints.insert(small.code.clone(), small);
    c
}

/// A rig on `backend`, with its own database.
async fn rig_on(backend: Backend, config: BookingConfig) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = backend.store(dir.path(), "b");
    rig(backend.name(), &store, config, Some(dir)).await
}

async fn rig(
    name: &'static str,
    store: &StoreConfig,
    config: BookingConfig,
    dir: Option<tempfile::TempDir>,
) -> Rig {
    let clock = Arc::new(ManualClock::new(NOW));
    let verifier = Arc::new(ScriptedVerifier::new(Script::Approve));
    let store = Arc::new(Store::open(store).await.unwrap());
    let engine = Arc::new(BookingEngine::new(
        config,
        Arc::new(catalogue()),
        store,
        verifier.clone(),
        clock.clone(),
    ));
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

async fn p6_priority_capped_at_15_percent_of_actual_capacity(backend: Backend) {
    let r = rig_on(backend, cfg()).await;
    // RU-SMALL: 60 a day → 9 priority bookings.
    let mut ok = 0;
    let mut last = None;
    for i in 0..12 {
        let mut q = req(
            "RU-SMALL",
            "2026-06-02",
            Some((i % 12) as u8 + 1),
            &format!("6{i:02}AAA01"),
            &format!("VIN000000000006{i:02}"),
        );
        q.application.cargo.classes = vec![kezek_domain::CargoClass::Perishable];
        q.application.cargo.hs_codes = vec!["080810".into()]; // apples
        q.priority = Some(PriorityCategory::Perishable);
        match r.engine.create(q, None).await {
            Ok(_) => ok += 1,
            Err(e) => last = Some(rule(e)),
        }
    }
    assert_eq!(ok, 9, "{}", r.name);
    assert_eq!(last, Some("P6"));
    // Evidence: animals without animals is refused; AEO needs the list.
    let mut q = req(
        "RU-SMALL",
        "2026-06-03",
        Some(5),
        "690AAA01",
        "VIN00000000000690",
    );
    q.priority = Some(PriorityCategory::Animals);
    assert_eq!(rule(r.engine.create(q, None).await.unwrap_err()), "P6");
    let mut q = req(
        "RU-SMALL",
        "2026-06-03",
        Some(5),
        "691AAA01",
        "VIN00000000000691",
    );
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

async fn p6_cap_and_categories_are_configuration(backend: Backend) {
    let mut c = cfg();
    c.priority.cap_percent = 5.0;
    // P6.4: paid priority exists only with a priority fee to pay.
    c.priority_fee_kzt = 1;
    c.priority.categories = vec![PriorityCategory::Paid];
    let r = rig_on(backend, c.clone()).await;
    let mut q = req(
        "RU-SMALL",
        "2026-06-02",
        Some(3),
        "701AAA01",
        "VIN00000000000701",
    );
    q.application.cargo.classes = vec![kezek_domain::CargoClass::Dangerous];
    q.priority = Some(PriorityCategory::Dangerous);
    assert_eq!(
        rule(r.engine.create(q, None).await.unwrap_err()),
        "P6",
        "{}",
        r.name
    );
    let mut n = 0;
    for i in 0..5 {
        let mut q = req(
            "RU-SMALL",
            "2026-06-02",
            Some(4 + i),
            &format!("70{i}BBB01"),
            &format!("VIN0000000000071{i}"),
        );
        q.priority = Some(PriorityCategory::Paid);
        q.payment = Some(Payment {
            reference: format!("pay-{i}"),
            amount_kzt: 1,
        });
        if r.engine.create(q, None).await.is_ok() {
            n += 1;
        }
    }
    assert_eq!(n, 3, "5 % of 60");
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

async fn d13_lowering_capacity_moves_priority_first_then_booking_order(backend: Backend) {
    let r = rig_on(backend, cfg()).await;
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
    p6_priority_capped_at_15_percent_of_actual_capacity,
    p6_cap_and_categories_are_configuration,
    p23_p27_p28_fees_debt_cancellation_and_reschedules,
    anti_abuse_holds_expire_and_release_the_slot,
    p35_no_show_annuls_and_frees_the_vehicle,
    d13_lowering_capacity_moves_priority_first_then_booking_order,
    d13_no_slot_left_within_the_horizon_cancels_with_the_fee_refund_due,
    idempotency_key_returns_the_same_booking,
    storm_no_overbooking_and_no_double_booking_on_both_databases,
);
