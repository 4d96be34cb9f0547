//! driftwatch: watches cloud security configuration, matches every change to an approved
//! change record, and tells people about what nobody planned.
//!
//! The core (`model`, `diff`, `rules`, `matcher`, `engine`, record parsing in `records`) is
//! pure: no IO, no clock, no async. See ARCHITECTURE.md for the code map.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod diff;
pub mod engine;
pub mod matcher;
pub mod metrics;
pub mod model;
pub mod obligations;
pub mod records;
pub mod report;
pub mod rules;
pub mod sinks;
pub mod sources;
pub mod store;
