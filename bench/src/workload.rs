//! The synthetic school population and the delay-buffer workload: N events entered over the
//! last 60 hours (ingest refuses events from the future), all held by a digest slot at a
//! Monday 07:00 days ahead (the same instant for every notice), and the config that makes it
//! so.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Duration, SecondsFormat, Utc, Weekday};
use chrono_tz::Tz;
use serde_json::json;

use rustig::policy::calendar::resolve_local;

/// The school all bench events belong to.
pub const SCHOOL: &str = "bench";
/// A school without blackouts: its one event (the probe) is due at once, so a restarted
/// daemon has something to send while the bench school's backlog waits.
pub const PROBE_SCHOOL: &str = "probe";
pub const ZONE: Tz = chrono_tz::Europe::Amsterdam;
/// The sender of every bench message.
pub const FROM: &str = "Bench College <noreply@bench.example>";

const CLASSES: [&str; 24] = [
    "1a", "1b", "1c", "1d", "2a", "2b", "2c", "2d", "3a", "3b", "3c", "3d", "4a", "4b", "4c", "4d",
    "5a", "5b", "5c", "5d", "6a", "6b", "6c", "6d",
];
const SUBJECTS: [&str; 8] = [
    "wiskunde",
    "nederlands",
    "engels",
    "geschiedenis",
    "biologie",
    "natuurkunde",
    "frans",
    "aardrijkskunde",
];
const FIRST: [&str; 12] = [
    "Merel", "Daan", "Sanne", "Lucas", "Emma", "Noah", "Julia", "Sem", "Tess", "Finn", "Lotte",
    "Milan",
];
const LAST: [&str; 10] = [
    "de Jong",
    "Jansen",
    "de Vries",
    "van den Berg",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
];

/// The default population for `events` events: one student per five events, at most 20 000
/// (a large school board), so each student gets several notices and some messages are digests.
pub fn default_students(events: usize) -> usize {
    (events / 5).clamp(1, 20_000)
}

/// A small deterministic generator (splitmix64): the same arguments give the same workload.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Everything the bench feeds rustig.
pub struct Workload {
    /// When every notice becomes due: the end of the weekend blackout (Monday 07:00 local).
    pub due: DateTime<Utc>,
    pub students: usize,
    pub guardians: usize,
    pub events: usize,
    /// The directory (DESIGN.md schema), bench school plus the probe student.
    pub directory_json: String,
    /// NDJSON request bodies of `batch` events each.
    pub batches: Vec<Vec<u8>>,
}

impl Workload {
    /// The events of one batch, one JSON object each.
    pub fn lines(batch: &[u8]) -> Vec<&[u8]> {
        batch
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect()
    }
}

/// The first Monday 07:00 (local) at least three days after `now`, so that the whole weekend
/// before it, when the events are entered, is still to come.
pub fn due_instant(now: DateTime<Utc>) -> DateTime<Utc> {
    let mut day = now.with_timezone(&ZONE).date_naive();
    loop {
        if day.weekday() == Weekday::Mon {
            let t = resolve_local(ZONE, day.and_hms_opt(7, 0, 0).expect("07:00"));
            if t >= now + Duration::days(3) {
                return t;
            }
        }
        day = day.succ_opt().expect("a next day");
    }
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&ZONE)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Generates the population and `events` events in batches of `batch`.
pub fn generate(events: usize, students: usize, batch: usize, now: DateTime<Utc>) -> Workload {
    let students = students.max(1);
    let due = due_instant(now);
    let mut rng = Rng(0x5EED_0000_0000_0001 ^ events as u64);
    let year = due.with_timezone(&ZONE).year();

    let mut people = Vec::with_capacity(students + 1);
    let mut guardians = 0;
    for i in 0..students {
        let first = FIRST[rng.below(FIRST.len() as u64) as usize];
        let last = LAST[rng.below(LAST.len() as u64) as usize];
        let locale = if rng.below(10) == 0 { "en" } else { "nl" };
        let n_guardians = if rng.below(5) < 3 { 2 } else { 1 };
        guardians += n_guardians;
        let gs: Vec<_> = (1..=n_guardians)
            .map(|j| {
                let gfirst = FIRST[rng.below(FIRST.len() as u64) as usize];
                json!({
                    "id": format!("g-{i}-{j}"),
                    "name": format!("{gfirst} {last}"),
                    "locale": locale,
                    "contacts": [{"email": format!("g{i}-{j}@ouders.bench.example")}],
                })
            })
            .collect();
        // 12 to 15 years old on the due day: guardians may see every grade.
        let birth = format!(
            "{}-{:02}-{:02}",
            year - 13 - rng.below(3) as i32,
            1 + rng.below(12),
            1 + rng.below(28)
        );
        people.push(json!({
            "id": format!("s-{i}"),
            "school": SCHOOL,
            "name": format!("{first} {last}"),
            "birth_date": birth,
            "class": CLASSES[i % CLASSES.len()],
            "locale": locale,
            "contacts": [{"email": format!("s{i}@leerling.bench.example")}],
            "guardians": gs,
        }));
    }
    people.push(json!({
        "id": "p-1",
        "school": PROBE_SCHOOL,
        "name": "Probe Leerling",
        "birth_date": format!("{}-01-01", year - 14),
        "class": "1a",
        "contacts": [{"email": "probe@leerling.probe.example"}],
    }));
    let directory_json =
        serde_json::to_string(&json!({ "students": people })).expect("directory serializes");

    // Entered over the 60 hours before the last one: in the past when they are posted, and
    // all before the digest slot at `due`.
    let window_start = now - Duration::hours(61);
    let window_ms = Duration::hours(60).num_milliseconds() as u64;
    let absence_start = local(now - Duration::hours(65));
    let batch = batch.max(1);
    let mut batches = Vec::with_capacity(events.div_ceil(batch));
    let mut body = String::with_capacity(batch * 400);
    for i in 0..events {
        let student = i % students;
        let class = CLASSES[student % CLASSES.len()];
        let at = local(window_start + Duration::milliseconds(rng.below(window_ms) as i64));
        if rng.below(100) < 85 {
            let subject = SUBJECTS[rng.below(SUBJECTS.len() as u64) as usize];
            let chapter = 1 + rng.below(9);
            let tenths = 30 + rng.below(70);
            let _ = write!(
                body,
                r#"{{"id":"b-{i}","type":"grade.entered","school":"{SCHOOL}","occurred_at":"{at}","record":"rg-{i}","student":"s-{student}","grade":{{"assessment":"a-{subject}-h{chapter}","subject":"{subject}","class":"{class}","description":"Toets H{chapter}","value":"{},{}","numeric":{}.{},"weight":{},"kind":"test"}}}}"#,
                tenths / 10,
                tenths % 10,
                tenths / 10,
                tenths % 10,
                1 + rng.below(3)
            );
        } else {
            let _ = write!(
                body,
                r#"{{"id":"b-{i}","type":"absence.registered","school":"{SCHOOL}","occurred_at":"{at}","record":"ra-{i}","student":"s-{student}","absence":{{"kind":"unauthorized","start":"{absence_start}","period":{}}}}}"#,
                1 + rng.below(8)
            );
        }
        body.push('\n');
        if (i + 1) % batch == 0 || i + 1 == events {
            batches.push(std::mem::take(&mut body).into_bytes());
            body.reserve(batch * 400);
        }
    }
    Workload {
        due,
        students,
        guardians,
        events,
        directory_json,
        batches,
    }
}

/// One grade for the probe student, entered a moment ago: due at once.
pub fn probe_event(now: DateTime<Utc>) -> Vec<u8> {
    let at = local(now - Duration::seconds(1));
    format!(
        r#"{{"id":"probe-1","type":"grade.entered","school":"{PROBE_SCHOOL}","occurred_at":"{at}","record":"probe-r-1","student":"p-1","grade":{{"assessment":"a-probe","subject":"wiskunde","class":"1a","value":"7,0","kind":"test"}}}}"#
    )
    .into_bytes()
}

/// The bench config: the example's rules, but every notice of the bench school is held by
/// one digest slot, at `due` (a Monday 07:00), so all of them become due at once:
/// classroom_first off, guardian_delay 0s, absences by digest, no daily cap, no holidays.
pub fn config_toml(
    store_url: &str,
    directory: &str,
    http_port: u16,
    outbox: &str,
    due: DateTime<Utc>,
) -> String {
    let local_due = due.with_timezone(&ZONE);
    let slot = format!("0 7 {} {} *", local_due.day(), local_due.month());
    format!(
        r#"# Written by `rustig bench`.
timezone = "Europe/Amsterdam"

[store]
url = "{store_url}"

[directory]
file = "{directory}"

[ingest.http]
listen = "127.0.0.1:{http_port}"

[email]
transport = "file"
dir = "{outbox}"
from = "{FROM}"

[quiet_hours]
start = "20:00"
end = "07:00"

[weekend]
from = "fri 18:00"
until = "mon 07:00"

[grades]
classroom_first = "off"
guardian_delay = "0s"
guardians = "all"

[absences]
settle = "45m"
guardians = {{ unauthorized = "digest", late = "digest", sick = "none" }}

[digest]
students = "{slot}"
guardians = "{slot}"

[consent]
student_controls = "from_16"
adult_needs_consent = true

[schools.{SCHOOL}]
name = "Bench College"

[schools.{PROBE_SCHOOL}]
name = "Probe School"

[schools.{PROBE_SCHOOL}.quiet_hours]
enabled = false

[schools.{PROBE_SCHOOL}.weekend]
enabled = false

[schools.{PROBE_SCHOOL}.digest]
students = "immediate"
guardians = "immediate"
"#
    )
}
