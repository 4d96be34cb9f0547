//! Runs the synchronous store on its own thread; async code sends it closures and awaits the
//! answer, so the runtime never blocks on SQLite.

use tokio::sync::{mpsc, oneshot};

use super::{Db, Result, StoreError};

type Job = Box<dyn FnOnce(&mut Db) + Send>;

/// A cloneable handle to the store thread. The thread ends when every handle is dropped,
/// after finishing the jobs already queued.
#[derive(Clone)]
pub struct StoreHandle {
    tx: mpsc::Sender<Job>,
}

impl StoreHandle {
    /// Move `db` onto a new thread.
    pub fn spawn(mut db: Db) -> std::io::Result<(StoreHandle, std::thread::JoinHandle<()>)> {
        let (tx, mut rx) = mpsc::channel::<Job>(64);
        let join = std::thread::Builder::new()
            .name("driftwatch-store".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    job(&mut db);
                }
            })?;
        Ok((StoreHandle { tx }, join))
    }

    /// Run `f` on the store thread and return its result.
    pub async fn call<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut Db) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (done, answer) = oneshot::channel();
        let job: Job = Box::new(move |db| {
            // The receiver may have gone away (caller cancelled); nothing to do then.
            let _ = done.send(f(db));
        });
        self.tx.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}
