//! A what-if as text for `rustig whatif` (English, as the other commands print).

use std::fmt::Write as _;

use super::diff::{Counts, Diff};
use super::WhatIfReport;

fn counts(c: &Counts) -> String {
    format!(
        "{} earlier, {} later, {} gone, {} new, {} the same",
        c.earlier, c.later, c.disappear, c.appear, c.same
    )
}

fn section(out: &mut String, title: &str, d: &Diff) {
    let _ = writeln!(
        out,
        "{title}: {} notice(s) now, {} under the candidate: {}",
        d.before,
        d.after,
        counts(&d.total)
    );
    for (name, by) in [
        ("school", &d.by_school),
        ("role", &d.by_role),
        ("channel", &d.by_channel),
        ("rule", &d.by_rule),
    ] {
        for (key, c) in by.iter().filter(|(_, c)| c.changed() > 0) {
            let _ = writeln!(out, "  {name} {key}: {}", counts(c));
        }
    }
}

/// The report in a few lines: the buffer, the replay, what a reload would not apply.
pub fn text(r: &WhatIfReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "what-if at {} · config in force sha256 {} · candidate sha256 {}",
        r.now,
        &r.current_sha256[..r.current_sha256.len().min(12)],
        &r.candidate_sha256[..r.candidate_sha256.len().min(12)],
    );
    let _ = writeln!(out, "the candidate passes check");
    section(&mut out, "pending notices re-planned", &r.pending);
    section(
        &mut out,
        &format!(
            "{} event(s) of the last {} day(s) replayed (from {})",
            r.replay.events, r.days, r.from
        ),
        &r.replay.diff,
    );
    if !r.restart_only.is_empty() {
        let _ = writeln!(
            out,
            "changes only a restart applies (apply refuses them): {}",
            r.restart_only.join(", ")
        );
    }
    if r.pending.total.changed() == 0 && r.replay.diff.total.changed() == 0 {
        let _ = writeln!(out, "no notice would move");
    }
    out
}
