//! One kind's watch task: `kube::runtime::watcher` with the default backoff, applying each
//! event to the kind's state in `Shared` (a relist is buffered and swapped in whole at
//! `InitDone`), counting events, classifying errors, and telling the daemon after a change.
//! An object that cannot be read or is larger than `normalize::MAX_OBJECT_BYTES` is skipped
//! (counted, logged; its last readable version stays) and the watch goes on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;

use super::{KindSpec, Shared, Touched, normalize};
use crate::metrics::{KubeEventLabels, Metrics};
use crate::model::{FailureKind, Kind, Resource, Scope};

/// Why a watch is not (yet) usable, as a failure kind and a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchErrorKind {
    /// The kind could not be resolved through API discovery (unknown CRD, unreachable).
    Discovery,
    /// The initial list or a relist failed.
    ListFailed,
    /// A watch could not be started.
    WatchStartFailed,
    /// The API server ended the watch with 410 Gone: the watcher relists.
    Gone,
    /// Another error event from the API server during a watch.
    WatchError,
    /// The watch connection failed.
    WatchFailed,
    /// An object in the stream could not be decoded or normalized; it is skipped.
    Malformed,
    /// An object larger than `normalize::MAX_OBJECT_BYTES`; it is skipped.
    TooLarge,
    /// The API server refused (RBAC).
    Forbidden,
}

impl WatchErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WatchErrorKind::Discovery => "discovery",
            WatchErrorKind::ListFailed => "list_failed",
            WatchErrorKind::WatchStartFailed => "watch_start_failed",
            WatchErrorKind::Gone => "gone",
            WatchErrorKind::WatchError => "watch_error",
            WatchErrorKind::WatchFailed => "watch_failed",
            WatchErrorKind::Malformed => "malformed",
            WatchErrorKind::TooLarge => "too_large",
            WatchErrorKind::Forbidden => "forbidden",
        }
    }

    /// One object was skipped; the watch itself is healthy.
    pub(super) fn skips_object(self) -> bool {
        matches!(self, WatchErrorKind::Malformed | WatchErrorKind::TooLarge)
    }

    pub(super) fn failure(self) -> FailureKind {
        match self {
            WatchErrorKind::Forbidden => FailureKind::Denied,
            WatchErrorKind::Malformed | WatchErrorKind::TooLarge => FailureKind::InvalidResponse,
            WatchErrorKind::Discovery
            | WatchErrorKind::ListFailed
            | WatchErrorKind::WatchStartFailed
            | WatchErrorKind::WatchFailed => FailureKind::Unreachable,
            WatchErrorKind::Gone | WatchErrorKind::WatchError => FailureKind::Other,
        }
    }
}

fn classify(e: &watcher::Error) -> WatchErrorKind {
    let forbidden = |c: &kube::Error| matches!(c, kube::Error::Api(s) if s.code == 403);
    match e {
        watcher::Error::InitialListFailed(c) if forbidden(c) => WatchErrorKind::Forbidden,
        watcher::Error::WatchStartFailed(c) if forbidden(c) => WatchErrorKind::Forbidden,
        watcher::Error::InitialListFailed(kube::Error::SerdeError(_))
        | watcher::Error::WatchFailed(kube::Error::SerdeError(_)) => WatchErrorKind::Malformed,
        // kube-client reads a watch line it cannot decode as an event as a `Status` when it
        // can (every Status field is optional): one without a code is an undecodable object,
        // not an answer from the API server.
        watcher::Error::WatchFailed(kube::Error::Api(s)) if s.code == 0 => {
            WatchErrorKind::Malformed
        }
        watcher::Error::InitialListFailed(_) => WatchErrorKind::ListFailed,
        watcher::Error::WatchStartFailed(_) => WatchErrorKind::WatchStartFailed,
        watcher::Error::WatchError(s) if s.code == 410 => WatchErrorKind::Gone,
        watcher::Error::WatchError(s) if s.code == 403 => WatchErrorKind::Forbidden,
        watcher::Error::WatchError(_) => WatchErrorKind::WatchError,
        watcher::Error::WatchFailed(_) => WatchErrorKind::WatchFailed,
        watcher::Error::NoResourceVersion => WatchErrorKind::WatchError,
    }
}

/// One kind's watch task.
pub(super) struct Watch {
    pub(super) client: kube::Client,
    pub(super) scope: Scope,
    pub(super) index: usize,
    pub(super) spec: KindSpec,
    /// The model kind and its `group/version/Kind` label, built once (every event uses them).
    pub(super) kind: Kind,
    pub(super) label: String,
    pub(super) shared: Arc<Shared>,
    pub(super) metrics: Metrics,
    pub(super) touched: Option<mpsc::Sender<Touched>>,
}

impl Watch {
    fn count(&self, event: &str) {
        self.metrics
            .kube_watch_events
            .get_or_create(&KubeEventLabels {
                scope: self.scope.to_string(),
                kind: self.label.clone(),
                event: event.to_string(),
            })
            .inc();
    }

    fn error(&self, kind: WatchErrorKind, message: String) {
        // A skipped object is not a failing watch: the kind stays healthy.
        if !kind.skips_object() {
            self.shared.lock()[self.index].last_error =
                Some((Instant::now(), kind, message.clone()));
        }
        let label = &self.label;
        self.count(&format!("error_{}", kind.as_str()));
        match kind {
            WatchErrorKind::Gone => {
                tracing::info!(scope = %self.scope, kind = %label, "watch expired (410 Gone); relisting and reconciling with the stored state")
            }
            WatchErrorKind::Malformed | WatchErrorKind::TooLarge => {
                tracing::warn!(scope = %self.scope, kind = %label, error = %message, "skipping an object that cannot be read; the watch goes on")
            }
            _ => {
                tracing::warn!(scope = %self.scope, kind = %label, error = kind.as_str(), "watch failed, retrying with backoff: {message}")
            }
        }
    }

    fn touch(&self) {
        if let Some(tx) = &self.touched {
            // A full channel already holds a wake-up for the daemon: dropping this one loses
            // nothing, the next cycle reads the whole state.
            let _ = tx.try_send(Touched {
                scope: self.scope.clone(),
                at: Instant::now(),
            });
        }
    }

    async fn resolve(&self) -> ApiResource {
        if let Some(plural) = self.spec.plural {
            return ApiResource::from_gvk_with_plural(&self.spec.gvk, plural);
        }
        let mut delay = Duration::from_millis(500);
        loop {
            match kube::discovery::pinned_kind(&self.client, &self.spec.gvk).await {
                Ok((ar, _caps)) => return ar,
                Err(e) => {
                    self.error(WatchErrorKind::Discovery, e.to_string());
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(60));
                }
            }
        }
    }

    fn normalized(&self, obj: &DynamicObject) -> Option<(String, Resource)> {
        let value = match serde_json::to_value(obj) {
            Ok(v) => v,
            Err(e) => {
                self.error(WatchErrorKind::Malformed, e.to_string());
                return None;
            }
        };
        if let Err(e) = normalize::check_size(&self.kind, &value, normalize::MAX_OBJECT_BYTES) {
            self.error(WatchErrorKind::TooLarge, e.to_string());
            return None;
        }
        match normalize::normalize(&self.scope, &self.kind, &value) {
            Ok(r) => Some((r.key.id.clone(), r)),
            Err(e) => {
                self.error(WatchErrorKind::Malformed, e.to_string());
                None
            }
        }
    }

    fn id_of(obj: &DynamicObject) -> Option<String> {
        let name = obj.metadata.name.as_deref()?;
        Some(normalize::object_id(
            obj.metadata.namespace.as_deref(),
            name,
        ))
    }

    pub(super) async fn run(self) {
        let ar = self.resolve().await;
        self.shared.lock()[self.index].api = Some(ar.clone());
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
        let mut stream = watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(item) = stream.next().await {
            let event = match item {
                Ok(e) => e,
                Err(e) => {
                    self.error(classify(&e), e.to_string());
                    continue;
                }
            };
            match event {
                Event::Init => {
                    self.shared.lock()[self.index].pending = Some(BTreeMap::new());
                }
                Event::InitApply(obj) => {
                    let normalized = self.normalized(&obj);
                    let mut kinds = self.shared.lock();
                    let k = &mut kinds[self.index];
                    let pending = k.pending.get_or_insert_with(BTreeMap::new);
                    match normalized {
                        Some((id, r)) => {
                            pending.insert(id, r);
                        }
                        // Unreadable now: keep what was last read rather than infer a delete.
                        None => {
                            if let Some(id) = Self::id_of(&obj)
                                && let Some(prev) = k.objects.get(&id).cloned()
                            {
                                k.pending.get_or_insert_with(BTreeMap::new).insert(id, prev);
                            }
                        }
                    }
                }
                Event::InitDone => {
                    let first = {
                        let mut kinds = self.shared.lock();
                        let k = &mut kinds[self.index];
                        k.objects = k.pending.take().unwrap_or_default();
                        k.last_ok = Some(Instant::now());
                        let first = !k.synced;
                        k.synced = true;
                        first
                    };
                    self.count("listed");
                    if first {
                        self.shared.synced.notify_waiters();
                    } else {
                        // A relist may hide changes made while the watch was down.
                        self.touch();
                    }
                }
                Event::Apply(obj) => {
                    if let Some((id, r)) = self.normalized(&obj) {
                        let mut kinds = self.shared.lock();
                        let k = &mut kinds[self.index];
                        k.objects.insert(id, r);
                        k.last_ok = Some(Instant::now());
                    }
                    self.count("apply");
                    self.touch();
                }
                Event::Delete(obj) => {
                    if let Some(id) = Self::id_of(&obj) {
                        let mut kinds = self.shared.lock();
                        let k = &mut kinds[self.index];
                        k.objects.remove(&id);
                        k.last_ok = Some(Instant::now());
                    }
                    self.count("delete");
                    self.touch();
                }
            }
        }
    }
}
