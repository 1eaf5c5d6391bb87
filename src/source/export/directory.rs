//! `[directory.export]`: students and guardians (and optionally the timetable) from CSV
//! exports, by a column mapping. One row per student and guardian (a student with two
//! guardians has two rows; a row without a guardian is the student alone). Rows that do not
//! fit are quarantined once with file and line; the rest becomes the school's directory.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use tokio::sync::{mpsc, watch};

use super::file::{FileWatch, Found};
use super::mapping::join;
use super::table::{self, Row, Table};
use crate::clock::Clock;
use crate::config::sis::{ColumnRef, DirectoryExportConfig, PollConfig};
use crate::ingest::Ingestor;
use crate::model::directory::{Contact, Guardian, Lesson, Student, TimetableEntry};
use crate::model::Locale;
use crate::source::health::SourceHealth;
use crate::source::poll::commit::Committer;
use crate::source::poll::fetch::FetchError;
use crate::source::poll::pace::{self, Pace};
use crate::source::poll::{BadInput, Fetched};
use crate::source::sis_directory::{DirectoryPart, SyncMessage};
use crate::store::Store;

const DATE_FORMATS: [&str; 4] = ["%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y"];

/// The students of a students export, and its rows that did not fit.
pub fn students(
    school: &str,
    columns: &BTreeMap<String, ColumnRef>,
    date_formats: &[String],
    file: &str,
    table: &Table,
) -> (Vec<Student>, Vec<BadInput>) {
    let get = |row: &Row, field: &str| {
        columns
            .get(field)
            .map(|c| join(row, c, " "))
            .filter(|v| !v.is_empty())
    };
    let mut order: Vec<String> = Vec::new();
    let mut by_id: BTreeMap<String, Student> = BTreeMap::new();
    let mut bad = broken(file, table);
    for row in &table.rows {
        let fail = |field: &str, message: String| BadInput {
            key: None,
            place: format!("{file} line {}", row.line),
            field: columns
                .get(field)
                .map(|c| c.names().join("+"))
                .unwrap_or_default(),
            message,
            raw: row.raw.clone().into_bytes(),
        };
        let Some(id) = get(row, "student") else {
            bad.push(fail("student", "the student id is empty".into()));
            continue;
        };
        if !by_id.contains_key(&id) {
            let Some(name) = get(row, "name") else {
                bad.push(fail("name", "the name is empty".into()));
                continue;
            };
            let raw_date = get(row, "birth_date").unwrap_or_default();
            let Some(birth_date) = date(&raw_date, date_formats) else {
                bad.push(fail("birth_date", format!("{raw_date:?} is not a date")));
                continue;
            };
            order.push(id.clone());
            by_id.insert(
                id.clone(),
                Student {
                    id: id.clone(),
                    school: school.to_string(),
                    name,
                    birth_date,
                    class: get(row, "class").unwrap_or_default(),
                    locale: get(row, "locale")
                        .map(|l| Locale::parse(&l))
                        .unwrap_or_default(),
                    contacts: get(row, "student_email")
                        .map(Contact::Email)
                        .into_iter()
                        .collect(),
                    guardian_access: Default::default(),
                    guardians: vec![],
                },
            );
        }
        if let Some(gid) = get(row, "guardian") {
            let s = by_id.get_mut(&id).expect("inserted above");
            if !s.guardians.iter().any(|g| g.id == gid) {
                s.guardians.push(Guardian {
                    id: gid,
                    name: get(row, "guardian_name").unwrap_or_else(|| "?".into()),
                    locale: get(row, "guardian_locale")
                        .map(|l| Locale::parse(&l))
                        .unwrap_or_default(),
                    contacts: get(row, "guardian_email")
                        .map(Contact::Email)
                        .into_iter()
                        .collect(),
                    digest: None,
                });
            }
        }
    }
    let students = order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect();
    (students, bad)
}

/// The timetable of a lessons export: one row per lesson slot.
pub fn timetable(
    school: &str,
    columns: &BTreeMap<String, ColumnRef>,
    file: &str,
    table: &Table,
) -> (Vec<TimetableEntry>, Vec<BadInput>) {
    let get = |row: &Row, field: &str| {
        columns
            .get(field)
            .map(|c| join(row, c, " "))
            .filter(|v| !v.is_empty())
    };
    let mut entries: BTreeMap<(String, String), Vec<Lesson>> = BTreeMap::new();
    let mut bad = broken(file, table);
    for row in &table.rows {
        let text = match get(row, "lesson") {
            Some(l) => l,
            None => format!(
                "{} {}-{}",
                get(row, "day").unwrap_or_default(),
                get(row, "start").unwrap_or_default(),
                get(row, "end").unwrap_or_default()
            ),
        };
        let (Some(class), Some(subject)) = (get(row, "class"), get(row, "subject")) else {
            bad.push(BadInput {
                key: None,
                place: format!("{file} line {}", row.line),
                field: "class/subject".into(),
                message: "class and subject must not be empty".into(),
                raw: row.raw.clone().into_bytes(),
            });
            continue;
        };
        match text.parse::<Lesson>() {
            Ok(l) => {
                let e = entries.entry((class, subject)).or_default();
                if !e.contains(&l) {
                    e.push(l);
                }
            }
            Err(message) => bad.push(BadInput {
                key: None,
                place: format!("{file} line {}", row.line),
                field: "lesson".into(),
                message,
                raw: row.raw.clone().into_bytes(),
            }),
        }
    }
    let entries = entries
        .into_iter()
        .map(|((class, subject), lessons)| TimetableEntry {
            school: school.to_string(),
            class,
            subject,
            lessons,
        })
        .collect();
    (entries, bad)
}

fn broken(file: &str, table: &Table) -> Vec<BadInput> {
    table
        .broken
        .iter()
        .map(|b| BadInput {
            key: None,
            place: format!("{file} line {}", b.line),
            field: String::new(),
            message: b.message.clone(),
            raw: b.raw.clone().into_bytes(),
        })
        .collect()
}

fn date(s: &str, formats: &[String]) -> Option<NaiveDate> {
    let s = s.trim();
    let given: Vec<&str> = formats.iter().map(String::as_str).collect();
    given
        .iter()
        .chain(DATE_FORMATS.iter())
        .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
}

/// Watches the students export (and the lessons export) and sends what they hold.
pub struct DirectoryExportSource {
    cfg: DirectoryExportConfig,
    students: FileWatch,
    lessons: Option<FileWatch>,
    committer: Committer,
    sync: mpsc::Sender<SyncMessage>,
}

impl DirectoryExportSource {
    pub fn new(
        cfg: &DirectoryExportConfig,
        ingestor: Arc<Ingestor>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        sync: mpsc::Sender<SyncMessage>,
    ) -> Result<DirectoryExportSource, String> {
        let name = format!("directory {}", cfg.name);
        Ok(DirectoryExportSource {
            students: FileWatch::new(cfg.file.clone()).map_err(|e| format!("{name}: {e}"))?,
            lessons: match &cfg.timetable {
                None => None,
                Some((f, _)) => {
                    Some(FileWatch::new(f.clone()).map_err(|e| format!("{name}: {e}"))?)
                }
            },
            // Directory rows make no events: the committer only quarantines, once each.
            committer: Committer::new(
                &PollConfig {
                    name: cfg.name.clone(),
                    school: cfg.school.clone(),
                    interval: cfg.interval,
                    baseline: false,
                    withdraw_limit: 1.0,
                },
                name.clone(),
                ingestor,
                store,
                clock,
            ),
            cfg: cfg.clone(),
            sync,
        })
    }

    pub fn name(&self) -> String {
        format!("directory {}", self.cfg.name)
    }

    /// The names its parts are sent under (students, timetable).
    pub fn part_sources(name: &str) -> [String; 2] {
        [name.to_string(), format!("{name}-timetable")]
    }

    pub fn health(&self) -> Arc<SourceHealth> {
        self.committer.health.clone()
    }

    pub async fn serve(mut self, mut stop: watch::Receiver<bool>) {
        let name = self.name();
        let mut pace = Pace::new(self.cfg.interval);
        let (mut done_students, mut done_lessons): (Option<String>, Option<String>) = (None, None);
        loop {
            let wait = match self.once(&mut done_students, &mut done_lessons).await {
                Ok(()) => pace.ok(self.cfg.interval),
                Err(e) => {
                    self.committer.health.error(&e);
                    tracing::warn!(source = %name, error = %e, "directory export not read");
                    pace.failed(&e)
                }
            };
            if pace::sleep(wait, &mut stop).await {
                break;
            }
        }
        tracing::info!(source = %name, "source stopped");
    }

    async fn once(
        &mut self,
        done_students: &mut Option<String>,
        done_lessons: &mut Option<String>,
    ) -> Result<(), FetchError> {
        let [students_source, lessons_source] = Self::part_sources(&self.cfg.name);
        if let Found::File(f) = self.students.next(done_students.as_deref()).await? {
            if let Some(t) = self
                .read(
                    &f.name,
                    &f.bytes,
                    &self.cfg.file.csv.clone(),
                    &self.cfg.columns.clone(),
                    "~students",
                )
                .await
            {
                let (students, bad) = students(
                    &self.cfg.school,
                    &self.cfg.columns,
                    &self.cfg.file.csv.date_formats,
                    &f.name,
                    &t,
                );
                self.quarantine("~students", bad).await;
                let has_locale = self.cfg.columns.contains_key("locale");
                self.send(DirectoryPart {
                    source: students_source,
                    school: self.cfg.school.clone(),
                    students: Some(students),
                    timetable: None,
                    has_locale,
                })
                .await;
            }
            *done_students = Some(f.identity);
        }
        self.committer.health.set_connected(true);
        let Some((lfile, lcolumns)) = self.cfg.timetable.clone() else {
            return Ok(());
        };
        let watch = self.lessons.as_mut().expect("a watch for the timetable");
        if let Found::File(f) = watch.next(done_lessons.as_deref()).await? {
            if let Some(t) = self
                .read(&f.name, &f.bytes, &lfile.csv, &lcolumns, "~lessons")
                .await
            {
                let (entries, bad) = timetable(&self.cfg.school, &lcolumns, &f.name, &t);
                self.quarantine("~lessons", bad).await;
                self.send(DirectoryPart {
                    source: lessons_source,
                    school: self.cfg.school.clone(),
                    students: None,
                    timetable: Some(entries),
                    has_locale: false,
                })
                .await;
            }
            *done_lessons = Some(f.identity);
        }
        Ok(())
    }

    async fn read(
        &self,
        name: &str,
        bytes: &[u8],
        csv: &crate::config::sis::CsvFormat,
        columns: &BTreeMap<String, ColumnRef>,
        _scope: &str,
    ) -> Option<Table> {
        match table::read(name, bytes, csv, columns) {
            Ok(t) => Some(t),
            Err(refused) => {
                tracing::warn!(source = %self.cfg.name, "{refused}");
                self.committer.health.error(&refused);
                None
            }
        }
    }

    async fn quarantine(&self, scope: &str, bad: Vec<BadInput>) {
        let fetched = Fetched {
            bad,
            parts: Some(vec![]),
            ..Fetched::default()
        };
        if let Err(e) = self.committer.commit(scope, fetched).await {
            tracing::warn!(source = %self.cfg.name, error = %e, "cannot quarantine directory rows");
        }
    }

    async fn send(&self, part: DirectoryPart) {
        let _ = self.sync.send(SyncMessage::Part(part)).await;
    }
}

#[async_trait::async_trait]
impl crate::source::Source for DirectoryExportSource {
    fn name(&self) -> String {
        DirectoryExportSource::name(self)
    }

    async fn run(self: Box<Self>, stop: watch::Receiver<bool>) -> Result<(), String> {
        self.serve(stop).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::sis::CsvFormat;

    fn cols(pairs: &[(&str, &str)]) -> BTreeMap<String, ColumnRef> {
        pairs
            .iter()
            .map(|(f, c)| (f.to_string(), ColumnRef::One(c.to_string())))
            .collect()
    }

    fn csv() -> CsvFormat {
        CsvFormat {
            delimiter: b';',
            encoding: encoding_rs::UTF_8,
            decimal_comma: false,
            date_formats: vec![],
        }
    }

    #[test]
    fn rows_per_guardian_become_students_with_guardians() {
        let mut columns = cols(&[
            ("student", "Stamnr"),
            ("birth_date", "Geboortedatum"),
            ("class", "Klas"),
            ("student_email", "E-mail"),
            ("guardian", "Ouder"),
            ("guardian_name", "Naam ouder"),
            ("guardian_email", "E-mail ouder"),
        ]);
        columns.insert(
            "name".into(),
            ColumnRef::Many(vec![
                "Roepnaam".into(),
                "Tussenvoegsel".into(),
                "Achternaam".into(),
            ]),
        );
        let text = "Stamnr;Roepnaam;Tussenvoegsel;Achternaam;Geboortedatum;Klas;E-mail;Ouder;Naam ouder;E-mail ouder\n\
                    1001;Merel;de;Jong;14-03-2011;3c;merel@x.nl;g1;Anna de Jong;anna@x.nl\n\
                    1001;Merel;de;Jong;14-03-2011;3c;merel@x.nl;g2;Peter Jansen;peter@x.nl\n\
                    1002;Daan;;Bakker;2013-09-02;1a;;;;\n\
                    1003;Sanne;;Smit;gisteren;6v;;;;\n";
        let t = table::read("leerlingen.csv", text.as_bytes(), &csv(), &columns).unwrap();
        let (s, bad) = students("coornhert", &columns, &[], "leerlingen.csv", &t);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "Merel de Jong");
        assert_eq!(s[0].birth_date.to_string(), "2011-03-14");
        assert_eq!(s[0].guardians.len(), 2);
        assert_eq!(
            s[0].guardians[1].contacts,
            vec![Contact::Email("peter@x.nl".into())]
        );
        assert_eq!(s[1].name, "Daan Bakker");
        assert!(s[1].guardians.is_empty() && s[1].contacts.is_empty());
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].place, "leerlingen.csv line 5");
        assert_eq!(bad[0].field, "Geboortedatum");
    }

    #[test]
    fn lessons_by_slot_or_by_day_and_times() {
        let columns = cols(&[
            ("class", "Klas"),
            ("subject", "Vak"),
            ("day", "Dag"),
            ("start", "Begin"),
            ("end", "Eind"),
        ]);
        let text = "Klas;Vak;Dag;Begin;Eind\n3c;wiskunde;ma;10:15;11:05\n3c;wiskunde;do;08:30;09:20\n3c;wiskunde;xx;08:30;09:20\n";
        let t = table::read("rooster.csv", text.as_bytes(), &csv(), &columns).unwrap();
        let (entries, bad) = timetable("coornhert", &columns, "rooster.csv", &t);
        assert_eq!(entries.len(), 1);
        let l: Vec<String> = entries[0].lessons.iter().map(|l| l.to_string()).collect();
        assert_eq!(l, ["mon 10:15-11:05", "thu 08:30-09:20"]);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].place.ends_with("line 4"));
    }
}
