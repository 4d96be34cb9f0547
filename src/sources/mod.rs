//! Sources: components that list one scope's resources and return an `Observation`. Each is
//! built from its config section; the daemon polls them. A listing that does not complete is
//! returned as `Outcome::Failed` with no resources, never as a short list.

pub mod aws;

use std::future::Future;
use std::pin::Pin;

use crate::model::{Observation, Scope};

pub type PollFuture<'a> = Pin<Box<dyn Future<Output = Observation> + Send + 'a>>;

pub trait Source: Send + Sync {
    fn scope(&self) -> &Scope;
    /// A short label for metrics and logs (`aws.ec2`).
    fn service(&self) -> &'static str;
    /// List the scope. `observed_at` is the time the daemon stamps on the result.
    fn poll(&self, observed_at: jiff::Timestamp) -> PollFuture<'_>;
}
