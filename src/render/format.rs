//! Locale-aware formatting of the values templates show: decimals, dates, names, and the
//! words for grade and absence kinds. Pure functions; nothing here can fail.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Timelike};

use crate::model::event::LocalMoment;
use crate::model::{AbsenceKind, GradeKind, Locale};

/// A grade value as the recipient reads it: a decimal number gets the locale's separator
/// ("5.4" → "5,4" in Dutch, "5,4" → "5.4" in English); anything else ("V", "G", "7-") is
/// shown as the SIS sent it.
pub fn decimal(value: &str, locale: Locale) -> String {
    let v = value.trim();
    let digits = v.strip_prefix('-').unwrap_or(v);
    let mut parts = digits.splitn(2, ['.', ',']);
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let numeric = is_digits(int) && frac.is_none_or(is_digits);
    match (numeric, frac) {
        (true, Some(frac)) => {
            let sep = match locale {
                Locale::Nl => ',',
                Locale::En => '.',
            };
            let sign = if v.starts_with('-') { "-" } else { "" };
            format!("{sign}{int}{sep}{frac}")
        }
        _ => v.to_string(),
    }
}

/// A number such as a weight: whole numbers without decimals, others with at most two.
pub fn number(n: f64, locale: Locale) -> String {
    if !n.is_finite() {
        return String::new();
    }
    let s = if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        let s = format!("{n:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    decimal(&s, locale)
}

/// The first word of a full name ("Merel de Jong" → "Merel").
pub fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

/// A subject code as a heading: first letter upper case ("wiskunde" → "Wiskunde").
pub fn subject(s: &str) -> String {
    let s = s.trim();
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// "Merel", "Merel en Daan", "Merel, Daan en Sem" (English: "and").
pub fn join_names(names: &[&str], locale: Locale) -> String {
    let and = match locale {
        Locale::Nl => "en",
        Locale::En => "and",
    };
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} {and} {last}", rest.join(", ")),
    }
}

pub fn grade_kind(kind: GradeKind, locale: Locale) -> &'static str {
    match (locale, kind) {
        (Locale::Nl, GradeKind::Test) => "toets",
        (Locale::Nl, GradeKind::Assignment) => "opdracht",
        (Locale::Nl, GradeKind::Report) => "rapportcijfer",
        (Locale::Nl, GradeKind::Average) => "gemiddelde",
        (Locale::Nl, GradeKind::Exam) => "examencijfer",
        (Locale::En, GradeKind::Test) => "test",
        (Locale::En, GradeKind::Assignment) => "assignment",
        (Locale::En, GradeKind::Report) => "report grade",
        (Locale::En, GradeKind::Average) => "average",
        (Locale::En, GradeKind::Exam) => "exam grade",
    }
}

pub fn grade_kind_id(kind: GradeKind) -> &'static str {
    match kind {
        GradeKind::Test => "test",
        GradeKind::Assignment => "assignment",
        GradeKind::Report => "report",
        GradeKind::Average => "average",
        GradeKind::Exam => "exam",
    }
}

/// An absence kind in words, calm and factual.
pub fn absence_kind(kind: AbsenceKind, locale: Locale) -> &'static str {
    match (locale, kind) {
        (Locale::Nl, AbsenceKind::Unauthorized) => "ongeoorloofd afwezig",
        (Locale::Nl, AbsenceKind::Authorized) => "geoorloofd afwezig",
        (Locale::Nl, AbsenceKind::Sick) => "ziek gemeld",
        (Locale::Nl, AbsenceKind::Late) => "te laat",
        (Locale::Nl, AbsenceKind::Removed) => "uit de les gestuurd",
        (Locale::Nl, AbsenceKind::ForgotMaterials) => "spullen vergeten",
        (Locale::Nl, AbsenceKind::HomeworkMissing) => "huiswerk niet gemaakt",
        (Locale::En, AbsenceKind::Unauthorized) => "absent without leave",
        (Locale::En, AbsenceKind::Authorized) => "absent with permission",
        (Locale::En, AbsenceKind::Sick) => "reported sick",
        (Locale::En, AbsenceKind::Late) => "late",
        (Locale::En, AbsenceKind::Removed) => "sent out of class",
        (Locale::En, AbsenceKind::ForgotMaterials) => "forgot materials",
        (Locale::En, AbsenceKind::HomeworkMissing) => "homework not done",
    }
}

/// "1e uur" / "period 1"; a non-numeric period is shown as sent.
pub fn period(p: &str, locale: Locale) -> String {
    let p = p.trim();
    if p.is_empty() {
        return String::new();
    }
    let numeric = p.bytes().all(|b| b.is_ascii_digit());
    match (locale, numeric) {
        (Locale::Nl, true) => format!("{p}e uur"),
        (Locale::Nl, false) => format!("uur {p}"),
        (Locale::En, _) => format!("period {p}"),
    }
}

/// A moment from an event: its local date and, for a timestamp, its local time (in the
/// offset the SIS sent, which is the school's own).
pub fn moment(m: &LocalMoment) -> Option<(NaiveDate, Option<NaiveTime>)> {
    if let Ok(t) = DateTime::<FixedOffset>::parse_from_rfc3339(&m.0) {
        return Some((t.date_naive(), Some(t.time())));
    }
    m.0.parse::<NaiveDate>().ok().map(|d| (d, None))
}

const NL_DAYS: [&str; 7] = [
    "maandag",
    "dinsdag",
    "woensdag",
    "donderdag",
    "vrijdag",
    "zaterdag",
    "zondag",
];
const EN_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const NL_MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// "maandag 23 november" / "Monday 23 November".
pub fn date(d: NaiveDate, locale: Locale) -> String {
    let wd = d.weekday().num_days_from_monday() as usize;
    let m = d.month0() as usize;
    match locale {
        Locale::Nl => format!("{} {} {}", NL_DAYS[wd], d.day(), NL_MONTHS[m]),
        Locale::En => format!("{} {} {}", EN_DAYS[wd], d.day(), EN_MONTHS[m]),
    }
}

/// "08:30".
pub fn time(t: NaiveTime) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// When an absence happened, in one phrase:
/// "maandag 23 november, 1e uur (08:30–09:20)", "maandag 23 november, 08:30",
/// "maandag 23 november t/m woensdag 25 november" (English: "to").
pub fn when(
    start: &LocalMoment,
    end: Option<&LocalMoment>,
    period_text: &str,
    locale: Locale,
) -> String {
    let Some((sd, st)) = moment(start) else {
        return start.0.clone();
    };
    let end = end.and_then(moment);
    if let Some((ed, et)) = end {
        if ed != sd {
            let part = |d: NaiveDate, t: Option<NaiveTime>| match t {
                Some(t) => format!("{} {}", date(d, locale), time(t)),
                None => date(d, locale),
            };
            let to = match (locale, et.is_some()) {
                (Locale::Nl, false) => "t/m",
                (Locale::Nl, true) => "tot",
                (Locale::En, _) => "to",
            };
            return format!("{} {to} {}", part(sd, st), part(ed, et));
        }
    }
    let et = end.and_then(|(_, t)| t);
    let times = match (st, et) {
        (Some(s), Some(e)) if e > s => format!("{}–{}", time(s), time(e)),
        (Some(s), _) => time(s),
        (None, _) => String::new(),
    };
    let mut out = date(sd, locale);
    match (period_text.is_empty(), times.is_empty()) {
        (false, false) => out.push_str(&format!(", {period_text} ({times})")),
        (false, true) => out.push_str(&format!(", {period_text}")),
        (true, false) => out.push_str(&format!(", {times}")),
        (true, true) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_follow_the_locale() {
        assert_eq!(decimal("5.4", Locale::Nl), "5,4");
        assert_eq!(decimal("5,4", Locale::Nl), "5,4");
        assert_eq!(decimal("5,4", Locale::En), "5.4");
        assert_eq!(decimal("5.4", Locale::En), "5.4");
        assert_eq!(decimal(" 10 ", Locale::Nl), "10");
        assert_eq!(decimal("-0.5", Locale::Nl), "-0,5");
        assert_eq!(decimal("V", Locale::Nl), "V");
        assert_eq!(decimal("7-", Locale::Nl), "7-");
        assert_eq!(decimal("1.2.3", Locale::Nl), "1.2.3");
        assert_eq!(decimal(".5", Locale::Nl), ".5");
        assert_eq!(number(2.0, Locale::Nl), "2");
        assert_eq!(number(1.5, Locale::Nl), "1,5");
        assert_eq!(number(1.5, Locale::En), "1.5");
        assert_eq!(number(0.333_333, Locale::Nl), "0,33");
    }

    #[test]
    fn names_and_subjects() {
        assert_eq!(first_name("Merel de Jong"), "Merel");
        assert_eq!(first_name("  "), "  ");
        assert_eq!(subject("wiskunde"), "Wiskunde");
        assert_eq!(subject("élan"), "Élan");
        assert_eq!(join_names(&["Merel"], Locale::Nl), "Merel");
        assert_eq!(join_names(&["Merel", "Daan"], Locale::Nl), "Merel en Daan");
        assert_eq!(
            join_names(&["Merel", "Daan", "Sem"], Locale::En),
            "Merel, Daan and Sem"
        );
    }

    #[test]
    fn moments_in_words() {
        let m = |s: &str| LocalMoment(s.to_string());
        let start = m("2026-11-23T08:30:00+01:00");
        let end = m("2026-11-23T09:20:00+01:00");
        assert_eq!(
            when(&start, Some(&end), "1e uur", Locale::Nl),
            "maandag 23 november, 1e uur (08:30–09:20)"
        );
        assert_eq!(
            when(&start, None, "", Locale::En),
            "Monday 23 November, 08:30"
        );
        assert_eq!(
            when(&m("2026-11-23"), Some(&m("2026-11-25")), "", Locale::Nl),
            "maandag 23 november t/m woensdag 25 november"
        );
        assert_eq!(
            when(&m("2026-11-23"), Some(&m("2026-11-25")), "", Locale::En),
            "Monday 23 November to Wednesday 25 November"
        );
        assert_eq!(period("3", Locale::Nl), "3e uur");
        assert_eq!(period("3", Locale::En), "period 3");
    }
}
