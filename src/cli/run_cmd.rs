//! `driftwatch run`: the daemon with signal-driven shutdown (SIGTERM, SIGINT) and config
//! reload (SIGHUP).

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Exit, Loader};
use crate::config::Config;
use crate::daemon::{Control, Daemon};

pub async fn run(loader: Loader, cfg: Config) -> anyhow::Result<Exit> {
    let daemon = Daemon::build(cfg).await?;
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let (reload_tx, reload_rx) = mpsc::channel(4);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {
                    tracing::info!(signal = "SIGTERM", "stop requested: finishing the cycle in flight");
                    stop.cancel();
                }
                _ = int.recv() => {
                    tracing::info!(signal = "SIGINT", "stop requested: finishing the cycle in flight");
                    stop.cancel();
                }
                _ = hup.recv() => {
                    tracing::info!(signal = "SIGHUP", config = %loader.path.display(), "reloading config");
                    let loaded = loader.load();
                    if reload_tx.send(loaded).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    daemon
        .run(Control {
            shutdown,
            reload: reload_rx,
        })
        .await?;
    Ok(Exit::Ok)
}
