//! The week chart's geometry: one row per local day, 24 hour columns, the blackouts shaded
//! behind, a bar per hour with notices (its height by count, the week's largest full
//! height). Pure: the template draws the SVG from these numbers, and a table beside it says
//! the same in text.

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::view::day;

/// Width of one hour column in the SVG's user units.
pub const COL: f64 = 20.0;
/// Height of the bar area (the tallest bar).
pub const BARS: f64 = 48.0;
/// The SVG's width and height per day row.
pub const WIDTH: f64 = COL * 24.0;
pub const HEIGHT: f64 = 64.0;

/// One hour's bar as the chart draws it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BarIn {
    pub start: DateTime<Utc>,
    pub total: u32,
    /// What is in it, in words ("ouder/verzorger email 3").
    pub parts: String,
    pub href: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadeIn {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `quiet`, `weekend` or `holiday`.
    pub kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    #[serde(flatten)]
    pub rect: Rect,
    pub total: u32,
    /// "ma 23 nov 09:00–10:00: 3 (…)"
    pub label: String,
    pub hour: String,
    pub parts: String,
    pub href: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shade {
    #[serde(flatten)]
    pub rect: Rect,
    pub kind: &'static str,
    /// Local "HH:MM" of its start and end on this day ("24:00" when it runs on).
    pub from: String,
    pub until: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    pub date: String,
    pub label: String,
    pub shades: Vec<Shade>,
    pub bars: Vec<Bar>,
    /// Notices due this day.
    pub total: u32,
}

/// The x of an instant within its local day (hours and minutes of the local clock).
fn x_of(t: DateTime<Tz>) -> f64 {
    (f64::from(t.hour()) + f64::from(t.minute()) / 60.0) * COL
}

/// The rows for the local days from `from` until `to` (exclusive): bars with notices only.
pub fn days(
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bars: &[BarIn],
    shades: &[ShadeIn],
    nl: bool,
) -> Vec<Day> {
    let first = from.with_timezone(&tz).date_naive();
    let last = (to - chrono::Duration::seconds(1))
        .with_timezone(&tz)
        .date_naive();
    let max = bars.iter().map(|b| b.total).max().unwrap_or(0).max(1);
    let mut out = Vec::new();
    let mut date = first;
    while date <= last {
        out.push(row(tz, date, bars, shades, max, nl));
        date = date.succ_opt().expect("a date after this one");
    }
    out
}

fn row(tz: Tz, date: NaiveDate, bars: &[BarIn], shades: &[ShadeIn], max: u32, nl: bool) -> Day {
    let on = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
    let mut drawn = Vec::new();
    for b in bars.iter().filter(|b| b.total > 0 && on(b.start) == date) {
        let local = b.start.with_timezone(&tz);
        let h = (f64::from(b.total) / f64::from(max) * BARS).max(3.0);
        let hour = format!("{:02}:00–{:02}:00", local.hour(), (local.hour() + 1) % 24);
        drawn.push(Bar {
            rect: Rect {
                x: x_of(local) + 2.0,
                y: BARS - h,
                w: COL - 4.0,
                h,
            },
            total: b.total,
            label: format!("{} {hour}: {} ({})", day(date, nl), b.total, b.parts),
            hour,
            parts: b.parts.clone(),
            href: b.href.clone(),
        });
    }
    let mut shaded = Vec::new();
    for s in shades {
        let (a, z) = (s.start.with_timezone(&tz), s.end.with_timezone(&tz));
        if a.date_naive() > date || z.date_naive() < date {
            continue;
        }
        let x0 = if a.date_naive() < date { 0.0 } else { x_of(a) };
        let x1 = if z.date_naive() > date {
            WIDTH
        } else {
            x_of(z)
        };
        if x1 > x0 {
            let hhmm = |x: f64| {
                let m = (x / COL * 60.0).round() as u32;
                format!("{:02}:{:02}", m / 60, m % 60)
            };
            shaded.push(Shade {
                rect: Rect {
                    x: x0,
                    y: 0.0,
                    w: x1 - x0,
                    h: BARS,
                },
                kind: s.kind,
                from: hhmm(x0),
                until: hhmm(x1),
            });
        }
    }
    Day {
        date: date.to_string(),
        label: day(date, nl),
        total: drawn.iter().map(|b| b.total).sum(),
        shades: shaded,
        bars: drawn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn bars_and_shades_fall_on_their_local_day_and_hour() {
        let tz: Tz = "Europe/Amsterdam".parse().unwrap();
        let from = t("2026-11-23T19:00:00+01:00");
        let to = t("2026-11-30T19:00:00+01:00");
        let bars = vec![
            BarIn {
                start: t("2026-11-24T09:00:00+01:00"),
                total: 4,
                parts: "x".into(),
                href: "/week/bar?a".into(),
            },
            BarIn {
                start: t("2026-11-24T10:00:00+01:00"),
                total: 1,
                parts: "y".into(),
                href: "/week/bar?b".into(),
            },
            BarIn {
                start: t("2026-11-25T10:00:00+01:00"),
                total: 0,
                parts: String::new(),
                href: String::new(),
            },
        ];
        let shades = vec![
            ShadeIn {
                start: t("2026-11-23T20:00:00+01:00"),
                end: t("2026-11-24T07:00:00+01:00"),
                kind: "quiet",
            },
            ShadeIn {
                start: t("2026-11-26T00:00:00+01:00"),
                end: t("2026-11-27T00:00:00+01:00"),
                kind: "holiday",
            },
        ];
        let d = days(tz, from, to, &bars, &shades, true);
        assert_eq!(d.len(), 8, "Monday evening to Monday evening: 8 local days");
        assert_eq!(d[0].label, "ma 23 nov");
        assert_eq!(d[0].shades.len(), 1);
        assert_eq!(d[0].shades[0].rect.x, 20.0 * COL);
        assert_eq!(d[0].shades[0].rect.w, 4.0 * COL);
        assert_eq!(d[1].shades[0].rect.x, 0.0);
        assert_eq!(d[1].shades[0].rect.w, 7.0 * COL);
        assert_eq!(
            (d[0].shades[0].from.as_str(), d[0].shades[0].until.as_str()),
            ("20:00", "24:00")
        );
        assert_eq!(d[1].bars.len(), 2, "the empty hour draws no bar");
        assert_eq!(
            d[1].bars[0].rect.h, BARS,
            "the week's largest is full height"
        );
        assert_eq!(d[1].bars[0].rect.x, 9.0 * COL + 2.0);
        assert_eq!(d[1].bars[1].rect.h, BARS / 4.0);
        assert_eq!(d[1].total, 5);
        assert_eq!(d[1].bars[0].label, "di 24 nov 09:00–10:00: 4 (x)");
        assert_eq!(d[3].shades.len(), 1);
        assert_eq!(
            (d[3].shades[0].kind, d[3].shades[0].rect.w),
            ("holiday", WIDTH)
        );
        assert!(d[2].bars.is_empty());
    }
}
