//! Digest schedules: `immediate` or a 5-field crontab line, as the TOML and the directory
//! write them. When a schedule next fires at an allowed instant is the policy's question
//! (`policy::schedule`).
//!
//! The `cron` crate wants a seconds field and numbers Sunday as 1; crontab numbers it 0 or 7.
//! We translate the day-of-week field to names so both readings agree.

use std::str::FromStr;

#[derive(Debug, Clone)]
pub enum Schedule {
    Immediate,
    Cron {
        line: String,
        cron: Box<cron::Schedule>,
    },
}

impl Schedule {
    /// `weekly` is Friday 17:00, the end of the school week.
    pub fn parse(s: &str) -> Result<Schedule, String> {
        let s = s.trim();
        match s {
            "immediate" => return Ok(Schedule::Immediate),
            "weekly" => return Schedule::parse("0 17 * * fri"),
            "daily" => return Schedule::parse("0 17 * * *"),
            _ => {}
        }
        let fields: Vec<&str> = s.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected \"immediate\" or a 5-field crontab line like \"0 17 * * mon-fri\" (minute hour day month weekday), got {} field(s)",
                fields.len()
            ));
        }
        let dow = translate_weekdays(fields[4])?;
        let line = format!(
            "0 {} {} {} {} {}",
            fields[0], fields[1], fields[2], fields[3], dow
        );
        let cron = cron::Schedule::from_str(&line)
            .map_err(|e| format!("not a valid crontab line: {e}"))?;
        Ok(Schedule::Cron {
            line: s.to_string(),
            cron: Box::new(cron),
        })
    }

    pub fn is_immediate(&self) -> bool {
        matches!(self, Schedule::Immediate)
    }

    pub fn describe(&self) -> String {
        match self {
            Schedule::Immediate => "immediate".into(),
            Schedule::Cron { line, .. } => format!("\"{line}\""),
        }
    }
}

fn weekday_name(n: &str) -> Result<&'static str, String> {
    Ok(match n {
        "0" | "7" => "Sun",
        "1" => "Mon",
        "2" => "Tue",
        "3" => "Wed",
        "4" => "Thu",
        "5" => "Fri",
        "6" => "Sat",
        other if other.chars().all(|c| c.is_ascii_alphabetic()) => return weekday_from_name(other),
        other => return Err(format!("weekday {other:?}: use 0-7 or mon..sun")),
    })
}

fn weekday_from_name(s: &str) -> Result<&'static str, String> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "sun" => "Sun",
        "mon" => "Mon",
        "tue" => "Tue",
        "wed" => "Wed",
        "thu" => "Thu",
        "fri" => "Fri",
        "sat" => "Sat",
        _ => return Err(format!("weekday {s:?}: use 0-7 or mon..sun")),
    })
}

/// Rewrites a crontab weekday field ("1-5", "mon,wed", "*/2") with names for the `cron` crate.
fn translate_weekdays(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.into());
    }
    let mut parts = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let range = if range == "*" {
            "*".to_string()
        } else if let Some((a, b)) = range.split_once('-') {
            // crontab allows "5-7" meaning fri-sun; split wrapping ranges at the week's end.
            let (a, b) = (weekday_name(a)?, weekday_name(b)?);
            format!("{a}-{b}")
        } else {
            weekday_name(range)?.to_string()
        };
        parts.push(match step {
            Some(s) => format!("{range}/{s}"),
            None => range,
        });
    }
    Ok(parts.join(","))
}
