//! Checks of a directory beyond its JSON shape, all of them at once: every problem with the
//! JSON path of the value (`students[3].guardians[0].contacts[1].email`), so that an
//! operator fixes a file in one go. Runs at `check --directory`, import, start and reload.

use std::collections::HashSet;

use super::contact::Contact;
use super::contact::{self, no_control};
use super::event::MAX_ID_BYTES;
use super::schema::DirectoryData;

/// One problem: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem of the directory; empty when it is usable.
pub fn problems(data: &DirectoryData) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut add = |path: String, message: String| out.push(Problem { path, message });
    let mut seen = HashSet::new();
    for (i, s) in data.students.iter().enumerate() {
        let at = format!("students[{i}]");
        for (key, value) in [("id", &s.id), ("school", &s.school), ("class", &s.class)] {
            if let Err(m) = identifier(value, key == "class") {
                add(format!("{at}.{key}"), m);
            }
        }
        if let Err(m) = name(&s.name) {
            add(format!("{at}.name"), m);
        }
        if !seen.insert((&s.school, &s.id)) {
            add(
                format!("{at}.id"),
                format!("duplicate student {}/{}", s.school, s.id),
            );
        }
        contacts(&format!("{at}.contacts"), &s.contacts, &mut add);
        let mut guardians = HashSet::new();
        for (j, g) in s.guardians.iter().enumerate() {
            let at = format!("{at}.guardians[{j}]");
            if let Err(m) = identifier(&g.id, false) {
                add(format!("{at}.id"), m);
            }
            if g.id == s.id || !guardians.insert(&g.id) {
                add(
                    format!("{at}.id"),
                    format!("{:?} is already a person of this student", g.id),
                );
            }
            if let Err(m) = name(&g.name) {
                add(format!("{at}.name"), m);
            }
            contacts(&format!("{at}.contacts"), &g.contacts, &mut add);
            if let Some(line) = &g.digest {
                if let Err(m) = crate::model::schedule::Schedule::parse(line) {
                    add(format!("{at}.digest"), m);
                }
            }
        }
    }
    out
}

fn contacts(at: &str, list: &[Contact], add: &mut impl FnMut(String, String)) {
    for (k, c) in list.iter().enumerate() {
        for (path, message) in contact::problems(c) {
            add(format!("{at}[{k}].{path}"), message);
        }
    }
}

/// Ids end up in keys, logs and the store: bounded, and no control characters.
fn identifier(s: &str, may_be_empty: bool) -> Result<(), String> {
    if s.trim().is_empty() && !may_be_empty {
        return Err("must not be empty".into());
    }
    if s.len() > MAX_ID_BYTES {
        return Err(format!("is longer than {MAX_ID_BYTES} bytes"));
    }
    no_control(s)
}

/// Names go into message headers (`To: Anna de Jong <…>`) and texts.
fn name(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > MAX_ID_BYTES {
        return Err(format!("is longer than {MAX_ID_BYTES} bytes"));
    }
    no_control(s)
}

#[cfg(test)]
mod tests {
    use crate::model::directory::{Directory, DirectoryError};

    fn student(i: usize, guardian_contacts: &str) -> String {
        format!(
            r#"{{"id":"s-{i}","school":"x","name":"Student {i}","birth_date":"2011-02-03",
                "contacts":[{{"email":"s{i}@leerling.example"}}],
                "guardians":[{{"id":"g-{i}","name":"Guardian {i}","contacts":{guardian_contacts}}}]}}"#
        )
    }

    #[test]
    fn every_problem_is_reported_with_its_json_path() {
        let ok = r#"[{"email":"a@example.nl"}]"#;
        let students = [
            student(0, ok),
            student(1, r#"[{"email":"merel de jong <merel@@leerling.example"}]"#),
            student(2, ok),
            student(
                3,
                r#"[{"ntfy":"https://ntfy.example/t"},{"email":"anna@example.nl\nBcc: x@y"},
                    {"webhook":"http://app.example/hook"}]"#,
            ),
            student(0, ok),
        ];
        let json = format!(r#"{{"students":[{}]}}"#, students.join(","));
        let Err(DirectoryError::Problems(p)) = Directory::parse(json.as_bytes()) else {
            panic!("expected problems");
        };
        let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "students[1].guardians[0].contacts[0].email",
                "students[3].guardians[0].contacts[1].email",
                "students[3].guardians[0].contacts[2].webhook",
                "students[4].id",
            ]
        );
        assert!(p[1].message.contains("control characters"), "{}", p[1]);
        assert!(p[3].message.contains("duplicate student x/s-0"), "{}", p[3]);
        // The message never quotes the address: it may carry the injected header.
        assert!(p.iter().all(|p| !p.message.contains("Bcc")), "{p:?}");
    }

    #[test]
    fn ids_and_names_are_checked_and_guardians_are_distinct_people() {
        let json = r#"{"students":[{"id":"s\u0007","school":"x","name":" ","birth_date":"2011-02-03",
            "guardians":[{"id":"s\u0007","name":"A\nB"},{"id":"g","name":"G","digest":"sometimes"},
                         {"id":"g","name":"H"}]}]}"#;
        let Err(DirectoryError::Problems(p)) = Directory::parse(json.as_bytes()) else {
            panic!("expected problems");
        };
        let got: Vec<String> = p.iter().map(|p| p.to_string()).collect();
        let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "students[0].id",
                "students[0].name",
                "students[0].guardians[0].id",
                "students[0].guardians[0].id",
                "students[0].guardians[0].name",
                "students[0].guardians[1].digest",
                "students[0].guardians[2].id",
            ],
            "{got:#?}"
        );
    }
}
