//! Every sentence of the preference pages, in Dutch and English (by the person's language).

use serde_json::Value;

/// The page texts for `nl` (Dutch) or English.
pub fn texts(nl: bool) -> Value {
    let pairs: &[(&str, &str)] = if nl {
        &[
            ("lang", "nl"),
            ("title", "Berichtinstellingen"),
            ("hello", "Hallo"),
            ("intro", "Hier kies je hoe je berichten van school ontvangt. Wat de wet of de school verplicht, blijft altijd aan."),
            ("saved", "Opgeslagen. Berichten die nog wachten zijn meteen opnieuw ingepland."),
            ("how_often", "Hoe vaak"),
            ("asap", "Zodra de school het toestaat"),
            ("daily", "Eén keer per dag, op het vaste moment van de school"),
            ("weekly", "Eén keer per week, op vrijdag om 17:00"),
            ("custom", "Op een eigen dag en tijd"),
            ("day", "Dag"),
            ("every_school_day", "Elke schooldag"),
            ("time", "Tijd"),
            ("custom_hint", "Alleen momenten buiten de stille uren en het weekend van de school."),
            ("channels", "Kanalen"),
            ("channels_hint", "Er blijft altijd minstens één kanaal aan."),
            ("language", "Taal"),
            ("own", "Je eigen berichten"),
            ("own_immediate", "Meteen (zodra de school het toestaat)"),
            ("own_daily", "Eén keer per dag gebundeld"),
            ("sharing", "Wat je ouders of verzorgers zien"),
            ("share_grades", "Toetscijfers"),
            ("share_absences", "Absenties"),
            ("yes_share", "Delen"),
            ("no_share", "Niet delen"),
            ("no_sharing_controls", "Wat je ouders of verzorgers zien, kun je hier nog niet zelf kiezen; vraag het je mentor als je er vragen over hebt."),
            ("always", "Wat altijd doorgaat"),
            ("law_reports", "Rapportcijfers gaan altijd naar ouders en verzorgers zolang de leerling jonger is dan 18 (de wet)."),
            ("law_blackouts", "De school stuurt niets in de stille uren, het weekend en de vakanties; je kunt berichten alleen later laten komen, nooit eerder."),
            ("law_unauthorized", "Een melding van ongeoorloofd afwezig komt zo snel als de school het toestaat, ook als je een samenvatting kiest."),
            ("save", "Opslaan"),
            ("errors", "Niet opgeslagen:"),
            ("stale", "Deze instellingen zijn intussen ergens anders gewijzigd. De pagina toont nu de nieuwste stand; kies opnieuw."),
            ("form_expired", "Dit formulier is verlopen. Open de pagina opnieuw en probeer het nog eens."),
            ("denied_title", "Deze link werkt niet"),
            ("denied", "Deze link werkt niet (meer). Elk nieuw bericht van school bevat een nieuwe link naar je berichtinstellingen."),
            ("too_many", "Te veel verzoeken. Probeer het over een minuut opnieuw."),
            ("bad_request", "Dit verzoek begrijpen we niet."),
            ("unsub_title", "Minder berichten"),
            ("unsub_ask", "Wil je minder berichten? Dan bundelen we ze voortaan:"),
            ("unsub_button", "Minder berichten ontvangen"),
            ("unsub_done", "Klaar: je ontvangt berichten voortaan gebundeld (ouders en verzorgers wekelijks op vrijdag, leerlingen één keer per dag). Helemaal uitzetten kan niet: wat de wet verplicht, blijft komen."),
            ("more", "Meer kiezen"),
            ("students_intro", "Wat je te zien krijgt:"),
            ("privacy", "De school bewaart alleen je keuzes en wanneer je ze maakte, om je berichten te plannen."),
        ]
    } else {
        &[
            ("lang", "en"),
            ("title", "Message settings"),
            ("hello", "Hello"),
            ("intro", "Choose how you receive messages from school. What the law or the school requires always stays on."),
            ("saved", "Saved. Messages still waiting have been planned again right away."),
            ("how_often", "How often"),
            ("asap", "As soon as the school allows"),
            ("daily", "Once a day, at the school's daily moment"),
            ("weekly", "Once a week, on Friday at 17:00"),
            ("custom", "On a day and time of my own"),
            ("day", "Day"),
            ("every_school_day", "Every school day"),
            ("time", "Time"),
            ("custom_hint", "Only moments outside the school's quiet hours and weekend."),
            ("channels", "Channels"),
            ("channels_hint", "At least one channel always stays on."),
            ("language", "Language"),
            ("own", "Your own messages"),
            ("own_immediate", "At once (as soon as the school allows)"),
            ("own_daily", "Bundled once a day"),
            ("sharing", "What your parents or guardians see"),
            ("share_grades", "Test grades"),
            ("share_absences", "Absences"),
            ("yes_share", "Share"),
            ("no_share", "Don't share"),
            ("no_sharing_controls", "You cannot choose yet what your parents or guardians see; ask your mentor if you have questions about it."),
            ("always", "What always comes"),
            ("law_reports", "Report grades always reach parents and guardians while the student is under 18 (the law)."),
            ("law_blackouts", "The school sends nothing in its quiet hours, weekend and holidays; you can only make messages come later, never earlier."),
            ("law_unauthorized", "A report of unauthorized absence comes as soon as the school allows, also when you choose a digest."),
            ("save", "Save"),
            ("errors", "Not saved:"),
            ("stale", "These settings were changed elsewhere in the meantime. The page now shows the latest; please choose again."),
            ("form_expired", "This form has expired. Open the page again and try once more."),
            ("denied_title", "This link does not work"),
            ("denied", "This link does not work (any more). Every new message from school brings a new link to your message settings."),
            ("too_many", "Too many requests. Please try again in a minute."),
            ("bad_request", "We do not understand this request."),
            ("unsub_title", "Fewer messages"),
            ("unsub_ask", "Would you like fewer messages? We will bundle them from now on:"),
            ("unsub_button", "Receive fewer messages"),
            ("unsub_done", "Done: from now on your messages come bundled (parents and guardians weekly on Friday, students once a day). Switching them off entirely is not possible: what the law requires keeps coming."),
            ("more", "More choices"),
            ("students_intro", "What you get to see:"),
            ("privacy", "The school keeps only your choices and when you made them, to plan your messages."),
        ]
    };
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect(),
    )
}

/// "Merel chose to share absences, not test grades; report grades are always shared."
pub fn sharing_sentence(
    nl: bool,
    first_name: &str,
    s: &crate::policy::preference::Sharing,
) -> String {
    let (grades, absences) = if nl {
        ("toetscijfers", "absenties")
    } else {
        ("test grades", "absences")
    };
    let mut shared = Vec::new();
    let mut hidden = Vec::new();
    for (on, what) in [(s.grades, grades), (s.absences, absences)] {
        if on {
            shared.push(what);
        } else {
            hidden.push(what);
        }
    }
    let join = |v: &[&str]| v.join(if nl { " en " } else { " and " });
    let mut out = match (
        nl,
        s.chosen_by_student,
        shared.is_empty(),
        hidden.is_empty(),
    ) {
        (true, true, false, true) => {
            format!("{first_name} heeft gekozen om {} te delen", join(&shared))
        }
        (true, true, false, false) => format!(
            "{first_name} heeft gekozen om {} te delen, geen {}",
            join(&shared),
            join(&hidden)
        ),
        (true, true, true, _) => format!(
            "{first_name} heeft gekozen om geen {} te delen",
            join(&hidden)
        ),
        (true, false, false, true) => format!("Je ziet {} van {first_name}", join(&shared)),
        (true, false, false, false) => format!(
            "Je ziet {} van {first_name}, geen {}",
            join(&shared),
            join(&hidden)
        ),
        (true, false, true, _) => format!("Je ziet geen {} van {first_name}", join(&hidden)),
        (false, true, false, true) => format!("{first_name} chose to share {}", join(&shared)),
        (false, true, false, false) => format!(
            "{first_name} chose to share {}, not {}",
            join(&shared),
            join(&hidden)
        ),
        (false, true, true, _) => format!("{first_name} chose not to share {}", join(&hidden)),
        (false, false, false, true) => format!("You see {first_name}'s {}", join(&shared)),
        (false, false, false, false) => format!(
            "You see {first_name}'s {}, not {}",
            join(&shared),
            join(&hidden)
        ),
        (false, false, true, _) => format!("You do not see {first_name}'s {}", join(&hidden)),
    };
    if s.report_grades && !s.grades {
        out.push_str(if nl {
            "; rapportcijfers worden altijd gedeeld."
        } else {
            "; report grades are always shared."
        });
    } else {
        out.push('.');
    }
    out
}

/// A channel's name on the page.
pub fn channel_label(nl: bool, c: crate::model::ChannelKind) -> &'static str {
    use crate::model::ChannelKind::*;
    match (c, nl) {
        (Email, true) => "E-mail",
        (Email, false) => "Email",
        (Webpush, true) => "Pushmelding in de browser",
        (Webpush, false) => "Browser notification",
        (Fcm, true) => "Pushmelding in de app",
        (Fcm, false) => "App notification",
        (Ntfy, _) => "ntfy",
        (Webhook, true) => "Koppeling met een app (webhook)",
        (Webhook, false) => "Link to an app (webhook)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::preference::Sharing;

    #[test]
    fn sentences() {
        let s = Sharing {
            grades: false,
            absences: true,
            report_grades: true,
            chosen_by_student: true,
        };
        assert_eq!(
            sharing_sentence(false, "Merel", &s),
            "Merel chose to share absences, not test grades; report grades are always shared."
        );
        assert_eq!(
            sharing_sentence(true, "Merel", &s),
            "Merel heeft gekozen om absenties te delen, geen toetscijfers; rapportcijfers worden altijd gedeeld."
        );
        let all = Sharing {
            grades: true,
            absences: true,
            report_grades: true,
            chosen_by_student: false,
        };
        assert_eq!(
            sharing_sentence(false, "Daan", &all),
            "You see Daan's test grades and absences."
        );
    }

    #[test]
    fn both_languages_have_the_same_keys() {
        let nl = texts(true);
        let en = texts(false);
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&nl), keys(&en));
    }
}
