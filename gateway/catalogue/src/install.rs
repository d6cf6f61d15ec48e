//! Writing package folders so that a reader (a reload, a watcher) never sees half of one:
//! the files go to a hidden temporary folder beside the destination, on the same
//! filesystem, are synced, and the folder is renamed into place (issue 12). `kezek adapters
//! deploy` and the catalogue's own store of builds both write this way.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The files of one package: `(name, bytes)`, e.g. `manifest.json`, `adapter.wasm`,
/// `adapter.sig`.
pub type Files<'a> = [(&'a str, &'a [u8])];

/// Writes `files` as the folder `dest`, replacing what is there in one step.
pub fn install_folder(dest: &Path, files: &Files<'_>) -> std::io::Result<()> {
    let parent = dest
        .parent()
        .ok_or_else(|| std::io::Error::other(format!("{} has no parent", dest.display())))?;
    std::fs::create_dir_all(parent)?;
    let tmp = hidden_sibling(dest, "new")?;
    let written = write_folder(&tmp, files).and_then(|()| swap_into_place(&tmp, dest));
    // After a swap `tmp` holds the replaced folder; after a failure, half a new one.
    let _ = std::fs::remove_dir_all(&tmp);
    written?;
    sync_dir(parent)
}

/// Writes a new folder's files and syncs them and it.
fn write_folder(folder: &Path, files: &Files<'_>) -> std::io::Result<()> {
    std::fs::create_dir(folder)?;
    for (name, bytes) in files {
        let mut file = File::create(folder.join(name))?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    sync_dir(folder)
}

/// Writes one file in one step (temporary file, sync, rename).
pub fn write_file(dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = dest
        .parent()
        .ok_or_else(|| std::io::Error::other(format!("{} has no parent", dest.display())))?;
    std::fs::create_dir_all(parent)?;
    let tmp = hidden_sibling(dest, "tmp")?;
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, dest)?;
    sync_dir(parent)
}

/// `.<name>.<what>-<random>` beside `dest`: hidden, so a reload skips it.
fn hidden_sibling(dest: &Path, what: &str) -> std::io::Result<PathBuf> {
    let name = dest
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} has no name", dest.display())))?
        .to_string_lossy();
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(dest.with_file_name(format!(".{name}.{what}-{}", hex::encode(random))))
}

/// Puts the folder `new` at `dest`. An existing `dest` is exchanged with `new` in one
/// `renameat2(RENAME_EXCHANGE)`, so there is no moment without a package; `new` then holds
/// the old folder. Where the kernel cannot exchange, the old folder is moved aside first.
fn swap_into_place(new: &Path, dest: &Path) -> std::io::Result<()> {
    if !dest.exists() {
        return std::fs::rename(new, dest);
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, new, CWD, dest, RenameFlags::EXCHANGE) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let aside = hidden_sibling(dest, "old")?;
    std::fs::rename(dest, &aside)?;
    std::fs::rename(new, dest)?;
    std::fs::rename(&aside, new)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_replaced_whole_and_no_temporary_is_left() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("pkg");
        install_folder(&dest, &[("a", b"1"), ("b", b"2")]).unwrap();
        install_folder(&dest, &[("a", b"3")]).unwrap();
        assert_eq!(std::fs::read(dest.join("a")).unwrap(), b"3");
        assert!(!dest.join("b").exists(), "the old folder's files are gone");
        let names: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["pkg"], "no temporary folder is left behind");
    }

    #[test]
    fn a_file_is_written_whole() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("deep").join("state.json");
        write_file(&dest, b"one").unwrap();
        write_file(&dest, b"two").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(dest.parent().unwrap()).unwrap().count(),
            1
        );
    }
}
