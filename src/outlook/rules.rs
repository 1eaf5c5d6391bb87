//! A school's rules in plain language, Dutch or English, so that a school can publish what
//! it agreed ("Wanneer hoor ik over een cijfer?"): as paragraphs for the dashboard, and as a
//! self-contained HTML page for the school's website (no scripts, fonts or images from
//! elsewhere).
//!
//! Written from the same merged [`Policy`] whose one-line summary `rustig check` prints
//! (`Config::summary`), with the words the messages use for absence kinds and dates
//! ([`crate::render::format`]).

use chrono::{Datelike, Duration, NaiveTime, Weekday};
use serde::Serialize;

use super::policy_of;
use crate::config::Config;
use crate::model::time::WeekTime;
use crate::model::{AbsenceKind, Locale};
use crate::policy::{
    AbsenceMode, ClassroomFirst, GuardianGrades, Policy, Schedule, StudentControls,
};
use crate::render::format;

/// One topic of the rules: a question as heading and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Paragraph {
    pub heading: String,
    pub text: String,
}

/// The page's title: "Wanneer hoor ik over een cijfer?" / "When do I hear about a grade?".
pub fn title(locale: Locale) -> &'static str {
    match locale {
        Locale::Nl => "Wanneer hoor ik over een cijfer?",
        Locale::En => "When do I hear about a grade?",
    }
}

/// The school's rules, one paragraph per topic: grades, when nothing is sent, absences,
/// how often, and who decides what guardians see.
pub fn paragraphs(config: &Config, school: &str, locale: Locale) -> Vec<Paragraph> {
    let p = policy_of(config, school);
    let t = Words(locale);
    vec![
        Paragraph {
            heading: title(locale).into(),
            text: grades(p, t),
        },
        Paragraph {
            heading: t.pick(
                "Wanneer stuurt de school niets?",
                "When does the school send nothing?",
            ),
            text: blackouts(p, t),
        },
        Paragraph {
            heading: t.pick("Absenties", "Absences"),
            text: absences(p, t),
        },
        Paragraph {
            heading: t.pick("Hoe vaak?", "How often?"),
            text: digests(p, t),
        },
        Paragraph {
            heading: t.pick(
                "Wie beslist wat ouders en verzorgers zien?",
                "Who decides what parents and guardians see?",
            ),
            text: consent(p, t),
        },
    ]
}

/// A whole HTML page of the school's rules, to put on its website: one file, styles inline,
/// nothing loaded from elsewhere, readable at 360 px and with a screen reader.
pub fn standalone_html(config: &Config, school: &str, locale: Locale) -> String {
    let p = policy_of(config, school);
    let name = if p.school_name.is_empty() {
        school
    } else {
        p.school_name.as_str()
    };
    let mut body = String::new();
    for para in paragraphs(config, school, locale) {
        body.push_str(&format!(
            "<section>\n<h2>{}</h2>\n<p>{}</p>\n</section>\n",
            escape(&para.heading),
            escape(&para.text)
        ));
    }
    let footer = match locale {
        Locale::Nl => "Zo staat het in de instellingen van de berichtendienst van de school. Alle tijden in de tijdzone van de school.",
        Locale::En => "As set in the school's messaging service. All times in the school's time zone.",
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} – {name}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <main>\n<h1>{title}</h1>\n<p class=\"school\">{name}</p>\n{body}</main>\n\
         <footer><p>{footer}</p></footer>\n</body>\n</html>\n",
        lang = locale.as_str(),
        title = escape(title(locale)),
        name = escape(name),
    )
}

/// Dark text on white (contrast above 12:1), a readable measure, no fixed widths.
const STYLE: &str = "body { margin: 0; padding: 1rem; font-family: system-ui, -apple-system, \"Segoe UI\", sans-serif; \
font-size: 1.0625rem; line-height: 1.55; color: #1f2933; background: #ffffff; }\n\
main, footer { max-width: 40rem; margin: 0 auto; }\n\
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0.5rem 0 0.25rem; }\n\
h2 { font-size: 1.2rem; margin: 1.5rem 0 0.25rem; }\n\
p { margin: 0 0 0.75rem; overflow-wrap: anywhere; }\n\
.school { color: #3e4c59; margin-bottom: 1.5rem; }\n\
footer { border-top: 1px solid #cbd2d9; margin-top: 2rem; padding-top: 0.75rem; color: #3e4c59; font-size: 0.95rem; }\n";

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Clone, Copy)]
struct Words(Locale);

impl Words {
    fn pick(self, nl: &str, en: &str) -> String {
        match self.0 {
            Locale::Nl => nl.to_string(),
            Locale::En => en.to_string(),
        }
    }

    fn nl(self) -> bool {
        self.0 == Locale::Nl
    }

    /// "24 uur", "5 dagen", "45 minuten" / "24 hours", "5 days", "45 minutes".
    fn duration(self, d: Duration) -> String {
        let s = d.num_seconds();
        let (n, nl1, nln, en1, enn) = if s != 0 && s % 86_400 == 0 && s >= 2 * 86_400 {
            (s / 86_400, "dag", "dagen", "day", "days")
        } else if s != 0 && s % 3_600 == 0 {
            (s / 3_600, "uur", "uur", "hour", "hours")
        } else if s % 60 == 0 {
            (s / 60, "minuut", "minuten", "minute", "minutes")
        } else {
            (s, "seconde", "seconden", "second", "seconds")
        };
        let unit = match (self.nl(), n == 1) {
            (true, true) => nl1,
            (true, false) => nln,
            (false, true) => en1,
            (false, false) => enn,
        };
        format!("{n} {unit}")
    }

    fn school_days(self, n: u32) -> String {
        match (self.nl(), n == 1) {
            (true, true) => "1 schooldag".into(),
            (true, false) => format!("{n} schooldagen"),
            (false, true) => "1 school day".into(),
            (false, false) => format!("{n} school days"),
        }
    }

    fn weekday(self, d: Weekday) -> &'static str {
        const NL: [&str; 7] = [
            "maandag",
            "dinsdag",
            "woensdag",
            "donderdag",
            "vrijdag",
            "zaterdag",
            "zondag",
        ];
        const EN: [&str; 7] = [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ];
        let i = d.num_days_from_monday() as usize;
        if self.nl() {
            NL[i]
        } else {
            EN[i]
        }
    }

    fn week_time(self, w: WeekTime) -> String {
        format!("{} {}", self.weekday(w.weekday), format::time(w.time))
    }

    /// "a, b en c" / "a, b and c".
    fn list(self, items: &[String]) -> String {
        let names: Vec<&str> = items.iter().map(String::as_str).collect();
        format::join_names(&names, self.0)
    }
}

fn grades(p: &Policy, t: Words) -> String {
    let g = &p.grades;
    let hold = t.duration(g.max_hold);
    let mut out = match g.classroom_first {
        ClassroomFirst::Off => t.pick(
            "Een leerling hoort een cijfer zodra de docent het invoert, buiten de tijden waarin de school niets stuurt.",
            "A student hears about a grade as soon as the teacher enters it, outside the times the school sends nothing.",
        ),
        ClassroomFirst::Release => match t.0 {
            Locale::Nl => format!("Een leerling hoort een cijfer pas nadat de toets in de klas is besproken, en uiterlijk {hold} na het invoeren."),
            Locale::En => format!("A student hears about a grade only after the test was discussed in class, and at most {hold} after it was entered."),
        },
        ClassroomFirst::NextLesson => {
            let days = t.school_days(g.embargo_school_days);
            match t.0 {
                Locale::Nl => format!("Een leerling hoort een cijfer na afloop van de eerstvolgende les van dat vak (zonder rooster na {days}), en uiterlijk {hold} na het invoeren."),
                Locale::En => format!("A student hears about a grade after the next lesson of that subject has ended (without a timetable after {days}), and at most {hold} after it was entered."),
            }
        }
        ClassroomFirst::Embargo => {
            let days = t.school_days(g.embargo_school_days);
            match t.0 {
                Locale::Nl => format!("Een leerling hoort een cijfer {days} na het invoeren, zodat de docent het eerst in de klas kan bespreken (uiterlijk {hold} na het invoeren)."),
                Locale::En => format!("A student hears about a grade {days} after it was entered, so the teacher can discuss it in class first (at most {hold} after it was entered)."),
            }
        }
    };
    out.push(' ');
    let delay = t.duration(g.guardian_delay);
    out.push_str(&match (g.guardians, t.0) {
        (GuardianGrades::All, Locale::Nl) => format!("Ouders en verzorgers horen het niet eerder dan {delay} na de leerling: zo kan de leerling het eerst zelf vertellen."),
        (GuardianGrades::All, Locale::En) => format!("Parents and guardians hear about it no sooner than {delay} after the student, so the student can tell them first."),
        (GuardianGrades::ReportOnly, Locale::Nl) => format!("Ouders en verzorgers krijgen alleen rapportcijfers, niet eerder dan {delay} na de leerling."),
        (GuardianGrades::ReportOnly, Locale::En) => format!("Parents and guardians get report grades only, no sooner than {delay} after the student."),
        (GuardianGrades::None, Locale::Nl) => "Ouders en verzorgers krijgen via deze berichten geen cijfers.".into(),
        (GuardianGrades::None, Locale::En) => "Parents and guardians get no grades through these messages.".into(),
    });
    if g.guardians != GuardianGrades::None {
        out.push(' ');
        out.push_str(&t.pick(
            "Rapportcijfers gaan altijd naar ouders en verzorgers zolang de leerling jonger is dan 18 (de wet).",
            "Report grades always go to parents and guardians while the student is under 18 (the law).",
        ));
    }
    if let Some(w) = g.report_hours {
        let (a, b) = (format::time(w.start), format::time(w.end));
        out.push(' ');
        out.push_str(&match t.0 {
            Locale::Nl => format!("Een leerling krijgt een rapportcijfer alleen op een schooldag tussen {a} en {b}, als er een mentor op school is."),
            Locale::En => format!("A student gets a report grade only on a school day between {a} and {b}, when a mentor is at school."),
        });
    }
    out.push(' ');
    out.push_str(&if g.push_shows_value {
        t.pick(
            "Een melding op de telefoon kan het cijfer laten zien.",
            "A notification on the phone may show the grade.",
        )
    } else {
        t.pick(
            "Een melding op de telefoon laat het cijfer zelf nooit zien; dat staat pas in het bericht.",
            "A notification on the phone never shows the grade itself; only the message does.",
        )
    });
    out
}

fn blackouts(p: &Policy, t: Words) -> String {
    let c = &p.calendar;
    let mut parts: Vec<String> = Vec::new();
    if let Some((a, b)) = c.quiet {
        let (a, b) = (format::time(a), format::time(b));
        parts.push(match t.0 {
            Locale::Nl => format!("’s avonds en ’s nachts van {a} tot {b}"),
            Locale::En => format!("in the evening and at night from {a} to {b}"),
        });
    }
    if let Some((a, b)) = c.weekend {
        let (a, b) = (t.week_time(a), t.week_time(b));
        parts.push(match t.0 {
            Locale::Nl => format!("in het weekend van {a} tot {b}"),
            Locale::En => format!("at the weekend from {a} to {b}"),
        });
    }
    if !c.holidays.is_empty() {
        let ranges: Vec<String> = c
            .holidays
            .iter()
            .map(|r| {
                let d = |d: chrono::NaiveDate| format!("{} {}", format::date(d, t.0), d.year());
                if r.first == r.last {
                    d(r.first)
                } else {
                    match t.0 {
                        Locale::Nl => format!("{} t/m {}", d(r.first), d(r.last)),
                        Locale::En => format!("{} to {}", d(r.first), d(r.last)),
                    }
                }
            })
            .collect();
        parts.push(match t.0 {
            Locale::Nl => format!("in de vakanties en op vrije dagen ({})", ranges.join("; ")),
            Locale::En => format!("in the holidays and on days off ({})", ranges.join("; ")),
        });
    }
    let zone = c.tz.name();
    if parts.is_empty() {
        return match t.0 {
            Locale::Nl => format!("De school heeft geen stille uren, weekend of vakanties ingesteld: berichten kunnen op elk moment komen (tijdzone {zone})."),
            Locale::En => format!("The school has set no quiet hours, weekend or holidays: messages may come at any time (time zone {zone})."),
        };
    }
    match t.0 {
        Locale::Nl => format!(
            "De school stuurt niemand een bericht {}. Wat in die tijd gebeurt, wacht tot daarna. Alle tijden in de tijdzone {zone}.",
            t.list(&parts)
        ),
        Locale::En => format!(
            "The school sends nobody a message {}. Whatever happens meanwhile waits until after. All times in the time zone {zone}.",
            t.list(&parts)
        ),
    }
}

fn absences(p: &Policy, t: Words) -> String {
    let a = &p.absences;
    let kinds = |mode: AbsenceMode| -> Vec<String> {
        AbsenceKind::ALL
            .iter()
            .filter(|k| a.mode(**k) == mode)
            .map(|k| format::absence_kind(*k, t.0).to_string())
            .collect()
    };
    let settle = t.duration(a.settle);
    let mut out = match t.0 {
        Locale::Nl => format!("Een absentie kan na registratie nog worden verbeterd (bijvoorbeeld ziek gemeld in plaats van ongeoorloofd afwezig). Daarom wacht een bericht erover {settle}; een verbetering in die tijd vervangt het."),
        Locale::En => format!("An absence may still be corrected after it was registered (reported sick instead of absent without leave, say). So a message about it waits {settle}; a correction in that time replaces it."),
    };
    let (now, digest, none) = (
        kinds(AbsenceMode::Immediate),
        kinds(AbsenceMode::Digest),
        kinds(AbsenceMode::None),
    );
    if !now.is_empty() {
        out.push(' ');
        out.push_str(&match t.0 {
            Locale::Nl => format!(
                "Daarna krijgen ouders en verzorgers meteen bericht bij: {}.",
                t.list(&now)
            ),
            Locale::En => format!(
                "Parents and guardians then hear at once about: {}.",
                t.list(&now)
            ),
        });
    }
    if !digest.is_empty() {
        out.push(' ');
        out.push_str(&match t.0 {
            Locale::Nl => format!("In het vaste overzicht: {}.", t.list(&digest)),
            Locale::En => format!("In the regular summary: {}.", t.list(&digest)),
        });
    }
    if !none.is_empty() {
        out.push(' ');
        out.push_str(&match t.0 {
            Locale::Nl => format!("Geen bericht bij: {}.", t.list(&none)),
            Locale::En => format!("No message about: {}.", t.list(&none)),
        });
    }
    out
}

fn digests(p: &Policy, t: Words) -> String {
    let d = &p.digest;
    let mut out = match t.0 {
        Locale::Nl => format!(
            "Leerlingen krijgen hun berichten {}. Ouders en verzorgers krijgen ze {}.",
            schedule(&d.students, t),
            schedule(&d.guardians, t)
        ),
        Locale::En => format!(
            "Students get their messages {}. Parents and guardians get them {}.",
            schedule(&d.students, t),
            schedule(&d.guardians, t)
        ),
    };
    if let Some(n) = d.max_per_day {
        out.push(' ');
        out.push_str(&match (t.0, n == 1) {
            (Locale::Nl, true) => "Niemand krijgt meer dan 1 bericht per dag per kanaal; de rest komt de volgende dag.".to_string(),
            (Locale::Nl, false) => format!("Niemand krijgt meer dan {n} berichten per dag per kanaal; de rest komt de volgende dag."),
            (Locale::En, true) => "Nobody gets more than 1 message a day per channel; the rest comes the next day.".to_string(),
            (Locale::En, false) => format!("Nobody gets more than {n} messages a day per channel; the rest comes the next day."),
        });
    }
    out.push(' ');
    out.push_str(&t.pick(
        "Op de pagina met berichtinstellingen kan ieder kiezen voor minder, gebundelde berichten; eerder dan de school toestaat kan niet.",
        "On the message settings page anyone can choose fewer, bundled messages; sooner than the school allows is not possible.",
    ));
    out
}

/// "meteen (zodra de school het toestaat)", "gebundeld, om 17:00 op maandag t/m vrijdag",
/// or the crontab line as written when it says more than minutes, hours and weekdays.
fn schedule(s: &Schedule, t: Words) -> String {
    let line = match s {
        Schedule::Immediate => {
            return t.pick(
                "meteen (zodra de school het toestaat)",
                "at once (as soon as the school allows)",
            )
        }
        Schedule::Cron { line, .. } => line,
    };
    match plain_cron(line, t) {
        Some(words) => match t.0 {
            Locale::Nl => format!("gebundeld, {words}"),
            Locale::En => format!("bundled, {words}"),
        },
        None => match t.0 {
            Locale::Nl => format!("gebundeld, volgens het schema \"{line}\""),
            Locale::En => format!("bundled, on the schedule \"{line}\""),
        },
    }
}

/// "om 17:00 op maandag t/m vrijdag" for `0 17 * * mon-fri`: minutes and hours as lists of
/// numbers, any day of the month, any month, and weekdays as names, numbers or ranges.
fn plain_cron(line: &str, t: Words) -> Option<String> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let [minute, hour, "*", "*", dow] = f.as_slice() else {
        return None;
    };
    let numbers = |s: &str, max: u32| -> Option<Vec<u32>> {
        s.split(',')
            .map(|n| n.parse::<u32>().ok().filter(|n| *n <= max))
            .collect()
    };
    let (minutes, hours) = (numbers(minute, 59)?, numbers(hour, 23)?);
    let mut times: Vec<String> = Vec::new();
    for h in &hours {
        for m in &minutes {
            times.push(format::time(NaiveTime::from_hms_opt(*h, *m, 0)?));
        }
    }
    if times.len() > 6 {
        return None;
    }
    let at = match t.0 {
        Locale::Nl => format!("om {}", t.list(&times)),
        Locale::En => format!("at {}", t.list(&times)),
    };
    if *dow == "*" {
        return Some(match t.0 {
            Locale::Nl => format!("elke dag {at}"),
            Locale::En => format!("every day {at}"),
        });
    }
    let day = |s: &str| -> Option<Weekday> {
        Some(match s.to_ascii_lowercase().as_str() {
            "0" | "7" | "sun" => Weekday::Sun,
            "1" | "mon" => Weekday::Mon,
            "2" | "tue" => Weekday::Tue,
            "3" | "wed" => Weekday::Wed,
            "4" | "thu" => Weekday::Thu,
            "5" | "fri" => Weekday::Fri,
            "6" | "sat" => Weekday::Sat,
            _ => return None,
        })
    };
    let mut days: Vec<String> = Vec::new();
    for item in dow.split(',') {
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                days.push(match t.0 {
                    Locale::Nl => format!("{} t/m {}", t.weekday(a), t.weekday(b)),
                    Locale::En => format!("{} to {}", t.weekday(a), t.weekday(b)),
                });
            }
            None => days.push(t.weekday(day(item)?).to_string()),
        }
    }
    Some(match t.0 {
        Locale::Nl => format!("{at} op {}", t.list(&days)),
        Locale::En => format!("{at} on {}", t.list(&days)),
    })
}

fn consent(p: &Policy, t: Words) -> String {
    let c = &p.consent;
    let mut out = match (c.student_controls, t.0) {
        (StudentControls::Never, Locale::Nl) => "Leerlingen onder de 18 kiezen niet zelf wat hun ouders en verzorgers zien.".to_string(),
        (StudentControls::Never, Locale::En) => "Students under 18 do not choose what their parents and guardians see.".to_string(),
        (StudentControls::From16, Locale::Nl) => "Vanaf 16 jaar kiest een leerling zelf of ouders en verzorgers toetscijfers en absenties zien.".to_string(),
        (StudentControls::From16, Locale::En) => "From 16, a student chooses whether parents and guardians see test grades and absences.".to_string(),
        (StudentControls::Always, Locale::Nl) => "Een leerling kiest zelf of ouders en verzorgers toetscijfers en absenties zien.".to_string(),
        (StudentControls::Always, Locale::En) => "A student chooses whether parents and guardians see test grades and absences.".to_string(),
    };
    out.push(' ');
    out.push_str(&if c.adult_needs_consent {
        t.pick(
            "Vanaf 18 jaar zien ouders en verzorgers alleen iets als de leerling daar toestemming voor geeft.",
            "From 18, parents and guardians see something only if the student agrees.",
        )
    } else {
        t.pick(
            "Vanaf 18 jaar beslist de leerling zelf; zonder keuze blijven ouders en verzorgers berichten krijgen.",
            "From 18, the student decides; without a choice, parents and guardians keep getting messages.",
        )
    });
    out.push(' ');
    out.push_str(&t.pick(
        "Gescheiden ouders krijgen ieder hun eigen berichten.",
        "Separated parents each get their own messages.",
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(text: &str) -> Config {
        Config::parse(Path::new("rustig.toml"), text).unwrap()
    }

    const COORNHERT: &str = "timezone = \"Europe/Amsterdam\"\n\
        [quiet_hours]\nstart = \"20:00\"\nend = \"07:00\"\n\
        [weekend]\nfrom = \"fri 18:00\"\nuntil = \"mon 07:00\"\n\
        [holidays]\ndates = [\"2026-12-19..2027-01-03\"]\n\
        [grades]\nclassroom_first = \"release\"\nmax_hold = \"5d\"\nguardian_delay = \"24h\"\n\
        [digest]\nstudents = \"immediate\"\nguardians = \"0 17 * * mon-fri\"\nmax_per_day = 3\n\
        [schools.coornhert]\nname = \"Coornhert Lyceum\"\n";

    #[test]
    fn dutch_and_english_say_the_same_rules() {
        let c = config(COORNHERT);
        let nl = paragraphs(&c, "coornhert", Locale::Nl);
        let en = paragraphs(&c, "coornhert", Locale::En);
        assert_eq!(nl.len(), en.len());
        assert_eq!(nl[0].heading, "Wanneer hoor ik over een cijfer?");
        assert_eq!(en[0].heading, "When do I hear about a grade?");
        assert!(
            nl[0]
                .text
                .contains("nadat de toets in de klas is besproken, en uiterlijk 5 dagen"),
            "{}",
            nl[0].text
        );
        assert!(
            nl[0].text.contains("niet eerder dan 24 uur na de leerling"),
            "{}",
            nl[0].text
        );
        assert!(
            en[0]
                .text
                .contains("no sooner than 24 hours after the student"),
            "{}",
            en[0].text
        );
        assert!(nl[1].text.contains("van 20:00 tot 07:00"), "{}", nl[1].text);
        assert!(
            nl[1].text.contains("van vrijdag 18:00 tot maandag 07:00"),
            "{}",
            nl[1].text
        );
        assert!(
            nl[1]
                .text
                .contains("zaterdag 19 december 2026 t/m zondag 3 januari 2027"),
            "{}",
            nl[1].text
        );
        assert!(
            en[1].text.contains("Friday 18:00 to Monday 07:00"),
            "{}",
            en[1].text
        );
        assert!(
            nl[3]
                .text
                .contains("gebundeld, om 17:00 op maandag t/m vrijdag"),
            "{}",
            nl[3].text
        );
        assert!(
            en[3].text.contains("bundled, at 17:00 on Monday to Friday"),
            "{}",
            en[3].text
        );
        assert!(
            en[3].text.contains("more than 3 messages a day"),
            "{}",
            en[3].text
        );
        assert!(
            nl[2].text.contains("wacht een bericht erover 45 minuten"),
            "{}",
            nl[2].text
        );
    }

    #[test]
    fn the_page_stands_alone_and_escapes_the_name() {
        let c = config(&COORNHERT.replace("Coornhert Lyceum", "Coornhert <Lyceum> & co"));
        let html = standalone_html(&c, "coornhert", Locale::Nl);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<html lang=\"nl\">"));
        assert!(html.contains("<h1>Wanneer hoor ik over een cijfer?</h1>"));
        assert!(html.contains("Coornhert &lt;Lyceum&gt; &amp; co"));
        for external in ["src=", "href=", "<script", "@import", "url("] {
            assert!(!html.contains(external), "{external} in the page");
        }
        let en = standalone_html(&c, "coornhert", Locale::En);
        assert!(en.contains("<html lang=\"en\">") && en.contains("When do I hear about a grade?"));
    }

    #[test]
    fn crontab_lines_in_words() {
        let nl = Words(Locale::Nl);
        let en = Words(Locale::En);
        assert_eq!(plain_cron("0 17 * * *", nl).unwrap(), "elke dag om 17:00");
        assert_eq!(
            plain_cron("30 7,17 * * 1-5", en).unwrap(),
            "at 07:30 and 17:30 on Monday to Friday"
        );
        assert_eq!(
            plain_cron("0 17 * * fri", nl).unwrap(),
            "om 17:00 op vrijdag"
        );
        assert!(plain_cron("*/5 * * * *", nl).is_none());
        assert!(plain_cron("0 17 1 * *", nl).is_none());
    }

    #[test]
    fn each_setting_is_said_in_both_languages() {
        // (extra TOML, paragraph, Dutch phrase, English phrase)
        let table = [
            (
                "[grades]\nclassroom_first = \"off\"\n",
                0,
                "zodra de docent het invoert",
                "as soon as the teacher enters it",
            ),
            (
                "[grades]\nclassroom_first = \"embargo\"\nembargo_school_days = 2\n",
                0,
                "2 schooldagen na het invoeren",
                "2 school days after it was entered",
            ),
            (
                "[grades]\nclassroom_first = \"next_lesson\"\n",
                0,
                "eerstvolgende les van dat vak",
                "the next lesson of that subject",
            ),
            (
                "[grades]\nguardians = \"report_only\"\n",
                0,
                "alleen rapportcijfers",
                "report grades only",
            ),
            (
                "[grades]\nguardians = \"none\"\n",
                0,
                "geen cijfers",
                "no grades",
            ),
            (
                "[grades]\nreport_hours = \"09:00-16:00\"\n",
                0,
                "tussen 09:00 en 16:00",
                "between 09:00 and 16:00",
            ),
            (
                "[grades]\npush_shows_value = true\n",
                0,
                "kan het cijfer laten zien",
                "may show the grade",
            ),
            (
                "[quiet_hours]\nenabled = false\n[weekend]\nenabled = false\n",
                1,
                "in het weekend",
                "at the weekend",
            ),
            (
                "[absences]\nsettle = \"1h\"\nguardians = { sick = \"immediate\" }\n",
                2,
                "ziek gemeld",
                "reported sick",
            ),
            (
                "[digest]\nguardians = \"*/5 * * * *\"\n",
                3,
                "volgens het schema \"*/5 * * * *\"",
                "on the schedule \"*/5 * * * *\"",
            ),
            (
                "[digest]\nguardians = \"immediate\"\n",
                3,
                "meteen",
                "at once",
            ),
            (
                "[consent]\nstudent_controls = \"always\"\nadult_needs_consent = false\n",
                4,
                "Een leerling kiest zelf",
                "A student chooses",
            ),
            (
                "[consent]\nstudent_controls = \"never\"\n",
                4,
                "kiezen niet zelf",
                "do not choose",
            ),
        ];
        for (extra, i, nl, en) in table {
            let c = config(&format!("timezone = \"Europe/Amsterdam\"\n{extra}"));
            let p_nl = &paragraphs(&c, "any", Locale::Nl)[i].text;
            let p_en = &paragraphs(&c, "any", Locale::En)[i].text;
            if extra.contains("enabled = false") {
                // Neither quiet hours nor a weekend: said so, not an empty list.
                assert!(
                    !p_nl.contains(nl) && p_nl.contains("geen stille uren"),
                    "{p_nl}"
                );
                assert!(
                    !p_en.contains(en) && p_en.contains("no quiet hours"),
                    "{p_en}"
                );
                continue;
            }
            assert!(p_nl.contains(nl), "{extra}: {p_nl}");
            assert!(p_en.contains(en), "{extra}: {p_en}");
        }
    }
}
