//! The week ahead of one school: its pending notices as bars per local hour, beside the
//! blackouts (quiet hours, weekend, holidays) the school's calendar puts in the same week.
//!
//! Pure. The window starts at the local hour `now` falls in and ends seven local days later,
//! so a week with a DST change has 167 or 169 hourly bars; every bar starts on a local hour.
//! The blackouts are found by asking the school's [`Calendar`] itself
//! ([`Calendar::blackout_rule`]), never by a second reading of the rules.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::{local_hour_floor, policy_of};
use crate::config::Config;
use crate::model::{ChannelKind, Role};
use crate::policy::calendar::resolve_local;
use crate::policy::{Calendar, Rule};

/// One pending notice, as the store lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingItem {
    pub id: i64,
    pub school: String,
    pub role: Role,
    pub channel: ChannelKind,
    pub due_at: DateTime<Utc>,
    pub student: String,
    /// The student's class in the directory (absent when the directory no longer lists them).
    pub class: Option<String>,
    /// The rule that set the due time: the last step of the reason chain (`quiet_hours`,
    /// `digest_slot`, `guardian_delay`, …; `entered` when no rule moved it).
    pub rule: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlackoutKind {
    Quiet,
    Weekend,
    Holiday,
}

impl BlackoutKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BlackoutKind::Quiet => "quiet",
            BlackoutKind::Weekend => "weekend",
            BlackoutKind::Holiday => "holiday",
        }
    }

    /// The kind of blackout a calendar rule stands for.
    pub fn of(rule: Rule) -> Option<BlackoutKind> {
        match rule {
            Rule::QuietHours => Some(BlackoutKind::Quiet),
            Rule::Weekend => Some(BlackoutKind::Weekend),
            Rule::Holiday => Some(BlackoutKind::Holiday),
            _ => None,
        }
    }
}

/// A span of the window in which nothing is delivered: `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blackout {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub kind: BlackoutKind,
}

/// The notices due in one local hour `[start, next bar's start)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourBar {
    pub start: DateTime<Utc>,
    pub total: u32,
    /// Per role and channel, those with notices only, students first, channels in their
    /// order (email, webpush, fcm, ntfy, webhook).
    pub by_role_channel: Vec<(Role, ChannelKind, u32)>,
}

/// The school's week ahead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekAhead {
    pub school: String,
    #[serde(serialize_with = "super::zone_name")]
    pub zone: Tz,
    /// The start of the local hour `now` falls in.
    pub from: DateTime<Utc>,
    /// Seven local days after `from`.
    pub to: DateTime<Utc>,
    /// `now`: notices due before it are `overdue`, the first bar holds those due from it.
    pub now: DateTime<Utc>,
    /// Every local hour of the window, in order, also those with no notices.
    pub bars: Vec<HourBar>,
    /// In order, not overlapping, clipped to the window.
    pub blackouts: Vec<Blackout>,
    /// Pending notices due at or after `to`.
    pub beyond: u32,
    /// Pending notices due before `now` (the release is behind, or they wait for a retry).
    pub overdue: u32,
}

impl WeekAhead {
    /// The bar that starts at `start`, if the window has one.
    pub fn bar(&self, start: DateTime<Utc>) -> Option<&HourBar> {
        self.bars
            .binary_search_by_key(&start, |b| b.start)
            .ok()
            .map(|i| &self.bars[i])
    }

    /// The end of bar `i` (the next bar's start, or `to`).
    pub fn bar_end(&self, i: usize) -> DateTime<Utc> {
        self.bars.get(i + 1).map(|b| b.start).unwrap_or(self.to)
    }
}

/// The week from `now` of `school`'s pending notices (those of other schools are left out).
pub fn week_ahead(
    config: &Config,
    school: &str,
    now: DateTime<Utc>,
    pending: &[PendingItem],
) -> WeekAhead {
    let calendar = &policy_of(config, school).calendar;
    let tz = calendar.tz;
    let (from, to) = window(now, tz);
    let starts = hour_starts(from, to, tz);
    let mut counts: Vec<BTreeMap<(u8, ChannelKind), u32>> = vec![BTreeMap::new(); starts.len()];
    let (mut beyond, mut overdue) = (0u32, 0u32);
    for p in pending.iter().filter(|p| p.school == school) {
        if p.due_at < now {
            overdue += 1;
        } else if p.due_at >= to {
            beyond += 1;
        } else {
            // The last bar starting at or before the due time.
            let i = starts.partition_point(|s| *s <= p.due_at) - 1;
            *counts[i]
                .entry((role_order(p.role), p.channel))
                .or_default() += 1;
        }
    }
    let bars = starts
        .into_iter()
        .zip(counts)
        .map(|(start, c)| HourBar {
            start,
            total: c.values().sum(),
            by_role_channel: c
                .into_iter()
                .map(|((r, ch), n)| (role_of(r), ch, n))
                .collect(),
        })
        .collect();
    WeekAhead {
        school: school.to_string(),
        zone: tz,
        from,
        to,
        now,
        bars,
        blackouts: blackouts(calendar, from, to),
        beyond,
        overdue,
    }
}

/// Fills in each item's class from the directory (empty classes stay `None`).
pub fn with_classes(items: &mut [PendingItem], dir: &crate::model::Directory) {
    for p in items {
        p.class = dir
            .student(&p.school, &p.student)
            .map(|s| s.class.clone())
            .filter(|c| !c.is_empty());
    }
}

/// `[from, to)`: the local hour of `now` and seven local days on (167 to 169 hours).
pub fn window(now: DateTime<Utc>, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let from = local_hour_floor(now, tz);
    let local = from.with_timezone(&tz).naive_local() + Duration::days(7);
    let mut to = resolve_local(tz, local);
    // The same reading twice in the autumn overlap: seven days on is the later one.
    if let Some(later) = tz.from_local_datetime(&local).latest() {
        to = to.max(later.with_timezone(&Utc));
    }
    (from, to)
}

/// The start of every local hour in `[from, to)`.
fn hour_starts(from: DateTime<Utc>, to: DateTime<Utc>, tz: Tz) -> Vec<DateTime<Utc>> {
    let mut out = Vec::with_capacity(170);
    let mut t = from;
    while t < to {
        out.push(t);
        let mut next = local_hour_floor(t + Duration::hours(1), tz);
        if next <= t {
            // An offset change of less than an hour folded back onto this hour.
            next = t + Duration::hours(1);
        }
        t = next;
    }
    out
}

fn role_order(r: Role) -> u8 {
    match r {
        Role::Student => 0,
        Role::Guardian => 1,
    }
}

fn role_of(n: u8) -> Role {
    if n == 0 {
        Role::Student
    } else {
        Role::Guardian
    }
}

/// The blackouts of `calendar` within `[from, to)`, in order, each named by the rule the
/// calendar puts first there (a holiday before the weekend before quiet hours). The rules
/// are minutes of the local day, so a blackout starts and ends on a whole minute: asking
/// the calendar once a minute finds every edge.
pub fn blackouts(calendar: &Calendar, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Blackout> {
    let mut out: Vec<Blackout> = Vec::new();
    let mut t = from;
    while t < to {
        let next = next_minute(t).min(to);
        if let Some(kind) = calendar.blackout_rule(t).and_then(BlackoutKind::of) {
            match out.last_mut() {
                Some(last) if last.kind == kind && last.end == t => last.end = next,
                _ => out.push(Blackout {
                    start: t,
                    end: next,
                    kind,
                }),
            }
        }
        t = next;
    }
    out
}

fn next_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp();
    DateTime::from_timestamp((secs.div_euclid(60) + 1) * 60, 0).unwrap_or(t + Duration::minutes(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(extra: &str) -> Config {
        let text = format!(
            "timezone = \"Europe/Amsterdam\"\n\
             [quiet_hours]\nstart = \"20:00\"\nend = \"07:00\"\n\
             [weekend]\nfrom = \"fri 18:00\"\nuntil = \"mon 07:00\"\n\
             [holidays]\ndates = [\"2026-12-19..2027-01-03\"]\n{extra}"
        );
        Config::parse(Path::new("rustig.toml"), &text).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn item(id: i64, due: &str, role: Role, channel: ChannelKind) -> PendingItem {
        PendingItem {
            id,
            school: "coornhert".into(),
            role,
            channel,
            due_at: at(due),
            student: format!("s-{id}"),
            class: Some("3c".into()),
            rule: "digest_slot".into(),
        }
    }

    #[test]
    fn a_plain_week_has_168_bars_and_counts_every_notice_once() {
        let c = config("");
        let now = at("2026-11-23T09:30:00+01:00"); // Monday
        let pending = [
            item(
                1,
                "2026-11-23T09:00:00+01:00",
                Role::Student,
                ChannelKind::Email,
            ), // overdue
            item(
                2,
                "2026-11-23T09:45:00+01:00",
                Role::Student,
                ChannelKind::Email,
            ),
            item(
                3,
                "2026-11-23T17:00:00+01:00",
                Role::Guardian,
                ChannelKind::Email,
            ),
            item(
                4,
                "2026-11-23T17:00:00+01:00",
                Role::Guardian,
                ChannelKind::Ntfy,
            ),
            item(
                5,
                "2026-11-23T17:59:59+01:00",
                Role::Student,
                ChannelKind::Webpush,
            ),
            item(
                6,
                "2026-11-30T08:59:00+01:00",
                Role::Guardian,
                ChannelKind::Email,
            ), // last bar
            item(
                7,
                "2026-11-30T09:00:00+01:00",
                Role::Guardian,
                ChannelKind::Email,
            ), // beyond: `to`
        ];
        let w = week_ahead(&c, "coornhert", now, &pending);
        assert_eq!(w.from, at("2026-11-23T09:00:00+01:00"));
        assert_eq!(w.to, at("2026-11-30T09:00:00+01:00"));
        assert_eq!(w.bars.len(), 168);
        assert_eq!((w.overdue, w.beyond), (1, 1));
        assert_eq!(w.bars[0].total, 1);
        let five = w.bar(at("2026-11-23T17:00:00+01:00")).unwrap();
        assert_eq!(five.total, 3);
        assert_eq!(
            five.by_role_channel,
            vec![
                (Role::Student, ChannelKind::Webpush, 1),
                (Role::Guardian, ChannelKind::Email, 1),
                (Role::Guardian, ChannelKind::Ntfy, 1),
            ]
        );
        assert_eq!(w.bars[167].total, 1);
        assert_eq!(w.bars.iter().map(|b| b.total).sum::<u32>(), 5);
    }

    fn kinds(w: &WeekAhead) -> Vec<(String, String, BlackoutKind)> {
        let tz = w.zone;
        w.blackouts
            .iter()
            .map(|b| {
                let f = |t: DateTime<Utc>| t.with_timezone(&tz).to_rfc3339();
                (f(b.start), f(b.end), b.kind)
            })
            .collect()
    }

    fn bars_on(w: &WeekAhead, day: &str) -> usize {
        let d: chrono::NaiveDate = day.parse().unwrap();
        w.bars
            .iter()
            .filter(|b| b.start.with_timezone(&w.zone).date_naive() == d)
            .count()
    }

    #[test]
    fn the_spring_week_has_167_bars_and_the_short_night() {
        use BlackoutKind::*;
        let c = config("");
        let w = week_ahead(&c, "coornhert", at("2026-03-26T10:20:00+01:00"), &[]);
        assert_eq!(w.from, at("2026-03-26T10:00:00+01:00"));
        assert_eq!(w.to, at("2026-04-02T10:00:00+02:00"));
        assert_eq!(w.bars.len(), 167);
        assert_eq!(bars_on(&w, "2026-03-29"), 23);
        // Every bar starts on a local hour; the one after 01:00 is 03:00.
        assert!(w
            .bars
            .iter()
            .all(|b| b.start.with_timezone(&w.zone).format("%M:%S").to_string() == "00:00"));
        let night = w.bar(at("2026-03-29T01:00:00+01:00")).map(|b| b.start);
        assert_eq!(night, Some(at("2026-03-29T01:00:00+01:00")));
        let i = w.bars.iter().position(|b| Some(b.start) == night).unwrap();
        assert_eq!(w.bars[i + 1].start, at("2026-03-29T03:00:00+02:00"));
        let s = |x: &str| at(x).with_timezone(&w.zone).to_rfc3339();
        assert_eq!(
            kinds(&w),
            vec![
                (
                    s("2026-03-26T20:00:00+01:00"),
                    s("2026-03-27T07:00:00+01:00"),
                    Quiet
                ),
                (
                    s("2026-03-27T18:00:00+01:00"),
                    s("2026-03-30T07:00:00+02:00"),
                    Weekend
                ),
                (
                    s("2026-03-30T20:00:00+02:00"),
                    s("2026-03-31T07:00:00+02:00"),
                    Quiet
                ),
                (
                    s("2026-03-31T20:00:00+02:00"),
                    s("2026-04-01T07:00:00+02:00"),
                    Quiet
                ),
                (
                    s("2026-04-01T20:00:00+02:00"),
                    s("2026-04-02T07:00:00+02:00"),
                    Quiet
                ),
            ]
        );
    }

    #[test]
    fn the_autumn_week_has_169_bars_and_the_long_night() {
        use BlackoutKind::*;
        let c = config("");
        let pending = [
            // 02:30 twice: once in summer time, once in winter time; each in its own bar.
            item(
                1,
                "2026-10-25T02:30:00+02:00",
                Role::Guardian,
                ChannelKind::Email,
            ),
            item(
                2,
                "2026-10-25T02:30:00+01:00",
                Role::Guardian,
                ChannelKind::Email,
            ),
        ];
        let w = week_ahead(&c, "coornhert", at("2026-10-22T10:00:00+02:00"), &pending);
        assert_eq!(w.to, at("2026-10-29T10:00:00+01:00"));
        assert_eq!(w.bars.len(), 169);
        assert_eq!(bars_on(&w, "2026-10-25"), 25);
        let first = w.bar(at("2026-10-25T02:00:00+02:00")).unwrap();
        let second = w.bar(at("2026-10-25T02:00:00+01:00")).unwrap();
        assert_eq!((first.total, second.total), (1, 1));
        let s = |x: &str| at(x).with_timezone(&w.zone).to_rfc3339();
        assert_eq!(
            kinds(&w)[..2],
            [
                (
                    s("2026-10-22T20:00:00+02:00"),
                    s("2026-10-23T07:00:00+02:00"),
                    Quiet
                ),
                (
                    s("2026-10-23T18:00:00+02:00"),
                    s("2026-10-26T07:00:00+01:00"),
                    Weekend
                ),
            ]
        );
        assert_eq!(kinds(&w).len(), 5);
    }

    #[test]
    fn holidays_are_shaded_as_the_calendar_names_them() {
        use BlackoutKind::*;
        let c = config("");
        let w = week_ahead(&c, "coornhert", at("2026-12-17T10:00:00+01:00"), &[]);
        let s = |x: &str| at(x).with_timezone(&w.zone).to_rfc3339();
        // Friday evening is the weekend; from Saturday 00:00 the holiday comes first.
        assert_eq!(
            kinds(&w),
            vec![
                (
                    s("2026-12-17T20:00:00+01:00"),
                    s("2026-12-18T07:00:00+01:00"),
                    Quiet
                ),
                (
                    s("2026-12-18T18:00:00+01:00"),
                    s("2026-12-19T00:00:00+01:00"),
                    Weekend
                ),
                (
                    s("2026-12-19T00:00:00+01:00"),
                    s("2026-12-24T10:00:00+01:00"),
                    Holiday
                ),
            ]
        );
    }

    #[test]
    fn a_school_without_blackouts_and_other_schools_notices() {
        let c = Config::parse(
            Path::new("rustig.toml"),
            "timezone = \"Europe/Amsterdam\"\n[quiet_hours]\nenabled = false\n[weekend]\nenabled = false\n",
        )
        .unwrap();
        let mut other = item(
            9,
            "2026-11-23T12:00:00+01:00",
            Role::Student,
            ChannelKind::Email,
        );
        other.school = "elsewhere".into();
        let w = week_ahead(&c, "coornhert", at("2026-11-23T09:30:00+01:00"), &[other]);
        assert!(w.blackouts.is_empty());
        assert_eq!(
            w.bars.iter().map(|b| b.total).sum::<u32>() + w.beyond + w.overdue,
            0
        );
    }

    #[test]
    fn a_zone_with_half_hour_offsets_has_bars_on_its_own_hours() {
        let c = Config::parse(Path::new("rustig.toml"), "timezone = \"Asia/Kolkata\"\n").unwrap();
        let w = week_ahead(&c, "x", at("2026-11-23T09:10:00+05:30"), &[]);
        assert_eq!(w.from, at("2026-11-23T09:00:00+05:30"));
        assert_eq!(w.bars.len(), 168);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        const CONFIGS: [&str; 4] = [
            "",
            "[schools.coornhert.quiet_hours]\nstart = \"12:00\"\nend = \"12:30\"\n",
            "[schools.coornhert.weekend]\nfrom = \"sat 00:00\"\nuntil = \"sun 23:59\"\n",
            "[schools.coornhert.holidays]\ndates = [\"2026-03-28..2026-04-05\", \"2026-10-24..2026-11-01\", \"2026-05-05\"]\n",
        ];

        fn channel(n: u8) -> ChannelKind {
            ChannelKind::ALL[n as usize % ChannelKind::ALL.len()]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            /// Every pending notice is counted once (bar, beyond or overdue), in the bar whose
            /// hour holds it; bars tile the window on local hours; the blackouts are exactly
            /// the instants the calendar does not allow.
            #[test]
            fn bars_and_blackouts_agree_with_the_calendar(
                cfg in 0usize..CONFIGS.len(),
                // All of 2026, DST weeks included.
                now_min in 0i64..(365 * 1440),
                dues in proptest::collection::vec((-3 * 1440i64..10 * 1440, any::<bool>(), any::<u8>()), 0..60),
                probes in proptest::collection::vec(0i64..(169 * 60), 40),
            ) {
                let c = config(&format!("[schools.coornhert]\n{}", CONFIGS[cfg]));
                let now = at("2026-01-01T00:00:00Z") + Duration::minutes(now_min) + Duration::seconds(17);
                let pending: Vec<PendingItem> = dues
                    .iter()
                    .enumerate()
                    .map(|(i, (m, guardian, ch))| PendingItem {
                        id: i as i64,
                        school: "coornhert".into(),
                        role: if *guardian { Role::Guardian } else { Role::Student },
                        channel: channel(*ch),
                        due_at: now + Duration::minutes(*m),
                        student: "s".into(),
                        class: None,
                        rule: "entered".into(),
                    })
                    .collect();
                let w = week_ahead(&c, "coornhert", now, &pending);
                let counted: u32 = w.bars.iter().map(|b| b.total).sum();
                prop_assert_eq!(counted + w.beyond + w.overdue, pending.len() as u32);
                for b in &w.bars {
                    let parts: u32 = b.by_role_channel.iter().map(|x| x.2).sum();
                    prop_assert_eq!(parts, b.total);
                }
                // Bars tile [from, to) on local hours, an hour each.
                prop_assert_eq!(w.bars[0].start, w.from);
                prop_assert!((167..=169).contains(&w.bars.len()));
                for (i, b) in w.bars.iter().enumerate() {
                    prop_assert_eq!(w.bar_end(i) - b.start, Duration::hours(1));
                    prop_assert_eq!(b.start.with_timezone(&w.zone).format("%M:%S").to_string(), "00:00");
                }
                prop_assert_eq!(w.bar_end(w.bars.len() - 1), w.to);
                // Each notice in the window sits in the bar of its hour.
                for p in &pending {
                    if p.due_at >= now && p.due_at < w.to {
                        let i = w.bars.partition_point(|b| b.start <= p.due_at) - 1;
                        prop_assert!(w.bars[i].start <= p.due_at && p.due_at < w.bar_end(i));
                        prop_assert!(w.bars[i].by_role_channel.iter().any(|x| x.0 == p.role && x.1 == p.channel));
                    }
                }
                // Blackouts: ordered, apart, inside the window, and exactly the calendar's.
                let cal = &c.policy("coornhert").unwrap().calendar;
                for pair in w.blackouts.windows(2) {
                    prop_assert!(pair[0].end <= pair[1].start);
                }
                for b in &w.blackouts {
                    prop_assert!(w.from <= b.start && b.start < b.end && b.end <= w.to);
                }
                let edges = w.blackouts.iter().flat_map(|b| [b.start, b.end - Duration::seconds(1), b.end]);
                let probes = probes.iter().map(|m| w.from + Duration::minutes(*m) + Duration::seconds(m % 60));
                for t in edges.chain(probes).filter(|t| *t >= w.from && *t < w.to) {
                    let inside = w.blackouts.iter().find(|b| b.start <= t && t < b.end);
                    prop_assert_eq!(inside.is_none(), cal.is_allowed(t), "at {}", t);
                    if let Some(b) = inside {
                        prop_assert_eq!(Some(b.kind), crate::outlook::calm::blackout_at(cal, t), "at {}", t);
                    }
                }
            }
        }
    }
}
