//! Personal data at rest (issue 11 item 5, ADR 0015): the SQLite store (with its WAL and
//! shared-memory files) and the audit anchors are readable by their owner only, also when
//! an older version left them readable; an ended booking keeps its personal fields for the
//! retention period and loses them after it, on the domain clock (P16: a living booking
//! keeps what it holds).

use kezek_booking::checkpoints::Catalogue;
use kezek_booking::engine::{CreateRequest, SlotRequest};
use kezek_booking::testing::{Script, ScriptedVerifier, sample_application};
use kezek_booking::{BookingConfig, BookingEngine};
use kezek_domain::clock::ManualClock;
use kezek_store::audit::{Anchoring, AuditConfig, AuditLog, Entry};
use kezek_store::testing::Backend;
use kezek_store::{DbError, Store, StoreConfig, Val};
use kezek_tests::days;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn side(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    p.into()
}

/// A store with one committed audit record and its anchor, kept open (SQLite removes its
/// WAL and shared-memory files when the last connection closes): every file it made.
async fn write_once(db: &Path, anchors: &Path) -> (AuditLog, Vec<PathBuf>) {
    let store = Arc::new(
        Store::open(&StoreConfig::Sqlite {
            path: db.to_owned(),
            max_group: 8,
        })
        .await
        .unwrap(),
    );
    let log = AuditLog::start(
        store,
        days::test_clock(),
        &AuditConfig::default(),
        Some(Anchoring {
            key: kezek_catalogue::signing::generate_key().unwrap(),
            out: anchors.to_owned(),
            every: 1,
            interval: Duration::from_secs(3600),
        }),
    )
    .await
    .unwrap();
    let entry = Entry::new("decision", &serde_json::json!({ "verification": "v" }));
    log.commit(vec![entry]).await.unwrap();
    // The anchor for entry 1 is written right after its commit, before the next append.
    log.commit(Vec::new()).await.unwrap();
    let files = vec![
        db.to_owned(),
        side(db, "-wal"),
        side(db, "-shm"),
        anchors.to_owned(),
    ];
    (log, files)
}

/// Files of the store and the anchors are created 0600; files left 0644 are tightened
/// when the gateway opens them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_and_anchor_files_are_readable_by_their_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let (db, anchors) = (
        dir.path().join("kezek.sqlite3"),
        dir.path().join("anchors.jsonl"),
    );
    let (_first, files) = write_once(&db, &anchors).await;
    for file in &files {
        assert_eq!(
            mode(file),
            0o600,
            "{} was created readable by others",
            file.display()
        );
    }
    for file in &files {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let _second = write_once(&db, &anchors).await;
    for file in &files {
        assert_eq!(mode(file), 0o600, "{} was not tightened", file.display());
    }
}

/// P16 for the living booking, retention for the ended one: a cancelled booking keeps its
/// application for the retention period, then loses every personal field; an active one
/// is never touched. The clock is moved, no day is waited for.
async fn ended_bookings_lose_personal_fields_after_retention(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(&backend.store(dir.path(), "retention"))
            .await
            .unwrap(),
    );
    let clock = Arc::new(ManualClock::new(days::test_now()));
    let config = BookingConfig {
        personal_data_retention_days: 30,
        ..BookingConfig::default()
    };
    let engine = BookingEngine::new(
        config,
        Arc::new(Catalogue::embedded()),
        store.clone(),
        Arc::new(ScriptedVerifier::new(Script::Approve)),
        clock.clone(),
    );
    let book = |plate: &'static str| CreateRequest {
        account: "acc-retention".into(),
        application: sample_application("RU-AKSAI", &days::ahead(3), plate, &format!("VIN{plate}")),
        slot: SlotRequest {
            first_free: Some(true),
            ..Default::default()
        },
        priority: None,
        payment: None,
    };
    let ended = engine
        .create(book("701AAA01"), None)
        .await
        .unwrap()
        .booking
        .id;
    let living = engine
        .create(book("702AAA01"), None)
        .await
        .unwrap()
        .booking
        .id;
    engine.cancel(&ended, "acc-retention").await.unwrap();

    let row = |id: String| {
        let store = store.clone();
        async move {
            store
                .transact(
                    move |tx| -> Result<(String, String, Option<i64>), DbError> {
                        let r = &tx.query(
                            "SELECT application, plate_key, erased_at FROM bookings WHERE id = $1",
                            &[Val::from(id.as_str())],
                        )?[0];
                        Ok((
                            r[0].text()?.to_owned(),
                            r[1].text()?.to_owned(),
                            r[2].opt_int()?,
                        ))
                    },
                )
                .await
                .unwrap()
        }
    };
    let name = backend.name();
    clock.advance(time::Duration::days(29));
    assert_eq!(
        engine.erase_personal_data().await.unwrap(),
        0,
        "{name}: erased within retention"
    );
    assert!(row(ended.clone()).await.0.contains("701AAA01"), "{name}");

    clock.advance(time::Duration::days(2));
    assert_eq!(engine.erase_personal_data().await.unwrap(), 1, "{name}");
    let (application, plate_key, erased_at) = row(ended.clone()).await;
    let person = sample_application("RU-AKSAI", "-", "701AAA01", "VIN701AAA01");
    for secret in [
        "701AAA01",
        person.owner.name.as_str(),
        person.owner.iin_bin.as_deref().unwrap(),
        person.drivers[0].full_name.as_str(),
        person.drivers[0].phone.as_str(),
        person.drivers[0].document.number.as_str(),
    ] {
        assert!(
            !application.contains(secret),
            "{name}: {secret} kept: {application}"
        );
        assert!(
            !plate_key.contains(secret),
            "{name}: {secret} kept in the plate key"
        );
    }
    assert!(erased_at.is_some(), "{name}");
    assert_eq!(
        engine.get(&ended).await.unwrap().status,
        "cancelled",
        "{name}: the record stays"
    );
    // The living booking keeps what P16 says it holds; a second sweep finds nothing new.
    assert!(
        row(living).await.0.contains("702AAA01"),
        "{name}: an active booking lost its data"
    );
    assert_eq!(engine.erase_personal_data().await.unwrap(), 0, "{name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_bookings_lose_personal_fields_after_retention_on_sqlite() {
    ended_bookings_lose_personal_fields_after_retention(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: KEZEK_TEST_POSTGRES_URL and --include-ignored"]
async fn ended_bookings_lose_personal_fields_after_retention_on_postgres() {
    ended_bookings_lose_personal_fields_after_retention(Backend::Postgres).await
}
