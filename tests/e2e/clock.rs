//! One clock (issue 8): the gateway reads the wall time only through the `Clock` injected at
//! start (`kezek_domain::clock`), so a test that pins the clock pins every date the gateway
//! judges. This scans the gateway's crates (`gateway/`) for any other reader of the system
//! wall time.
//! Monotonic `Instant`s (deadlines, durations) are not wall time and are allowed.

use std::path::{Path, PathBuf};

/// Calls that read the system's wall time.
const WALL_TIME_READERS: &[&str] = &[
    "now_utc(",
    "now_local(",
    "SystemTime::now(",
    "Utc::now(",
    "Local::now(",
];

/// The one file allowed to read it: `SystemClock`.
const THE_CLOCK: &str = "gateway/domain/src/clock.rs";

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_system_clock_reads_the_wall_time() {
    let root = kezek_tests::workspace();
    let mut files = Vec::new();
    rust_files(&root.join("gateway"), &mut files);
    assert!(files.len() > 20, "the scan found too few files: {files:?}");
    let mut offenders = Vec::new();
    for file in &files {
        let relative = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if WALL_TIME_READERS.iter().any(|r| code.contains(r)) && relative != THE_CLOCK {
                offenders.push(format!("{relative}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "read the time from the injected kezek_domain::clock::Clock instead:\n{}",
        offenders.join("\n")
    );
    // The scan itself can fail: the one allowed reader is seen.
    let clock = std::fs::read_to_string(root.join(THE_CLOCK)).unwrap();
    assert!(WALL_TIME_READERS.iter().any(|r| clock.contains(r)));
}

/// Under `scripts/test-any-day` the suite must see the moved day, or the second pass
/// proves nothing: the script passes the date it expects.
#[test]
fn the_suite_runs_on_the_day_it_was_given() {
    if let Ok(expected) = std::env::var("KEZEK_EXPECT_TODAY") {
        assert_eq!(kezek_tests::days::today().to_string(), expected);
    }
}
