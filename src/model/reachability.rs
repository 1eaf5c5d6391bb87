//! Whom the directory can reach. Contacts a push service called gone (a 404/410 subscription,
//! an unregistered FCM token) are stored, counted, and left out of the directory the planner
//! and the scheduler see,
//! until a directory import no longer lists them (a changed contact is a new contact). Also
//! the planner's view for `[delivery] fallback = "email"` (push first, email held back).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::model::{ChannelKind, Contact, Directory};

/// A gone contact as stored. The contact itself is not stored, only its id (a hash), so the
/// table holds no addresses or tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoneMark {
    pub school: String,
    pub recipient: String,
    pub channel: ChannelKind,
    pub contact_id: String,
    pub reason: String,
    pub marked_at: DateTime<Utc>,
}

impl GoneMark {
    pub fn key(&self) -> GoneKey {
        GoneKey {
            school: self.school.clone(),
            recipient: self.recipient.clone(),
            contact_id: self.contact_id.clone(),
        }
    }
}

/// What identifies a gone mark.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GoneKey {
    pub school: String,
    pub recipient: String,
    pub contact_id: String,
}

/// A stable id of a contact: `channel:` and 32 hex digits of a hash of its value.
pub fn contact_id(c: &Contact) -> String {
    let json = serde_json::to_string(c).expect("contacts serialize");
    let digest = Sha256::digest(json.as_bytes());
    format!("{}:{}", c.channel().as_str(), hex::encode(&digest[..16]))
}

/// The gone contacts in force, for lookups.
#[derive(Debug, Clone, Default)]
pub struct GoneSet {
    keys: HashSet<GoneKey>,
}

impl GoneSet {
    pub fn new(marks: &[GoneMark]) -> GoneSet {
        GoneSet {
            keys: marks.iter().map(GoneMark::key).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn contains(&self, school: &str, recipient: &str, c: &Contact) -> bool {
        !self.keys.is_empty()
            && self.keys.contains(&GoneKey {
                school: school.to_string(),
                recipient: recipient.to_string(),
                contact_id: contact_id(c),
            })
    }

    /// The directory without the gone contacts (the same one when nothing is gone).
    pub fn apply(&self, dir: &Directory) -> Option<Directory> {
        if self.keys.is_empty() {
            return None;
        }
        let mut data = dir.data().clone();
        for s in &mut data.students {
            let school = s.school.clone();
            let id = s.id.clone();
            s.contacts.retain(|c| !self.contains(&school, &id, c));
            for g in &mut s.guardians {
                let gid = g.id.clone();
                g.contacts.retain(|c| !self.contains(&school, &gid, c));
            }
        }
        Directory::new(data).ok()
    }
}

/// With `[delivery] fallback = "email"`, people who have a push contact are planned on push
/// only; their email addresses wait as the fallback. `None` when nothing changes.
pub fn push_first(dir: &Directory) -> Option<Directory> {
    let holds_back = |contacts: &[Contact]| {
        contacts.iter().any(|c| c.channel().is_push())
            && contacts.iter().any(|c| c.channel() == ChannelKind::Email)
    };
    let any =
        dir.data().students.iter().any(|s| {
            holds_back(&s.contacts) || s.guardians.iter().any(|g| holds_back(&g.contacts))
        });
    if !any {
        return None;
    }
    let mut data = dir.data().clone();
    for s in &mut data.students {
        if holds_back(&s.contacts) {
            s.contacts.retain(|c| c.channel() != ChannelKind::Email);
        }
        for g in &mut s.guardians {
            if holds_back(&g.contacts) {
                g.contacts.retain(|c| c.channel() != ChannelKind::Email);
            }
        }
    }
    Directory::new(data).ok()
}

/// Marks whose contact the directory no longer lists: the contact changed or went away, so
/// the mark has done its job.
pub fn stale_marks(marks: &[GoneMark], dir: &Directory) -> Vec<GoneKey> {
    let mut listed: HashSet<GoneKey> = HashSet::new();
    for s in &dir.data().students {
        let people = std::iter::once((&s.id, &s.contacts))
            .chain(s.guardians.iter().map(|g| (&g.id, &g.contacts)));
        for (id, contacts) in people {
            for c in contacts {
                listed.insert(GoneKey {
                    school: s.school.clone(),
                    recipient: id.clone(),
                    contact_id: contact_id(c),
                });
            }
        }
    }
    marks
        .iter()
        .map(GoneMark::key)
        .filter(|k| !listed.contains(k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = r#"{"students":[{"id":"s-1","school":"coornhert","name":"M","birth_date":"2011-03-14",
        "guardians":[{"id":"g-1","name":"A","contacts":[{"email":"a@example.nl"},{"ntfy":"https://ntfy.example/abc"}]},
                     {"id":"g-2","name":"P","contacts":[{"ntfy":"https://ntfy.example/abc"}]}]}]}"#;

    fn mark(recipient: &str, c: &Contact) -> GoneMark {
        GoneMark {
            school: "coornhert".into(),
            recipient: recipient.into(),
            channel: c.channel(),
            contact_id: contact_id(c),
            reason: "410".into(),
            marked_at: DateTime::<Utc>::default(),
        }
    }

    #[test]
    fn gone_contacts_leave_the_directory_until_they_change() {
        let dir = Directory::parse(DIR.as_bytes()).unwrap();
        let anna = dir.person("coornhert", "s-1", "g-1").unwrap();
        let ntfy = anna
            .contacts
            .iter()
            .find(|c| c.channel() == ChannelKind::Ntfy)
            .unwrap()
            .clone();
        let marks = vec![mark("g-1", &ntfy)];
        let gone = GoneSet::new(&marks);
        assert!(gone.contains("coornhert", "g-1", &ntfy));
        assert!(!gone.contains("coornhert", "g-2", &ntfy));
        let filtered = gone.apply(&dir).unwrap();
        let anna = filtered.person("coornhert", "s-1", "g-1").unwrap();
        let other = filtered.person("coornhert", "s-1", "g-2").unwrap();
        assert_eq!(other.contacts.len(), 1, "marks are per recipient");
        assert!(anna
            .contacts
            .iter()
            .all(|c| c.channel() != ChannelKind::Ntfy));
        assert!(anna
            .contacts
            .iter()
            .any(|c| c.channel() == ChannelKind::Email));
        assert!(GoneSet::default().apply(&dir).is_none());

        // Push first: g-1 has email and ntfy, so the email waits as the fallback; once the
        // ntfy contact is gone, email is all there is.
        let planned = push_first(&dir).unwrap();
        let g1 = planned.person("coornhert", "s-1", "g-1").unwrap();
        assert!(g1
            .contacts
            .iter()
            .all(|c| c.channel() != ChannelKind::Email));
        assert!(push_first(&filtered).is_none());

        // Still listed: the mark stays. Changed: the mark is stale.
        assert!(stale_marks(&marks, &dir).is_empty());
        let changed = DIR.replace("https://ntfy.example/", "https://ntfy.example/new-");
        let dir2 = Directory::parse(changed.as_bytes()).unwrap();
        assert_eq!(stale_marks(&marks, &dir2), vec![marks[0].key()]);
    }

    #[test]
    fn contact_ids_hide_the_value() {
        let c = Contact::Fcm("secret-device-token".into());
        let id = contact_id(&c);
        assert!(id.starts_with("fcm:") && id.len() == 4 + 32, "{id}");
        assert!(!id.contains("secret"));
        assert_eq!(id, contact_id(&c.clone()));
    }
}
