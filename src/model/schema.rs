//! The directory as DESIGN.md's schema writes it: students, their guardians, and the
//! timetable. Contacts are in `contact.rs`; `validate.rs` checks the values.

use chrono::{NaiveDate, NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

use crate::model::contact::Contact;
use crate::model::time::{parse_hhmm, parse_weekday, weekday_short};
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

    /// The inverse of [`Role::as_str`]; anything else is no role (a store reading one says
    /// its data is corrupt, rather than taking a guardian for a student).
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

    #[test]
    fn roles_parse_as_they_print_and_nothing_else() {
        for r in [Role::Student, Role::Guardian] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        for bad in ["", "Guardian", "parent", "students"] {
            assert_eq!(Role::parse(bad), None, "{bad}");
        }
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
