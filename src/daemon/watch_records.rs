//! Watches the records directory with `notify` so an edited record file is reloaded without
//! waiting for the next cycle. Events are coalesced by the daemon (debounced).

use std::path::Path;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Start watching `dir`; `None` (logged) when it cannot be watched: records still reload
/// every cycle.
pub fn watch(dir: &Path, tx: mpsc::Sender<()>) -> Option<RecommendedWatcher> {
    let handler = move |res: notify::Result<notify::Event>| match res {
        Ok(ev) if ev.kind.is_create() || ev.kind.is_modify() || ev.kind.is_remove() => {
            // A full channel already holds a pending reload.
            let _ = tx.try_send(());
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "records directory watch error"),
    };
    let mut w = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the records directory; records reload every cycle");
            return None;
        }
    };
    if let Err(e) = w.watch(dir, RecursiveMode::NonRecursive) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the records directory; records reload every cycle");
        return None;
    }
    tracing::debug!(dir = %dir.display(), "watching change records");
    Some(w)
}
