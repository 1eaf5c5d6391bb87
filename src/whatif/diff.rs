//! The difference between two outcomes of the same notices: per notice (event, recipient,
//! channel) its instant under the current rules and under the candidate, counted as moved
//! earlier, later, the same, gone (disappear) or new (appear), in total and per school, role,
//! channel and rule. Pure.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::model::{ChannelKind, Role};
use crate::policy::NoticeKind;

/// One notice across both configs: the event it carries, its recipient and channel.
pub type NoticeKey = (String, String, ChannelKind);

/// What became of one notice under one config: when it goes (or went) out and why then.
#[derive(Debug, Clone, PartialEq)]
pub struct Fate {
    pub school: String,
    pub record: String,
    pub student: String,
    pub role: Role,
    pub channel: ChannelKind,
    pub kind: NoticeKind,
    pub at: DateTime<Utc>,
    /// The rule that set the instant (the last step of its reasons), as `explain` names it.
    pub rule: &'static str,
}

/// Fates by notice.
pub type Fates = foldhash::HashMap<NoticeKey, Fate>;

/// How many notices moved which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Counts {
    /// Out sooner under the candidate.
    pub earlier: u32,
    /// Out later under the candidate.
    pub later: u32,
    /// At the same instant under both.
    pub same: u32,
    /// Sent under the current rules, not under the candidate.
    pub disappear: u32,
    /// Sent under the candidate only.
    pub appear: u32,
}

impl Counts {
    /// Notices whose outcome differs.
    pub fn changed(&self) -> u32 {
        self.earlier + self.later + self.disappear + self.appear
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Move {
    Earlier,
    Later,
    Same,
    Disappear,
    Appear,
}

impl Counts {
    fn add(&mut self, m: Move) {
        match m {
            Move::Earlier => self.earlier += 1,
            Move::Later => self.later += 1,
            Move::Same => self.same += 1,
            Move::Disappear => self.disappear += 1,
            Move::Appear => self.appear += 1,
        }
    }
}

/// The counts in total and by school, role, channel and rule. A notice counts under the
/// rule that sets its instant under the candidate, or, when it disappears, under the
/// current rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Diff {
    /// Notices under the current rules.
    pub before: u32,
    /// Notices under the candidate.
    pub after: u32,
    pub total: Counts,
    pub by_school: BTreeMap<String, Counts>,
    /// `student`, `guardian`.
    pub by_role: BTreeMap<String, Counts>,
    /// `email`, `webpush`, `fcm`, `ntfy`, `webhook`.
    pub by_channel: BTreeMap<String, Counts>,
    /// `quiet_hours`, `digest_slot`, `guardian_delay`, … (`entered`: no rule moved it).
    pub by_rule: BTreeMap<String, Counts>,
}

impl Diff {
    fn add(&mut self, fate: &Fate, m: Move) {
        self.total.add(m);
        bump(&mut self.by_school, &fate.school, m);
        bump(&mut self.by_role, fate.role.as_str(), m);
        bump(&mut self.by_channel, fate.channel.as_str(), m);
        bump(&mut self.by_rule, fate.rule, m);
    }
}

/// Counts `m` under `key`, allocating the key only the first time it is seen.
fn bump(map: &mut BTreeMap<String, Counts>, key: &str, m: Move) {
    match map.get_mut(key) {
        Some(c) => c.add(m),
        None => map.entry(key.to_string()).or_default().add(m),
    }
}

/// Compares the fates under the current rules (`before`) with those under the candidate.
pub fn diff(before: &Fates, after: &Fates) -> Diff {
    let mut d = Diff {
        before: before.len() as u32,
        after: after.len() as u32,
        ..Diff::default()
    };
    for (key, b) in before {
        match after.get(key) {
            Some(a) if a.at < b.at => d.add(a, Move::Earlier),
            Some(a) if a.at > b.at => d.add(a, Move::Later),
            Some(a) => d.add(a, Move::Same),
            None => d.add(b, Move::Disappear),
        }
    }
    for (key, a) in after {
        if !before.contains_key(key) {
            d.add(a, Move::Appear);
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, 0, 0).unwrap()
    }

    fn fate(school: &str, role: Role, channel: ChannelKind, h: u32, rule: &'static str) -> Fate {
        Fate {
            school: school.into(),
            record: "r".into(),
            student: "s".into(),
            role,
            channel,
            kind: NoticeKind::Grade,
            at: at(h),
            rule,
        }
    }

    fn key(e: &str, r: &str, c: ChannelKind) -> NoticeKey {
        (e.into(), r.into(), c)
    }

    #[test]
    fn each_notice_counts_once_by_the_way_it_moved() {
        use ChannelKind::*;
        use Role::*;
        let before: Fates = [
            (
                key("e1", "s1", Email),
                fate("a", Student, Email, 18, "entered"),
            ),
            (
                key("e1", "g1", Email),
                fate("a", Guardian, Email, 19, "guardian_delay"),
            ),
            (
                key("e2", "s2", Ntfy),
                fate("a", Student, Ntfy, 10, "entered"),
            ),
            (
                key("e3", "s3", Email),
                fate("b", Student, Email, 9, "entered"),
            ),
        ]
        .into_iter()
        .collect();
        let after: Fates = [
            // Later: quiet hours from 18:00 now.
            (
                key("e1", "s1", Email),
                fate("a", Student, Email, 20, "quiet_hours"),
            ),
            // Earlier.
            (
                key("e1", "g1", Email),
                fate("a", Guardian, Email, 17, "digest_slot"),
            ),
            // Same.
            (
                key("e2", "s2", Ntfy),
                fate("a", Student, Ntfy, 10, "entered"),
            ),
            // e3 disappears; e4 appears.
            (
                key("e4", "g4", Webpush),
                fate("b", Guardian, Webpush, 8, "entered"),
            ),
        ]
        .into_iter()
        .collect();
        let d = diff(&before, &after);
        let c = |earlier, later, same, disappear, appear| Counts {
            earlier,
            later,
            same,
            disappear,
            appear,
        };
        assert_eq!((d.before, d.after), (4, 4));
        assert_eq!(d.total, c(1, 1, 1, 1, 1));
        assert_eq!(d.total.changed(), 4);
        assert_eq!(d.by_school["a"], c(1, 1, 1, 0, 0));
        assert_eq!(d.by_school["b"], c(0, 0, 0, 1, 1));
        assert_eq!(d.by_role["student"], c(0, 1, 1, 1, 0));
        assert_eq!(d.by_role["guardian"], c(1, 0, 0, 0, 1));
        assert_eq!(d.by_channel["email"], c(1, 1, 0, 1, 0));
        assert_eq!(d.by_channel["webpush"], c(0, 0, 0, 0, 1));
        assert_eq!(d.by_channel["ntfy"], c(0, 0, 1, 0, 0));
        // The candidate's rule for what it sends, the current one for what disappears.
        assert_eq!(d.by_rule["quiet_hours"], c(0, 1, 0, 0, 0));
        assert_eq!(d.by_rule["digest_slot"], c(1, 0, 0, 0, 0));
        assert_eq!(d.by_rule["entered"], c(0, 0, 1, 1, 1));
        assert!(!d.by_rule.contains_key("guardian_delay"));
    }

    #[test]
    fn the_same_outcome_changes_nothing() {
        let f: Fates = [(
            key("e1", "s1", ChannelKind::Email),
            fate("a", Role::Student, ChannelKind::Email, 8, "entered"),
        )]
        .into_iter()
        .collect();
        let d = diff(&f, &f);
        assert_eq!(d.total.changed(), 0);
        assert_eq!(d.total.same, 1);
        assert_eq!(diff(&Fates::default(), &Fates::default()), Diff::default());
    }
}
