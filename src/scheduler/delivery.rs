//! What the scheduler does around a send, apart from the send itself: how old a message
//! is, recording contacts that are gone, and the email fallback for push messages.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::model::reachability::{contact_id, GoneMark, GoneSet};
use crate::model::{ChannelKind, Directory, Event};
use crate::policy::planner::notice_key;
use crate::policy::{Notice, Reason, Rule};
use crate::send::GoneContact;
use crate::shared::Shared;
use crate::store::{Store, StoreError, StoredNotice};

/// When a group was first due: the latest step of its notices' timelines (a retry adds no
/// step, a deferral, a fallback and a resend do), or the event's time when there is none.
/// `[delivery] max_age` counts from here.
pub fn first_due(group: &[StoredNotice], events: &HashMap<String, Event>) -> DateTime<Utc> {
    group
        .iter()
        .map(|n| {
            let planned = n.reasons.iter().map(|r| r.to).max();
            let occurred = events.get(&n.event_id).map(|e| e.occurred_utc());
            planned.max(occurred).unwrap_or(n.due_at)
        })
        .min()
        .unwrap_or_default()
}

/// Stores the gone contacts, drops them from the directory planning and sending use, and
/// logs them (by contact id, a hash: no addresses or tokens in logs).
pub async fn record_gone(
    store: &dyn Store,
    shared: &Shared,
    school: &str,
    recipient: &str,
    gone: &[GoneContact],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let marks: Vec<GoneMark> = gone
        .iter()
        .map(|g| GoneMark {
            school: school.to_string(),
            recipient: recipient.to_string(),
            channel: g.contact.channel(),
            contact_id: contact_id(&g.contact),
            reason: g.reason.clone(),
            marked_at: now,
        })
        .collect();
    store.mark_gone(&marks).await?;
    let all = store.gone_contacts().await?;
    shared.set_gone(GoneSet::new(&all));
    for m in &marks {
        tracing::warn!(
            channel = m.channel.as_str(),
            contact = %m.contact_id,
            gone_contacts = all.len(),
            "contact gone; skipped until the directory changes it: {}",
            m.reason
        );
    }
    Ok(())
}

/// Email notices carrying a push group's notices, due at `at`, when the recipient has an
/// email contact. Their keys are the keys the planner gives email notices, so a recipient
/// who already gets (or got) the email is not sent it twice.
pub fn fallback_notices(
    group: &[StoredNotice],
    dir: &Directory,
    at: DateTime<Utc>,
    why: &str,
) -> Vec<Notice> {
    let Some(first) = group.first() else {
        return vec![];
    };
    if !first.channel.is_push() {
        return vec![];
    }
    let has_email = group.iter().any(|n| {
        dir.person(&n.school, &n.student, &n.recipient)
            .is_some_and(|p| p.contacts.iter().any(|c| c.channel() == ChannelKind::Email))
    });
    if !has_email {
        return vec![];
    }
    group
        .iter()
        .map(|n| {
            let mut reasons = n.reasons.clone();
            reasons.push(Reason::moved(Rule::Fallback, n.due_at, at, why));
            Notice {
                key: notice_key(&n.school, &n.event_id, &n.recipient, ChannelKind::Email),
                school: n.school.clone(),
                record: n.record.clone(),
                event_id: n.event_id.clone(),
                student: n.student.clone(),
                recipient: n.recipient.clone(),
                role: n.role,
                channel: ChannelKind::Email,
                kind: n.kind,
                due_at: at,
                reasons,
                release_key: None,
            }
        })
        .collect()
}
