//! `driftwatch run`: the daemon with signal-driven shutdown.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use super::Exit;
use crate::config::Config;
use crate::daemon::Daemon;

pub async fn run(cfg: Config) -> anyhow::Result<Exit> {
    let daemon = Daemon::build(cfg).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let which = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(
            signal = which,
            "stop requested: finishing the cycle in flight"
        );
        let _ = stop_tx.send(true);
    });
    daemon.run(stop_rx).await?;
    Ok(Exit::Ok)
}
