//! rustig: the calm layer between a school's records and the family's phones.
//!
//! Events from the student information system go in; notices come out when the school's
//! rules allow. See DESIGN.md for the data flow and the contracts.
//!
//! The modules from the ground floor up, the way a notice travels through them once the
//! rules are in place; each imports only modules listed before it (the clock and the
//! listener stand on the ground floor beside the model):
//!
//! - [`model`]: what rustig reads (events, the directory, time values, digest schedules,
//!   whom the directory can reach). No IO.
//! - [`policy`]: the pure core. The school's rules, the planner (`plan(event, directory,
//!   policy, now)`) and the release step (retry, daily cap, max age, fallback); `now` is an
//!   argument, nothing is read.
//! - [`config`]: the operator's TOML, checked and merged into a [`policy::Policy`] per school.
//! - [`store`]: the durable delay buffer (SQLite or PostgreSQL behind one trait).
//! - [`shared`]: the config and directory in force and the views the planner and the
//!   scheduler see, swapped while running.
//! - [`ingest`]: raw bytes → validated, deduplicated events → planned notices, one
//!   transaction per batch.
//! - [`render`]: a group of notices → the text a recipient reads, in Dutch or English.
//! - [`send`]: the channels (email, Web Push, FCM, ntfy, webhook); they only hand over.
//! - [`scheduler`]: the release loop: claim what is due, render, send, and record what
//!   [`policy::release`] decides.
//! - [`source`]: where events come from (HTTP, NATS, RabbitMQ, the SIS pollers); each
//!   acknowledges only after [`ingest`] committed.
//! - [`retention`]: the purge loop and a student's erasure, around the store's own.
//! - [`unresolved`]: events waiting for a student the directory does not list yet: planned
//!   once it does, dead with their reason after `[directory] unresolved_hold`.
//! - [`simulate`]: the whole path on a virtual clock, for `rustig simulate` and tests.
//! - [`outlook`]: the week ahead, the calm figures of a past week and the rules in plain
//!   language, for the operators' dashboard; pure, from what the store lists.
//! - [`whatif`]: a candidate config tried against the store (the pending buffer re-planned,
//!   recent events replayed, both compared) before it is applied, audited, through the
//!   reloader.
//! - [`admin`]: the operators' API on a listener of its own: views of the buffer, actions
//!   written to the audit trail, probes.
//! - [`daemon`]: the wiring of all of the above for `rustig run`.
//! - [`admin`]: the operators' HTTP API (views, audited actions, probes) on the running
//!   daemon; its status and event reports also serve `rustig status` and `rustig explain`.
//! - [`clock`]: the only reader of the wall clock; [`listener`]: HTTP with the limits every
//!   rustig listener needs; [`observe`]: the Prometheus metrics every layer counts into.
//!
//! The benchmark (`rustig bench`) is a workspace member of its own, `bench/`.

pub mod admin;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod ingest;
pub mod listener;
pub mod model;
pub mod observe;
pub mod outlook;
pub mod policy;
pub mod prefs;
pub mod reload;
pub mod render;
pub mod retention;
pub mod scheduler;
pub mod send;
pub mod shared;
pub mod simulate;
pub mod source;
pub mod store;
pub mod unresolved;
pub mod whatif;
