//! `[adapters]`: where the packages and rule sets are, and whose signatures are trusted.

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptersConfig {
    /// Directory of adapter packages: `<dir>/<id>/{manifest.json, adapter.wasm, adapter.sig}`.
    pub dir: PathBuf,
    /// Refuse adapters without a valid signature by a trusted key. Default: yes.
    #[serde(default = "yes")]
    pub require_signatures: bool,
    /// Ed25519 public keys (PEM, SPKI) whose signatures are trusted.
    #[serde(default)]
    pub trusted_keys: Vec<PathBuf>,
    /// Directory of rule sets (`*.json`, schemas/rule-set.schema.json), reloaded together
    /// with the adapters. Without it, no verification can be decided.
    #[serde(default)]
    pub rules_dir: Option<PathBuf>,
    /// Watch `dir` and reload when it changes.
    #[serde(default = "yes")]
    pub watch: bool,
    /// Where compiled components are cached, keyed by engine version and configuration.
    #[serde(default)]
    pub precompiled_cache: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

impl AdaptersConfig {
    /// Relative paths are relative to the config file.
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.dir);
        self.rules_dir.iter_mut().for_each(fix);
        self.trusted_keys.iter_mut().for_each(fix);
        self.precompiled_cache.iter_mut().for_each(fix);
    }
}
