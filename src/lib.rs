//! driftwatch: watches cloud security configuration, matches every change to an approved
//! change record, and tells people about what nobody planned.
//!
//! The pure core (`model`, `diff`, `rules`, `matcher`, `obligations`, `engine`, and record
//! parsing and validation in `records`) is its own crate, `driftwatch-core`, re-exported here
//! under the same paths; this crate adds the IO around it. See ARCHITECTURE.md for the code map.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cli;
pub mod clock;
pub mod config;
pub use driftwatch_core::{
    cloudtrail, diff, engine, k8s_audit, matcher, model, obligations, rules,
};
pub mod daemon;
pub mod failpoint;
pub mod http_client;
pub mod metrics;
pub mod records;
pub mod report;
pub mod sinks;
pub mod sources;
pub mod store;

/// Strategies of the parser property tests, shared with the core crate's.
#[cfg(test)]
#[path = "../crates/driftwatch-core/tests/common/mod.rs"]
mod proptest_common;
