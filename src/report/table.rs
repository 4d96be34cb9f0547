//! The report's tables, each column defined once: its header in every format that shows it
//! (HTML, XLSX, CSV) and how to read its cell from a row. The renderers iterate these lists,
//! so adding or changing a column is one edit here. A `Cell` says what a value is (text, a
//! time, a number, links); each renderer decides how that looks in its format.

use std::borrow::Cow;

use super::{
    NotApplied, RecordUse, ReportChange, Requirement, ScopeCoverage, Session, alerts_summary,
    blind_summary, fields_summary, findings_summary, record_use_summary,
};

/// One value of a table, typed for the renderers.
pub(super) enum Cell<'a> {
    Text(Cow<'a, str>),
    /// An identifier: monospace in HTML.
    Code(&'a str),
    /// Text with a second line the HTML shows muted (the kind under a resource's name).
    Noted(&'a str, Option<Cow<'a, str>>),
    /// A time: a real date-time in XLSX (an empty cell when absent); text elsewhere, the
    /// placeholder when absent.
    Time(Option<&'a str>, &'static str),
    Number(i64),
    /// URLs: links (http(s) only) one per line in HTML, space-separated text elsewhere.
    Links(&'a [String]),
    /// A record id, linked in HTML to its ticket when imported (`-` when there is none).
    Record {
        id: Option<&'a str>,
        url: Option<&'a str>,
    },
    /// Where something comes from: a link to `url` in HTML when there is one, else `name`.
    Source {
        url: Option<&'a str>,
        name: &'a str,
    },
    /// Names of report sections: in-page links in HTML, comma-separated elsewhere.
    Anchors(&'a [String]),
    /// A list joined by `sep`; the HTML shows `none` when it is empty.
    Listed(&'a [String], &'static str, &'static str),
}

impl Cell<'_> {
    /// The cell as plain text (CSV, and XLSX for everything but times and numbers).
    pub(super) fn text(&self) -> Cow<'_, str> {
        match self {
            Cell::Text(s) => Cow::Borrowed(s),
            Cell::Code(s) | Cell::Noted(s, _) => Cow::Borrowed(s),
            Cell::Time(t, none) => Cow::Borrowed(t.unwrap_or(none)),
            Cell::Number(n) => Cow::Owned(n.to_string()),
            Cell::Links(l) => Cow::Owned(l.join(" ")),
            Cell::Record { id, .. } => Cow::Borrowed(id.unwrap_or("")),
            Cell::Source { name, .. } => Cow::Borrowed(name),
            Cell::Anchors(a) => Cow::Owned(a.join(", ")),
            Cell::Listed(l, sep, _) => Cow::Owned(l.join(sep)),
        }
    }
}

fn text<'a>(s: impl Into<Cow<'a, str>>) -> Cell<'a> {
    Cell::Text(s.into())
}

fn opt(s: &Option<String>) -> Cell<'_> {
    text(s.as_deref().unwrap_or(""))
}

/// One column: its header per format (`None`: the format does not show it) and its cell.
pub(super) struct Column<R> {
    pub(super) html: Option<&'static str>,
    pub(super) xlsx: Option<&'static str>,
    pub(super) csv: Option<&'static str>,
    pub(super) cell: fn(&R) -> Cell<'_>,
}

impl<R> Column<R> {
    /// A column HTML and XLSX show under `header`.
    const fn both(header: &'static str, cell: fn(&R) -> Cell<'_>) -> Self {
        Column {
            html: Some(header),
            xlsx: Some(header),
            csv: None,
            cell,
        }
    }

    /// A column of the changes table: HTML and XLSX under `header`, CSV under `csv`.
    const fn all(header: &'static str, csv: &'static str, cell: fn(&R) -> Cell<'_>) -> Self {
        Column {
            html: Some(header),
            xlsx: Some(header),
            csv: Some(csv),
            cell,
        }
    }

    const fn only(
        html: Option<&'static str>,
        xlsx: Option<&'static str>,
        csv: Option<&'static str>,
        cell: fn(&R) -> Cell<'_>,
    ) -> Self {
        Column {
            html,
            xlsx,
            csv,
            cell,
        }
    }
}

/// Under the actor: what they are to the record (an approver making the change is a
/// segregation-of-duties problem), else how the event was found.
fn who_note(c: &ReportChange) -> Option<Cow<'_, str>> {
    match (c.entry.actor_role, &c.entry.attribution) {
        (Some(crate::model::PersonRole::Approver), _) => {
            Some("approved its record: segregation of duties".into())
        }
        (Some(crate::model::PersonRole::Requester), _) => Some("its record's requester".into()),
        (None, Some(a)) => Some(format!("{} via {}", a.client, a.event_name).into()),
        (None, None) => None,
    }
}

/// The changes of the period, one row per change.
pub(super) static CHANGES: [Column<ReportChange>; 24] = [
    Column::all("Observed", "observed_at", |c| {
        Cell::Time(Some(&c.entry.observed_at), "")
    }),
    Column::all("Drift", "drift_id", |c| Cell::Code(&c.entry.drift_id)),
    Column::all("Decision", "decision", |c| text(c.entry.decision.as_str())),
    Column::all("Severity", "severity", |c| text(c.entry.severity.as_str())),
    Column::all("Scope", "scope", |c| text(&c.entry.scope)),
    Column::only(None, Some("Kind"), Some("kind"), |c| text(&c.entry.kind)),
    Column::only(None, None, Some("resource_id"), |c| {
        text(&c.entry.resource_id)
    }),
    Column::all("Resource", "resource", |c| {
        Cell::Noted(&c.entry.name, Some(Cow::Borrowed(&c.entry.kind)))
    }),
    Column::all("Action", "action", |c| text(c.entry.action.as_str())),
    Column::all("Fields", "fields", |c| text(fields_summary(&c.entry))),
    Column::all("Findings", "findings", |c| text(findings_summary(&c.entry))),
    Column::all("Who", "actor", |c| {
        Cell::Noted(c.entry.actor.as_deref().unwrap_or(""), who_note(c))
    }),
    Column::all("Record", "record_id", |c| Cell::Record {
        id: c.entry.record_id.as_deref(),
        url: c.entry.record_url.as_deref(),
    }),
    Column::all("Requester", "requester", |c| opt(&c.requester)),
    Column::all("Approvers", "approvers", |c| text(c.approvers.join("; "))),
    Column::all("Window", "window", |c| opt(&c.window)),
    Column::only(Some("Evidence"), None, Some("evidence"), |c| {
        Cell::Links(&c.evidence)
    }),
    Column::all("Reason", "reason", |c| text(&c.entry.reason)),
    Column::all("Retrospective", "retrospective", |c| {
        let due = c
            .retrospective
            .due_at
            .as_ref()
            .map(|d| format!("due {d}").into());
        Cell::Noted(&c.retrospective.status, due)
    }),
    Column::only(
        None,
        Some("Retrospective due"),
        Some("retrospective_due"),
        |c| Cell::Time(c.retrospective.due_at.as_deref(), ""),
    ),
    Column::only(None, None, Some("retrospective_filed_by"), |c| {
        opt(&c.retrospective.filed_by)
    }),
    Column::only(None, None, Some("closed_reason"), |c| {
        text(c.closed.as_ref().map(|x| x.reason.as_str()).unwrap_or(""))
    }),
    Column::only(Some("Alerted"), Some("Alerts"), Some("alerts"), |c| {
        text(alerts_summary(c))
    }),
    Column::only(None, Some("Ledger seq"), Some("ledger_seq"), |c| {
        Cell::Number(c.ledger_seq)
    }),
];

/// Every scope with its baseline, failed polls and blind periods.
pub(super) static COVERAGE: [Column<ScopeCoverage>; 4] = [
    Column::both("Scope", |s| text(&s.scope)),
    Column::both("Baseline", |s| {
        Cell::Time(s.baseline_at.as_deref(), "never")
    }),
    Column::both("Failed polls", |s| Cell::Number(s.failed_polls as i64)),
    Column::both("Blind periods", |s| text(blind_summary(s))),
];

/// The records in force and what used them.
pub(super) static RECORDS: [Column<RecordUse>; 12] = [
    Column::both("Id", |r| text(&r.id)),
    Column::both("Type", |r| text(&r.record_type)),
    Column::both("Title", |r| text(&r.title)),
    Column::both("Requested by", |r| text(&r.requested_by)),
    Column::both("Approved by", |r| text(r.approved_by.join("; "))),
    Column::both("Window", |r| opt(&r.window)),
    // The HTML folds the two flags below into its summary; the workbook lists drift ids and
    // gives each flag a column to filter on.
    Column::only(Some("Used by"), None, None, |r| text(record_use_summary(r))),
    Column::only(None, Some("Used by"), None, |r| text(r.used_by.join(", "))),
    Column::only(None, Some("Standard never used"), None, |r| {
        text(if r.standard_never_used { "yes" } else { "" })
    }),
    Column::only(None, Some("Window passed unused"), None, |r| {
        text(if r.window_passed_unused { "yes" } else { "" })
    }),
    Column::only(Some("Evidence"), None, None, |r| Cell::Links(&r.evidence)),
    Column::both("File", |r| Cell::Source {
        url: r.url.as_deref(),
        name: &r.origin,
    }),
];

/// Break-glass sessions.
pub(super) static BREAK_GLASS: [Column<Session>; 8] = [
    Column::both("Session", |b| text(&b.id)),
    Column::both("Requested by", |b| text(&b.requested_by)),
    Column::both("Opened", |b| Cell::Time(Some(&b.opened_at), "")),
    Column::both("Planned end", |b| Cell::Time(Some(&b.planned_end), "")),
    Column::both("Closed", |b| {
        Cell::Time(b.closed_at.as_deref(), "not closed")
    }),
    Column::both("Minutes", |b| Cell::Number(b.duration_minutes)),
    Column::both("Changes", |b| text(b.changes.join(", "))),
    Column::both("Retrospective", |b| {
        text(b.retrospective.as_deref().unwrap_or("MISSING"))
    }),
];

/// Planned resources never observed by their record's window end.
pub(super) static NOT_APPLIED: [Column<NotApplied>; 6] = [
    Column::both("Record", |n| text(&n.record_id)),
    Column::both("Plan address", |n| text(&n.address)),
    Column::both("Planned", |n| text(format!("{} {}", n.action, n.kind))),
    Column::both("Resource", |n| text(&n.resource)),
    Column::both("Window end", |n| Cell::Time(Some(&n.window_end), "")),
    Column::both("Plan", |n| text(&n.plan)),
];

/// The compliance mapping.
pub(super) static COMPLIANCE: [Column<Requirement>; 6] = [
    Column::both("Framework", |q| text(&q.framework)),
    Column::both("Control", |q| text(&q.control)),
    Column::both("Title", |q| text(&q.title)),
    Column::both("Evidence", |q| text(&q.evidence)),
    Column::both("Sections", |q| Cell::Anchors(&q.sections)),
    Column::both("Exceptions", |q| Cell::Listed(&q.exceptions, ", ", "none")),
];
