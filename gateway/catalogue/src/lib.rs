//! The adapter catalogue: which adapters serve which checks right now, and the rules that
//! use them.
//!
//! Packages live in the adapters directory, one folder each:
//! `<dir>/<id>/{manifest.json, adapter.wasm, adapter.sig}`. A reload reads every package,
//! and for each one that changed: validates the manifest, verifies the signature, compiles,
//! type-checks against the WIT and self-tests. Only then does the new set replace the old
//! one, in one atomic swap. A request holds the [`AdapterSet`] it started with until it
//! ends, so in-flight calls finish on the version they started with. A package that fails
//! any step is refused with the reason, and the version already running keeps serving.
//!
//! Rules and adapters are one set: a rule book that names a check no adapter of the new set
//! serves is refused, and the running one stays; a reload whose adapters would leave a check
//! of the rules in force unserved is refused whole (ADR 0018). At a cold start there is no
//! running book to keep, so a refused one stops the start with its reason.
//!
//! Architecture invariant: a request sees one consistent set of adapters and rules; nothing
//! that failed a step of the reload ever serves. Runs wasm only through kezek-host.

pub mod config;
pub mod rules;
pub mod signing;
mod watch;

use crate::config::AdaptersConfig;
use crate::rules::RuleBook;
use arc_swap::ArcSwap;
use ed25519_dalek::VerifyingKey;
use kezek_domain::CheckId;
use kezek_host::{AdapterHost, LoadedAdapter};
use kezek_manifest::Manifest;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use watch::watch;

/// Previous sets kept for rollback.
const HISTORY: usize = 8;

/// One consistent set of adapters and the rules that use them: a request takes one and
/// keeps it from start to end.
#[derive(Debug, Default)]
pub struct AdapterSet {
    /// Increases with every swap (reload or rollback).
    pub generation: u64,
    pub adapters: BTreeMap<String, Arc<LoadedAdapter>>,
    pub rules: Arc<RuleBook>,
    by_check: BTreeMap<CheckId, Arc<LoadedAdapter>>,
}

impl AdapterSet {
    fn new(
        generation: u64,
        adapters: BTreeMap<String, Arc<LoadedAdapter>>,
        rules: Arc<RuleBook>,
    ) -> Self {
        let mut by_check = BTreeMap::new();
        for adapter in adapters.values() {
            for check in &adapter.descriptor.checks {
                by_check.insert(check.clone(), adapter.clone());
            }
        }
        Self {
            generation,
            adapters,
            rules,
            by_check,
        }
    }

    /// The adapter serving a check, if any.
    pub fn for_check(&self, check: &CheckId) -> Option<&Arc<LoadedAdapter>> {
        self.by_check.get(check)
    }
}

/// A package that was not (re)loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refusal {
    /// The package folder name (the adapter id, by convention).
    pub package: String,
    pub version: Option<String>,
    pub reason: String,
}

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReloadReport {
    pub generation: u64,
    /// (id, version) newly loaded or replaced.
    pub loaded: Vec<(String, String)>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
    pub refused: Vec<Refusal>,
}

impl fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "adapter set generation {}", self.generation)?;
        for (id, version) in &self.loaded {
            writeln!(f, "  loaded     {id} {version}")?;
        }
        for id in &self.unchanged {
            writeln!(f, "  unchanged  {id}")?;
        }
        for id in &self.removed {
            writeln!(f, "  removed    {id}")?;
        }
        for r in &self.refused {
            let version = r.version.as_deref().unwrap_or("?");
            writeln!(f, "  REFUSED    {} {version}: {}", r.package, r.reason)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("reading the adapters directory {0}: {1}")]
    Directory(PathBuf, std::io::Error),
    #[error("there is no earlier adapter set to roll back to")]
    NothingToRollBack,
    /// At a cold start: the rule book was refused and there is none running to keep. A
    /// gateway without its rules could decide nothing (ADR 0018).
    #[error("no rules to start with: {0}")]
    NoRules(String),
}

/// The running adapters, their history, and how to change them.
pub struct Catalogue {
    host: Arc<AdapterHost>,
    dir: PathBuf,
    rules_dir: Option<PathBuf>,
    require_signatures: bool,
    trusted: Vec<VerifyingKey>,
    current: ArcSwap<AdapterSet>,
    state: tokio::sync::Mutex<History>,
}

#[derive(Default)]
struct History {
    previous: Vec<Arc<AdapterSet>>,
    /// Builds (id, component hash) an operator rolled back: reloads skip them until a
    /// different build is deployed.
    rolled_back: HashSet<(String, String)>,
}

impl fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalogue")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Catalogue {
    pub fn new(host: Arc<AdapterHost>, config: &AdaptersConfig) -> anyhow::Result<Self> {
        let trusted = config
            .trusted_keys
            .iter()
            .map(|p| signing::read_verifying_key(p))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if config.require_signatures && trusted.is_empty() {
            anyhow::bail!("adapters.require_signatures is on but adapters.trusted_keys is empty");
        }
        Ok(Self {
            host,
            dir: config.dir.clone(),
            rules_dir: config.rules_dir.clone(),
            require_signatures: config.require_signatures,
            trusted,
            current: ArcSwap::from_pointee(AdapterSet::default()),
            state: tokio::sync::Mutex::new(History::default()),
        })
    }

    /// The set a request should use from start to end.
    pub fn snapshot(&self) -> Arc<AdapterSet> {
        self.current.load_full()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn rules_dir(&self) -> Option<&Path> {
        self.rules_dir.as_deref()
    }

    /// Re-reads the adapters directory and swaps in what changed and passed every check.
    pub async fn reload(&self) -> Result<ReloadReport, CatalogueError> {
        let mut history = self.state.lock().await;
        let current = self.snapshot();
        let mut report = ReloadReport::default();
        let mut next: BTreeMap<String, Arc<LoadedAdapter>> = BTreeMap::new();
        let mut seen_packages = HashSet::new();

        for folder in package_folders(&self.dir)? {
            let package = folder
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            seen_packages.insert(package.clone());
            match self.prepare(&folder, &package, &current, &history).await {
                Ok(Prepared::Unchanged(adapter)) => {
                    report.unchanged.push(adapter.descriptor.id.clone());
                    next.insert(adapter.descriptor.id.clone(), adapter);
                }
                Ok(Prepared::Loaded(adapter)) => {
                    report.loaded.push((
                        adapter.descriptor.id.clone(),
                        adapter.descriptor.version.clone(),
                    ));
                    next.insert(adapter.descriptor.id.clone(), Arc::from(adapter));
                }
                Err(refusal) => {
                    // The running version, if any, keeps serving.
                    if let Some(running) = current.adapters.get(&package) {
                        next.insert(package.clone(), running.clone());
                    }
                    report.refused.push(refusal);
                }
            }
        }
        for id in current.adapters.keys() {
            if !seen_packages.contains(id) && !next.contains_key(id) {
                report.removed.push(id.clone());
            }
        }
        refuse_conflicts(&mut next, &current, &mut report);
        let mut rules = self.reload_rules(&current, &next, &mut report);
        if self.rules_dir.is_some() && rules.sets().is_empty() {
            // A loaded book is never empty: this is a cold start whose rules were refused.
            if let Some(refusal) = report.refused.iter().find(|r| r.package == RULES) {
                return Err(CatalogueError::NoRules(refusal.reason.clone()));
            }
        }
        let unserved = rules.unserved(|check| served(&next, check));
        if !unserved.is_empty() {
            // The rules in force stay, so the adapters they need stay too: all or nothing.
            keep_old(&mut report, &unserved.join("; "));
            next = current.adapters.clone();
            rules = current.rules.clone();
        }

        let changed =
            !report.loaded.is_empty() || !report.removed.is_empty() || rules != current.rules;
        if changed {
            let generation = current.generation + 1;
            history.previous.push(current.clone());
            if history.previous.len() > HISTORY {
                history.previous.remove(0);
            }
            self.current
                .store(Arc::new(AdapterSet::new(generation, next, rules)));
        }
        report.generation = self.snapshot().generation;
        for refusal in &report.refused {
            tracing::warn!(package = %refusal.package, reason = %refusal.reason, "adapter refused");
        }
        tracing::info!(
            generation = report.generation,
            loaded = report.loaded.len(),
            refused = report.refused.len(),
            "adapters reloaded"
        );
        Ok(report)
    }

    /// Restores the previous adapter set. The builds it replaces stay out until a different
    /// build of them is deployed.
    pub async fn rollback(&self) -> Result<ReloadReport, CatalogueError> {
        let mut history = self.state.lock().await;
        let previous = history
            .previous
            .pop()
            .ok_or(CatalogueError::NothingToRollBack)?;
        let current = self.snapshot();
        let mut report = ReloadReport::default();
        for (id, adapter) in &current.adapters {
            match previous.adapters.get(id) {
                Some(old) if old.component_sha256 == adapter.component_sha256 => {
                    report.unchanged.push(id.clone())
                }
                _ => {
                    history
                        .rolled_back
                        .insert((id.clone(), adapter.component_sha256.clone()));
                    report
                        .removed
                        .push(format!("{id} {}", adapter.descriptor.version));
                }
            }
        }
        for (id, adapter) in &previous.adapters {
            let same = current
                .adapters
                .get(id)
                .is_some_and(|a| a.component_sha256 == adapter.component_sha256);
            if !same {
                history
                    .rolled_back
                    .remove(&(id.clone(), adapter.component_sha256.clone()));
                report
                    .loaded
                    .push((id.clone(), adapter.descriptor.version.clone()));
            }
        }
        let generation = current.generation + 1;
        self.current.store(Arc::new(AdapterSet::new(
            generation,
            previous.adapters.clone(),
            previous.rules.clone(),
        )));
        report.generation = generation;
        tracing::info!(generation, "adapters rolled back");
        Ok(report)
    }

    /// The rule book for the next set: the directory's, or the running one if the directory
    /// has an error or names a check no adapter of `next` serves (refused, with the reason,
    /// like a bad adapter).
    fn reload_rules(
        &self,
        current: &AdapterSet,
        next: &BTreeMap<String, Arc<LoadedAdapter>>,
        report: &mut ReloadReport,
    ) -> Arc<RuleBook> {
        let Some(dir) = &self.rules_dir else {
            return current.rules.clone();
        };
        // The book in force is checked against `next` by the caller, with the adapters.
        let loaded = RuleBook::load(dir).and_then(|book| {
            let unserved = book.unserved(|check| served(next, check));
            if unserved.is_empty() || book == *current.rules {
                Ok(book)
            } else {
                Err(rules::RulesError::Unserved(unserved.join("; ")))
            }
        });
        match loaded {
            Ok(book) if book == *current.rules => current.rules.clone(),
            Ok(book) => {
                for set in book.sets() {
                    report
                        .loaded
                        .push((format!("rules:{}", set.id), set.version.clone()));
                }
                Arc::new(book)
            }
            Err(e) => {
                report.refused.push(Refusal {
                    package: RULES.into(),
                    version: None,
                    reason: e.to_string(),
                });
                current.rules.clone()
            }
        }
    }

    async fn prepare(
        &self,
        folder: &Path,
        package: &str,
        current: &AdapterSet,
        history: &History,
    ) -> Result<Prepared, Refusal> {
        let refuse = |version: Option<&str>, reason: String| Refusal {
            package: package.to_owned(),
            version: version.map(str::to_owned),
            reason,
        };
        let read = |name: &str| std::fs::read(folder.join(name));
        let manifest_bytes =
            read("manifest.json").map_err(|e| refuse(None, format!("manifest.json: {e}")))?;
        let manifest = Manifest::parse(&manifest_bytes).map_err(|e| refuse(None, e.to_string()))?;
        let version = Some(manifest.version.as_str());
        if manifest.id != package {
            return Err(refuse(
                version,
                format!(
                    "the folder is named {package} but the manifest's id is {}",
                    manifest.id
                ),
            ));
        }
        let component =
            read("adapter.wasm").map_err(|e| refuse(version, format!("adapter.wasm: {e}")))?;
        let signature = match read("adapter.sig") {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(refuse(version, format!("adapter.sig: {e}"))),
        };
        if self.require_signatures || signature.is_some() {
            // A signature that is present is always checked, even where unsigned is allowed.
            signing::verify(
                &self.trusted,
                &component,
                &manifest_bytes,
                signature.as_deref(),
            )
            .map_err(|e| refuse(version, e.to_string()))?;
        }
        let sha = kezek_host::sha256_hex(&component);
        if let Some(running) = current.adapters.get(&manifest.id)
            && running.component_sha256 == sha
            && running.manifest == manifest
        {
            return Ok(Prepared::Unchanged(running.clone()));
        }
        if history
            .rolled_back
            .contains(&(manifest.id.clone(), sha.clone()))
        {
            return Err(refuse(
                version,
                "this build was rolled back; deploy a different build".into(),
            ));
        }
        let adapter = self
            .host
            .load(&component, manifest.clone())
            .await
            .map_err(|e| refuse(version, e.to_string()))?;
        Ok(Prepared::Loaded(Box::new(adapter)))
    }
}

/// The package name under which rule-book refusals are reported.
const RULES: &str = "rules";

/// Whether an adapter of `adapters` serves `check`.
fn served(adapters: &BTreeMap<String, Arc<LoadedAdapter>>, check: &CheckId) -> bool {
    adapters
        .values()
        .any(|a| a.descriptor.checks.contains(check))
}

/// A reload refused whole: what it would have loaded or removed is reported refused, with
/// the reason, and the running set stays.
fn keep_old(report: &mut ReloadReport, unserved: &str) {
    let reason = format!(
        "refused with the whole reload, which would leave a check of the rules in force without \
         an adapter ({unserved}); the running adapters and rules stay"
    );
    for (package, version) in std::mem::take(&mut report.loaded) {
        report.refused.push(Refusal {
            package,
            version: Some(version),
            reason: reason.clone(),
        });
    }
    for package in std::mem::take(&mut report.removed) {
        report.refused.push(Refusal {
            package,
            version: None,
            reason: reason.clone(),
        });
    }
}

enum Prepared {
    Unchanged(Arc<LoadedAdapter>),
    Loaded(Box<LoadedAdapter>),
}

/// Two adapters may not serve the same check: the one that was already serving keeps it
/// and the newcomer is refused.
fn refuse_conflicts(
    next: &mut BTreeMap<String, Arc<LoadedAdapter>>,
    current: &AdapterSet,
    report: &mut ReloadReport,
) {
    let claims: Vec<Claim> = next
        .iter()
        .map(|(id, adapter)| Claim {
            id: id.clone(),
            checks: adapter.descriptor.checks.clone(),
            running: current.adapters.contains_key(id),
        })
        .collect();
    for (id, reason) in conflicts(&claims) {
        if let Some(adapter) = next.remove(&id) {
            report.loaded.retain(|(loaded, _)| loaded != &id);
            report.refused.push(Refusal {
                package: id.clone(),
                version: Some(adapter.descriptor.version.clone()),
                reason,
            });
            if let Some(running) = current.adapters.get(&id) {
                next.insert(id, running.clone());
            }
        }
    }
}

/// One package's claim on checks after a reload.
#[derive(Debug, Clone)]
struct Claim {
    id: String,
    checks: Vec<CheckId>,
    /// Whether a version of this package serves now.
    running: bool,
}

/// Which claims are refused, and why. Packages already running claim first, then the rest,
/// each group in id order; a check claimed twice stays with the first claimant. Pure, so the
/// ownership rule is table-tested.
fn conflicts(claims: &[Claim]) -> Vec<(String, String)> {
    let mut order: Vec<&Claim> = claims.iter().collect();
    order.sort_by(|a, b| b.running.cmp(&a.running).then_with(|| a.id.cmp(&b.id)));
    let mut owner: BTreeMap<CheckId, &str> = BTreeMap::new();
    let mut refused = Vec::new();
    for claim in order {
        let taken: Vec<String> = claim
            .checks
            .iter()
            .filter_map(|check| match owner.get(check) {
                Some(other) if *other != claim.id => {
                    Some(format!("{check} is already served by {other}"))
                }
                _ => None,
            })
            .collect();
        match taken.into_iter().next() {
            Some(reason) => refused.push((claim.id.clone(), reason)),
            None => {
                for check in &claim.checks {
                    owner.insert(check.clone(), &claim.id);
                }
            }
        }
    }
    refused.sort();
    refused
}

fn package_folders(dir: &Path) -> Result<Vec<PathBuf>, CatalogueError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| CatalogueError::Directory(dir.to_owned(), e))?;
    let mut folders: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    folders.sort();
    Ok(folders)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(id, checks, running)` claims → the refused ids. A check has one adapter at a time.
    fn check(claims: &[(&str, &[u8], bool)], expect_refused: &[&str]) {
        let claims: Vec<Claim> = claims
            .iter()
            .map(|(id, checks, running)| Claim {
                id: (*id).to_owned(),
                checks: checks.iter().map(|&n| CheckId::p18(n).unwrap()).collect(),
                running: *running,
            })
            .collect();
        let refused: Vec<String> = conflicts(&claims).into_iter().map(|(id, _)| id).collect();
        assert_eq!(refused, expect_refused, "claims {claims:?}");
    }

    #[test]
    fn the_adapter_already_serving_a_check_keeps_it() {
        // No overlap: everyone serves.
        check(&[("a", &[1], true), ("b", &[2], false)], &[]);
        // A newcomer claiming a running adapter's check is refused, whatever its name.
        check(&[("z", &[3], true), ("a", &[3], false)], &["a"]);
        check(&[("a", &[3], true), ("z", &[3], false)], &["z"]);
        // Refused whole: one taken check refuses the package, and its other checks stay free
        // for the next claimant.
        check(
            &[("r", &[3], true), ("x", &[3, 7], false), ("y", &[7], false)],
            &["x"],
        );
        // Two newcomers on a cold start: the first by id wins (issue 12 revisits this).
        check(&[("b", &[5], false), ("a", &[5], false)], &["b"]);
        // A running adapter's new version claiming another running adapter's check.
        check(&[("a", &[1, 2], true), ("b", &[2], true)], &["b"]);
    }

    #[test]
    fn a_refusal_names_the_check_and_its_owner() {
        let claims = [
            Claim {
                id: "owner".into(),
                checks: vec![CheckId::p18(9).unwrap()],
                running: true,
            },
            Claim {
                id: "newcomer".into(),
                checks: vec![CheckId::p18(9).unwrap()],
                running: false,
            },
        ];
        let refused = conflicts(&claims);
        assert_eq!(refused.len(), 1);
        assert!(
            refused[0].1.contains("already served by owner"),
            "{refused:?}"
        );
        assert!(refused[0].1.contains("P18.9"), "{refused:?}");
    }
}
