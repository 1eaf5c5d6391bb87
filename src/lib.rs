//! rustig: the calm layer between a school's records and the family's phones.
//!
//! Events from the student information system go in; notices come out when the school's
//! rules allow. See DESIGN.md for the data flow and the contracts.

pub mod bench;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod ingest;
pub mod listener;
pub mod model;
pub mod policy;
pub mod render;
pub mod retention;
pub mod scheduler;
pub mod send;
pub mod simulate;
pub mod source;
pub mod store;
