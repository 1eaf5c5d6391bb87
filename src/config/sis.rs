//! The tables of the SIS sources: `[[ingest.somtoday]]`, `[[ingest.smartschool]]`,
//! `[[ingest.export]]` and `[directory.export]`. Every problem is reported with its key; a
//! column mapping names what the file must hold.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::values::HumanDuration;
use super::Resolver;
use crate::model::AbsenceKind;

// ---- As written ------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSomtoday {
    name: Option<String>,
    school: String,
    organisation: String,
    vestiging: String,
    client_id: String,
    client_secret_file: PathBuf,
    token_url: Option<String>,
    api_url: Option<String>,
    interval: Option<HumanDuration>,
    students_interval: Option<HumanDuration>,
    directory: Option<bool>,
    timetable: Option<bool>,
    events_feed: Option<bool>,
    student_id: Option<StudentId>,
    report_averages: Option<bool>,
    page_size: Option<u32>,
    baseline: Option<bool>,
    withdraw_limit: Option<f64>,
    timeout: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSmartschool {
    name: Option<String>,
    school: String,
    url: String,
    accesscode_file: PathBuf,
    method: Option<String>,
    interval: Option<HumanDuration>,
    days: Option<u32>,
    #[serde(default)]
    codes: BTreeMap<String, AbsenceKind>,
    ignore: Option<Vec<String>>,
    baseline: Option<bool>,
    withdraw_limit: Option<f64>,
    timeout: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExport {
    name: String,
    school: String,
    kind: ExportKind,
    folder: Option<PathBuf>,
    pattern: Option<String>,
    url: Option<String>,
    token_file: Option<PathBuf>,
    settle: Option<HumanDuration>,
    timeout: Option<HumanDuration>,
    delimiter: Option<String>,
    encoding: Option<String>,
    decimal_comma: Option<bool>,
    date_format: Option<OneOrMany>,
    interval: Option<HumanDuration>,
    columns: BTreeMap<String, ColumnRef>,
    #[serde(default)]
    kinds: BTreeMap<String, String>,
    default_kind: Option<String>,
    baseline: Option<bool>,
    withdraw_limit: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDirectoryExport {
    name: Option<String>,
    school: String,
    folder: Option<PathBuf>,
    pattern: Option<String>,
    url: Option<String>,
    token_file: Option<PathBuf>,
    settle: Option<HumanDuration>,
    timeout: Option<HumanDuration>,
    delimiter: Option<String>,
    encoding: Option<String>,
    decimal_comma: Option<bool>,
    date_format: Option<OneOrMany>,
    interval: Option<HumanDuration>,
    columns: BTreeMap<String, ColumnRef>,
    timetable: Option<RawTimetableExport>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTimetableExport {
    folder: Option<PathBuf>,
    pattern: Option<String>,
    url: Option<String>,
    token_file: Option<PathBuf>,
    settle: Option<HumanDuration>,
    timeout: Option<HumanDuration>,
    delimiter: Option<String>,
    encoding: Option<String>,
    decimal_comma: Option<bool>,
    date_format: Option<OneOrMany>,
    columns: BTreeMap<String, ColumnRef>,
}

/// Where a file comes from and how it reads, as written in any of the file tables.
#[derive(Debug, Default)]
struct RawLocation {
    folder: Option<PathBuf>,
    pattern: Option<String>,
    url: Option<String>,
    token_file: Option<PathBuf>,
    settle: Option<HumanDuration>,
    timeout: Option<HumanDuration>,
}

#[derive(Debug, Default)]
struct RawCsv {
    delimiter: Option<String>,
    encoding: Option<String>,
    decimal_comma: Option<bool>,
    date_format: Option<OneOrMany>,
}

/// Splits a file table's keys into where the file is and how it reads.
macro_rules! file_parts {
    ($r:expr) => {
        (
            RawLocation {
                folder: $r.folder,
                pattern: $r.pattern,
                url: $r.url,
                token_file: $r.token_file,
                settle: $r.settle,
                timeout: $r.timeout,
            },
            RawCsv {
                delimiter: $r.delimiter,
                encoding: $r.encoding,
                decimal_comma: $r.decimal_comma,
                date_format: $r.date_format,
            },
        )
    };
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// A column, or several whose values are joined (a composite key, a name in parts).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ColumnRef {
    One(String),
    Many(Vec<String>),
}

impl ColumnRef {
    pub fn names(&self) -> Vec<&str> {
        match self {
            ColumnRef::One(s) => vec![s.as_str()],
            ColumnRef::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

// ---- In force --------------------------------------------------------------------------------

/// What every poller has.
#[derive(Debug, Clone)]
pub struct PollConfig {
    /// Names the source in logs, quarantine, health, event ids and snapshots: keep it.
    pub name: String,
    pub school: String,
    pub interval: Duration,
    /// The first poll of a scope records what is there without events.
    pub baseline: bool,
    /// A poll that would withdraw more than this share of a scope's items is held.
    pub withdraw_limit: f64,
}

/// Which SOMtoday field is the student id in events and the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StudentId {
    Uuid,
    Leerlingnummer,
}

#[derive(Debug, Clone)]
pub struct SomtodayConfig {
    pub poll: PollConfig,
    pub organisation: String,
    pub vestiging: String,
    pub client_id: String,
    pub client_secret_file: PathBuf,
    pub token_url: String,
    pub api_url: String,
    /// How often the student list (and guardians, timetable) is read again.
    pub students_interval: Duration,
    /// Students and guardians into the directory.
    pub directory: bool,
    /// The current and next week's `rooster` into the directory's timetable.
    pub timetable: bool,
    /// Poll `/events` and re-read only the students it names (plus a sweep every
    /// `students_interval`); falls back to polling everyone when the SIS lacks the feed.
    pub events_feed: bool,
    pub student_id: StudentId,
    /// `rapportgemiddelde` per period as a `report` grade.
    pub report_averages: bool,
    pub page_size: u32,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct SmartschoolConfig {
    pub poll: PollConfig,
    /// `https://<school>.smartschool.be/Webservices/V3`
    pub url: String,
    pub accesscode_file: PathBuf,
    /// The SOAP call: getAbsentsByDate, or a variant with the same arguments that keys the
    /// answer by another identifier (getAbsentsWithInternalNumberByDate, …).
    pub method: String,
    /// Today and this many days before it.
    pub days: u32,
    /// The school's absence codes and their kinds; any other code is quarantined.
    pub codes: BTreeMap<String, AbsenceKind>,
    /// Codes that mean "nothing to report" (present).
    pub ignore: Vec<String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportKind {
    Grades,
    Absences,
}

/// Where export files come from.
#[derive(Debug, Clone)]
pub enum Location {
    /// The newest file in `folder` whose name matches `pattern` (`*` and `?`).
    Folder { folder: PathBuf, pattern: String },
    /// An HTTPS download, with a bearer token from `token_file`.
    Url {
        url: String,
        token_file: Option<PathBuf>,
        timeout: Duration,
    },
}

#[derive(Debug, Clone)]
pub struct FileSource {
    pub location: Location,
    /// A file is read once its size and time have not changed for this long.
    pub settle: Duration,
    pub csv: CsvFormat,
}

#[derive(Debug, Clone)]
pub struct CsvFormat {
    pub delimiter: u8,
    pub encoding: &'static encoding_rs::Encoding,
    pub decimal_comma: bool,
    /// chrono formats for dates and times without an offset (read in the school's zone).
    pub date_formats: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ExportConfig {
    pub poll: PollConfig,
    pub kind: ExportKind,
    pub file: FileSource,
    /// Field → column(s).
    pub columns: BTreeMap<String, ColumnRef>,
    /// A kind column's values → grade or absence kinds.
    pub kinds: BTreeMap<String, String>,
    pub default_kind: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DirectoryExportConfig {
    pub name: String,
    pub school: String,
    pub interval: Duration,
    pub file: FileSource,
    pub columns: BTreeMap<String, ColumnRef>,
    pub timetable: Option<(FileSource, BTreeMap<String, ColumnRef>)>,
}

/// All SIS sources.
#[derive(Debug, Clone, Default)]
pub struct SisConfig {
    pub somtoday: Vec<SomtodayConfig>,
    pub smartschool: Vec<SmartschoolConfig>,
    pub export: Vec<ExportConfig>,
    pub directory: Option<DirectoryExportConfig>,
}

impl SisConfig {
    pub fn is_empty(&self) -> bool {
        self.somtoday.is_empty()
            && self.smartschool.is_empty()
            && self.export.is_empty()
            && self.directory.is_none()
    }
}

pub const GRADE_FIELDS: (&[&str], &[&str]) = (
    &["record", "student", "subject", "class", "value"],
    &["assessment", "description", "weight", "kind", "entered_at"],
);
pub const ABSENCE_FIELDS: (&[&str], &[&str]) = (
    &["record", "student", "kind", "start"],
    &["end", "period", "subject", "note", "entered_at"],
);
pub const DIRECTORY_FIELDS: (&[&str], &[&str]) = (
    &["student", "name", "birth_date"],
    &[
        "class",
        "student_email",
        "locale",
        "guardian",
        "guardian_name",
        "guardian_email",
        "guardian_locale",
    ],
);
pub const TIMETABLE_FIELDS: (&[&str], &[&str]) =
    (&["class", "subject"], &["lesson", "day", "start", "end"]);

const GRADE_KINDS: [&str; 5] = ["test", "assignment", "report", "average", "exam"];

// ---- Resolution ------------------------------------------------------------------------------

#[derive(Default)]
pub(super) struct RawSis {
    pub somtoday: Vec<RawSomtoday>,
    pub smartschool: Vec<RawSmartschool>,
    pub export: Vec<RawExport>,
    pub directory: Option<RawDirectoryExport>,
}

impl Resolver<'_> {
    pub(super) fn sis(&mut self, raw: RawSis, schools: &[String]) -> SisConfig {
        let mut names: HashSet<String> = HashSet::new();
        let mut out = SisConfig::default();
        for (i, r) in raw.somtoday.into_iter().enumerate() {
            let key = format!("ingest.somtoday[{i}]");
            let poll = self.poll(
                &key,
                (r.name, "somtoday"),
                r.school,
                (r.interval, 15 * 60),
                r.baseline,
                r.withdraw_limit,
                schools,
                &mut names,
            );
            let page_size = r.page_size.unwrap_or(200);
            if !(1..=200).contains(&page_size) {
                self.error(
                    &format!("{key}.page_size"),
                    format!("{page_size}: SOMtoday pages hold 1 to 200 items"),
                );
            }
            let token_url = self.url(
                &format!("{key}.token_url"),
                r.token_url,
                "https://inloggen.somtoday.nl/oauth2/token",
            );
            let api_url = self.url(
                &format!("{key}.api_url"),
                r.api_url,
                "https://api.somtoday.nl/rest/v1",
            );
            for (k, v) in [
                ("organisation", &r.organisation),
                ("vestiging", &r.vestiging),
                ("client_id", &r.client_id),
            ] {
                if v.trim().is_empty() {
                    self.error(&format!("{key}.{k}"), "must not be empty".into());
                }
            }
            let students_interval = self.span(
                &format!("{key}.students_interval"),
                r.students_interval,
                6 * HOUR,
                (SECOND, 7 * 24 * HOUR),
            );
            out.somtoday.push(SomtodayConfig {
                poll,
                organisation: r.organisation,
                vestiging: r.vestiging,
                client_id: r.client_id,
                client_secret_file: r.client_secret_file,
                token_url,
                api_url,
                students_interval,
                directory: r.directory.unwrap_or(false),
                timetable: r.timetable.unwrap_or(true),
                events_feed: r.events_feed.unwrap_or(false),
                student_id: r.student_id.unwrap_or(StudentId::Uuid),
                report_averages: r.report_averages.unwrap_or(false),
                page_size,
                timeout: self.span(&format!("{key}.timeout"), r.timeout, 30 * SECOND, TIMEOUTS),
            });
        }
        for (i, r) in raw.smartschool.into_iter().enumerate() {
            let key = format!("ingest.smartschool[{i}]");
            let poll = self.poll(
                &key,
                (r.name, "smartschool"),
                r.school,
                (r.interval, 10 * 60),
                r.baseline,
                r.withdraw_limit,
                schools,
                &mut names,
            );
            if !(r.url.starts_with("https://") || r.url.starts_with("http://")) {
                self.error(
                    &format!("{key}.url"),
                    format!(
                        "{:?}: expected \"https://<school>.smartschool.be/Webservices/V3\"",
                        r.url
                    ),
                );
            }
            let days = r.days.unwrap_or(7);
            if days > 60 {
                self.error(&format!("{key}.days"), format!("{days}: at most 60"));
            }
            let method = r.method.unwrap_or_else(|| "getAbsentsByDate".into());
            if !(method.starts_with("getAbsents") && method.ends_with("ByDate")) {
                self.error(
                    &format!("{key}.method"),
                    format!(
                        "{method:?}: expected getAbsentsByDate or a variant taking (accesscode, \
                         date) such as getAbsentsWithInternalNumberByDate"
                    ),
                );
            }
            let ignore = r.ignore.unwrap_or_else(|| vec![String::new()]);
            if let Some(c) = r.codes.keys().find(|c| ignore.contains(c)) {
                self.error(
                    &format!("{key}.ignore"),
                    format!("{c:?} is both in codes and in ignore"),
                );
            }
            out.smartschool.push(SmartschoolConfig {
                poll,
                url: r.url,
                accesscode_file: r.accesscode_file,
                method,
                days,
                codes: r.codes,
                ignore,
                timeout: self.span(&format!("{key}.timeout"), r.timeout, 30 * SECOND, TIMEOUTS),
            });
        }
        for (i, r) in raw.export.into_iter().enumerate() {
            let key = format!("ingest.export[{i}]");
            let poll = self.poll(
                &key,
                (Some(r.name), "export"),
                r.school,
                (r.interval, 5 * 60),
                r.baseline,
                r.withdraw_limit,
                schools,
                &mut names,
            );
            let (location, format) = file_parts!(r);
            let file = self.file_source(&key, location, format);
            let fields = match r.kind {
                ExportKind::Grades => GRADE_FIELDS,
                ExportKind::Absences => ABSENCE_FIELDS,
            };
            self.columns(&key, &r.columns, fields);
            let allowed: Vec<&str> = match r.kind {
                ExportKind::Grades => GRADE_KINDS.to_vec(),
                ExportKind::Absences => AbsenceKind::ALL.iter().map(|k| k.as_str()).collect(),
            };
            for (raw_value, kind) in &r.kinds {
                if !allowed.contains(&kind.as_str()) {
                    self.error(
                        &format!("{key}.kinds"),
                        format!(
                            "{raw_value:?} = {kind:?}: allowed kinds: {}",
                            allowed.join(", ")
                        ),
                    );
                }
            }
            if let Some(k) = &r.default_kind {
                if !allowed.contains(&k.as_str()) {
                    self.error(
                        &format!("{key}.default_kind"),
                        format!("{k:?}: allowed: {}", allowed.join(", ")),
                    );
                }
            }
            let has_kind_column = r.columns.contains_key("kind");
            if r.kind == ExportKind::Grades && !has_kind_column && r.default_kind.is_none() {
                self.error(
                    &format!("{key}.default_kind"),
                    "without a kind column, say which kind the grades are (e.g. \"test\")".into(),
                );
            }
            if has_kind_column && r.kinds.is_empty() {
                self.error(
                    &format!("{key}.kinds"),
                    "map the kind column's values, e.g. kinds = { \"Z\" = \"sick\" }: values \
                     are never guessed"
                        .into(),
                );
            }
            out.export.push(ExportConfig {
                poll,
                kind: r.kind,
                file,
                columns: r.columns,
                kinds: r.kinds,
                default_kind: r.default_kind,
            });
        }
        if let Some(r) = raw.directory {
            let key = "directory.export";
            let name = r.name.unwrap_or_else(|| "directory".into());
            if !names.insert(name.clone()) {
                self.error(
                    &format!("{key}.name"),
                    format!("{name:?} is already the name of another SIS source"),
                );
            }
            self.school(&format!("{key}.school"), &r.school, schools);
            let (location, format) = file_parts!(r);
            let file = self.file_source(key, location, format);
            self.columns(key, &r.columns, DIRECTORY_FIELDS);
            let timetable = r.timetable.map(|t| {
                let tkey = format!("{key}.timetable");
                let columns = t.columns;
                let (location, format) = file_parts!(t);
                let f = self.file_source(&tkey, location, format);
                self.columns(&tkey, &columns, TIMETABLE_FIELDS);
                let has = |k: &str| columns.contains_key(k);
                if !(has("lesson") || (has("day") && has("start") && has("end"))) {
                    self.error(
                        &format!("{tkey}.columns"),
                        "map either lesson (\"mon 10:15-11:05\") or day, start and end".into(),
                    );
                }
                (f, columns)
            });
            out.directory = Some(DirectoryExportConfig {
                name,
                school: r.school,
                interval: self.span(
                    &format!("{key}.interval"),
                    r.interval,
                    HOUR,
                    (SECOND, 24 * HOUR),
                ),
                file,
                columns: r.columns,
                timetable,
            });
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn poll(
        &mut self,
        key: &str,
        (name, default_name): (Option<String>, &str),
        school: String,
        (interval, default_secs): (Option<HumanDuration>, u64),
        baseline: Option<bool>,
        withdraw_limit: Option<f64>,
        schools: &[String],
        names: &mut HashSet<String>,
    ) -> PollConfig {
        let name = name.unwrap_or_else(|| default_name.to_string());
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            self.error(
                &format!("{key}.name"),
                format!("{name:?}: expected letters, digits, '-' or '_' (it prefixes event ids)"),
            );
        } else if !names.insert(name.clone()) {
            self.error(
                &format!("{key}.name"),
                format!("{name:?} is already the name of another SIS source; give each its own"),
            );
        }
        self.school(&format!("{key}.school"), &school, schools);
        let interval = self.span(
            &format!("{key}.interval"),
            interval,
            Duration::from_secs(default_secs),
            (SECOND, 24 * HOUR),
        );
        let withdraw_limit = withdraw_limit.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&withdraw_limit) {
            self.error(
                &format!("{key}.withdraw_limit"),
                format!("{withdraw_limit}: expected a share from 0.0 to 1.0"),
            );
        }
        PollConfig {
            name,
            school,
            interval,
            baseline: baseline.unwrap_or(true),
            withdraw_limit,
        }
    }

    fn school(&mut self, key: &str, school: &str, schools: &[String]) {
        if !schools.is_empty() && !schools.iter().any(|s| s == school) {
            self.error(
                key,
                format!(
                    "{school:?} is not a configured school; configured: {}",
                    schools.join(", ")
                ),
            );
        }
    }

    fn url(&mut self, key: &str, url: Option<String>, default: &str) -> String {
        let url = url
            .unwrap_or_else(|| default.into())
            .trim_end_matches('/')
            .to_string();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            self.error(key, format!("{url:?}: expected an https:// URL"));
        }
        url
    }

    fn file_source(&mut self, key: &str, l: RawLocation, f: RawCsv) -> FileSource {
        let location = match (l.folder, l.url) {
            (Some(folder), None) => {
                if l.token_file.is_some() {
                    self.error(&format!("{key}.token_file"), "only with url".into());
                }
                Location::Folder {
                    folder,
                    pattern: l.pattern.unwrap_or_else(|| "*.csv".into()),
                }
            }
            (None, Some(url)) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    self.error(
                        &format!("{key}.url"),
                        format!("{url:?}: expected an https:// URL"),
                    );
                }
                if l.pattern.is_some() {
                    self.error(&format!("{key}.pattern"), "only with folder".into());
                }
                Location::Url {
                    url,
                    token_file: l.token_file,
                    timeout: self.span(&format!("{key}.timeout"), l.timeout, 30 * SECOND, TIMEOUTS),
                }
            }
            _ => {
                self.error(
                    key,
                    ": set either folder (and pattern) or url (and token_file)".into(),
                );
                Location::Folder {
                    folder: PathBuf::new(),
                    pattern: String::new(),
                }
            }
        };
        let delimiter = f.delimiter.unwrap_or_else(|| ",".into());
        let delimiter = match delimiter.as_str() {
            "\\t" | "\t" | "tab" => b'\t',
            d if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
            d => {
                self.error(
                    &format!("{key}.delimiter"),
                    format!("{d:?}: expected one character such as \",\", \";\" or \"tab\""),
                );
                b','
            }
        };
        let label = f.encoding.unwrap_or_else(|| "utf-8".into());
        let encoding = encoding_rs::Encoding::for_label(label.as_bytes()).unwrap_or_else(|| {
            self.error(
                &format!("{key}.encoding"),
                format!("{label:?}: expected an encoding such as \"utf-8\" or \"windows-1252\""),
            );
            encoding_rs::UTF_8
        });
        FileSource {
            location,
            settle: self.span(
                &format!("{key}.settle"),
                l.settle,
                10 * SECOND,
                (Duration::ZERO, HOUR),
            ),
            csv: CsvFormat {
                delimiter,
                encoding,
                decimal_comma: f.decimal_comma.unwrap_or(false),
                date_formats: f.date_format.map(OneOrMany::into_vec).unwrap_or_default(),
            },
        }
    }

    fn columns(
        &mut self,
        key: &str,
        columns: &BTreeMap<String, ColumnRef>,
        (required, optional): (&[&str], &[&str]),
    ) {
        for field in columns.keys() {
            if !required.contains(&field.as_str()) && !optional.contains(&field.as_str()) {
                let all: Vec<&str> = required.iter().chain(optional).copied().collect();
                self.error(
                    &format!("{key}.columns.{field}"),
                    format!("unknown field; allowed: {}", all.join(", ")),
                );
            }
        }
        for field in required {
            if !columns.contains_key(*field) {
                self.error(
                    &format!("{key}.columns"),
                    format!(
                        "the column for `{field}` is missing (required: {})",
                        required.join(", ")
                    ),
                );
            }
        }
        for (field, c) in columns {
            if c.names().is_empty() || c.names().iter().any(|n| n.is_empty()) {
                self.error(
                    &format!("{key}.columns.{field}"),
                    "expected a column name or a list of names".into(),
                );
            }
        }
    }
}

const SECOND: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);
/// Bounds of a request timeout: shorter fails every call, longer stalls a poller.
const TIMEOUTS: (Duration, Duration) = (SECOND, Duration::from_secs(600));

impl Resolver<'_> {
    /// A duration within `(min, max)`, `default` when unset; out of bounds is an error.
    fn span(
        &mut self,
        key: &str,
        value: Option<HumanDuration>,
        default: Duration,
        (min, max): (Duration, Duration),
    ) -> Duration {
        let d = value.map(|d| d.0).unwrap_or(default);
        if d < min || d > max {
            self.error(
                key,
                format!(
                    "{}: expected from \"{}\" to \"{}\"",
                    humantime::format_duration(d),
                    humantime::format_duration(min),
                    humantime::format_duration(max)
                ),
            );
        }
        d
    }
}
