//! Change records as the daemon loads them: the schema, parsing and validation come from the
//! pure core (`driftwatch_core::records`, re-exported here); this module adds the loaders that
//! do IO: the records directory (`dir`, keeping each file's last valid version) and the ticket
//! systems (`remote`).

pub use driftwatch_core::records::*;

mod dir;
pub mod remote;

pub use dir::{LoadReport, RecordSet};
