//! The pending buffer re-planned under a config, as a reload would re-plan it
//! ([`crate::ingest::Ingestor::replan_all`]): each record with pending notices, its current
//! version planned with its facts at `now`. [`load`] reads the records and facts (a
//! transaction that is only read and then dropped: nothing is written); [`replan`] is pure.

use chrono::{DateTime, Utc};

use super::diff::{Fate, Fates};
use crate::config::Config;
use crate::model::{Directory, Event, EventBody};
use crate::policy::{plan, Delivered, Facts};
use crate::store::{Store, StoreError};

/// A record with pending notices: its current version and what planning it needs.
#[derive(Debug, Clone)]
pub struct PendingRecord {
    pub event: Event,
    pub released_at: Option<DateTime<Utc>>,
    pub delivered: Vec<Delivered>,
}

/// Reads every record with pending notices, with its facts, in chunks as a reload does.
pub async fn load(store: &dyn Store) -> Result<Vec<PendingRecord>, StoreError> {
    let records = store.pending_records().await?;
    let mut out = Vec::with_capacity(records.len());
    for chunk in records.chunks(1000) {
        // Read only, and dropped without a commit (a rollback).
        let mut tx = store.begin().await?;
        let ids: Vec<String> = tx
            .currents(chunk)
            .await?
            .into_values()
            .map(|c| c.event_id)
            .collect();
        let events = tx.events_by_id(&ids).await?;
        let mut keys: Vec<(String, String)> = events
            .values()
            .filter(|e| matches!(e.body, EventBody::GradeEntered { .. }))
            .filter_map(|e| e.release_key().map(|k| (e.school.clone(), k)))
            .collect();
        keys.sort();
        keys.dedup();
        let releases = tx.releases(&keys).await?;
        let mut delivered = tx.delivered_of(chunk).await?;
        drop(tx);
        let mut current: Vec<Event> = events.into_values().collect();
        current.sort_by(|a, b| (&a.school, &a.record).cmp(&(&b.school, &b.record)));
        for event in current {
            let released_at = match (&event.body, event.release_key()) {
                (EventBody::GradeEntered { .. }, Some(k)) => {
                    releases.get(&(event.school.clone(), k)).copied()
                }
                _ => None,
            };
            let delivered = delivered
                .remove(&(event.school.clone(), event.record.clone()))
                .unwrap_or_default();
            out.push(PendingRecord {
                event,
                released_at,
                delivered,
            });
        }
    }
    Ok(out)
}

/// A pending notice as planned: its fate (due time, rule) and the student's class.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub fate: Fate,
    pub class: Option<String>,
}

/// Plans every record under `config` with the planning directory `dir` at `now`. Notices of
/// a recipient who already got this event on that channel are left out, as the store's
/// insert leaves them; a school the config does not know keeps nothing (a reload would
/// leave its notices as they are, but they would no longer be planned).
pub fn replan(
    config: &Config,
    dir: &Directory,
    now: DateTime<Utc>,
    records: &[PendingRecord],
) -> (Fates, Vec<Planned>) {
    let mut fates = Fates::default();
    let mut planned = Vec::new();
    for r in records {
        let Some(policy) = config.policy(&r.event.school) else {
            continue;
        };
        let facts = Facts {
            released_at: r.released_at,
            delivered: &r.delivered,
        };
        let class = dir
            .student(&r.event.school, r.event.student().unwrap_or_default())
            .map(|s| s.class.clone())
            .filter(|c| !c.is_empty());
        for n in plan(&r.event, &facts, dir, policy, now).notices {
            if r.delivered.iter().any(|d| {
                d.event_id == n.event_id && d.recipient == n.recipient && d.channel == n.channel
            }) {
                continue;
            }
            let fate = Fate {
                school: n.school,
                record: n.record,
                student: n.student,
                role: n.role,
                channel: n.channel,
                kind: n.kind,
                at: n.due_at,
                rule: n.reasons.last().map_or("entered", |r| r.rule.name()),
            };
            fates.insert((n.event_id, n.recipient, n.channel), fate.clone());
            planned.push(Planned {
                fate,
                class: class.clone(),
            });
        }
    }
    (fates, planned)
}
