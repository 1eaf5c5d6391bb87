//! The SIS tables of the config: the shipped examples are valid as written, defaults are
//! sane, and every mistake is reported with file, line, key and what is allowed.

use std::path::Path;
use std::time::Duration;

use rustig::config::sis::{ExportKind, Location, StudentId};
use rustig::config::{Config, ConfigErrors};
use rustig::model::AbsenceKind;

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(Path::new("rustig.toml"), text)
}

fn errors(text: &str) -> Vec<String> {
    parse(text)
        .unwrap_err()
        .0
        .iter()
        .map(|e| e.to_string())
        .collect()
}

const SCHOOL: &str = "[schools.coornhert]\nname = \"Coornhert\"\n";

/// The example config with its commented SIS tables uncommented.
fn uncommented_example() -> String {
    let text =
        std::fs::read_to_string(format!("{root}/config/rustig.toml", root = root())).unwrap();
    let mut out = Vec::new();
    let mut inside = false;
    for l in text.lines() {
        if l == "# [[ingest.somtoday]]" || l == "# [[ingest.smartschool]]" {
            inside = true;
            out.push(l.trim_start_matches("# ").to_string());
            continue;
        }
        if inside {
            match l.strip_prefix("# ") {
                Some(rest) if rest.contains(" = ") && !rest.starts_with(' ') => {
                    out.push(rest.to_string());
                    continue;
                }
                _ => inside = false,
            }
        }
        out.push(l.to_string());
    }
    out.join("\n")
}

#[test]
fn the_examples_are_valid_as_written() {
    let text = uncommented_example();
    assert!(
        text.contains("\n[[ingest.somtoday]]\n"),
        "the example documents SOMtoday"
    );
    let mut full = text.clone();
    for f in [
        "export-magister-grades.example.toml",
        "export-magister-absences.example.toml",
        "export-magister-directory.example.toml",
    ] {
        full.push('\n');
        full.push_str(&std::fs::read_to_string(format!("{}/config/{f}", root())).unwrap());
    }
    // (The appended [directory.export] joins the example's [directory] table.)
    let c = parse(&full).unwrap_or_else(|e| panic!("{e}"));
    let s = &c.sis;
    assert_eq!(s.somtoday.len(), 1);
    let som = &s.somtoday[0];
    assert_eq!(som.poll.name, "somtoday");
    assert_eq!(som.poll.interval, Duration::from_secs(900));
    assert_eq!(som.student_id, StudentId::Uuid);
    assert!(som.timetable && !som.directory && !som.events_feed);
    assert_eq!(som.token_url, "https://inloggen.somtoday.nl/oauth2/token");
    assert_eq!(som.api_url, "https://api.somtoday.nl/rest/v1");
    assert_eq!(som.page_size, 200);
    let ss = &s.smartschool[0];
    assert_eq!((ss.days, ss.method.as_str()), (7, "getAbsentsByDate"));
    assert_eq!(ss.codes.get("Z"), Some(&AbsenceKind::Sick));
    assert_eq!(s.export.len(), 2);
    let grades = &s.export[0];
    assert_eq!(grades.kind, ExportKind::Grades);
    assert_eq!(grades.file.csv.delimiter, b';');
    assert_eq!(grades.file.csv.encoding, encoding_rs::WINDOWS_1252);
    assert!(grades.file.csv.decimal_comma);
    assert!(
        matches!(&grades.file.location, Location::Folder { pattern, .. } if pattern == "cijfers*.csv")
    );
    assert_eq!(s.export[1].kinds["Ziek"], "sick");
    let d = s.directory.as_ref().unwrap();
    assert_eq!(d.school, "coornhert");
    assert!(d.timetable.is_some());
    // The example config (commented as shipped) uses next_lesson; the built-in default stays.
    let shipped = Config::load(Path::new(&format!("{}/config/rustig.toml", root()))).unwrap();
    assert_eq!(
        shipped.policy("coornhert").unwrap().grades.classroom_first,
        rustig::policy::ClassroomFirst::NextLesson
    );
    assert_eq!(
        parse("").unwrap().default_policy.grades.classroom_first,
        rustig::policy::ClassroomFirst::Release
    );
}

#[test]
fn mistakes_are_located_and_explained() {
    let text = format!(
        "{SCHOOL}
[[ingest.somtoday]]
school = \"elsewhere\"
organisation = \"\"
vestiging = \"v\"
client_id = \"c\"
client_secret_file = \"/s\"
page_size = 500
withdraw_limit = 2.0
interval = \"0s\"
timeout = \"1h\"

[[ingest.smartschool]]
name = \"somtoday\"
school = \"coornhert\"
url = \"school.smartschool.be\"
accesscode_file = \"/a\"

[[ingest.export]]
name = \"cijfers\"
school = \"coornhert\"
kind = \"grades\"
folder = \"/x\"
url = \"https://x\"
delimiter = \";;\"
encoding = \"klingon\"
columns = {{ record = \"a\", student = \"b\", cijfer = \"c\" }}
kinds = {{ T = \"quiz\" }}
"
    );
    let e = errors(&text);
    let find = |key: &str| {
        e.iter()
            .find(|m| m.contains(key))
            .unwrap_or_else(|| panic!("no error for {key}: {e:#?}"))
            .clone()
    };
    assert!(find("ingest.somtoday[0].school")
        .contains("not a configured school; configured: coornhert"));
    assert!(find("ingest.somtoday[0].organisation").contains("must not be empty"));
    assert!(
        find("ingest.somtoday[0].page_size").starts_with("rustig.toml:10:"),
        "{e:#?}"
    );
    assert!(find("ingest.somtoday[0].withdraw_limit").contains("0.0 to 1.0"));
    assert!(
        find("ingest.somtoday[0].interval").contains("0s: expected from \"1s\" to \"1day\""),
        "{e:#?}"
    );
    assert!(find("ingest.somtoday[0].timeout").contains("expected from \"1s\" to \"10m\""));
    assert!(find("ingest.smartschool[0].url").contains("Webservices/V3"));
    assert!(find("ingest.smartschool[0].name").contains("already the name"));
    assert!(find("ingest.export[0]").contains("either folder"));
    assert!(find("ingest.export[0].delimiter").contains("one character"));
    assert!(find("ingest.export[0].encoding").contains("windows-1252"));
    assert!(find("ingest.export[0].columns.cijfer")
        .contains("unknown field; allowed: record, student, subject, class, value"));
    assert!(
        e.iter()
            .any(|m| m.contains("ingest.export[0].columns: the column for `subject` is missing")),
        "{e:#?}"
    );
    assert!(find("ingest.export[0].kinds")
        .contains("allowed kinds: test, assignment, report, average, exam"));
    // An unknown absence kind is refused by the TOML reader itself, naming what is allowed.
    let e = errors(&format!(
        "{SCHOOL}[[ingest.smartschool]]\nschool = \"coornhert\"\nurl = \"https://s/Webservices/V3\"\n\
         accesscode_file = \"/a\"\ncodes = {{ X = \"truant\" }}\n"
    ));
    assert!(
        e[0].contains("ingest.smartschool[0].codes") && e[0].contains("`unauthorized`"),
        "{e:?}"
    );
}

#[test]
fn exports_without_a_kind_say_which_and_kinds_are_never_guessed() {
    let base = |extra: &str| {
        format!(
            "{SCHOOL}[[ingest.export]]\nname = \"a\"\nschool = \"coornhert\"\nkind = \"grades\"\nfolder = \"/x\"\n{extra}\
             columns = {{ record = \"r\", student = \"s\", subject = \"v\", class = \"k\", value = \"c\"{more} }}\n",
            more = if extra.contains("kinds") { ", kind = \"t\"" } else { "" }
        )
    };
    assert!(errors(&base("")).iter().any(|e| e.contains("default_kind")));
    assert!(parse(&base("default_kind = \"test\"\n")).is_ok());
    let c = parse(&base("kinds = { T = \"test\" }\n")).unwrap();
    assert_eq!(c.sis.export[0].kinds["T"], "test");
}

#[test]
fn the_readme_examples_are_valid() {
    let readme = std::fs::read_to_string(format!("{}/README.md", root())).unwrap();
    let section = readme
        .split("## From the school's information system")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the README section");
    let blocks: Vec<&str> = section
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 4, "SOMtoday, Smartschool, export, directory");
    for b in blocks {
        parse(b).unwrap_or_else(|e| panic!("{e}\n{b}"));
    }
}
