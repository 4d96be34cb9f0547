//! Why a change record was rejected, as a closed set: every `RecordError` carries one, the
//! ledger's `record_rejected` entry stores it, and the report decides from it (not from the
//! message's wording) which rejections are segregation-of-duties problems.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The rule a rejected record broke. Each variant names where it is produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionRule {
    /// The YAML does not parse, or a value has the wrong type (`validate`).
    Syntax,
    /// A field the schema does not know (`validate`: the schema denies unknown fields).
    UnknownField,
    /// The file is empty, or its document is neither a record nor a list of records
    /// (`validate`).
    NotARecord,
    /// A required field is absent or empty: id, title, requested_by, an approver's name, the
    /// window of a normal or emergency record, the scope (`validate`).
    MissingField,
    /// Purpose, impact or resources missing on a normal or emergency record (`validate`).
    MissingPillar,
    /// No approval where one is needed (`validate`; a ticket none of whose votes counted, or a
    /// GitHub issue, which has no reviews: `ticket`).
    MissingApproval,
    /// The approver is the requester (`validate`), or a ticket's only approvals came from its
    /// author (`ticket`).
    SelfApproval,
    /// The approver is a bot account (`validate`: the configured patterns), or a ticket's only
    /// approvals came from bot or app accounts (`ticket`).
    BotApprover,
    /// `window.end` is not after `window.start` (`validate`).
    WindowOrder,
    /// `revert_by` before the window, too long after it, or without a window (`validate`).
    RevertBounds,
    /// A scope entry that cannot match: a field of the other provider, an unknown kind, an
    /// invalid glob, a bad `match` (`validate`).
    InvalidScope,
    /// A `plan` that cannot be used: a path outside the records directory, an unreadable
    /// file, not a plan (bad JSON, an unsupported format version), or a planned resource
    /// whose keyed values are malformed (`validate`, `plan::attach`, the directory loader).
    InvalidPlan,
    /// A `retrospective_for` entry that is neither a drift id nor a record id (`validate`).
    RetrospectiveRef,
    /// `closed_at` on a record that is not an emergency one, or before its window (`validate`).
    ClosedAt,
    /// An id defined twice: in one file (`validate`), across files and ticket sources (the
    /// directory loader), twice in one ticket system's answer (the remote loaders).
    DuplicateId,
    /// A ticket without a record block, with a malformed one, or holding a list (`ticket`).
    TicketBlock,
    /// `approved_by` typed into a ticket's block: approval is what the system recorded, never
    /// a name in the text (`ticket`).
    ApprovedInTicketText,
    /// Another field the ticket system provides (id, title, requested_by, a mapped field)
    /// repeated in the block (`ticket`).
    FieldFromTicket,
    /// A ticket field mapped to a record field could not be read (`ticket`, Jira).
    MappedField,
    /// The records directory or a file in it cannot be read (the directory loader).
    Unreadable,
    /// A limit on hostile input: a file over the size cap or a directory with too many files
    /// (the directory loader), YAML nested too deep or expanding too many aliases or nodes
    /// (`validate`, through `yaml`).
    LimitExceeded,
    /// A rule this version does not know (a ledger written by a newer one), or a legacy
    /// message `from_legacy_message` does not recognize.
    #[serde(other)]
    Other,
}

impl RejectionRule {
    /// Every rule, in declaration order.
    pub const ALL: [RejectionRule; 22] = [
        RejectionRule::Syntax,
        RejectionRule::UnknownField,
        RejectionRule::NotARecord,
        RejectionRule::MissingField,
        RejectionRule::MissingPillar,
        RejectionRule::MissingApproval,
        RejectionRule::SelfApproval,
        RejectionRule::BotApprover,
        RejectionRule::WindowOrder,
        RejectionRule::RevertBounds,
        RejectionRule::InvalidScope,
        RejectionRule::InvalidPlan,
        RejectionRule::RetrospectiveRef,
        RejectionRule::ClosedAt,
        RejectionRule::DuplicateId,
        RejectionRule::TicketBlock,
        RejectionRule::ApprovedInTicketText,
        RejectionRule::FieldFromTicket,
        RejectionRule::MappedField,
        RejectionRule::Unreadable,
        RejectionRule::LimitExceeded,
        RejectionRule::Other,
    ];

    /// The name stored in the ledger and shown in reports (`self_approval`).
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionRule::Syntax => "syntax",
            RejectionRule::UnknownField => "unknown_field",
            RejectionRule::NotARecord => "not_a_record",
            RejectionRule::MissingField => "missing_field",
            RejectionRule::MissingPillar => "missing_pillar",
            RejectionRule::MissingApproval => "missing_approval",
            RejectionRule::SelfApproval => "self_approval",
            RejectionRule::BotApprover => "bot_approver",
            RejectionRule::WindowOrder => "window_order",
            RejectionRule::RevertBounds => "revert_bounds",
            RejectionRule::InvalidScope => "invalid_scope",
            RejectionRule::InvalidPlan => "invalid_plan",
            RejectionRule::RetrospectiveRef => "retrospective_ref",
            RejectionRule::ClosedAt => "closed_at",
            RejectionRule::DuplicateId => "duplicate_id",
            RejectionRule::TicketBlock => "ticket_block",
            RejectionRule::ApprovedInTicketText => "approved_in_ticket_text",
            RejectionRule::FieldFromTicket => "field_from_ticket",
            RejectionRule::MappedField => "mapped_field",
            RejectionRule::Unreadable => "unreadable",
            RejectionRule::LimitExceeded => "limit_exceeded",
            RejectionRule::Other => "other",
        }
    }

    /// A one-person change or a machine's approval: what ISO 27001 Annex A 5.3 (segregation
    /// of duties) asks to prevent and the report lists.
    pub fn is_segregation_of_duties(self) -> bool {
        matches!(
            self,
            RejectionRule::SelfApproval | RejectionRule::BotApprover
        )
    }

    /// The rule of a `record_rejected` ledger entry written before entries carried one,
    /// recovered from its field and message. Only for entries without a rule: the wording of
    /// messages is not a contract, and a typed rule always wins.
    ///
    /// Segregation of duties is recognized as the report always did ("is also the requester",
    /// "bot account"), plus a ticket whose only vote was its author's, which the typed rule
    /// counts too; the other rules by the field they name. Anything else is `Other`.
    pub fn from_legacy_message(field: &str, message: &str) -> RejectionRule {
        if message.contains("is also the requester")
            || message.contains("is the ticket's author and cannot approve")
        {
            return RejectionRule::SelfApproval;
        }
        if message.contains("bot account") {
            return RejectionRule::BotApprover;
        }
        if message.starts_with("duplicate id") || message.starts_with("duplicate ticket") {
            return RejectionRule::DuplicateId;
        }
        if message.starts_with("cannot read") {
            return RejectionRule::Unreadable;
        }
        if message.starts_with("no record block") || message.contains("holds one record") {
            return RejectionRule::TicketBlock;
        }
        if message.starts_with("file is empty") || message.starts_with("expected a change record") {
            return RejectionRule::NotARecord;
        }
        if message.ends_with("remove it from the block") {
            return if field == "approved_by" {
                RejectionRule::ApprovedInTicketText
            } else {
                RejectionRule::FieldFromTicket
            };
        }
        // A list's records prefix their fields with `[i].`.
        let field = match field.strip_prefix('[').and_then(|f| f.split_once("].")) {
            Some((_, rest)) => rest,
            None => field,
        };
        match field {
            "purpose" | "impact" | "resources" => RejectionRule::MissingPillar,
            "approved_by" => RejectionRule::MissingApproval,
            "window.end" => RejectionRule::WindowOrder,
            "revert_by" => RejectionRule::RevertBounds,
            "closed_at" => RejectionRule::ClosedAt,
            f if f.starts_with("retrospective_for[") => RejectionRule::RetrospectiveRef,
            f if f.starts_with("scope[") => RejectionRule::InvalidScope,
            _ if message == "must not be empty"
                || message.starts_with("required for")
                || message == "at least one entry is required" =>
            {
                RejectionRule::MissingField
            }
            _ => RejectionRule::Other,
        }
    }
}

impl fmt::Display for RejectionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serde_names_and_unknown_ones_read_as_other() {
        for r in RejectionRule::ALL {
            let json = serde_json::to_string(&r).expect("serialize");
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            let back: RejectionRule = serde_json::from_str(&json).expect("parse");
            assert_eq!(back, r);
        }
        let future: RejectionRule = serde_json::from_str("\"quorum\"").expect("parse");
        assert_eq!(future, RejectionRule::Other);
    }

    #[test]
    fn only_self_and_bot_approval_are_segregation_of_duties() {
        let sod: Vec<RejectionRule> = RejectionRule::ALL
            .into_iter()
            .filter(|r| r.is_segregation_of_duties())
            .collect();
        assert_eq!(
            sod,
            vec![RejectionRule::SelfApproval, RejectionRule::BotApprover]
        );
    }

    #[test]
    fn legacy_messages() {
        use RejectionRule::*;
        let cases = [
            (
                "approved_by[0].name",
                "approver alice@x is also the requester; a change needs a second person",
                SelfApproval,
            ),
            (
                "[1].approved_by[0].name",
                "approver ci-bot is a bot account (matches `*-bot`); a person must approve",
                BotApprover,
            ),
            (
                "approved_by",
                "a normal record needs at least one approval (pillar 4: authority) (not counted: dependabot[bot] is a bot account (user.type Bot))",
                BotApprover,
            ),
            (
                "approved_by",
                "a normal record needs at least one approval (pillar 4: authority) (not counted: alice is the ticket's author and cannot approve their own change)",
                SelfApproval,
            ),
            (
                "approved_by",
                "a normal record needs at least one approval (pillar 4: authority)",
                MissingApproval,
            ),
            (
                "id",
                "duplicate id STD-1 (already defined at a.yaml:1)",
                DuplicateId,
            ),
            ("", "cannot read: permission denied", Unreadable),
            (
                "approved_by",
                "comes from an APPROVED pull request review by a person; remove it from the block",
                ApprovedInTicketText,
            ),
            (
                "title",
                "comes from the ticket's title; remove it from the block",
                FieldFromTicket,
            ),
            (
                "[0].purpose",
                "required for a normal record (pillar 1: why the change is made)",
                MissingPillar,
            ),
            (
                "window.end",
                "2026-11-21T08:00:00Z is not after window.start 2026-11-21T09:00:00Z",
                WindowOrder,
            ),
            (
                "scope[0].kind",
                "aws.iam.user is not a kubernetes kind",
                InvalidScope,
            ),
            ("approved_by[0].name", "must not be empty", MissingField),
            ("window", "required for a normal record", MissingField),
            ("", "unknown field `owner`, expected one of …", Other),
        ];
        for (field, message, want) in cases {
            assert_eq!(
                RejectionRule::from_legacy_message(field, message),
                want,
                "{field}: {message}"
            );
        }
    }
}
