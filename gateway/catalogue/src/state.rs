//! Which adapter set is in force, kept beside the packages so that a cold start comes up
//! with it, not with whatever the folders hold (issue 12: rollback survives a restart).
//!
//! `<dir>/.kezek/state.json` names the build in force for each adapter and the builds an
//! operator rolled back; `<dir>/.kezek/builds/<id>/<sha256>/` keeps a copy of every build in
//! force or in the rollback history, so a version rolled back to can be loaded again after a
//! restart although its package folder now holds another build. The folder is hidden: a
//! reload never takes it for a package, and the watcher ignores writes to it.

use crate::install;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// The catalogue's own folder inside the adapters directory.
pub const STATE_DIR: &str = ".kezek";

/// What was in force when the set last changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct State {
    /// Adapter id → the build serving.
    pub in_force: BTreeMap<String, InForce>,
    /// (id, component SHA-256) of builds an operator rolled back: reloads skip them.
    pub rolled_back: BTreeSet<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InForce {
    pub version: String,
    pub component_sha256: String,
}

/// `<dir>/.kezek`: the state file and the kept builds.
#[derive(Debug)]
pub(crate) struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(adapters_dir: &Path) -> Self {
        Self {
            root: adapters_dir.join(STATE_DIR),
        }
    }

    fn file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// The recorded state; none on a first start. A file that cannot be read is an error
    /// the caller reports: starting as if nothing had been rolled back would be wrong.
    pub fn read(&self) -> anyhow::Result<Option<State>> {
        let path = self.file();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
        }
    }

    pub fn write(&self, state: &State) -> anyhow::Result<()> {
        let path = self.file();
        let bytes = serde_json::to_vec_pretty(state)?;
        install::write_file(&path, &bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Where a build is kept.
    pub fn build(&self, id: &str, sha256: &str) -> PathBuf {
        self.root.join("builds").join(id).join(sha256)
    }

    /// Keeps a copy of a build (once: the folder is named by its content's hash).
    pub fn keep(&self, id: &str, sha256: &str, files: &install::Files<'_>) -> anyhow::Result<()> {
        let dest = self.build(id, sha256);
        if dest.join("adapter.wasm").is_file() {
            return Ok(());
        }
        install::install_folder(&dest, files)
            .map_err(|e| anyhow::anyhow!("keeping {id} in {}: {e}", dest.display()))
    }

    /// Deletes kept builds that are in neither `keep` nor the state.
    pub fn prune(&self, keep: &HashSet<(String, String)>) -> anyhow::Result<()> {
        let builds = self.root.join("builds");
        let Ok(ids) = std::fs::read_dir(&builds) else {
            return Ok(());
        };
        for id in ids.filter_map(Result::ok) {
            let id_name = id.file_name().to_string_lossy().into_owned();
            for build in std::fs::read_dir(id.path())?.filter_map(Result::ok) {
                let sha = build.file_name().to_string_lossy().into_owned();
                if !keep.contains(&(id_name.clone(), sha)) {
                    std::fs::remove_dir_all(build.path())?;
                }
            }
            // Empty now: gone too (fails harmlessly when not empty).
            let _ = std::fs::remove_dir(id.path());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_reads_back_as_written_and_a_first_start_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let states = StateDir::new(dir.path());
        assert_eq!(states.read().unwrap(), None);
        let state = State {
            in_force: [(
                "a".to_owned(),
                InForce {
                    version: "1.0.0".into(),
                    component_sha256: "ab".into(),
                },
            )]
            .into(),
            rolled_back: [("a".to_owned(), "cd".to_owned())].into(),
        };
        states.write(&state).unwrap();
        assert_eq!(states.read().unwrap(), Some(state));
    }

    #[test]
    fn a_damaged_state_file_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(STATE_DIR)).unwrap();
        std::fs::write(dir.path().join(STATE_DIR).join("state.json"), b"{").unwrap();
        let err = StateDir::new(dir.path()).read().unwrap_err();
        assert!(err.to_string().contains("state.json"), "{err}");
    }

    #[test]
    fn pruning_keeps_what_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let states = StateDir::new(dir.path());
        for sha in ["s1", "s2"] {
            states.keep("a", sha, &[("adapter.wasm", b"w")]).unwrap();
        }
        states
            .prune(&[("a".to_owned(), "s2".to_owned())].into())
            .unwrap();
        assert!(!states.build("a", "s1").exists());
        assert!(states.build("a", "s2").join("adapter.wasm").is_file());
    }
}
