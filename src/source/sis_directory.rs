//! The directory from the SIS: SOMtoday and CSV exports send what they know of one school's
//! students, guardians and timetable as a [`DirectoryPart`]; the sync merges it over the
//! directory in force, stores it, re-plans pending notices (a lesson moved changes when a
//! grade is released) and logs what changed as counts, never names.
//!
//! What the SIS does not know stays as it was for the same person: the student's own
//! `guardian_access` choice, push contacts, a guardian's personal digest and, unless the SIS
//! gives it, the language.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::clock::Clock;
use crate::ingest::Ingestor;
use crate::model::directory::{Contact, DirectoryData, Guardian, Student, TimetableEntry};
use crate::model::Directory;
use crate::source::support::stopped;
use crate::store::snapshot::SnapshotChange;
use crate::store::Store;

/// Where a source's last part is kept (in its snapshot scopes), to be applied again after a
/// restart or a reload over a directory file.
pub const PART_SCOPE: &str = "~directory";

/// What one SIS source knows of one school's directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectoryPart {
    pub source: String,
    pub school: String,
    /// The school's students with their guardians; `None`: this source does not say.
    pub students: Option<Vec<Student>>,
    /// The school's timetable; `None`: this source does not say.
    pub timetable: Option<Vec<TimetableEntry>>,
    /// The SIS gives the language of people (else it is kept from before).
    pub has_locale: bool,
}

impl PartialEq for DirectoryPart {
    fn eq(&self, other: &Self) -> bool {
        serde_json::to_value(self).ok() == serde_json::to_value(other).ok()
    }
}

/// What a merge changed, as counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    pub students_added: usize,
    pub students_removed: usize,
    pub students_changed: usize,
    pub timetable_changed: usize,
}

impl Changes {
    pub fn any(&self) -> bool {
        *self != Changes::default()
    }
}

/// Merges `part` over `current`. Pure.
pub fn merge(current: &DirectoryData, part: &DirectoryPart) -> (DirectoryData, Changes) {
    let mut out = current.clone();
    let mut ch = Changes::default();
    if let Some(students) = &part.students {
        let old: HashMap<&str, &Student> = current
            .students
            .iter()
            .filter(|s| s.school == part.school)
            .map(|s| (s.id.as_str(), s))
            .collect();
        let mut new: Vec<Student> = Vec::with_capacity(students.len());
        for s in students {
            let mut s = s.clone();
            s.school = part.school.clone();
            match old.get(s.id.as_str()) {
                None => ch.students_added += 1,
                Some(o) => {
                    carry_student(&mut s, o, part.has_locale);
                    if !same(&s, o) {
                        ch.students_changed += 1;
                    }
                }
            }
            new.push(s);
        }
        let ids: std::collections::HashSet<&str> = new.iter().map(|s| s.id.as_str()).collect();
        ch.students_removed = old.keys().filter(|id| !ids.contains(*id)).count();
        out.students.retain(|s| s.school != part.school);
        out.students.extend(new);
    }
    if let Some(timetable) = &part.timetable {
        let key = |t: &TimetableEntry| (t.class.clone(), t.subject.clone());
        let lessons =
            |t: &TimetableEntry| t.lessons.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        let old: BTreeMap<_, _> = current
            .timetable
            .iter()
            .filter(|t| t.school == part.school)
            .map(|t| (key(t), lessons(t)))
            .collect();
        let new: BTreeMap<_, _> = timetable.iter().map(|t| (key(t), lessons(t))).collect();
        ch.timetable_changed = old
            .keys()
            .chain(new.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|k| old.get(*k) != new.get(*k))
            .count();
        out.timetable.retain(|t| t.school != part.school);
        out.timetable.extend(timetable.iter().cloned().map(|mut t| {
            t.school = part.school.clone();
            t
        }));
    }
    (out, ch)
}

fn same(a: &Student, b: &Student) -> bool {
    serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
}

/// Keeps what rustig knows and the SIS does not.
fn carry_student(s: &mut Student, old: &Student, has_locale: bool) {
    s.guardian_access = old.guardian_access;
    if !has_locale {
        s.locale = old.locale;
    }
    s.contacts.extend(pushes(&old.contacts));
    for g in &mut s.guardians {
        if let Some(o) = old.guardians.iter().find(|o| o.id == g.id) {
            carry_guardian(g, o, has_locale);
        }
    }
}

fn carry_guardian(g: &mut Guardian, old: &Guardian, has_locale: bool) {
    if !has_locale {
        g.locale = old.locale;
    }
    if g.digest.is_none() {
        g.digest = old.digest.clone();
    }
    g.contacts.extend(pushes(&old.contacts));
}

/// The contacts the SIS does not hold (push subscriptions, tokens, webhooks).
fn pushes(contacts: &[Contact]) -> Vec<Contact> {
    contacts
        .iter()
        .filter(|c| !matches!(c, Contact::Email(_)))
        .cloned()
        .collect()
}

/// What the sync is told.
#[derive(Debug)]
pub enum SyncMessage {
    Part(DirectoryPart),
    /// The directory was replaced (a reload read the directory file): apply the parts again.
    Reapply,
}

/// Applies parts as they come, one at a time.
pub struct DirectorySync {
    rx: mpsc::Receiver<SyncMessage>,
    store: Arc<dyn Store>,
    ingestor: Arc<Ingestor>,
    clock: Arc<dyn Clock>,
    /// The sources that send parts (their stored parts are applied at start).
    sources: Vec<String>,
    parts: BTreeMap<(String, String), DirectoryPart>,
}

impl DirectorySync {
    pub fn new(
        store: Arc<dyn Store>,
        ingestor: Arc<Ingestor>,
        clock: Arc<dyn Clock>,
        sources: Vec<String>,
    ) -> (DirectorySync, mpsc::Sender<SyncMessage>) {
        let (tx, rx) = mpsc::channel(16);
        (
            DirectorySync {
                rx,
                store,
                ingestor,
                clock,
                sources,
                parts: BTreeMap::new(),
            },
            tx,
        )
    }

    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        for source in self.sources.clone() {
            match self
                .store
                .snapshots()
                .load_snapshot(&source, PART_SCOPE)
                .await
            {
                Ok(Some(s)) => {
                    for part in s
                        .cursor
                        .iter()
                        .filter_map(|c| serde_json::from_str::<Vec<DirectoryPart>>(c).ok())
                        .flatten()
                    {
                        self.parts
                            .insert((part.source.clone(), part.school.clone()), part);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(source = %source, error = %e, "cannot read the stored directory part")
                }
            }
        }
        if !self.parts.is_empty() {
            self.apply_all().await;
        }
        loop {
            let msg = tokio::select! {
                _ = stopped(&mut stop) => break,
                m = self.rx.recv() => match m { Some(m) => m, None => break },
            };
            match msg {
                SyncMessage::Part(part) => {
                    let key = (part.source.clone(), part.school.clone());
                    if self.parts.get(&key) == Some(&part) {
                        continue;
                    }
                    if let Err(e) = self.remember(&part).await {
                        tracing::warn!(source = %part.source, error = %e, "cannot store the directory part");
                    }
                    self.parts.insert(key, part.clone());
                    self.apply(std::slice::from_ref(&part)).await;
                }
                SyncMessage::Reapply => self.apply_all().await,
            }
        }
    }

    async fn apply_all(&mut self) {
        let parts: Vec<DirectoryPart> = self.parts.values().cloned().collect();
        self.apply(&parts).await;
    }

    /// Stores a source's parts (all its schools) as the cursor of its directory scope.
    async fn remember(&self, part: &DirectoryPart) -> Result<(), crate::store::StoreError> {
        let mut mine: Vec<&DirectoryPart> = self
            .parts
            .values()
            .filter(|p| p.source == part.source && p.school != part.school)
            .collect();
        mine.push(part);
        let change = SnapshotChange {
            cursor: Some(serde_json::to_string(&mine).expect("parts serialize")),
            ..SnapshotChange::default()
        };
        self.store
            .snapshots()
            .save_snapshot(&part.source, PART_SCOPE, &change, self.clock.now())
            .await
    }

    async fn apply(&self, parts: &[DirectoryPart]) {
        let shared = self.ingestor.shared();
        let mut data = shared.listed_directory().data().clone();
        let mut total = Changes::default();
        for part in parts {
            let (merged, ch) = merge(&data, part);
            data = merged;
            total.students_added += ch.students_added;
            total.students_removed += ch.students_removed;
            total.students_changed += ch.students_changed;
            total.timetable_changed += ch.timetable_changed;
        }
        if !total.any() {
            return;
        }
        let dir = match Directory::new(data) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "the directory from the SIS is not valid; keeping the one in force");
                return;
            }
        };
        let now = self.clock.now();
        if let Err(e) = self.store.save_directory(&dir.to_json(), now).await {
            tracing::warn!(error = %e, "cannot store the directory from the SIS");
        }
        shared.set_directory(dir);
        match crate::shared::load_gone(&*self.store, &shared.listed_directory()).await {
            Ok(gone) => shared.set_gone(gone),
            Err(e) => tracing::warn!(error = %e, "cannot read gone contacts"),
        }
        tracing::info!(
            added = total.students_added,
            removed = total.students_removed,
            changed = total.students_changed,
            timetable = total.timetable_changed,
            "directory from the SIS updated"
        );
        if let Err(e) = self.ingestor.replan_all(now).await {
            tracing::warn!(error = %e, "re-planning after a directory change failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::directory::{GuardianAccess, WebPushKeys, WebPushSubscription};
    use crate::model::Locale;

    fn student(id: &str, school: &str, email: &str) -> Student {
        Student {
            id: id.into(),
            school: school.into(),
            name: format!("Leerling {id}"),
            birth_date: "2011-03-14".parse().unwrap(),
            class: "3c".into(),
            locale: Locale::Nl,
            contacts: vec![Contact::Email(email.into())],
            guardian_access: GuardianAccess::default(),
            guardians: vec![Guardian {
                id: format!("g-{id}"),
                name: "Ouder".into(),
                locale: Locale::Nl,
                contacts: vec![Contact::Email(format!("ouder-{id}@x.nl"))],
                digest: None,
            }],
        }
    }

    #[test]
    fn a_part_replaces_its_school_and_keeps_what_only_rustig_knows() {
        let mut merel = student("s-1", "a", "merel@x.nl");
        merel.guardian_access.grades = Some(false);
        merel.locale = Locale::En;
        merel
            .contacts
            .push(Contact::Webpush(Box::new(WebPushSubscription {
                endpoint: "https://push.example/1".into(),
                keys: WebPushKeys {
                    p256dh: "k".into(),
                    auth: "a".into(),
                },
            })));
        merel.guardians[0].digest = Some("weekly".into());
        let current = DirectoryData {
            students: vec![
                merel,
                student("s-2", "a", "daan@x.nl"),
                student("s-9", "b", "other@x.nl"),
            ],
            timetable: vec![],
        };
        let part = DirectoryPart {
            source: "somtoday".into(),
            school: "a".into(),
            students: Some(vec![
                student("s-1", "a", "merel.new@x.nl"),
                student("s-3", "a", "new@x.nl"),
            ]),
            timetable: Some(vec![TimetableEntry {
                school: "a".into(),
                class: "3c".into(),
                subject: "wiskunde".into(),
                lessons: vec!["mon 10:15-11:05".parse().unwrap()],
            }]),
            has_locale: false,
        };
        let (merged, ch) = merge(&current, &part);
        assert_eq!(
            ch,
            Changes {
                students_added: 1,
                students_removed: 1,
                students_changed: 1,
                timetable_changed: 1
            }
        );
        let m = merged.students.iter().find(|s| s.id == "s-1").unwrap();
        assert_eq!(
            m.contacts[0],
            Contact::Email("merel.new@x.nl".into()),
            "the SIS's address"
        );
        assert!(
            matches!(m.contacts[1], Contact::Webpush(_)),
            "the push subscription stays"
        );
        assert_eq!(
            m.guardian_access.grades,
            Some(false),
            "the student's own choice stays"
        );
        assert_eq!(m.locale, Locale::En);
        assert_eq!(m.guardians[0].digest.as_deref(), Some("weekly"));
        assert!(
            merged.students.iter().any(|s| s.id == "s-9"),
            "another school is untouched"
        );
        assert!(
            !merged.students.iter().any(|s| s.id == "s-2"),
            "gone from the SIS"
        );
        // The same part again changes nothing.
        let (_, again) = merge(&merged, &part);
        assert!(!again.any(), "{again:?}");
        // A moved lesson is one timetable change.
        let mut moved = part.clone();
        moved.timetable.as_mut().unwrap()[0].lessons = vec!["tue 10:15-11:05".parse().unwrap()];
        let (_, ch) = merge(&merged, &moved);
        assert_eq!(
            ch,
            Changes {
                timetable_changed: 1,
                ..Changes::default()
            }
        );
    }
}
