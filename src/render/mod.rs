//! Turns a group of notices into the text a recipient sees, in Dutch or English.

use crate::model::{ChannelKind, Event, Locale, Role};
use crate::policy::NoticeKind;
use crate::send::Rendered;

/// One notice in a message, with the current version of its event.
#[derive(Debug, Clone)]
pub struct Item<'a> {
    pub kind: NoticeKind,
    pub event: &'a Event,
    /// The student's full name as in the directory.
    pub student_name: &'a str,
}

/// Everything a template may use.
#[derive(Debug, Clone)]
pub struct MessageInput<'a> {
    pub school_name: &'a str,
    pub recipient_name: &'a str,
    pub role: Role,
    pub locale: Locale,
    pub channel: ChannelKind,
    /// `grades.push_shows_value`: lock-screen text may show the grade.
    pub push_shows_value: bool,
    pub items: Vec<Item<'a>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
}
