//! The week-ahead chart and the calm figures under both configs (stub until the outlook's
//! functions land on main).

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::replan::Planned;
use super::replay::Message;
use crate::config::Config;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SchoolCharts {
    pub school: String,
}

pub fn build(
    _current: &Config,
    _candidate: &Config,
    schools: &[String],
    _now: DateTime<Utc>,
    _from: DateTime<Utc>,
    _pending: (&[Planned], &[Planned]),
    _replayed: (&[Message], &[Message]),
) -> Vec<SchoolCharts> {
    schools
        .iter()
        .map(|s| SchoolCharts { school: s.clone() })
        .collect()
}
