//! driftwatch's pure core: the domain model, the diff of a stored state against an
//! observation, the risk rules, the change-record schema and its validation, the matcher, the
//! obligations clock and the engine that joins them.
//!
//! **Architecture Invariant:** nothing here does IO, is async or reads the clock; time is an
//! argument. The compiler keeps it so: this crate's dependencies are data crates only (no
//! tokio, reqwest, rusqlite, AWS or kube; `tests/purity.rs` at the workspace root checks the
//! manifest), and `clippy.toml` forbids the std and jiff calls that read the clock or the
//! filesystem. The daemon crate (`driftwatch`) depends on this one, never the reverse.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
// Tests read their fixtures from disk; the library itself never does.
#![cfg_attr(test, allow(clippy::disallowed_methods, clippy::disallowed_types))]

pub mod cloudtrail;
pub mod diff;
pub mod engine;
pub mod k8s_audit;
pub mod matcher;
pub mod model;
pub mod obligations;
pub mod records;
pub mod rules;
pub mod shard;

/// Where the workspace's shared test fixtures live (`tests/fixtures`, `config/`).
#[cfg(test)]
pub(crate) fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
