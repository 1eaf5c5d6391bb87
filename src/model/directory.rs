//! The directory with its lookups: parsed, validated (`validate.rs`) and indexed by school
//! and id. Its parts, as DESIGN.md's schema writes them, are in `schema.rs` and `contact.rs`.

use std::collections::HashMap;

pub use crate::model::contact::{channels, ChannelKind, Contact, WebPushKeys, WebPushSubscription};
use crate::model::preference::{Choice, Choices};
pub use crate::model::schema::{
    DirectoryData, Guardian, GuardianAccess, Lesson, Person, Role, Student, TimetableEntry,
};
use crate::model::validate::{self, Problem};
use crate::model::Locale;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The JSON does not have the schema's shape (the first such place).
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// The shape is right, but values are not usable: every one of them, one per line.
    #[error("{}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Problems(Vec<Problem>),
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
    /// The families' own choices (preference page), applied by [`Directory::with_choices`].
    choices: std::sync::Arc<Choices>,
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
        let problems = validate::problems(&data);
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
            choices: Default::default(),
        })
    }

    /// This directory with the families' stored choices applied: channels a person switched
    /// off are left out of their contacts (never all of them), a chosen language replaces
    /// the school's, and the planner reads the rest (frequency, sharing) through
    /// [`Directory::choice`]. Everything else stays as the school exported it.
    pub fn with_choices(&self, choices: std::sync::Arc<Choices>) -> Directory {
        let mut data = self.data.clone();
        for s in &mut data.students {
            if let Some(c) = choices.get(&(s.school.clone(), s.id.clone())) {
                apply_choice(c, &mut s.contacts, &mut s.locale);
            }
            for g in &mut s.guardians {
                if let Some(c) = choices.get(&(s.school.clone(), g.id.clone())) {
                    apply_choice(c, &mut g.contacts, &mut g.locale);
                }
            }
        }
        Directory {
            data,
            students: self.students.clone(),
            timetable: self.timetable.clone(),
            choices,
        }
    }

    /// A person's stored choice (student or guardian), if they made one.
    pub fn choice(&self, school: &str, person: &str) -> Option<&Choice> {
        if self.choices.is_empty() {
            return None;
        }
        self.choices.get(&(school.to_string(), person.to_string()))
    }

    /// The students a guardian (or a student: themselves) belongs to in a school.
    pub fn students_of(&self, school: &str, person: &str) -> Vec<&Student> {
        self.data
            .students
            .iter()
            .filter(|s| s.school == school)
            .filter(|s| s.id == person || s.guardians.iter().any(|g| g.id == person))
            .collect()
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

/// Leaves out the channels a person switched off (unless that leaves none) and sets the
/// chosen language.
fn apply_choice(c: &Choice, contacts: &mut Vec<Contact>, locale: &mut Locale) {
    if let Some(l) = c.locale {
        *locale = l;
    }
    if !c.channels_off.is_empty()
        && contacts
            .iter()
            .any(|x| !c.channels_off.contains(&x.channel()))
    {
        contacts.retain(|x| !c.channels_off.contains(&x.channel()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Locale;

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
}
