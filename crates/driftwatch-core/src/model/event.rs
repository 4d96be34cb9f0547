//! The events alerts and routes speak of: shared vocabulary of the pipeline (which decides
//! them), the config (whose routes select them) and the sinks (which deliver them), so none of
//! those depends on another for it.

use serde::{Deserialize, Serialize};

/// What an alert is about; routes select on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Unmatched,
    Violation,
    Matched,
    SourceBlind,
    SourceRecovered,
    RecordRejected,
    /// A sink keeps failing: on-call is told through the other routes.
    DeliveryFailed,
    /// A retrospective record is still owed (before its deadline).
    Reminder,
    /// A retrospective deadline passed.
    Overdue,
    /// A temporary change was not undone by its `revert_by`.
    NotReverted,
    /// A break-glass session is past its planned end and not closed.
    BreakGlassOpen,
    /// A ticket system holding change records has not answered for `stale_after_secs`: its
    /// last good set is still in force, but new or withdrawn records are not seen.
    RecordsSourceStale,
    /// The store could not commit a cycle: changes may go unrecorded and unalerted. Sent
    /// straight to the sinks (the outbox is in the failing store), once per outage.
    StoreFailed,
}

impl EventKind {
    pub const ALL: [EventKind; 13] = [
        EventKind::Unmatched,
        EventKind::Violation,
        EventKind::Matched,
        EventKind::SourceBlind,
        EventKind::SourceRecovered,
        EventKind::RecordRejected,
        EventKind::DeliveryFailed,
        EventKind::Reminder,
        EventKind::Overdue,
        EventKind::NotReverted,
        EventKind::BreakGlassOpen,
        EventKind::RecordsSourceStale,
        EventKind::StoreFailed,
    ];

    /// Every event but `matched`: what a route gets when it names none.
    pub fn alerting() -> Vec<EventKind> {
        Self::ALL
            .into_iter()
            .filter(|e| *e != EventKind::Matched)
            .collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Unmatched => "unmatched",
            EventKind::Violation => "violation",
            EventKind::Matched => "matched",
            EventKind::SourceBlind => "source_blind",
            EventKind::SourceRecovered => "source_recovered",
            EventKind::RecordRejected => "record_rejected",
            EventKind::DeliveryFailed => "delivery_failed",
            EventKind::Reminder => "reminder",
            EventKind::Overdue => "overdue",
            EventKind::NotReverted => "not_reverted",
            EventKind::BreakGlassOpen => "break_glass_open",
            EventKind::RecordsSourceStale => "records_source_stale",
            EventKind::StoreFailed => "store_failed",
        }
    }
}
