//! The TOML file as written: every table strict (`deny_unknown_fields`), every key optional
//! so that a school's table can override the global one key by key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::channels::{self, Fallback};
use super::values::{DateRange, DayWindow, HumanDuration, Listen, TimeOfDay, WeekTime, Zone};
use crate::model::AbsenceKind;
use crate::policy::{AbsenceMode, ClassroomFirst, GuardianGrades, Schedule, StudentControls};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) timezone: Option<Zone>,
    pub(super) store: Option<RawStore>,
    pub(super) directory: Option<RawDirectory>,
    pub(super) ingest: Option<RawIngest>,
    pub(super) admin: Option<RawAdmin>,
    pub(super) email: Option<RawEmail>,
    pub(super) delivery: Option<RawDelivery>,
    pub(super) webpush: Option<channels::RawWebPush>,
    pub(super) fcm: Option<channels::RawFcm>,
    pub(super) ntfy: Option<channels::RawNtfy>,
    pub(super) webhook: Option<channels::RawWebhook>,
    pub(super) templates: Option<RawTemplates>,
    pub(super) quiet_hours: Option<RawQuiet>,
    pub(super) weekend: Option<RawWeekend>,
    pub(super) holidays: Option<RawHolidays>,
    pub(super) grades: Option<RawGrades>,
    pub(super) absences: Option<RawAbsences>,
    pub(super) digest: Option<RawDigest>,
    pub(super) consent: Option<RawConsent>,
    pub(super) preferences: Option<super::preferences::RawPreferences>,
    pub(super) retention: Option<super::retention::RawRetention>,
    pub(super) quarantine: Option<super::retention::RawQuarantine>,
    #[serde(default)]
    pub(super) schools: BTreeMap<String, RawSchool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDirectory {
    pub(super) file: Option<PathBuf>,
    pub(super) export: Option<super::sis::RawDirectoryExport>,
    /// How long an event for a student the directory does not know waits for an import.
    pub(super) unresolved_hold: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIngest {
    pub(super) http: Option<RawHttp>,
    #[serde(default)]
    pub(super) nats: Vec<RawNats>,
    #[serde(default)]
    pub(super) amqp: Vec<RawAmqp>,
    #[serde(default)]
    pub(super) somtoday: Vec<super::sis::RawSomtoday>,
    #[serde(default)]
    pub(super) smartschool: Vec<super::sis::RawSmartschool>,
    #[serde(default)]
    pub(super) export: Vec<super::sis::RawExport>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNats {
    pub(super) url: String,
    pub(super) stream: String,
    pub(super) subject: String,
    pub(super) durable: Option<String>,
    pub(super) credentials: Option<PathBuf>,
    pub(super) max_ack_pending: Option<i64>,
    pub(super) ack_wait: Option<HumanDuration>,
    pub(super) batch: Option<usize>,
    #[serde(default)]
    pub(super) create: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAmqp {
    pub(super) url: String,
    pub(super) queue: String,
    pub(super) prefetch: Option<u16>,
    pub(super) batch: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    pub(super) listen: Listen,
    pub(super) token_file: Option<PathBuf>,
    pub(super) max_body_bytes: Option<usize>,
    pub(super) read_timeout: Option<HumanDuration>,
    pub(super) idle_timeout: Option<HumanDuration>,
    pub(super) max_connections: Option<usize>,
}

/// `[admin]`: the operators' API on a listener of its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    pub(super) listen: Option<Listen>,
    pub(super) read_token_file: Option<PathBuf>,
    pub(super) operate_token_file: Option<PathBuf>,
    pub(super) max_body_bytes: Option<usize>,
    pub(super) read_timeout: Option<HumanDuration>,
    pub(super) idle_timeout: Option<HumanDuration>,
    pub(super) max_connections: Option<usize>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum Transport {
    File,
    Smtp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEmail {
    pub(super) transport: Option<Transport>,
    pub(super) dir: Option<PathBuf>,
    pub(super) url: Option<String>,
    pub(super) username: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) pool_size: Option<u32>,
    pub(super) timeout: Option<HumanDuration>,
    pub(super) from: String,
    pub(super) tls: Option<super::email::TlsMode>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) helo_name: Option<String>,
    pub(super) dkim: Option<RawDkim>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDkim {
    pub(super) selector: String,
    pub(super) domain: Option<String>,
    pub(super) private_key_file: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDelivery {
    pub(super) max_attempts: Option<u32>,
    pub(super) retry_base: Option<HumanDuration>,
    pub(super) retry_max: Option<HumanDuration>,
    pub(super) concurrency: Option<usize>,
    pub(super) lease: Option<HumanDuration>,
    pub(super) batch: Option<u32>,
    pub(super) max_age: Option<HumanDuration>,
    pub(super) timeout: Option<HumanDuration>,
    pub(super) per_host: Option<usize>,
    pub(super) fallback: Option<Fallback>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTemplates {
    pub(super) dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQuiet {
    pub(super) enabled: Option<bool>,
    pub(super) start: Option<TimeOfDay>,
    pub(super) end: Option<TimeOfDay>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWeekend {
    pub(super) enabled: Option<bool>,
    pub(super) from: Option<WeekTime>,
    pub(super) until: Option<WeekTime>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHolidays {
    pub(super) dates: Option<Vec<DateRange>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGrades {
    pub(super) classroom_first: Option<ClassroomFirst>,
    pub(super) embargo_school_days: Option<u32>,
    pub(super) max_hold: Option<HumanDuration>,
    pub(super) guardian_delay: Option<HumanDuration>,
    pub(super) guardians: Option<GuardianGrades>,
    pub(super) push_shows_value: Option<bool>,
    pub(super) report_hours: Option<ReportHours>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAbsences {
    pub(super) settle: Option<HumanDuration>,
    pub(super) guardians: Option<BTreeMap<AbsenceKind, AbsenceMode>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDigest {
    pub(super) students: Option<ScheduleLine>,
    pub(super) guardians: Option<ScheduleLine>,
    pub(super) max_per_day: Option<u32>,
}

/// `"09:00-16:00"`, or `"off"` for no window.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReportHours(pub(super) Option<DayWindow>);

impl<'de> Deserialize<'de> for ReportHours {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "off" {
            return Ok(ReportHours(None));
        }
        s.parse()
            .map(|w| ReportHours(Some(w)))
            .map_err(|e: String| serde::de::Error::custom(format!("{e}, or \"off\"")))
    }
}

#[derive(Debug, Clone)]
pub(super) struct ScheduleLine(pub(super) Schedule);

impl<'de> Deserialize<'de> for ScheduleLine {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Schedule::parse(&s)
            .map(ScheduleLine)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsent {
    pub(super) student_controls: Option<StudentControls>,
    pub(super) adult_needs_consent: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchool {
    pub(super) name: Option<String>,
    pub(super) timezone: Option<Zone>,
    pub(super) quiet_hours: Option<RawQuiet>,
    pub(super) weekend: Option<RawWeekend>,
    pub(super) holidays: Option<RawHolidays>,
    pub(super) grades: Option<RawGrades>,
    pub(super) absences: Option<RawAbsences>,
    pub(super) digest: Option<RawDigest>,
    pub(super) consent: Option<RawConsent>,
}

#[derive(Debug, Clone)]
pub(super) struct RawPolicy {
    pub(super) quiet_hours: RawQuiet,
    pub(super) weekend: RawWeekend,
    pub(super) holidays: RawHolidays,
    pub(super) grades: RawGrades,
    pub(super) absences: RawAbsences,
    pub(super) digest: RawDigest,
    pub(super) consent: RawConsent,
}

/// `Some` in the school's table wins over the global value, key by key.
macro_rules! overlay {
    ($base:expr, $over:expr, $($field:ident),+) => {{
        let mut out = $base.clone();
        if let Some(o) = $over {
            $( if o.$field.is_some() { out.$field = o.$field.clone(); } )+
        }
        out
    }};
}

impl RawPolicy {
    pub(super) fn overlay(&self, s: &RawSchool) -> RawPolicy {
        let absences = {
            let mut a = overlay!(self.absences, &s.absences, settle);
            // Absence kinds merge per kind: a school may change one kind and keep the rest.
            if let Some(kinds) = s.absences.as_ref().and_then(|x| x.guardians.as_ref()) {
                let mut m = a.guardians.clone().unwrap_or_default();
                m.extend(kinds.iter().map(|(k, v)| (*k, *v)));
                a.guardians = Some(m);
            }
            a
        };
        RawPolicy {
            quiet_hours: overlay!(self.quiet_hours, &s.quiet_hours, enabled, start, end),
            weekend: overlay!(self.weekend, &s.weekend, enabled, from, until),
            holidays: overlay!(self.holidays, &s.holidays, dates),
            grades: overlay!(
                self.grades,
                &s.grades,
                classroom_first,
                embargo_school_days,
                max_hold,
                guardian_delay,
                guardians,
                push_shows_value,
                report_hours
            ),
            absences,
            digest: overlay!(self.digest, &s.digest, students, guardians, max_per_day),
            consent: overlay!(
                self.consent,
                &s.consent,
                student_controls,
                adult_needs_consent
            ),
        }
    }
}
