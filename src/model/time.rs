//! Time values on the ground floor: times of day, moments of the week, windows of the day,
//! date ranges and durations as operators write them in the TOML and the directory. Each one
//! parses from a string and, when it fails, says what it got and what is allowed, so that
//! `rustig check` can print a useful line.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime, Timelike, Weekday};
use serde::{Deserialize, Deserializer};

/// Implements `Deserialize` through `FromStr`, keeping the parser's message.
macro_rules! deserialize_from_str {
    ($t:ty) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A time of day, "20:00".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay(pub NaiveTime);

impl FromStr for TimeOfDay {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_hhmm(s)
            .map(TimeOfDay)
            .ok_or_else(|| "expected a time of day like \"20:00\"".to_string())
    }
}
deserialize_from_str!(TimeOfDay);

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%H:%M"))
    }
}

/// A moment in the week, "fri 18:00".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekTime {
    pub weekday: Weekday,
    pub time: NaiveTime,
}

impl WeekTime {
    /// Minutes since Monday 00:00.
    pub fn minute_of_week(&self) -> u32 {
        self.weekday.num_days_from_monday() * 1440 + minute_of_day(self.time)
    }
}

impl FromStr for WeekTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || "expected a day and time like \"fri 18:00\"".to_string();
        let (d, t) = s.trim().split_once(' ').ok_or_else(bad)?;
        Ok(WeekTime {
            weekday: parse_weekday(d).ok_or_else(bad)?,
            time: parse_hhmm(t).ok_or_else(bad)?,
        })
    }
}
deserialize_from_str!(WeekTime);

impl fmt::Display for WeekTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            weekday_short(self.weekday),
            self.time.format("%H:%M")
        )
    }
}

/// Whole local days, inclusive: "2026-12-19..2027-01-03" or one day "2026-04-27".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl DateRange {
    pub fn contains(&self, d: NaiveDate) -> bool {
        self.first <= d && d <= self.last
    }
}

impl FromStr for DateRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            "expected a date \"2026-04-27\" or an inclusive range \"2026-12-19..2027-01-03\""
                .to_string()
        };
        let (a, b) = s.split_once("..").unwrap_or((s, s));
        let first: NaiveDate = a.trim().parse().map_err(|_| bad())?;
        let last: NaiveDate = b.trim().parse().map_err(|_| bad())?;
        if last < first {
            return Err("the range ends before it starts".into());
        }
        Ok(DateRange { first, last })
    }
}
deserialize_from_str!(DateRange);

impl fmt::Display for DateRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}..{}", self.first, self.last)
        }
    }
}

/// A duration in humantime notation: "45m", "24h", "5d".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        humantime::parse_duration(s)
            .map(HumanDuration)
            .map_err(|_| "expected a duration like \"45m\", \"24h\" or \"5d\"".to_string())
    }
}
deserialize_from_str!(HumanDuration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl HumanDuration {
    pub fn chrono(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.0).unwrap_or(chrono::Duration::MAX)
    }
}

/// A window of the day, "09:00-16:00".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayWindow {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl FromStr for DayWindow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || "expected a window of the day like \"09:00-16:00\"".to_string();
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let start = parse_hhmm(a).ok_or_else(bad)?;
        let end = parse_hhmm(b).ok_or_else(bad)?;
        if end <= start {
            return Err("the window ends before it starts".into());
        }
        Ok(DayWindow { start, end })
    }
}
deserialize_from_str!(DayWindow);

impl fmt::Display for DayWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

/// "mon", "monday", "ma" (Dutch) → weekday.
pub fn parse_weekday(s: &str) -> Option<Weekday> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" | "ma" | "maandag" => Weekday::Mon,
        "tue" | "tuesday" | "di" | "dinsdag" => Weekday::Tue,
        "wed" | "wednesday" | "wo" | "woensdag" => Weekday::Wed,
        "thu" | "thursday" | "do" | "donderdag" => Weekday::Thu,
        "fri" | "friday" | "vr" | "vrijdag" => Weekday::Fri,
        "sat" | "saturday" | "za" | "zaterdag" => Weekday::Sat,
        "sun" | "sunday" | "zo" | "zondag" => Weekday::Sun,
        _ => return None,
    })
}

pub fn weekday_short(w: Weekday) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][w.num_days_from_monday() as usize]
}

/// "07:00" → time of day; strictly HH:MM.
pub fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    let s = s.trim();
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

/// Minutes since local midnight.
pub fn minute_of_day(t: NaiveTime) -> u32 {
    t.hour() * 60 + t.minute()
}

/// `45m`, `24h`, `5d`: durations the way operators write them.
pub fn human(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    match secs {
        0 => "0s".into(),
        s if s % 86_400 == 0 && s >= 3 * 86_400 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        _ => humantime::format_duration(d.to_std().unwrap_or_default()).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_and_reject() {
        assert_eq!("07:00".parse::<TimeOfDay>().unwrap().to_string(), "07:00");
        for bad in ["25:00", "7", "07:60", "", "7:0"] {
            assert!(bad.parse::<TimeOfDay>().is_err(), "{bad}");
        }
        let w: WeekTime = "fri 18:00".parse().unwrap();
        assert_eq!(w.minute_of_week(), 4 * 1440 + 18 * 60);
        assert!("friday".parse::<WeekTime>().is_err());
        let r: DateRange = "2026-12-19..2027-01-03".parse().unwrap();
        assert!(r.contains("2027-01-03".parse().unwrap()));
        assert!(!r.contains("2027-01-04".parse().unwrap()));
        assert!("2027-01-03..2026-12-19".parse::<DateRange>().is_err());
        assert_eq!(
            "2026-04-27".parse::<DateRange>().unwrap().to_string(),
            "2026-04-27"
        );
        assert_eq!(
            "5d".parse::<HumanDuration>().unwrap().0.as_secs(),
            5 * 86400
        );
        assert!("soon".parse::<HumanDuration>().is_err());
        assert!("16:00-09:00".parse::<DayWindow>().is_err());
    }
}
