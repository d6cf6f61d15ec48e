//! Reload when the adapters directory changes.

use super::Catalogue;
use notify::{RecursiveMode, Watcher};
use std::sync::Arc;
use std::time::Duration;

/// Changes closer together than this are one deployment (a copy writes several files).
const SETTLE: Duration = Duration::from_millis(400);

/// Watches the catalogue's adapters and rules directories until the returned watcher is dropped; each burst of
/// changes triggers one reload.
pub fn watch(catalogue: Arc<Catalogue>) -> anyhow::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // The catalogue's own record (`<dir>/.kezek`) changes after each reload: not a deployment.
    let own = std::fs::canonicalize(catalogue.dir())
        .unwrap_or_else(|_| catalogue.dir().to_owned())
        .join(crate::STATE_DIR);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let ours = !event.paths.is_empty() && event.paths.iter().all(|p| p.starts_with(&own));
        if !event.kind.is_access() && !ours {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(catalogue.dir(), RecursiveMode::Recursive)?;
    if let Some(rules) = catalogue.rules_dir() {
        watcher.watch(rules, RecursiveMode::NonRecursive)?;
    }
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Let the deployment finish, then take every event it made as one.
            loop {
                match tokio::time::timeout(SETTLE, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            match catalogue.reload().await {
                Ok(report) => tracing::info!(%report, "adapters directory changed"),
                Err(e) => tracing::error!(error = %e, "reload after a directory change failed"),
            }
        }
    });
    Ok(watcher)
}
