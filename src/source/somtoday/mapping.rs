//! SOMtoday Connect answers → rustig's terms. Pure.
//!
//! Fields the school did not grant are absent from Connect's JSON; each mapping says what
//! it does without them. Lists are read item by item, so one malformed item is quarantined
//! and the rest goes on.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Timelike};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::Value;

use crate::config::sis::StudentId;
use crate::model::directory::{Contact, Guardian, Lesson, Student, TimetableEntry};
use crate::model::event::{Grade, GradeKind, NonEmpty, Scalar};
use crate::source::poll::{BadInput, Item, ItemBody};

/// The class used when the school did not grant `plaatsingen` (next_lesson then falls back
/// to `embargo` for these students: no timetable matches it).
pub const NO_CLASS: &str = "-";

#[derive(Debug, Clone, Deserialize)]
pub struct Leerling {
    pub uuid: String,
    pub leerlingnummer: Option<i64>,
    pub roepnaam: Option<String>,
    pub voornamen: Option<String>,
    pub voorvoegsel: Option<String>,
    pub achternaam: Option<String>,
    pub geboortedatum: Option<NaiveDate>,
    pub emailadres: Option<String>,
    #[serde(rename = "wenstContactViaEMail")]
    pub wenst_contact_via_email: Option<bool>,
    #[serde(default)]
    pub verzorgers: Vec<VerzorgerRef>,
    #[serde(default)]
    pub plaatsingen: Vec<Plaatsing>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VerzorgerRef {
    pub uuid: String,
    pub volgnummer: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Plaatsing {
    pub startdatum: Option<NaiveDate>,
    pub einddatum: Option<NaiveDate>,
    pub stamgroep: Option<Stamgroep>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Stamgroep {
    pub naam: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OuderVerzorger {
    pub uuid: String,
    pub voorletters: Option<String>,
    pub voorvoegsel: Option<String>,
    pub achternaam: Option<String>,
    pub emailadres: Option<String>,
    #[serde(rename = "wenstContactViaEMail")]
    pub wenst_contact_via_email: Option<bool>,
    #[serde(default)]
    pub leerlingen_van_vestiging: Vec<String>,
}

/// A student as the poller needs them: the uuid to call with, the id events carry, the class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pupil {
    pub uuid: String,
    pub id: String,
    pub class: String,
}

/// Reads a list item by item; what does not fit is quarantined with where it was.
pub fn each<T: for<'de> Deserialize<'de>>(
    values: Vec<Value>,
    what: &str,
) -> (Vec<T>, Vec<BadInput>) {
    let mut ok = Vec::with_capacity(values.len());
    let mut bad = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        match serde_path_to_error::deserialize::<_, T>(&v) {
            Ok(t) => ok.push(t),
            Err(e) => bad.push(BadInput {
                key: None,
                place: format!("{what} item {i}"),
                field: e.path().to_string(),
                message: e.into_inner().to_string(),
                raw: v.to_string().into_bytes(),
            }),
        }
    }
    (ok, bad)
}

impl Leerling {
    /// The id events and the directory use.
    pub fn id(&self, by: StudentId) -> Option<String> {
        match by {
            StudentId::Uuid => Some(self.uuid.clone()),
            StudentId::Leerlingnummer => self.leerlingnummer.map(|n| n.to_string()),
        }
    }

    /// The stamgroep of the placement current on `today` (else the last one listed).
    pub fn class(&self, today: NaiveDate) -> Option<String> {
        let current = |p: &&Plaatsing| {
            p.startdatum.is_none_or(|s| s <= today) && p.einddatum.is_none_or(|e| today <= e)
        };
        self.plaatsingen
            .iter()
            .find(current)
            .or(self.plaatsingen.last())
            .and_then(|p| p.stamgroep.as_ref())
            .and_then(|s| s.naam.clone())
            .filter(|n| !n.trim().is_empty())
    }

    pub fn pupil(&self, by: StudentId, today: NaiveDate) -> Option<Pupil> {
        Some(Pupil {
            uuid: self.uuid.clone(),
            id: self.id(by)?,
            class: self.class(today).unwrap_or_else(|| NO_CLASS.into()),
        })
    }
}

#[derive(Debug, Deserialize)]
struct Dossier {
    vakuuid: Option<String>,
    vaknaam: Option<String>,
    #[serde(default)]
    periodes: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct Periode {
    periode: Option<i64>,
    rapportgemiddelde: Option<String>,
    #[serde(default)]
    resultaten: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct Resultaat {
    uuid: String,
    omschrijving: Option<String>,
    code: Option<String>,
    #[serde(rename = "toetsType")]
    toets_type: Option<String>,
    weging: Option<f64>,
    geldend_resultaat: Option<String>,
}

/// A student's `voortgangsdossier` answer → grades. `complete` is false when part of it
/// could not be read: then nothing of the student is withdrawn this time.
#[derive(Debug, Default)]
pub struct Grades {
    pub items: Vec<Item>,
    pub bad: Vec<BadInput>,
    pub complete: bool,
}

pub fn grades(pupil: &Pupil, body: &[u8], report_averages: bool) -> Grades {
    let place = format!("voortgangsdossier of {}", pupil.uuid);
    let mut out = Grades::default();
    let doc: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            out.bad.push(BadInput::not_json(&place, &e, body));
            return out;
        }
    };
    out.complete = true;
    let dossiers = match doc.get("voortgangsdossiers") {
        Some(Value::Array(a)) => a.clone(),
        None | Some(Value::Null) => vec![],
        Some(other) => {
            out.complete = false;
            out.bad
                .push(bad(&place, "voortgangsdossiers", "expected a list", other));
            return out;
        }
    };
    for (i, d) in dossiers.into_iter().enumerate() {
        let d: Dossier = match serde_json::from_value(d.clone()) {
            Ok(x) => x,
            Err(e) => {
                out.complete = false;
                out.bad.push(bad(
                    &place,
                    &format!("voortgangsdossiers[{i}]"),
                    &e.to_string(),
                    &d,
                ));
                continue;
            }
        };
        let subject = d
            .vaknaam
            .clone()
            .or(d.vakuuid.clone())
            .filter(|s| !s.trim().is_empty());
        let Some(subject) = subject else {
            out.complete = false;
            out.bad.push(bad(
                &place,
                &format!("voortgangsdossiers[{i}].vaknaam"),
                "no subject",
                &Value::Null,
            ));
            continue;
        };
        let vak_key = d.vakuuid.clone().unwrap_or_else(|| subject.clone());
        for (j, p) in d.periodes.into_iter().enumerate() {
            let at = format!("voortgangsdossiers[{i}].periodes[{j}]");
            let p: Periode = match serde_json::from_value(p.clone()) {
                Ok(x) => x,
                Err(e) => {
                    out.complete = false;
                    out.bad.push(bad(&place, &at, &e.to_string(), &p));
                    continue;
                }
            };
            for (k, r) in p.resultaten.into_iter().enumerate() {
                let key = r.get("uuid").and_then(Value::as_str).map(str::to_string);
                let res: Resultaat = match serde_json::from_value(r.clone()) {
                    Ok(x) => x,
                    Err(e) => {
                        let mut b =
                            bad(&place, &format!("{at}.resultaten[{k}]"), &e.to_string(), &r);
                        b.key = key;
                        if b.key.is_none() {
                            out.complete = false;
                        }
                        out.bad.push(b);
                        continue;
                    }
                };
                let Some(value) = res.geldend_resultaat.filter(|v| !v.trim().is_empty()) else {
                    continue; // not graded yet, or not granted to rustig
                };
                let description = res
                    .omschrijving
                    .clone()
                    .or(res.code.clone())
                    .unwrap_or_default();
                let assessment = match &res.code {
                    Some(c) if !c.trim().is_empty() => format!("{subject}/{c}"),
                    _ => res.uuid.clone(),
                };
                let _ = res.toets_type; // TOETS and SAMENGESTELDETOETS are both tests
                out.items.push(Item {
                    key: res.uuid.clone(),
                    record: format!("{}/{}", pupil.uuid, res.uuid),
                    student: pupil.id.clone(),
                    body: ItemBody::Grade(Grade {
                        assessment: NonEmpty(assessment),
                        subject: NonEmpty(subject.clone()),
                        class: NonEmpty(pupil.class.clone()),
                        description,
                        numeric: numeric(&value),
                        value: Scalar(value),
                        weight: res.weging,
                        kind: GradeKind::Test,
                    }),
                    at: None,
                    part: None,
                });
            }
            if report_averages {
                if let (Some(avg), Some(n)) = (
                    p.rapportgemiddelde.filter(|v| !v.trim().is_empty()),
                    p.periode,
                ) {
                    let key = format!("{vak_key}/p{n}/rapport");
                    out.items.push(Item {
                        record: format!("{}/{key}", pupil.uuid),
                        key,
                        student: pupil.id.clone(),
                        body: ItemBody::Grade(Grade {
                            assessment: NonEmpty(format!("{subject}/rapport {n}")),
                            subject: NonEmpty(subject.clone()),
                            class: NonEmpty(pupil.class.clone()),
                            description: format!("Rapport periode {n}"),
                            numeric: numeric(&avg),
                            value: Scalar(avg),
                            weight: None,
                            kind: GradeKind::Report,
                        }),
                        at: None,
                        part: None,
                    });
                }
            }
        }
    }
    out
}

fn bad(place: &str, field: &str, message: &str, raw: &Value) -> BadInput {
    BadInput {
        key: None,
        place: place.to_string(),
        field: field.to_string(),
        message: message.to_string(),
        raw: raw.to_string().into_bytes(),
    }
}

/// "7,5" or "7.5" → 7.5; text grades ("V", "G") have no number.
fn numeric(v: &str) -> Option<f64> {
    v.trim()
        .replace(',', ".")
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
}

/// A week's `rooster` → the weekly lesson slots per subject (name), in the school's zone.
/// Appointments without a subject or times are not lessons.
pub fn lessons(body: &[u8], tz: Tz) -> Result<BTreeMap<String, BTreeSet<Slot>>, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| format!("not valid JSON: {e}"))?;
    let afspraken = doc
        .get("rooster")
        .and_then(|r| r.get("afspraken"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out: BTreeMap<String, BTreeSet<Slot>> = BTreeMap::new();
    for a in afspraken {
        let subject = a
            .get("vak")
            .and_then(|v| v.get("naam"))
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty());
        let time = |k: &str| {
            a.get(k)
                .and_then(Value::as_str)
                .and_then(|s| DateTime::<FixedOffset>::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&tz))
        };
        let (Some(subject), Some(start), Some(end)) =
            (subject, time("begintijd"), time("eindtijd"))
        else {
            continue;
        };
        if start.date_naive() != end.date_naive() || end <= start {
            continue;
        }
        out.entry(subject.to_string()).or_default().insert(Slot {
            weekday: start.weekday().num_days_from_monday(),
            start: hm(start.time()),
            end: hm(end.time()),
        });
    }
    Ok(out)
}

/// A weekly lesson slot, ordered (Monday first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot {
    pub weekday: u32,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

fn hm(t: NaiveTime) -> NaiveTime {
    NaiveTime::from_hms_opt(t.hour(), t.minute(), 0).expect("valid time")
}

impl Slot {
    fn lesson(self) -> Lesson {
        Lesson {
            weekday: chrono::Weekday::try_from(self.weekday as u8).expect("0..7"),
            start: self.start,
            end: self.end,
        }
    }
}

/// The students' lessons → a timetable per (class, subject): the slots every student of the
/// class who takes the subject has. Where students of one class follow a subject at
/// different times (clusters), no slot is common and the subject gets no entry, so
/// `next_lesson` falls back to `embargo` rather than releasing before someone's lesson.
pub fn timetable(
    school: &str,
    per_student: &HashMap<String, (String, BTreeMap<String, BTreeSet<Slot>>)>,
) -> Vec<TimetableEntry> {
    let mut common: BTreeMap<(String, String), BTreeSet<Slot>> = BTreeMap::new();
    let mut students: Vec<&(String, BTreeMap<String, BTreeSet<Slot>>)> =
        per_student.values().collect();
    students.sort_by(|a, b| a.0.cmp(&b.0));
    for (class, subjects) in students {
        if class == NO_CLASS {
            continue;
        }
        for (subject, slots) in subjects {
            common
                .entry((class.clone(), subject.clone()))
                .and_modify(|c| c.retain(|s| slots.contains(s)))
                .or_insert_with(|| slots.clone());
        }
    }
    common
        .into_iter()
        .filter(|(_, slots)| !slots.is_empty())
        .map(|((class, subject), slots)| TimetableEntry {
            school: school.to_string(),
            class,
            subject,
            lessons: slots.into_iter().map(Slot::lesson).collect(),
        })
        .collect()
}

/// Students and guardians → the directory's students. Students without a birth date are
/// left out (the consent rules need the age); their count is returned.
pub fn students(
    school: &str,
    by: StudentId,
    leerlingen: &[Leerling],
    guardians: &[OuderVerzorger],
    today: NaiveDate,
) -> (Vec<Student>, usize) {
    let by_uuid: HashMap<&str, &OuderVerzorger> =
        guardians.iter().map(|g| (g.uuid.as_str(), g)).collect();
    // Guardians listed on the guardian's side only (when `verzorgers` is not granted).
    let mut of_student: HashMap<&str, Vec<&OuderVerzorger>> = HashMap::new();
    for g in guardians {
        for s in &g.leerlingen_van_vestiging {
            of_student.entry(s.as_str()).or_default().push(g);
        }
    }
    let mut skipped = 0;
    let mut out = Vec::with_capacity(leerlingen.len());
    for l in leerlingen {
        let (Some(id), Some(birth_date)) = (l.id(by), l.geboortedatum) else {
            skipped += 1;
            continue;
        };
        let mut refs = l.verzorgers.clone();
        refs.sort_by_key(|r| r.volgnummer.unwrap_or(i64::MAX));
        let mut gs: Vec<&OuderVerzorger> = refs
            .iter()
            .filter_map(|r| by_uuid.get(r.uuid.as_str()).copied())
            .collect();
        if refs.is_empty() {
            gs = of_student.get(l.uuid.as_str()).cloned().unwrap_or_default();
        }
        out.push(Student {
            id,
            school: school.to_string(),
            name: name(&[
                &l.roepnaam.clone().or(l.voornamen.clone()),
                &l.voorvoegsel,
                &l.achternaam,
            ]),
            birth_date,
            class: l.class(today).unwrap_or_default(),
            locale: Default::default(),
            contacts: email(&l.emailadres, l.wenst_contact_via_email),
            guardian_access: Default::default(),
            guardians: gs
                .into_iter()
                .map(|g| Guardian {
                    id: g.uuid.clone(),
                    name: name(&[&g.voorletters, &g.voorvoegsel, &g.achternaam]),
                    locale: Default::default(),
                    contacts: email(&g.emailadres, g.wenst_contact_via_email),
                    digest: None,
                })
                .collect(),
        });
    }
    (out, skipped)
}

fn name(parts: &[&Option<String>]) -> String {
    let n = parts
        .iter()
        .filter_map(|p| p.as_deref())
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if n.is_empty() {
        "?".into()
    } else {
        n
    }
}

/// An email contact, unless there is no address or the person asked not to be mailed.
fn email(address: &Option<String>, wants: Option<bool>) -> Vec<Contact> {
    match (address.as_deref().map(str::trim), wants) {
        (Some(a), w) if !a.is_empty() && w != Some(false) => vec![Contact::Email(a.to_string())],
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pupil() -> Pupil {
        Pupil {
            uuid: "u-1".into(),
            id: "u-1".into(),
            class: "3c".into(),
        }
    }

    #[test]
    fn a_dossier_becomes_grades_and_skips_what_is_not_graded() {
        let body = serde_json::json!({"voortgangsdossiers": [{
            "vakuuid": "v-wi", "vaknaam": "wiskunde",
            "periodes": [{"periode": 1, "rapportgemiddelde": "6,1", "resultaten": [
                {"uuid": "r-1", "omschrijving": "Toets H3", "code": "T1", "toetsType": "TOETS",
                 "weging": 2, "geldend_resultaat": "5,4", "pogingen": [{"resultaat": "5,4", "poging": 1}]},
                {"uuid": "r-2", "code": "T2", "toetsType": "TOETS", "weging": 1},
                {"uuid": "r-3", "geldend_resultaat": "V"},
                {"uuid": "r-4", "weging": "zwaar", "geldend_resultaat": "7"},
                {"omschrijving": "zonder uuid", "geldend_resultaat": "7"}
            ]}]
        }]});
        let g = grades(&pupil(), body.to_string().as_bytes(), true);
        let keys: Vec<&str> = g.items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["r-1", "r-3", "v-wi/p1/rapport"]);
        let ItemBody::Grade(first) = &g.items[0].body else {
            panic!()
        };
        assert_eq!(first.value.0, "5,4");
        assert_eq!(first.numeric, Some(5.4));
        assert_eq!(first.weight, Some(2.0));
        assert_eq!(first.assessment.0, "wiskunde/T1");
        assert_eq!(g.items[0].record, "u-1/r-1");
        let ItemBody::Grade(v) = &g.items[1].body else {
            panic!()
        };
        assert_eq!(v.numeric, None);
        let ItemBody::Grade(report) = &g.items[2].body else {
            panic!()
        };
        assert_eq!(report.kind, GradeKind::Report);
        // r-4 has a uuid: quarantined, and its last good state stays; the one without a uuid
        // makes the answer incomplete (nothing withdrawn this time).
        assert_eq!(g.bad.len(), 2);
        assert_eq!(g.bad[0].key.as_deref(), Some("r-4"));
        assert!(!g.complete);
        let g = grades(&pupil(), b"{\"voortgangsdossiers\": [", false);
        assert!(!g.complete && g.bad.len() == 1 && g.bad[0].place.contains("line 1"));
    }

    #[test]
    fn timetables_keep_the_slots_a_whole_class_shares() {
        let tz = chrono_tz::Europe::Amsterdam;
        let week = |lessons: &[(&str, &str, &str)]| {
            let afspraken: Vec<Value> = lessons
                .iter()
                .map(|(vak, b, e)| serde_json::json!({"vak": {"naam": vak}, "begintijd": b, "eindtijd": e, "afspraaktype": "LES"}))
                .collect();
            lessons_of(
                serde_json::json!({"rooster": {"weeknummer": 48, "afspraken": afspraken}}),
                tz,
            )
        };
        let a = week(&[
            (
                "wiskunde",
                "2026-11-23T10:15:00+01:00",
                "2026-11-23T11:05:00+01:00",
            ),
            (
                "wiskunde",
                "2026-11-26T08:30:00+01:00",
                "2026-11-26T09:20:00+01:00",
            ),
            (
                "engels",
                "2026-11-24T09:20:00+01:00",
                "2026-11-24T10:10:00+01:00",
            ),
        ]);
        // A classmate in another English cluster.
        let b = week(&[
            (
                "wiskunde",
                "2026-11-23T10:15:00+01:00",
                "2026-11-23T11:05:00+01:00",
            ),
            (
                "wiskunde",
                "2026-11-26T08:30:00+01:00",
                "2026-11-26T09:20:00+01:00",
            ),
            (
                "engels",
                "2026-11-25T11:25:00+01:00",
                "2026-11-25T12:15:00+01:00",
            ),
        ]);
        let mut per = HashMap::new();
        per.insert("a".to_string(), ("3c".to_string(), a));
        per.insert("b".to_string(), ("3c".to_string(), b));
        let t = timetable("coornhert", &per);
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!(t[0].subject, "wiskunde");
        let lessons: Vec<String> = t[0].lessons.iter().map(|l| l.to_string()).collect();
        assert_eq!(lessons, ["mon 10:15-11:05", "thu 08:30-09:20"]);
    }

    fn lessons_of(v: Value, tz: Tz) -> BTreeMap<String, BTreeSet<Slot>> {
        lessons(v.to_string().as_bytes(), tz).unwrap()
    }

    #[test]
    fn students_and_guardians_become_the_directory_without_absent_fields() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let (ls, bad): (Vec<Leerling>, _) = each(
            vec![
                serde_json::json!({"uuid": "u-1", "leerlingnummer": 1001, "roepnaam": "Merel", "voorvoegsel": "de",
                    "achternaam": "Jong", "geboortedatum": "2011-03-14", "emailadres": "merel@x.nl",
                    "verzorgers": [{"uuid": "g-2", "volgnummer": 2}, {"uuid": "g-1", "volgnummer": 1}],
                    "plaatsingen": [{"startdatum": "2026-08-01", "einddatum": "2027-07-31", "stamgroep": {"naam": "3c"}}]}),
                serde_json::json!({"uuid": "u-2", "roepnaam": "Daan"}),
                serde_json::json!({"uuid": 7}),
            ],
            "leerling",
        );
        assert_eq!(bad.len(), 1);
        assert!(bad[0].place.contains("item 2"));
        let (gs, _): (Vec<OuderVerzorger>, _) = each(
            vec![
                serde_json::json!({"uuid": "g-1", "voorletters": "A.", "achternaam": "de Jong", "emailadres": "anna@x.nl"}),
                serde_json::json!({"uuid": "g-2", "achternaam": "Jansen", "emailadres": "peter@x.nl", "wenstContactViaEMail": false}),
            ],
            "ouderVerzorger",
        );
        let (students, skipped) = students("coornhert", StudentId::Leerlingnummer, &ls, &gs, today);
        assert_eq!(
            skipped, 1,
            "no birth date (and no leerlingnummer): left out"
        );
        let s = &students[0];
        assert_eq!(s.id, "1001");
        assert_eq!(s.name, "Merel de Jong");
        assert_eq!(s.class, "3c");
        assert_eq!(
            s.guardians
                .iter()
                .map(|g| g.id.as_str())
                .collect::<Vec<_>>(),
            ["g-1", "g-2"]
        );
        assert_eq!(
            s.guardians[0].contacts,
            vec![Contact::Email("anna@x.nl".into())]
        );
        assert!(s.guardians[1].contacts.is_empty(), "asked not to be mailed");
    }
}
