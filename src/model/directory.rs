//! The directory: students, their guardians and contacts, and the timetable (DESIGN.md schema).

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

use crate::model::Locale;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryData {
    #[serde(default)]
    pub students: Vec<Student>,
    #[serde(default)]
    pub timetable: Vec<TimetableEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Student {
    pub id: String,
    pub school: String,
    pub name: String,
    pub birth_date: NaiveDate,
    #[serde(default)]
    pub class: String,
    #[serde(default)]
    pub locale: Locale,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    #[serde(default)]
    pub guardian_access: GuardianAccess,
    #[serde(default)]
    pub guardians: Vec<Guardian>,
}

/// The student's own choice of what guardians may see; `None` means "not chosen".
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GuardianAccess {
    #[serde(default)]
    pub grades: Option<bool>,
    #[serde(default)]
    pub absences: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Guardian {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub locale: Locale,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// A calmer personal schedule: "weekly" or a crontab line (never sooner than the school's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// One way to reach a person; exactly one key per object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Contact {
    Email(String),
    /// Boxed: a subscription is large and rare, and every contact is as big as the largest
    /// variant (a directory holds tens of thousands of contacts).
    Webpush(Box<WebPushSubscription>),
    Fcm(String),
    Ntfy(String),
    Webhook(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebPushSubscription {
    pub endpoint: String,
    pub keys: WebPushKeys,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebPushKeys {
    pub p256dh: String,
    pub auth: String,
}

/// The channel a contact belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Email,
    Webpush,
    Fcm,
    Ntfy,
    Webhook,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Webpush => "webpush",
            ChannelKind::Fcm => "fcm",
            ChannelKind::Ntfy => "ntfy",
            ChannelKind::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<ChannelKind> {
        Some(match s {
            "email" => ChannelKind::Email,
            "webpush" => ChannelKind::Webpush,
            "fcm" => ChannelKind::Fcm,
            "ntfy" => ChannelKind::Ntfy,
            "webhook" => ChannelKind::Webhook,
            _ => return None,
        })
    }

    /// Push channels show text on a lock screen.
    pub fn is_push(self) -> bool {
        !matches!(self, ChannelKind::Email | ChannelKind::Webhook)
    }
}

impl Contact {
    pub fn channel(&self) -> ChannelKind {
        match self {
            Contact::Email(_) => ChannelKind::Email,
            Contact::Webpush(_) => ChannelKind::Webpush,
            Contact::Fcm(_) => ChannelKind::Fcm,
            Contact::Ntfy(_) => ChannelKind::Ntfy,
            Contact::Webhook(_) => ChannelKind::Webhook,
        }
    }
}

/// The distinct channels of a contact list, in first-seen order.
pub fn channels(contacts: &[Contact]) -> Vec<ChannelKind> {
    let mut out: Vec<ChannelKind> = Vec::new();
    for c in contacts {
        if !out.contains(&c.channel()) {
            out.push(c.channel());
        }
    }
    out
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimetableEntry {
    pub school: String,
    pub class: String,
    pub subject: String,
    pub lessons: Vec<Lesson>,
}

/// A weekly lesson slot, written "mon 10:15-11:05".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lesson {
    pub weekday: Weekday,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl std::str::FromStr for Lesson {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a lesson like \"mon 10:15-11:05\"");
        let (day, times) = s.trim().split_once(' ').ok_or_else(bad)?;
        let weekday = parse_weekday(day).ok_or_else(bad)?;
        let (a, b) = times.trim().split_once('-').ok_or_else(bad)?;
        let start = parse_hhmm(a).ok_or_else(bad)?;
        let end = parse_hhmm(b).ok_or_else(bad)?;
        if end <= start {
            return Err(format!("{s:?}: the lesson ends before it starts"));
        }
        Ok(Lesson {
            weekday,
            start,
            end,
        })
    }
}

impl std::fmt::Display for Lesson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}-{}",
            weekday_short(self.weekday),
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

impl Serialize for Lesson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Lesson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// "mon", "monday", "ma" (Dutch) → weekday.
pub fn parse_weekday(s: &str) -> Option<Weekday> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" | "ma" | "maandag" => Weekday::Mon,
        "tue" | "tuesday" | "di" | "dinsdag" => Weekday::Tue,
        "wed" | "wednesday" | "wo" | "woensdag" => Weekday::Wed,
        "thu" | "thursday" | "do" | "donderdag" => Weekday::Thu,
        "fri" | "friday" | "vr" | "vrijdag" => Weekday::Fri,
        "sat" | "saturday" | "za" | "zaterdag" => Weekday::Sat,
        "sun" | "sunday" | "zo" | "zondag" => Weekday::Sun,
        _ => return None,
    })
}

pub fn weekday_short(w: Weekday) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][w.num_days_from_monday() as usize]
}

/// "07:00" → time of day; strictly HH:MM.
pub fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    let s = s.trim();
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

/// Who a notice is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Student,
    Guardian,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Guardian => "guardian",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "student" => Some(Role::Student),
            "guardian" => Some(Role::Guardian),
            _ => None,
        }
    }
}

/// A person who can receive notices, looked up by id.
#[derive(Debug, Clone, Copy)]
pub struct Person<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub locale: Locale,
    pub contacts: &'a [Contact],
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The JSON does not have the schema's shape (the first such place).
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// The shape is right, but values are not usable: every one of them, one per line.
    #[error("{}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Problems(Vec<crate::model::validate::Problem>),
    #[error("students[{index}]: duplicate student {school}/{id}")]
    Duplicate {
        index: usize,
        school: String,
        id: String,
    },
}

/// The directory with its lookups built.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    data: DirectoryData,
    students: HashMap<(String, String), usize>,
    timetable: HashMap<(String, String, String), usize>,
}

impl Directory {
    /// Parses and validates a directory: its shape, then every contact, id and name.
    pub fn parse(json: &[u8]) -> Result<Directory, DirectoryError> {
        let mut de = serde_json::Deserializer::from_slice(json);
        let data: DirectoryData =
            serde_path_to_error::deserialize(&mut de).map_err(|e| DirectoryError::Invalid {
                path: e.path().to_string(),
                message: e.into_inner().to_string(),
            })?;
        let problems = crate::model::validate::problems(&data);
        if !problems.is_empty() {
            return Err(DirectoryError::Problems(problems));
        }
        Directory::new(data)
    }

    /// Builds the lookups of directory data that `parse` validated (or that was derived from
    /// such data).
    pub fn new(mut data: DirectoryData) -> Result<Directory, DirectoryError> {
        // Deserializing grows vectors to a spare capacity; the directory is held for good.
        data.students.shrink_to_fit();
        for s in &mut data.students {
            s.contacts.shrink_to_fit();
            s.guardians.shrink_to_fit();
            for g in &mut s.guardians {
                g.contacts.shrink_to_fit();
            }
        }
        let mut students = HashMap::with_capacity(data.students.len());
        // Values were checked by `parse` (validate.rs); a duplicate would break the lookups.
        for (i, s) in data.students.iter().enumerate() {
            if students
                .insert((s.school.clone(), s.id.clone()), i)
                .is_some()
            {
                return Err(DirectoryError::Duplicate {
                    index: i,
                    school: s.school.clone(),
                    id: s.id.clone(),
                });
            }
        }
        let timetable = data
            .timetable
            .iter()
            .enumerate()
            .map(|(i, t)| ((t.school.clone(), t.class.clone(), t.subject.clone()), i))
            .collect();
        Ok(Directory {
            data,
            students,
            timetable,
        })
    }

    pub fn data(&self) -> &DirectoryData {
        &self.data
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.data).expect("directory serializes")
    }

    pub fn student(&self, school: &str, id: &str) -> Option<&Student> {
        self.students
            .get(&(school.to_string(), id.to_string()))
            .map(|&i| &self.data.students[i])
    }

    pub fn lessons(&self, school: &str, class: &str, subject: &str) -> Option<&[Lesson]> {
        self.timetable
            .get(&(school.to_string(), class.to_string(), subject.to_string()))
            .map(|&i| self.data.timetable[i].lessons.as_slice())
    }

    /// Finds a recipient (the student or one of their guardians) of a student's notice.
    pub fn person<'a>(
        &'a self,
        school: &str,
        student: &str,
        recipient: &str,
    ) -> Option<Person<'a>> {
        let s = self.student(school, student)?;
        if s.id == recipient {
            return Some(Person {
                id: &s.id,
                name: &s.name,
                locale: s.locale,
                contacts: &s.contacts,
                role: Role::Student,
            });
        }
        s.guardians
            .iter()
            .find(|g| g.id == recipient)
            .map(|g| Person {
                id: &g.id,
                name: &g.name,
                locale: g.locale,
                contacts: &g.contacts,
                role: Role::Guardian,
            })
    }

    pub fn len(&self) -> usize {
        self.data.students.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.students.is_empty()
    }
}

impl Student {
    /// Age in whole years on the given date.
    pub fn age_on(&self, date: NaiveDate) -> u32 {
        date.years_since(self.birth_date).unwrap_or(0)
    }

    /// The first name, for short push texts.
    pub fn first_name(&self) -> &str {
        self.name.split_whitespace().next().unwrap_or(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../config/directory.example.json");

    #[test]
    fn the_example_directory_parses() {
        let d = Directory::parse(EXAMPLE.as_bytes()).unwrap();
        let s = d.student("coornhert", "s-1001").unwrap();
        assert_eq!(s.first_name(), "Merel");
        assert_eq!(s.guardians.len(), 2);
        assert!(d.lessons("coornhert", "3c", "wiskunde").is_some());
        let p = d.person("coornhert", "s-1001", "g-2002").unwrap();
        assert_eq!(p.role, Role::Guardian);
        assert_eq!(p.locale, Locale::En);
    }

    #[test]
    fn errors_name_the_path() {
        let bad = r#"{"students":[{"id":"s","school":"x","name":"n","birth_date":"2011-02-30"}]}"#;
        let err = Directory::parse(bad.as_bytes()).unwrap_err().to_string();
        assert!(err.starts_with("students[0].birth_date"), "{err}");
        let bad = r#"{"students":[{"id":"s","school":"x","name":"n","birth_date":"2011-02-03",
            "contacts":[{"email":"a@b","fcm":"t"}]}]}"#;
        let err = Directory::parse(bad.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("contacts[0]"), "{err}");
        let bad =
            r#"{"timetable":[{"school":"x","class":"3c","subject":"w","lessons":["mon 10:15"]}]}"#;
        let err = Directory::parse(bad.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("timetable[0].lessons[0]"), "{err}");
        let bad = r#"{"students":[{"id":"s","school":"x","name":"n","birth_date":"2011-02-03",
            "guardians":[{"id":"g","name":"G","digest":"sometimes"}]}]}"#;
        let err = Directory::parse(bad.as_bytes()).unwrap_err().to_string();
        assert!(
            err.starts_with("students[0].guardians[0].digest: "),
            "{err}"
        );
    }

    #[test]
    fn lessons_parse_and_print() {
        let l: Lesson = "thu 08:30-09:20".parse().unwrap();
        assert_eq!(l.weekday, Weekday::Thu);
        assert_eq!(l.to_string(), "thu 08:30-09:20");
        assert!("thu 09:30-09:20".parse::<Lesson>().is_err());
        assert!("xyz 08:30-09:20".parse::<Lesson>().is_err());
    }
}
