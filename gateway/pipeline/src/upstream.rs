//! Upstream protection per registry: a concurrency limit, a circuit breaker, and retries of
//! transient failures within a retry budget. Registry checks are reads, so a retry is safe.

use kezek_domain::{CheckError, Finding};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// Calls in flight per registry.
    pub concurrency: usize,
    /// Consecutive registry failures that open the breaker.
    pub failure_threshold: u32,
    /// How long an open breaker refuses calls before letting one probe through.
    pub open_for: Duration,
    /// Retries allowed as a fraction of first attempts (plus `retry_floor`).
    pub retry_ratio: f64,
    pub retry_floor: f64,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            concurrency: 64,
            failure_threshold: 5,
            open_for: Duration::from_secs(10),
            retry_ratio: 0.1,
            retry_floor: 10.0,
        }
    }
}

#[derive(Debug)]
enum Breaker {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug)]
struct Upstream {
    permits: Semaphore,
    breaker: Mutex<Breaker>,
}

/// What the breaker says about a call about to be made.
enum Admission {
    Go { probe: bool },
    Refuse { retry_after: Duration },
}

#[derive(Debug)]
pub struct Upstreams {
    settings: UpstreamSettings,
    registries: Mutex<HashMap<String, Arc<Upstream>>>,
    /// Retry tokens: each first attempt adds `retry_ratio`, each retry spends one.
    budget: Mutex<f64>,
}

/// Whether a failure is the registry's (counts against the breaker, may be retried), as
/// opposed to the application's or the adapter's.
fn registry_failure(e: &CheckError) -> bool {
    matches!(
        e,
        CheckError::Unavailable(_) | CheckError::Timeout(_) | CheckError::BadResponse(_)
    )
}

impl Upstreams {
    pub fn new(settings: UpstreamSettings) -> Self {
        let floor = settings.retry_floor;
        Self {
            settings,
            registries: Mutex::new(HashMap::new()),
            budget: Mutex::new(floor),
        }
    }

    fn upstream(&self, registry: &str) -> Arc<Upstream> {
        let mut map = self.registries.lock().expect("upstream map");
        map.entry(registry.to_owned())
            .or_insert_with(|| {
                Arc::new(Upstream {
                    permits: Semaphore::new(self.settings.concurrency),
                    breaker: Mutex::new(Breaker::Closed { failures: 0 }),
                })
            })
            .clone()
    }

    /// Seconds until the registry's breaker lets calls through again, if it is open.
    pub fn open_for(&self, registry: &str) -> Option<Duration> {
        let upstream = self.upstream(registry);
        let breaker = upstream.breaker.lock().expect("breaker");
        match *breaker {
            Breaker::Open { until } => Some(until.saturating_duration_since(Instant::now())),
            _ => None,
        }
    }

    /// Runs `call` under the registry's limits; retries one transient failure if the budget
    /// allows.
    pub async fn call<F, Fut>(&self, registry: &str, mut call: F) -> Result<Finding, CheckError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Finding, CheckError>>,
    {
        let upstream = self.upstream(registry);
        {
            let mut budget = self.budget.lock().expect("budget");
            *budget = (*budget + self.settings.retry_ratio).min(self.settings.retry_floor * 10.0);
        }
        let mut attempt = 0;
        loop {
            let probe = match self.admit(&upstream) {
                Admission::Go { probe } => probe,
                Admission::Refuse { retry_after } => {
                    return Err(CheckError::Unavailable(format!(
                        "circuit open for {registry} after repeated failures; retry in {} s",
                        retry_after.as_secs().max(1)
                    )));
                }
            };
            let result = {
                let _permit = upstream
                    .permits
                    .acquire()
                    .await
                    .expect("semaphore is never closed");
                call().await
            };
            self.record(&upstream, probe, &result);
            match &result {
                Err(e) if attempt == 0 && e.is_transient() && self.take_retry() => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                _ => return result,
            }
        }
    }

    fn take_retry(&self) -> bool {
        let mut budget = self.budget.lock().expect("budget");
        if *budget >= 1.0 {
            *budget -= 1.0;
            true
        } else {
            false
        }
    }

    fn admit(&self, upstream: &Upstream) -> Admission {
        let mut breaker = upstream.breaker.lock().expect("breaker");
        match *breaker {
            Breaker::Closed { .. } => Admission::Go { probe: false },
            Breaker::Open { until } if Instant::now() < until => Admission::Refuse {
                retry_after: until - Instant::now(),
            },
            Breaker::Open { .. } | Breaker::HalfOpen { probing: false } => {
                *breaker = Breaker::HalfOpen { probing: true };
                Admission::Go { probe: true }
            }
            Breaker::HalfOpen { probing: true } => Admission::Refuse {
                retry_after: Duration::from_secs(1),
            },
        }
    }

    fn record(&self, upstream: &Upstream, probe: bool, result: &Result<Finding, CheckError>) {
        let mut breaker = upstream.breaker.lock().expect("breaker");
        if matches!(result, Err(e) if e.is_overload()) {
            // The registry was never asked: its breaker learns nothing, but a probe that
            // could not run frees the half-open state for the next one.
            if probe {
                *breaker = Breaker::HalfOpen { probing: false };
            }
            return;
        }
        let failed = matches!(result, Err(e) if registry_failure(e));
        *breaker = match (&*breaker, failed) {
            (_, false) => Breaker::Closed { failures: 0 },
            (Breaker::Closed { failures }, true)
                if failures + 1 < self.settings.failure_threshold =>
            {
                Breaker::Closed {
                    failures: failures + 1,
                }
            }
            (Breaker::HalfOpen { .. }, true) if !probe => Breaker::HalfOpen { probing: true },
            _ => Breaker::Open {
                until: Instant::now() + self.settings.open_for,
            },
        };
    }
}
