//! Prometheus metrics, rendered by hand in the text exposition format: a handful of
//! counters and one histogram do not justify a metrics framework. Labels carry check ids,
//! adapter ids and outcomes only — never personal data.

use kezek_domain::{CheckId, Decision};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

/// Check outcomes as labelled in metrics.
pub const OUTCOMES: [&str; 4] = ["pass", "fail", "notice", "error"];

/// Upper bounds (seconds) of the verification duration histogram.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// One check's counters: [outcome][cached].
type CheckCounters = [[AtomicU64; 2]; OUTCOMES.len()];

#[derive(Debug, Default)]
pub struct Metrics {
    decisions: [AtomicU64; 3],
    duration_buckets: [AtomicU64; BUCKETS.len()],
    duration_count: AtomicU64,
    duration_sum_us: AtomicU64,
    /// Per check id: [outcome][cached]. Any check a rule set declares (ADR 0018); the ids
    /// come from the rule sets, never from a request, so the labels stay few. The hot path
    /// takes the read lock and an atomic add; only a check's first outcome writes.
    checks: RwLock<HashMap<CheckId, CheckCounters>>,
    /// (adapter, ok) → count.
    registry_calls: Mutex<BTreeMap<(String, bool), u64>>,
    /// Verifications answered 503 because no sandbox slot was free in time.
    overloaded: AtomicU64,
    handler_panics: AtomicU64,
}

impl Metrics {
    pub fn verification(&self, decision: Decision, took: Duration) {
        let i = match decision {
            Decision::Approved => 0,
            Decision::Refused => 1,
            Decision::Indeterminate => 2,
        };
        self.decisions[i].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        for (bucket, bound) in self.duration_buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.duration_count.fetch_add(1, Ordering::Relaxed);
        self.duration_sum_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn check(&self, check: &CheckId, outcome: &str, cached: bool) {
        let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) else {
            return;
        };
        let count = |counters: &CheckCounters| {
            counters[i][usize::from(cached)].fetch_add(1, Ordering::Relaxed);
        };
        if let Some(counters) = self.checks.read().expect("metrics").get(check) {
            count(counters);
            return;
        }
        count(
            self.checks
                .write()
                .expect("metrics")
                .entry(check.clone())
                .or_default(),
        );
    }

    /// An HTTP handler panicked and was answered 500 (the edge counts it here).
    pub fn handler_panicked(&self) {
        self.handler_panics.fetch_add(1, Ordering::Relaxed);
    }

    pub fn overloaded(&self) {
        self.overloaded.fetch_add(1, Ordering::Relaxed);
    }

    pub fn registry_call(&self, adapter: &str, ok: bool) {
        *self
            .registry_calls
            .lock()
            .expect("metrics")
            .entry((adapter.to_owned(), ok))
            .or_default() += 1;
    }

    /// Calls made to a registry's adapter so far (tests and benchmarks use it).
    pub fn registry_calls(&self, adapter: &str) -> u64 {
        self.registry_calls
            .lock()
            .expect("metrics")
            .iter()
            .filter(|((a, _), _)| a == adapter)
            .map(|(_, n)| n)
            .sum()
    }

    /// The text exposition, plus gauges the caller knows (cache, adapters).
    pub fn render(&self, extra: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP kezek_verifications_total Verifications decided, by decision.\n# TYPE kezek_verifications_total counter\n");
        for (name, i) in [("approved", 0), ("refused", 1), ("indeterminate", 2)] {
            let _ = writeln!(
                out,
                "kezek_verifications_total{{decision=\"{name}\"}} {}",
                self.decisions[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP kezek_verifications_overloaded_total Verifications not decided: no sandbox slot was free in time.\n# TYPE kezek_verifications_overloaded_total counter\nkezek_verifications_overloaded_total {}",
            self.overloaded.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP kezek_http_handler_panics_total Requests whose handler panicked, answered 500.\n# TYPE kezek_http_handler_panics_total counter\nkezek_http_handler_panics_total {}",
            self.handler_panics.load(Ordering::Relaxed)
        );
        out.push_str("# HELP kezek_verification_duration_seconds Time to decide a verification.\n# TYPE kezek_verification_duration_seconds histogram\n");
        for (bucket, bound) in self.duration_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "kezek_verification_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.duration_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "kezek_verification_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "kezek_verification_duration_seconds_sum {}",
            self.duration_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "kezek_verification_duration_seconds_count {count}");
        out.push_str("# HELP kezek_checks_total Check outcomes, by check id, outcome and cache use.\n# TYPE kezek_checks_total counter\n");
        let checks = self.checks.read().expect("metrics");
        let mut ids: Vec<&CheckId> = checks.keys().collect();
        ids.sort();
        for check in ids {
            for (outcome, by_cached) in OUTCOMES.iter().zip(&checks[check]) {
                for (cached, n) in [false, true].iter().zip(by_cached) {
                    let n = n.load(Ordering::Relaxed);
                    if n > 0 {
                        let _ = writeln!(
                            out,
                            "kezek_checks_total{{check=\"{check}\",outcome=\"{outcome}\",cached=\"{cached}\"}} {n}"
                        );
                    }
                }
            }
        }
        drop(checks);
        out.push_str("# HELP kezek_registry_calls_total Adapter calls that reached the host, by adapter and success.\n# TYPE kezek_registry_calls_total counter\n");
        for ((adapter, ok), n) in self.registry_calls.lock().expect("metrics").iter() {
            let _ = writeln!(
                out,
                "kezek_registry_calls_total{{adapter=\"{adapter}\",ok=\"{ok}\"}} {n}"
            );
        }
        for (name, help, value) in extra {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ADR 0018: any declared check is counted under its id, P18 or not, in natural order.
    #[test]
    fn checks_are_counted_by_id() {
        let metrics = Metrics::default();
        let id = |text: &str| text.parse::<CheckId>().unwrap();
        metrics.check(&id("P18.10"), "fail", false);
        metrics.check(&id("O505.ADR"), "pass", false);
        metrics.check(&id("O505.ADR"), "pass", false);
        metrics.check(&id("O505.ADR"), "pass", true);
        metrics.check(&id("P18.2"), "error", false);
        metrics.check(&id("P18.2"), "no-such-outcome", false);
        let text = metrics.render(&[]);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("kezek_checks_total{"))
            .collect();
        assert_eq!(
            lines,
            [
                r#"kezek_checks_total{check="O505.ADR",outcome="pass",cached="false"} 2"#,
                r#"kezek_checks_total{check="O505.ADR",outcome="pass",cached="true"} 1"#,
                r#"kezek_checks_total{check="P18.2",outcome="error",cached="false"} 1"#,
                r#"kezek_checks_total{check="P18.10",outcome="fail",cached="false"} 1"#,
            ]
        );
    }
}
