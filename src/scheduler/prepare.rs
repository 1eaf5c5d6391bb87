//! Rendering a claimed round's messages: the recipient looked up in the directory, the
//! template rendered, the preference link added.
//!
//! Why apart from the release loop: it runs ahead, in the task that claimed the round, while
//! the round before is still being sent (issue 18). Sending to SMTP waits on the network most
//! of the time, so the cores render the next round meanwhile instead of after it.

use std::collections::HashMap;
use std::sync::Arc;

use super::background;
use crate::clock::Clock;
use crate::model::Event;
use crate::prefs::links::LinkMaker;
use crate::render::{Item, MessageInput, Renderer};
use crate::send::{Outgoing, OutgoingNotice};
use crate::shared::Shared;
use crate::store::StoredNotice;

/// What rendering a message needs, moved into the task that claims ahead.
pub(super) struct Preparer {
    pub(super) shared: Arc<Shared>,
    pub(super) renderer: Arc<Renderer>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) links: Option<Arc<LinkMaker>>,
}

impl Preparer {
    /// Renders every group of a claimed round on all cores, at a lower priority than the
    /// release's own work (`background`); `[i]` is `groups[i]`'s message. Blocks: run it where
    /// blocking is allowed (`spawn_blocking`).
    pub(super) fn prepare_all(
        &self,
        groups: &[Vec<StoredNotice>],
        events: &HashMap<String, Event>,
        previous: &HashMap<i64, String>,
    ) -> Vec<Result<Outgoing, String>> {
        // A thread per 16 messages, at most one per core.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = cores.min(groups.len() / 16).max(1);
        background::in_background(groups, threads, |groups| {
            groups
                .iter()
                .map(|g| self.prepare(g, events, previous))
                .collect()
        })
    }

    /// Looks up the recipient and renders the message for a group. `previous` holds, per
    /// notice, the event its recipient saw before a correction or withdrawal (for specific
    /// wording).
    fn prepare(
        &self,
        group: &[StoredNotice],
        events: &HashMap<String, Event>,
        previous: &HashMap<i64, String>,
    ) -> Result<Outgoing, String> {
        let first = &group[0];
        let config = self.shared.config();
        let dir = self.shared.sending_directory();
        let policy = config
            .policy(&first.school)
            .ok_or_else(|| format!("school {} is no longer configured", first.school))?;
        let person = group
            .iter()
            .find_map(|n| dir.person(&n.school, &n.student, &n.recipient))
            .ok_or_else(|| {
                format!(
                    "{} {} is no longer in the directory",
                    first.role.as_str(),
                    first.recipient
                )
            })?;
        let contacts: Vec<_> = person
            .contacts
            .iter()
            .filter(|c| c.channel() == first.channel)
            .cloned()
            .collect();
        if contacts.is_empty() {
            return Err(format!(
                "{} has no {} contact any more",
                first.recipient,
                first.channel.as_str()
            ));
        }
        let mut items = Vec::with_capacity(group.len());
        for n in group {
            let event = events
                .get(&n.event_id)
                .ok_or_else(|| format!("event {} is missing from the store", n.event_id))?;
            let student_name = dir
                .student(&n.school, &n.student)
                .map(|s| s.name.as_str())
                .unwrap_or(n.student.as_str());
            let before = previous.get(&n.id).and_then(|id| events.get(id));
            items.push(Item::new(n.kind, event, student_name).with_previous(before));
        }
        let input = MessageInput {
            school_name: &policy.school_name,
            recipient_name: person.name,
            role: person.role,
            locale: person.locale,
            channel: first.channel,
            push_shows_value: policy.grades.push_shows_value,
            items,
        };
        let mut content = self.renderer.render(&input).map_err(|e| e.to_string())?;
        let links = self
            .links
            .as_ref()
            .filter(|_| crate::prefs::links::carries_link(first.channel))
            .map(|m| m.links(&first.school, person.role, person.id, self.clock.now()));
        if let Some(l) = &links {
            crate::prefs::links::add_footer(&mut content, l);
        }
        Ok(Outgoing {
            key: super::group_key(group),
            school: first.school.clone(),
            recipient: first.recipient.clone(),
            recipient_name: person.name.to_string(),
            role: first.role,
            channel: first.channel,
            contacts,
            locale: person.locale,
            content,
            notices: group
                .iter()
                .map(|n| OutgoingNotice {
                    id: n.id,
                    kind: n.kind,
                    event_id: n.event_id.clone(),
                    record: n.record.clone(),
                    student: n.student.clone(),
                })
                .collect(),
            settings_url: links.as_ref().map(|l| l.page.clone()),
            unsubscribe_url: links.map(|l| l.unsubscribe),
        })
    }
}
