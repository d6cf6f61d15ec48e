//! The adapter catalogue: which adapters serve which checks right now, and the rules that
//! use them.
//!
//! Packages live in the adapters directory, one folder each:
//! `<dir>/<id>/{manifest.json, adapter.wasm, adapter.sig}`. A package is a registry adapter
//! or a device driver (ADR 0020), as its manifest's `wit` says; both go through the same
//! steps below (signature, compilation, type-check, self-test), the same set, swap,
//! record and rollback. A driver serves no check: the set answers [`AdapterSet::driver`]. A reload reads every package,
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
pub mod install;
pub mod ownership;
pub mod rules;
pub mod signing;
mod state;
pub mod trial;
mod watch;

use crate::config::AdaptersConfig;
use crate::rules::RuleBook;
use crate::state::{InForce, State, StateDir};
use arc_swap::ArcSwap;
use ed25519_dalek::VerifyingKey;
use kezek_domain::CheckId;
use kezek_host::{AdapterHost, LoadedAdapter, LoadedDriver};
use kezek_manifest::Package;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use state::STATE_DIR;
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
    /// Device drivers (ADR 0020), by id.
    pub drivers: BTreeMap<String, Arc<LoadedDriver>>,
    pub rules: Arc<RuleBook>,
    /// Hashed, not ordered: every check of every verification looks its adapter up here,
    /// and the natural order of check ids costs a parse per comparison.
    by_check: HashMap<CheckId, Arc<LoadedAdapter>>,
}

impl AdapterSet {
    fn new(
        generation: u64,
        adapters: BTreeMap<String, Arc<LoadedAdapter>>,
        drivers: BTreeMap<String, Arc<LoadedDriver>>,
        rules: Arc<RuleBook>,
    ) -> Self {
        let mut by_check = HashMap::new();
        for adapter in adapters.values() {
            for check in &adapter.descriptor.checks {
                by_check.insert(check.clone(), adapter.clone());
            }
        }
        Self {
            generation,
            adapters,
            drivers,
            rules,
            by_check,
        }
    }

    /// The device driver with this id, if one is loaded.
    pub fn driver(&self, id: &str) -> Option<&Arc<LoadedDriver>> {
        self.drivers.get(id)
    }

    /// The adapter serving a check, if any.
    pub fn for_check(&self, check: &CheckId) -> Option<&Arc<LoadedAdapter>> {
        self.by_check.get(check)
    }

    /// The checks a package serves in this set.
    fn served_by(&self, id: &str) -> Vec<CheckId> {
        let mut checks: Vec<CheckId> = self
            .by_check
            .iter()
            .filter(|(_, adapter)| adapter.descriptor.id == id)
            .map(|(check, _)| check.to_owned())
            .collect();
        checks.sort();
        checks
    }

    /// What the state file records for this set: adapters and drivers alike.
    fn in_force(&self) -> BTreeMap<String, InForce> {
        let build = |version: &str, sha: &str| InForce {
            version: version.to_owned(),
            component_sha256: sha.to_owned(),
        };
        let adapters = self.adapters.iter().map(|(id, a)| {
            let b = build(&a.descriptor.version, &a.component_sha256);
            (id.clone(), b)
        });
        let drivers = self.drivers.iter().map(|(id, d)| {
            let b = build(&d.descriptor.version, &d.component_sha256);
            (id.clone(), b)
        });
        adapters.chain(drivers).collect()
    }

    /// The running package with this id, adapter or driver.
    fn running(&self, id: &str) -> Option<Loaded> {
        let adapter = self.adapters.get(id).cloned().map(Loaded::Adapter);
        adapter.or_else(|| self.drivers.get(id).cloned().map(Loaded::Driver))
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
    /// What an operator should know that refused nothing: a set restored on a cold start,
    /// an endpoint configuration reloaded, a state file that could not be written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
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
        for note in &self.notes {
            writeln!(f, "  note       {note}")?;
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

/// Re-reads the egress configuration (`[egress]`) and hands it to the egress, answering
/// whether it changed: called on every reload (issue 12), and every adapter is rebuilt with
/// its endpoints when it did. An error is refused like a package; the running one stays.
pub type EgressReload = Box<dyn Fn() -> anyhow::Result<bool> + Send + Sync>;

/// The running adapters, their history, and how to change them.
pub struct Catalogue {
    host: Arc<AdapterHost>,
    dir: PathBuf,
    rules_dir: Option<PathBuf>,
    require_signatures: bool,
    trusted: Vec<VerifyingKey>,
    current: ArcSwap<AdapterSet>,
    state: tokio::sync::Mutex<History>,
    states: StateDir,
    /// Whether this process records the set in force (`<dir>/.kezek`); off for a one-off
    /// `kezek check`, which reads the record but must not change it.
    records: bool,
    egress: Option<EgressReload>,
    /// The refusals of the last reload: a trial of a refused adapter says why it is not running.
    last_refusals: ArcSwap<Vec<Refusal>>,
}

#[derive(Default)]
struct History {
    previous: Vec<Arc<AdapterSet>>,
    /// Builds (id, component hash) an operator rolled back: reloads skip them until a
    /// different build is deployed.
    rolled_back: BTreeSet<(String, String)>,
    /// Whether the set recorded before the last stop has been restored (first reload).
    started: bool,
    /// The state last written, so an unchanged set writes nothing.
    recorded: Option<State>,
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
            states: StateDir::new(&config.dir),
            records: true,
            egress: None,
            last_refusals: ArcSwap::from_pointee(Vec::new()),
        })
    }

    /// Re-read `[egress]` with `reload` on every reload.
    pub fn with_egress_reload(mut self, reload: EgressReload) -> Self {
        self.egress = Some(reload);
        self
    }

    /// Read the recorded set on the first load, but never write `<dir>/.kezek`.
    pub fn read_only(mut self) -> Self {
        self.records = false;
        self
    }

    /// The set a request should use from start to end.
    pub fn snapshot(&self) -> Arc<AdapterSet> {
        self.current.load_full()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Why the package `id` was refused at the last reload, if it was.
    pub fn refusal(&self, id: &str) -> Option<Refusal> {
        self.last_refusals
            .load()
            .iter()
            .find(|r| r.package == id)
            .cloned()
    }

    pub fn rules_dir(&self) -> Option<&Path> {
        self.rules_dir.as_deref()
    }

    /// Re-reads the adapters directory (and `[egress]`, when the catalogue has a source for
    /// it) and swaps in what changed and passed every check. The first reload of a process
    /// starts from the set recorded as in force before it stopped (rollbacks included), so a
    /// cold start resolves everything as a reload of the running gateway would.
    pub async fn reload(&self) -> Result<ReloadReport, CatalogueError> {
        let mut history = self.state.lock().await;
        let mut report = ReloadReport::default();
        let first = !history.started;
        let current = if first {
            history.started = true;
            self.restore(&mut history, &mut report).await
        } else {
            self.snapshot()
        };
        // Endpoints changed: every adapter is rebuilt so that its policy has the new ones.
        let rebuild = self.reload_egress(&mut report);
        let mut next: BTreeMap<String, Arc<LoadedAdapter>> = BTreeMap::new();
        let mut next_drivers: BTreeMap<String, Arc<LoadedDriver>> = BTreeMap::new();
        let mut seen_packages = HashSet::new();

        for folder in package_folders(&self.dir)? {
            let package = folder
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            seen_packages.insert(package.clone());
            match self
                .prepare(&folder, &package, &current, &history, rebuild)
                .await
            {
                // A set restored on a cold start is new to this process: loaded, in words.
                Ok(Prepared::Unchanged(loaded)) if first => {
                    report.loaded.push(loaded.id_version());
                    loaded.insert(&mut next, &mut next_drivers);
                }
                Ok(Prepared::Unchanged(loaded)) => {
                    report.unchanged.push(loaded.id_version().0);
                    loaded.insert(&mut next, &mut next_drivers);
                }
                Ok(Prepared::Loaded(loaded)) => {
                    report.loaded.push(loaded.id_version());
                    loaded.insert(&mut next, &mut next_drivers);
                }
                Err(refusal) => {
                    // The running version, if any, keeps serving.
                    if let Some(running) = current.running(&package) {
                        if first {
                            report.notes.push(format!(
                                "{package} {}: restored, as in force before the restart",
                                running.id_version().1
                            ));
                        }
                        running.insert(&mut next, &mut next_drivers);
                    }
                    report.refused.push(refusal);
                }
            }
        }
        for id in current.adapters.keys().chain(current.drivers.keys()) {
            if !seen_packages.contains(id)
                && !next.contains_key(id)
                && !next_drivers.contains_key(id)
            {
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
            next_drivers = current.drivers.clone();
            rules = current.rules.clone();
        }

        let changed = (first && !next.is_empty())
            || !report.loaded.is_empty()
            || !report.removed.is_empty()
            || rules != current.rules;
        if changed {
            // The set a first load starts from is not one that served here: the history
            // keeps the empty start set instead (a first rollback empties the gateway).
            let replaced = if first { self.snapshot() } else { current };
            let generation = replaced.generation + 1;
            history.previous.push(replaced);
            if history.previous.len() > HISTORY {
                history.previous.remove(0);
            }
            self.current.store(Arc::new(AdapterSet::new(
                generation,
                next,
                next_drivers,
                rules,
            )));
            self.record(&mut history, &mut report);
        }
        report.generation = self.snapshot().generation;
        self.last_refusals.store(Arc::new(report.refused.clone()));
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
        // Adapters and drivers alike, by the builds in force.
        let (now, before) = (current.in_force(), previous.in_force());
        for (id, build) in &now {
            match before.get(id) {
                Some(old) if old.component_sha256 == build.component_sha256 => {
                    report.unchanged.push(id.clone())
                }
                _ => {
                    history
                        .rolled_back
                        .insert((id.clone(), build.component_sha256.clone()));
                    report.removed.push(format!("{id} {}", build.version));
                }
            }
        }
        for (id, build) in &before {
            let same = now
                .get(id)
                .is_some_and(|b| b.component_sha256 == build.component_sha256);
            if !same {
                history
                    .rolled_back
                    .remove(&(id.clone(), build.component_sha256.clone()));
                report.loaded.push((id.clone(), build.version.clone()));
            }
        }
        let generation = current.generation + 1;
        self.current.store(Arc::new(AdapterSet::new(
            generation,
            previous.adapters.clone(),
            previous.drivers.clone(),
            previous.rules.clone(),
        )));
        report.generation = generation;
        self.record(&mut history, &mut report);
        tracing::info!(generation, "adapters rolled back");
        Ok(report)
    }

    /// The set recorded as in force before this process started, loaded from the kept
    /// builds (signatures checked again), and the rolled-back builds to keep out. What
    /// cannot be restored is said in the report's notes; the folders then decide, as before.
    async fn restore(&self, history: &mut History, report: &mut ReloadReport) -> Arc<AdapterSet> {
        let empty = self.snapshot();
        let state = match self.states.read() {
            Ok(Some(state)) => state,
            Ok(None) => return empty,
            Err(e) => {
                report.notes.push(format!(
                    "the record of the set in force cannot be read, so the package folders decide: {e:#}"
                ));
                return empty;
            }
        };
        history.rolled_back = state.rolled_back.clone();
        let (mut restored, mut drivers) = (BTreeMap::new(), BTreeMap::new());
        for (id, build) in &state.in_force {
            let folder = self.states.build(id, &build.component_sha256);
            if !folder.is_dir() {
                report.notes.push(format!(
                    "{id} {} was in force but its build is not kept in {}",
                    build.version,
                    folder.display()
                ));
                continue;
            }
            match self.prepare(&folder, id, &empty, history, false).await {
                Ok(Prepared::Loaded(loaded) | Prepared::Unchanged(loaded)) => {
                    loaded.insert(&mut restored, &mut drivers);
                }
                Err(refusal) => report.notes.push(format!(
                    "{id} {} was in force but cannot be restored: {}",
                    build.version, refusal.reason
                )),
            }
        }
        history.recorded = Some(state);
        Arc::new(AdapterSet::new(0, restored, drivers, empty.rules.clone()))
    }

    /// Records the set now in force and keeps the builds a rollback may return to; drops
    /// kept builds nothing refers to any more. A failure is a note: the set serves anyway,
    /// but a restart would not bring it back.
    fn record(&self, history: &mut History, report: &mut ReloadReport) {
        if !self.records {
            return;
        }
        let state = State {
            in_force: self.snapshot().in_force(),
            rolled_back: history.rolled_back.clone(),
        };
        if history.recorded.as_ref() == Some(&state) {
            return;
        }
        let keep: HashSet<(String, String)> = history
            .previous
            .iter()
            .chain([&self.snapshot()])
            .flat_map(|set| set.in_force())
            .map(|(id, build)| (id, build.component_sha256))
            .collect();
        match self
            .states
            .write(&state)
            .and_then(|()| self.states.prune(&keep))
        {
            Ok(()) => history.recorded = Some(state),
            Err(e) => {
                tracing::warn!(error = %e, "the adapter set in force was not recorded");
                report.notes.push(format!(
                    "the set in force was not recorded, so a restart would not restore it: {e:#}"
                ));
            }
        }
    }

    /// Re-reads `[egress]`; `true` when it changed and was taken. A configuration that does
    /// not read or validate is refused like a package, and the running one stays.
    fn reload_egress(&self, report: &mut ReloadReport) -> bool {
        let Some(reload) = &self.egress else {
            return false;
        };
        match reload() {
            Ok(changed) => {
                if changed {
                    report.notes.push(
                        "[egress] changed: every adapter was rebuilt with its endpoints".into(),
                    );
                }
                changed
            }
            Err(e) => {
                report.refused.push(Refusal {
                    package: "egress".into(),
                    version: None,
                    reason: format!("{e:#}"),
                });
                false
            }
        }
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
        rebuild: bool,
    ) -> Result<Prepared, Refusal> {
        let refuse = |version: Option<&str>, reason: String| Refusal {
            package: package.to_owned(),
            version: version.map(str::to_owned),
            reason,
        };
        let read = |name: &str| std::fs::read(folder.join(name));
        let manifest_bytes =
            read("manifest.json").map_err(|e| refuse(None, format!("manifest.json: {e}")))?;
        let manifest = Package::parse(&manifest_bytes).map_err(|e| refuse(None, e.to_string()))?;
        let (id, version) = (manifest.id().to_owned(), Some(manifest.version()));
        if id != package {
            return Err(refuse(
                version,
                format!("the folder is named {package} but the manifest's id is {id}"),
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
        // A driver has no endpoints: `[egress]` changing does not rebuild it.
        let running = current.running(&id);
        let unchanged = match (&running, &manifest) {
            (Some(Loaded::Adapter(running)), Package::Adapter(m)) => {
                !rebuild && running.component_sha256 == sha && running.manifest == *m
            }
            (Some(Loaded::Driver(running)), Package::Driver(m)) => {
                running.component_sha256 == sha && running.manifest == *m
            }
            _ => false,
        };
        if unchanged && let Some(running) = running {
            return Ok(Prepared::Unchanged(running));
        }
        if history.rolled_back.contains(&(id.clone(), sha.clone())) {
            return Err(refuse(
                version,
                "this build was rolled back; deploy a different build".into(),
            ));
        }
        let loaded = match manifest.clone() {
            Package::Adapter(m) => self
                .host
                .load(&component, m)
                .await
                .map(|a| Loaded::Adapter(Arc::new(a))),
            Package::Driver(m) => self
                .host
                .load_driver(&component, m)
                .await
                .map(|d| Loaded::Driver(Arc::new(d))),
        }
        .map_err(|e| refuse(version, e.to_string()))?;
        if self.records {
            // Kept before it can serve, so the record never names a build it cannot restore.
            let mut files = vec![
                ("manifest.json", manifest_bytes.as_slice()),
                ("adapter.wasm", component.as_slice()),
            ];
            files.extend(signature.as_deref().map(|s| ("adapter.sig", s)));
            self.states
                .keep(&id, &sha, &files)
                .map_err(|e| refuse(version, format!("{e:#}")))?;
        }
        Ok(Prepared::Loaded(loaded))
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
    Unchanged(Loaded),
    Loaded(Loaded),
}

/// A package ready to serve: a registry adapter or a device driver.
#[derive(Clone)]
enum Loaded {
    Adapter(Arc<LoadedAdapter>),
    Driver(Arc<LoadedDriver>),
}

impl Loaded {
    fn id_version(&self) -> (String, String) {
        match self {
            Self::Adapter(a) => (a.descriptor.id.clone(), a.descriptor.version.clone()),
            Self::Driver(d) => (d.descriptor.id.clone(), d.descriptor.version.clone()),
        }
    }

    /// Into the next set's adapters or drivers.
    fn insert(
        self,
        adapters: &mut BTreeMap<String, Arc<LoadedAdapter>>,
        drivers: &mut BTreeMap<String, Arc<LoadedDriver>>,
    ) {
        match self {
            Self::Adapter(a) => {
                adapters.insert(a.descriptor.id.clone(), a);
            }
            Self::Driver(d) => {
                drivers.insert(d.descriptor.id.clone(), d);
            }
        }
    }
}

/// Settles checks claimed twice by the rule of [`ownership::resolve`]. A refused package
/// that was serving keeps its running version, which claims only what it served; it may
/// take back a check its refused new version had let go, so the rule runs again until no
/// one else loses (each package falls back at most once).
fn refuse_conflicts(
    next: &mut BTreeMap<String, Arc<LoadedAdapter>>,
    current: &AdapterSet,
    report: &mut ReloadReport,
) {
    loop {
        let claims: Vec<ownership::Claim<CheckId>> = next
            .iter()
            .map(|(id, adapter)| ownership::Claim {
                id: id.clone(),
                checks: adapter.descriptor.checks.clone(),
                served: current.served_by(id),
            })
            .collect();
        let lost = ownership::resolve(&claims);
        if lost.is_empty() {
            return;
        }
        for ownership::Lost { package, reason } in lost {
            let Some(adapter) = next.remove(&package) else {
                continue;
            };
            report.loaded.retain(|(loaded, _)| loaded != &package);
            report.unchanged.retain(|kept| kept != &package);
            report.refused.push(Refusal {
                package: package.clone(),
                version: Some(adapter.descriptor.version.clone()),
                reason,
            });
            if let Some(running) = current.adapters.get(&package)
                && !Arc::ptr_eq(running, &adapter)
            {
                next.insert(package, running.clone());
            }
        }
    }
}

/// The package folders of an adapters (or staging) directory, sorted: hidden ones (`.kezek`,
/// a deployment's temporaries) are not packages.
pub fn package_folders(dir: &Path) -> Result<Vec<PathBuf>, CatalogueError> {
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
