//! `kezek adapters deploy` and `sign`: a staged package (or a folder of them) is validated,
//! signed and installed into the adapters directory one package at a time, each in one step
//! (`kezek_catalogue::install`), so a gateway watching the directory never sees half a
//! package (issue 12). One bad package does not stop the others.

use kezek_catalogue::signing::SigningKey;
use kezek_catalogue::{install, signing};
use kezek_manifest::Package;
use std::fmt;
use std::path::{Path, PathBuf};

/// A package as staged: `manifest.json`, `adapter.wasm`, perhaps `adapter.sig`.
#[derive(Debug)]
pub struct Staged {
    pub folder: PathBuf,
    /// A registry adapter's or a device driver's (ADR 0020): both deploy alike.
    pub manifest: Package,
    manifest_bytes: Vec<u8>,
    component: Vec<u8>,
    signature: Option<Vec<u8>>,
}

impl Staged {
    /// Reads and validates a staged package: the manifest against its schema, the folder
    /// name against the manifest id (the gateway refuses a mismatch too), and the
    /// component's header.
    pub fn read(folder: &Path) -> anyhow::Result<Self> {
        let read = |name: &str| {
            std::fs::read(folder.join(name)).map_err(|e| anyhow::anyhow!("{name}: {e}"))
        };
        let manifest_bytes = read("manifest.json")?;
        let manifest = Package::parse(&manifest_bytes)?;
        let name = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name != manifest.id() {
            anyhow::bail!(
                "the folder is named {name} but the manifest's id is {}: a package folder is named by its manifest id",
                manifest.id()
            );
        }
        let component = read("adapter.wasm")?;
        component_header(&component)?;
        let signature = match std::fs::read(folder.join("adapter.sig")) {
            Ok(sig) => Some(sig),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => anyhow::bail!("adapter.sig: {e}"),
        };
        Ok(Self {
            folder: folder.to_owned(),
            manifest,
            manifest_bytes,
            component,
            signature,
        })
    }

    /// Signs the package (manifest and component, ADR 0002).
    pub fn sign(&mut self, key: &SigningKey) {
        self.signature =
            Some(signing::sign(key, &self.component, &self.manifest_bytes).into_bytes());
    }

    /// The files to install.
    fn files(&self) -> Vec<(&'static str, &[u8])> {
        let mut files = vec![
            ("manifest.json", self.manifest_bytes.as_slice()),
            ("adapter.wasm", self.component.as_slice()),
        ];
        files.extend(self.signature.as_deref().map(|s| ("adapter.sig", s)));
        files
    }

    /// Writes the signature into the staged folder (`kezek adapters sign`).
    pub fn write_signature(&self) -> anyhow::Result<()> {
        let signature = self
            .signature
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("not signed"))?;
        install::write_file(&self.folder.join("adapter.sig"), signature)?;
        Ok(())
    }
}

/// A component, not a core module or something else: its preamble says so.
fn component_header(bytes: &[u8]) -> anyhow::Result<()> {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => Ok(()),
        Some([0, b'a', b's', b'm', _, _, 0, 0]) => anyhow::bail!(
            "adapter.wasm is a core WebAssembly module, not a component: build for wasm32-wasip2"
        ),
        _ => anyhow::bail!("adapter.wasm is not WebAssembly"),
    }
}

/// The package folders under `dir`: `dir` itself when it holds a manifest, else each of its
/// folders but hidden ones.
pub fn staged_folders(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if dir.join("manifest.json").is_file() {
        return Ok(vec![dir.to_owned()]);
    }
    let folders = kezek_catalogue::package_folders(dir)?;
    if folders.is_empty() {
        anyhow::bail!(
            "{} is neither a package (no manifest.json) nor a folder of packages",
            dir.display()
        );
    }
    Ok(folders)
}

/// What a deployment did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DeployReport {
    /// (id, version) written into the adapters directory.
    pub installed: Vec<(String, String)>,
    /// Identical to what is installed: not written again (a watching gateway sees nothing).
    pub unchanged: Vec<String>,
    /// (staged folder, why) not installed.
    pub refused: Vec<(String, String)>,
}

impl fmt::Display for DeployReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (id, version) in &self.installed {
            writeln!(f, "  installed  {id} {version}")?;
        }
        for id in &self.unchanged {
            writeln!(f, "  unchanged  {id}")?;
        }
        for (folder, reason) in &self.refused {
            writeln!(f, "  REFUSED    {folder}: {reason}")?;
        }
        Ok(())
    }
}

/// Installs every staged package under `staged` into `adapters`, signed with `key` (or
/// with the signature it was staged with).
pub fn deploy(
    staged: &Path,
    adapters: &Path,
    key: Option<&SigningKey>,
) -> anyhow::Result<DeployReport> {
    if !adapters.is_dir() {
        anyhow::bail!(
            "the adapters directory {} does not exist (create it, or check --to / [adapters] dir)",
            adapters.display()
        );
    }
    let mut report = DeployReport::default();
    for folder in staged_folders(staged)? {
        let shown = folder.display().to_string();
        let result = Staged::read(&folder).and_then(|mut package| {
            match key {
                Some(key) => package.sign(key),
                None if package.signature.is_none() => anyhow::bail!(
                    "not signed, and no --key given: a gateway requiring signatures would refuse it"
                ),
                None => {}
            }
            let dest = adapters.join(package.manifest.id());
            if installed_as(&dest, &package.files()) {
                report.unchanged.push(package.manifest.id().to_owned());
                return Ok(());
            }
            install::install_folder(&dest, &package.files())
                .map_err(|e| anyhow::anyhow!("installing into {}: {e}", dest.display()))?;
            report.installed.push((
                package.manifest.id().to_owned(),
                package.manifest.version().to_owned(),
            ));
            Ok(())
        });
        if let Err(e) = result {
            report.refused.push((shown, format!("{e:#}")));
        }
    }
    Ok(report)
}

/// Whether `dest` holds exactly these files.
fn installed_as(dest: &Path, files: &[(&str, &[u8])]) -> bool {
    let names = std::fs::read_dir(dest).map(|entries| entries.count()).ok();
    names == Some(files.len())
        && files
            .iter()
            .all(|(name, bytes)| std::fs::read(dest.join(name)).is_ok_and(|b| b == *bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_component_is_taken_for_one() {
        let component = [0, b'a', b's', b'm', 0x0d, 0, 1, 0];
        let module = [0, b'a', b's', b'm', 1, 0, 0, 0];
        assert!(component_header(&component).is_ok());
        let err = component_header(&module).unwrap_err().to_string();
        assert!(err.contains("core WebAssembly module"), "{err}");
        let err = component_header(b"not wasm").unwrap_err().to_string();
        assert!(err.contains("not WebAssembly"), "{err}");
        assert!(component_header(b"").is_err());
    }

    fn stage(root: &Path, folder: &str, id: &str) -> PathBuf {
        let dir = root.join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("manifest.json"),
            format!(
                r#"{{"id":"{id}","version":"1.0.0","wit":"kezek:registry@1.0.0","registry":"r","checks":[1],"endpoints":[],"limits":{{}}}}"#
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("adapter.wasm"),
            [0, b'a', b's', b'm', 0x0d, 0, 1, 0],
        )
        .unwrap();
        dir
    }

    /// Issue 12: one bad package is refused with its reason and the others are still
    /// installed, signed; deploying the same again writes nothing.
    #[test]
    fn a_bad_package_does_not_stop_the_others() {
        let root = tempfile::tempdir().unwrap();
        let staged = root.path().join("staged");
        stage(&staged, "good", "good");
        stage(&staged, "misnamed", "other-id");
        let adapters = root.path().join("adapters");
        std::fs::create_dir(&adapters).unwrap();
        let key = signing::generate_key().unwrap();

        let report = deploy(&staged, &adapters, Some(&key)).unwrap();
        assert_eq!(report.installed, [("good".to_owned(), "1.0.0".to_owned())]);
        assert_eq!(report.refused.len(), 1, "{report}");
        assert!(
            report.refused[0].1.contains("manifest's id is other-id"),
            "{report}"
        );
        assert!(adapters.join("good").join("adapter.sig").is_file());

        let again = deploy(&staged, &adapters, Some(&key)).unwrap();
        assert_eq!(again.unchanged, ["good"], "{again}");
        assert!(again.installed.is_empty());
    }

    #[test]
    fn an_unsigned_package_needs_a_key() {
        let root = tempfile::tempdir().unwrap();
        let package = stage(root.path(), "good", "good");
        let adapters = root.path().join("adapters");
        std::fs::create_dir(&adapters).unwrap();
        let report = deploy(&package, &adapters, None).unwrap();
        assert!(report.refused[0].1.contains("no --key"), "{report}");
        let err = deploy(&package, &root.path().join("nowhere"), None).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
