//! The domain types every other module speaks: keys, resources, observations, changes,
//! findings, change records and decisions. Pure data; depends on nothing in this crate.

pub mod attribution;
pub mod aws;
pub mod change;
pub mod coverage;
pub mod decision;
pub mod event;
pub mod finding;
pub mod iam;
pub mod key;
pub mod record;
pub mod resource;

pub use attribution::Attribution;
pub use change::{Action, Change, DriftId, FieldChange};
pub use coverage::{Coverage, IdMatch, Part};
pub use decision::{Decision, DecisionKind, ViolationKind};
pub use event::EventKind;
pub use finding::{Finding, RuleId, Severity};
pub use key::{ApiKind, Kind, Provider, ResourceKey, Scope};
pub use record::{ChangeRecord, PersonRole, RecordType, same_person};
pub use resource::{
    ContentHash, Digest, FailureKind, Observation, Outcome, Resource, canonical_json, sha256_hex,
};
