//! Loaders for change records kept in ticket systems (IO): one per configured source, each
//! polled on its own interval, paging to the end. A poll turns every ticket into a record or
//! precise rejections (`records::ticket`, pure); a failed poll keeps the last good set, which
//! is also written to the state directory so a restart while the system is down still has it.

mod github;
mod http;
mod jira;
mod linear;

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::ticket::{self, Ticket};
use super::{RecordError, ValidationSettings};
use crate::config::{Config, FieldError, RecordsConfig, SecretError};
use crate::model::ChangeRecord;

/// Why a poll failed (the `kind` label of `driftwatch_records_source_errors`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    Unreachable,
    Timeout,
    /// 401 or 403: the token is wrong or lacks a permission.
    Denied,
    RateLimited,
    /// 5xx.
    Server,
    /// An answer of the wrong shape, a repeated page, GraphQL errors, another status.
    InvalidResponse,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Unreachable => "unreachable",
            FailureKind::Timeout => "timeout",
            FailureKind::Denied => "denied",
            FailureKind::RateLimited => "rate_limited",
            FailureKind::Server => "server_error",
            FailureKind::InvalidResponse => "invalid_response",
        }
    }
}

/// A failed poll. The message never holds a URL or a token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} ({})", .message, .kind.as_str())]
pub struct RemoteError {
    pub kind: FailureKind,
    pub message: String,
}

impl RemoteError {
    pub fn new(kind: FailureKind, message: String) -> Self {
        RemoteError { kind, message }
    }
}

/// Why a source's loader could not be built from its section.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Token(#[from] SecretError),
    #[error(transparent)]
    Client(#[from] RemoteError),
}

/// Which ticket system a source reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    Github,
    Jira,
    Linear,
}

impl System {
    pub fn as_str(self) -> &'static str {
        match self {
            System::Github => "github",
            System::Jira => "jira",
            System::Linear => "linear",
        }
    }
}

enum Client {
    Github(github::Github),
    Jira(jira::Jira),
    Linear(linear::Linear),
}

/// The last good set of a source: what its last successful poll produced.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub fetched_at: Option<Timestamp>,
    pub records: Vec<ChangeRecord>,
    pub rejected: Vec<RecordError>,
}

/// What one poll of one source did.
#[derive(Clone, Debug)]
pub struct PollOutcome {
    pub source: String,
    pub system: System,
    pub result: Result<PollStats, RemoteError>,
}

#[derive(Clone, Debug)]
pub struct PollStats {
    pub tickets: usize,
    pub records: usize,
    pub rejected: usize,
    /// Answers unchanged since the last poll (HTTP 304).
    pub unchanged: u64,
}

pub struct Loader {
    pub name: String,
    pub system: System,
    pub interval: Duration,
    pub stale_after: SignedDuration,
    client: Client,
    pub snapshot: Snapshot,
    /// When this loader started (the age of a source that never answered).
    pub since: Timestamp,
    next_due: Option<tokio::time::Instant>,
    pub last_error: Option<RemoteError>,
    /// The outage a `records_source_stale` alert is out for (the last good poll's time, or
    /// the start): set by the daemon, cleared when the source answers again.
    pub stale_episode: Option<String>,
    /// Position in the config (loaders polled on a task come back in this order).
    order: usize,
}

impl Loader {
    /// A loader that has not polled yet, started at `now`.
    fn new(
        name: &str,
        system: System,
        interval: Duration,
        stale_after: SignedDuration,
        client: Client,
        now: Timestamp,
    ) -> Loader {
        Loader {
            name: name.to_string(),
            system,
            interval,
            stale_after,
            client,
            snapshot: Snapshot::default(),
            since: now,
            next_due: None,
            last_error: None,
            stale_episode: None,
            order: 0,
        }
    }

    /// Seconds since the last good poll (or since start when there never was one).
    pub fn age(&self, now: Timestamp) -> SignedDuration {
        now.duration_since(self.snapshot.fetched_at.unwrap_or(self.since))
    }

    pub fn is_stale(&self, now: Timestamp) -> bool {
        self.age(now) > self.stale_after
    }

    async fn poll(&mut self, settings: &ValidationSettings, at: Timestamp) -> PollOutcome {
        let fetched = match &mut self.client {
            Client::Github(c) => c.fetch().await,
            Client::Jira(c) => c.fetch().await,
            Client::Linear(c) => c.fetch().await,
        };
        let result = fetched.map(|(tickets, unchanged)| {
            let (records, rejected) = convert(&tickets, settings);
            let stats = PollStats {
                tickets: tickets.len(),
                records: records.len(),
                rejected: rejected.len(),
                unchanged,
            };
            self.snapshot = Snapshot {
                fetched_at: Some(at),
                records,
                rejected,
            };
            self.last_error = None;
            stats
        });
        if let Err(e) = &result {
            self.last_error = Some(e.clone());
        }
        PollOutcome {
            source: self.name.clone(),
            system: self.system,
            result,
        }
    }
}

/// Every ticket as a record, or its rejections; ids unique within the source.
pub fn convert(
    tickets: &[Ticket],
    settings: &ValidationSettings,
) -> (Vec<ChangeRecord>, Vec<RecordError>) {
    let mut records: Vec<ChangeRecord> = Vec::new();
    let mut rejected = Vec::new();
    for t in tickets {
        match ticket::to_record_checked(t, settings).map(|(r, warnings)| {
            for w in warnings {
                tracing::warn!(ticket = %t.label(), plan = %w.plan, address = %w.address, warning = %w.message, "planned change not reconciled");
            }
            r
        }) {
            Ok(r) if records.iter().any(|x| x.id == r.id) => rejected.push(RecordError {
                file: t.label(),
                line: 0,
                field: "id".into(),
                message: format!("duplicate ticket {} in the answer", r.id),
                rule: super::RejectionRule::DuplicateId,
            }),
            Ok(r) => records.push(r),
            Err(mut e) => rejected.append(&mut e),
        }
    }
    (records, rejected)
}

/// Every configured ticket source.
#[derive(Default)]
pub struct RemoteRecords {
    loaders: Vec<Loader>,
    cache_dir: Option<PathBuf>,
}

impl RemoteRecords {
    /// Build each source's loader from its section (tokens read now; errors name the
    /// section) and load each source's last good set from `cache_dir` when given.
    pub fn from_config(
        records: &RecordsConfig,
        cache_dir: Option<&Path>,
        now: Timestamp,
    ) -> Result<RemoteRecords, Vec<FieldError>> {
        let built = (records.github.iter().enumerate())
            .map(|(i, c)| (format!("records.github[{i}]"), c.build(now)))
            .chain(
                (records.jira.iter().enumerate())
                    .map(|(i, c)| (format!("records.jira[{i}]"), c.build(now))),
            )
            .chain(
                (records.linear.iter().enumerate())
                    .map(|(i, c)| (format!("records.linear[{i}]"), c.build(now))),
            );
        let mut loaders = Vec::new();
        let mut errs = Vec::new();
        for (i, (field, loader)) in built.enumerate() {
            match loader {
                Ok(mut l) => {
                    l.order = i;
                    loaders.push(l)
                }
                Err(e) => errs.push(FieldError {
                    field,
                    message: match e {
                        BuildError::Token(t) => t.problem.to_string(),
                        BuildError::Client(c) => c.to_string(),
                    },
                }),
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        let mut set = RemoteRecords {
            loaders,
            cache_dir: cache_dir.map(Path::to_path_buf),
        };
        set.load_cache();
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        self.loaders.is_empty()
    }

    pub fn loaders(&self) -> &[Loader] {
        &self.loaders
    }

    pub fn loaders_mut(&mut self) -> &mut [Loader] {
        &mut self.loaders
    }

    /// The earliest time a source is due (none without sources).
    pub fn next_due(&self) -> Option<tokio::time::Instant> {
        let now = tokio::time::Instant::now();
        self.loaders.iter().map(|l| l.next_due.unwrap_or(now)).min()
    }

    /// Poll every source that is due (all of them the first time), one after the other, and
    /// write each new good set to the cache.
    pub async fn refresh_due(
        &mut self,
        settings: &ValidationSettings,
        at: Timestamp,
    ) -> Vec<PollOutcome> {
        let now = tokio::time::Instant::now();
        let mut out = Vec::new();
        for l in &mut self.loaders {
            if l.next_due.is_some_and(|d| d > now) {
                continue;
            }
            let outcome = l.poll(settings, at).await;
            l.next_due = Some(tokio::time::Instant::now() + l.interval);
            if outcome.result.is_ok()
                && let Some(dir) = &self.cache_dir
                && let Err(e) = write_cache(dir, &l.name, &l.snapshot)
            {
                tracing::warn!(source = %l.name, error = %e, "cannot write the records cache; the set stays in memory");
            }
            out.push(outcome);
        }
        out
    }

    /// Take the due sources out and poll them on a task of their own, concurrently, so a
    /// ticket system that answers slowly holds up no cycle; `finish` puts them back. `None`
    /// when nothing is due. The cache is written on the blocking pool.
    pub fn start_due(
        &mut self,
        settings: &ValidationSettings,
        at: Timestamp,
    ) -> Option<tokio::task::JoinHandle<Vec<(Loader, PollOutcome)>>> {
        let now = tokio::time::Instant::now();
        let (due, rest): (Vec<Loader>, Vec<Loader>) = std::mem::take(&mut self.loaders)
            .into_iter()
            .partition(|l| l.next_due.is_none_or(|d| d <= now));
        self.loaders = rest;
        if due.is_empty() {
            return None;
        }
        let settings = settings.clone();
        let cache_dir = self.cache_dir.clone();
        Some(tokio::spawn(async move {
            let polls = due.into_iter().map(|mut l| {
                let settings = &settings;
                async move {
                    let outcome = l.poll(settings, at).await;
                    (l, outcome)
                }
            });
            let polled = futures::future::join_all(polls).await;
            if let Some(dir) = cache_dir {
                let good: Vec<(String, Snapshot)> = polled
                    .iter()
                    .filter(|(_, o)| o.result.is_ok())
                    .map(|(l, _)| (l.name.clone(), l.snapshot.clone()))
                    .collect();
                let written = tokio::task::spawn_blocking(move || {
                    good.into_iter()
                        .filter_map(|(name, snap)| {
                            write_cache(&dir, &name, &snap).err().map(|e| (name, e))
                        })
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default();
                for (source, e) in written {
                    tracing::warn!(source = %source, error = %e, "cannot write the records cache; the set stays in memory");
                }
            }
            polled
        }))
    }

    /// Put the sources a `start_due` task polled back, each due again after its interval,
    /// in config order. Returns what the polls did.
    pub fn finish(&mut self, polled: Vec<(Loader, PollOutcome)>) -> Vec<PollOutcome> {
        let now = tokio::time::Instant::now();
        let mut outcomes = Vec::new();
        for (mut l, o) in polled {
            l.next_due = Some(now + l.interval);
            self.loaders.push(l);
            outcomes.push(o);
        }
        self.loaders.sort_by_key(|l| l.order);
        outcomes
    }

    /// Poll every source now, whatever its schedule (`records check --sources`).
    pub async fn refresh_all(
        &mut self,
        settings: &ValidationSettings,
        at: Timestamp,
    ) -> Vec<PollOutcome> {
        for l in &mut self.loaders {
            l.next_due = None;
        }
        self.refresh_due(settings, at).await
    }

    fn load_cache(&mut self) {
        let Some(dir) = &self.cache_dir else { return };
        for l in &mut self.loaders {
            let path = cache_path(dir, &l.name);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            match serde_json::from_str::<Snapshot>(&text) {
                Ok(s) => {
                    tracing::info!(source = %l.name, records = s.records.len(), fetched_at = ?s.fetched_at.map(|t| t.to_string()), "last good set of imported records loaded");
                    l.snapshot = s;
                }
                Err(e) => {
                    tracing::warn!(source = %l.name, file = %path.display(), error = %e, "records cache unreadable; ignored")
                }
            }
        }
    }
}

fn cache_path(dir: &Path, source: &str) -> PathBuf {
    dir.join(format!("{source}.json"))
}

/// The last good set of every source named in `sources`, read from the cache directory
/// (for one-shot commands such as `report`).
pub fn cached_snapshots(dir: &Path, sources: &[String]) -> Vec<(String, Snapshot)> {
    sources
        .iter()
        .filter_map(|s| {
            let text = std::fs::read_to_string(cache_path(dir, s)).ok()?;
            Some((s.clone(), serde_json::from_str(&text).ok()?))
        })
        .collect()
}

/// Write atomically: a temporary file renamed over the old one.
fn write_cache(dir: &Path, source: &str, s: &Snapshot) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = cache_path(dir, source);
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string(s).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)
}

/// Names of the configured sources.
pub fn source_names(cfg: &Config) -> Vec<String> {
    cfg.records.source_names()
}

/// Where the last good sets live: `<state_dir>/records-cache`.
pub fn cache_dir(cfg: &Config) -> PathBuf {
    cfg.state_dir.join("records-cache")
}
