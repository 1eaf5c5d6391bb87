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
        let data: DirectoryData = match serde_path_to_error::deserialize(&mut de) {
            Ok(data) => data,
            Err(e) => return Err(every_problem(json, e)),
        };
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

/// Every problem of a directory that does not have the schema's shape, not only the first:
/// a place that does not fit is noted and taken out of the JSON, which is read again until
/// it fits; then the values left are checked as usual. An entry that misses a required
/// field because a wrong one was taken out is not reported again. The students' problems are
/// all said; a wrong timetable shape after them waits until they are fixed.
fn every_problem(
    json: &[u8],
    first: serde_path_to_error::Error<serde_json::Error>,
) -> DirectoryError {
    let path = |e: &serde_path_to_error::Error<serde_json::Error>| {
        let p = e.path().to_string();
        if p == "." {
            String::new()
        } else {
            p.split('.')
                .filter(|s| *s != "?")
                .collect::<Vec<_>>()
                .join(".")
        }
    };
    let value = serde_json::from_slice::<serde_json::Value>(json);
    let (Ok(mut value), true) = (value, path(&first).starts_with("students[")) else {
        // Not JSON at all, or not the schema's object: the one place where it stops being
        // either.
        return DirectoryError::Invalid {
            path: first.path().to_string(),
            message: first.into_inner().to_string(),
        };
    };
    let mut problems = Vec::new();
    // Places taken out, as the file numbers them; and the array entries among them, so that
    // later paths (numbered in what is left) are said as the file numbers them.
    let mut removed: Vec<String> = Vec::new();
    let mut gaps: Vec<(String, usize)> = Vec::new();
    let mut err = first;
    loop {
        let current = path(&err);
        let at = as_in_file(&current, &gaps);
        // One line per problem, whatever the input quotes.
        let message: String = err
            .into_inner()
            .to_string()
            .chars()
            .flat_map(|c| {
                if c.is_control() {
                    c.escape_default().collect::<Vec<_>>()
                } else {
                    vec![c]
                }
            })
            .collect();
        if !at.starts_with("students[") {
            // The timetable's shape is said once the students are right: `Problems` are the
            // students' (callers and the fuzz test rely on it).
            return DirectoryError::Problems(problems);
        }
        let ours = message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
            .is_some_and(|f| removed.iter().any(|r| *r == format!("{at}.{f}")));
        if !ours {
            problems.push(validate::Problem {
                path: if at.is_empty() {
                    "(directory)".into()
                } else {
                    at.clone()
                },
                message,
            });
        }
        if at.is_empty() || removed.len() >= 1000 || !remove_json(&mut value, &current) {
            return DirectoryError::Problems(problems);
        }
        if let Some((array, index)) = at
            .strip_suffix(']')
            .and_then(|p| p.rsplit_once('['))
            .and_then(|(a, n)| Some((a.to_string(), n.parse::<usize>().ok()?)))
        {
            gaps.push((array, index));
        }
        removed.push(at);
        match serde_path_to_error::deserialize::<_, DirectoryData>(&value) {
            Ok(data) => {
                problems.extend(validate::problems(&data).into_iter().map(|mut p| {
                    p.path = as_in_file(&p.path, &gaps);
                    p
                }));
                return DirectoryError::Problems(problems);
            }
            Err(e) => err = e,
        }
    }
}

/// A path into what is left after array entries (`gaps`: array path and index, as the file
/// numbers them) were taken out, numbered as in the file: `students[0]` is `students[1]`
/// once the file's first student was taken out.
fn as_in_file(path: &str, gaps: &[(String, usize)]) -> String {
    let mut out = String::new();
    for part in path.split('.') {
        if !out.is_empty() {
            out.push('.');
        }
        match part.strip_suffix(']').and_then(|p| p.split_once('[')) {
            Some((name, n)) => {
                out.push_str(name);
                let Ok(mut index) = n.parse::<usize>() else {
                    out.push_str(&format!("[{n}]"));
                    continue;
                };
                let mut taken: Vec<usize> = gaps
                    .iter()
                    .filter(|(a, _)| *a == out)
                    .map(|(_, i)| *i)
                    .collect();
                taken.sort_unstable();
                for t in taken {
                    if t <= index {
                        index += 1;
                    }
                }
                out.push_str(&format!("[{index}]"));
            }
            None => out.push_str(part),
        }
    }
    out
}

/// Takes `students[0].contacts[1].email` out of the JSON; `false` when it is not there.
fn remove_json(value: &mut serde_json::Value, path: &str) -> bool {
    let mut steps: Vec<Result<usize, &str>> = Vec::new();
    for part in path.split('.') {
        match part.strip_suffix(']').and_then(|p| p.split_once('[')) {
            Some((name, n)) => {
                if !name.is_empty() {
                    steps.push(Err(name));
                }
                match n.parse() {
                    Ok(n) => steps.push(Ok(n)),
                    Err(_) => return false,
                }
            }
            None => steps.push(Err(part)),
        }
    }
    let Some((last, parents)) = steps.split_last() else {
        return false;
    };
    let mut at = value;
    for step in parents {
        let next = match step {
            Ok(n) => at.get_mut(*n),
            Err(name) => at.get_mut(*name),
        };
        let Some(next) = next else {
            return false;
        };
        at = next;
    }
    match (last, at) {
        (Ok(n), serde_json::Value::Array(a)) if *n < a.len() => {
            a.remove(*n);
            true
        }
        (Err(name), serde_json::Value::Object(o)) => o.remove(*name).is_some(),
        _ => false,
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
