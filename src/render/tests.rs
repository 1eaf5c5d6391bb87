//! Tests of the renderer and snapshots of every built-in template (src/render/snapshots/).

use std::path::Path;

use super::samples::{self, Case, Samples};
use super::*;
use crate::model::EventBody;

fn renderer() -> Renderer {
    Renderer::load(None).expect("the built-in templates pass the load check")
}

fn case(name: &'static str, items: Vec<(NoticeKind, usize, Option<usize>)>) -> Case {
    Case { name, items }
}

/// The representative messages of the snapshots: (name, guardian's case, student's case).
fn snapshot_cases() -> Vec<(&'static str, Case, Case)> {
    use samples::*;
    use NoticeKind::*;
    let same = |name, items: Vec<(NoticeKind, usize, Option<usize>)>| {
        (name, case(name, items.clone()), case(name, items))
    };
    vec![
        same("grade", vec![(Grade, G_TEST, None)]),
        same("absence", vec![(Absence, A_UNAUTHORIZED, None)]),
        same(
            "correction_grade",
            vec![(Correction, G_CORRECTED, Some(G_TEST))],
        ),
        same(
            "correction_absence",
            vec![(Correction, A_CORRECTED, Some(A_UNAUTHORIZED))],
        ),
        same(
            "withdrawal_grade",
            vec![(Withdrawal, G_WITHDRAWN, Some(G_TEST))],
        ),
        same(
            "withdrawal_absence",
            vec![(Withdrawal, A_WITHDRAWN, Some(A_UNAUTHORIZED))],
        ),
        (
            "digest",
            // A guardian of two children: three items across two students.
            case(
                "digest",
                vec![
                    (Grade, G_TEST, None),
                    (Absence, A_LATE, None),
                    (Correction, A_CORRECTED, Some(A_UNAUTHORIZED)),
                ],
            ),
            // The student's own digest.
            case(
                "digest",
                vec![
                    (Grade, G_TEST, None),
                    (Grade, G_REPORT, None),
                    (Withdrawal, A_WITHDRAWN, Some(A_UNAUTHORIZED)),
                ],
            ),
        ),
    ]
}

fn show_email(r: &Rendered) -> String {
    format!(
        "subject: {}\n\n--- text ---\n{}\n\n--- html ---\n{}",
        r.subject, r.text, r.html
    )
}

fn show_push(r: &Rendered) -> String {
    format!("title: {}\n--- body ---\n{}", r.title, r.body)
}

#[test]
fn snapshots_of_every_template_locale_and_channel() {
    let r = renderer();
    let s = Samples::new();
    for (name, guardian_case, student_case) in snapshot_cases() {
        for locale in [Locale::Nl, Locale::En] {
            let guardian = s.input(
                &guardian_case,
                Role::Guardian,
                locale,
                ChannelKind::Email,
                false,
            );
            let student = s.input(
                &student_case,
                Role::Student,
                locale,
                ChannelKind::Email,
                false,
            );
            let email = format!(
                "=== guardian ===\n{}\n\n=== student ===\n{}",
                show_email(&r.render(&guardian).unwrap()),
                show_email(&r.render(&student).unwrap()),
            );
            insta::assert_snapshot!(format!("{name}_{}_email", locale.as_str()), email);

            let mut sections = Vec::new();
            for (label, case, role, channel, shows) in [
                (
                    "guardian, ntfy",
                    &guardian_case,
                    Role::Guardian,
                    ChannelKind::Ntfy,
                    false,
                ),
                (
                    "student, webpush",
                    &student_case,
                    Role::Student,
                    ChannelKind::Webpush,
                    false,
                ),
                (
                    "guardian, fcm, push_shows_value = true",
                    &guardian_case,
                    Role::Guardian,
                    ChannelKind::Fcm,
                    true,
                ),
            ] {
                let input = s.input(case, role, locale, channel, shows);
                let out = r.render(&input).unwrap();
                assert!(out.subject.is_empty() && out.text.is_empty() && out.html.is_empty());
                sections.push(format!("=== {label} ===\n{}", show_push(&out)));
            }
            insta::assert_snapshot!(
                format!("{name}_{}_push", locale.as_str()),
                sections.join("\n\n")
            );
        }
    }
}

#[test]
fn channels_get_the_parts_they_show() {
    let r = renderer();
    let s = Samples::new();
    let c = case("grade", vec![(NoticeKind::Grade, samples::G_TEST, None)]);
    let email = r
        .render(&s.input(&c, Role::Guardian, Locale::Nl, ChannelKind::Email, false))
        .unwrap();
    assert!(!email.subject.is_empty() && !email.text.is_empty() && !email.html.is_empty());
    assert!(email.title.is_empty() && email.body.is_empty());
    let hook = r
        .render(&s.input(&c, Role::Guardian, Locale::Nl, ChannelKind::Webhook, false))
        .unwrap();
    assert_eq!(hook.subject, email.subject);
    assert_eq!(hook.text, email.text);
    assert!(!hook.title.is_empty() && !hook.body.is_empty());
    // A webhook's push part obeys lock-screen privacy too.
    assert!(!hook.body.contains("5,4"), "{}", hook.body);
}

/// Every grade value (in both spellings) and absence note of a message.
fn secrets(input: &MessageInput<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for item in &input.items {
        for e in std::iter::once(item.event).chain(item.previous) {
            match &e.body {
                EventBody::GradeEntered { grade, .. } => {
                    out.push(format::decimal(&grade.value.0, Locale::Nl));
                    out.push(format::decimal(&grade.value.0, Locale::En));
                }
                EventBody::AbsenceRegistered { absence, .. } => {
                    out.extend(absence.note.clone());
                }
                _ => {}
            }
        }
    }
    out
}

#[test]
fn push_text_never_shows_a_value_or_note_unless_allowed() {
    let r = renderer();
    let s = Samples::new();
    for c in Samples::cases() {
        for locale in [Locale::Nl, Locale::En] {
            for role in [Role::Guardian, Role::Student] {
                for channel in [ChannelKind::Webpush, ChannelKind::Fcm, ChannelKind::Ntfy] {
                    let input = s.input(&c, role, locale, channel, false);
                    let out = r.render(&input).unwrap();
                    let shown = format!("{}\n{}", out.title, out.body);
                    for secret in secrets(&input) {
                        assert!(
                            !shown.contains(&secret),
                            "{} ({}, {:?}) shows {secret:?} on the lock screen:\n{shown}",
                            c.name,
                            locale.as_str(),
                            role
                        );
                    }
                    assert!(shown.contains("Merel") || shown.contains("Daan"), "{shown}");
                }
            }
        }
    }
    // With push_shows_value the value is there, Dutch style.
    let c = case("grade", vec![(NoticeKind::Grade, samples::G_TEST, None)]);
    let out = r
        .render(&s.input(&c, Role::Guardian, Locale::Nl, ChannelKind::Ntfy, true))
        .unwrap();
    assert!(out.body.contains("5,4"), "{}", out.body);
    assert_eq!(out.title, "Nieuw cijfer voor Merel — Wiskunde");
    let c = case(
        "absence",
        vec![(NoticeKind::Absence, samples::A_UNAUTHORIZED, None)],
    );
    let out = r
        .render(&s.input(&c, Role::Guardian, Locale::En, ChannelKind::Ntfy, true))
        .unwrap();
    assert!(out.body.contains("Niet aanwezig"), "{}", out.body);
}

#[test]
fn dutch_decimals_have_a_comma_and_english_a_point() {
    let r = renderer();
    let s = Samples::new();
    // The SIS sent "5.4" for this grade and "6,8" for the report grade.
    let c = case(
        "two",
        vec![
            (NoticeKind::Grade, samples::G_TEST, None),
            (NoticeKind::Grade, samples::G_REPORT, None),
        ],
    );
    let nl = r
        .render(&s.input(&c, Role::Guardian, Locale::Nl, ChannelKind::Email, false))
        .unwrap();
    for part in [&nl.text, &nl.html] {
        assert!(part.contains("5,4") && part.contains("6,8"), "{part}");
        assert!(!part.contains("5.4") && !part.contains("6.8"), "{part}");
    }
    let en = r
        .render(&s.input(&c, Role::Guardian, Locale::En, ChannelKind::Email, false))
        .unwrap();
    for part in [&en.text, &en.html] {
        assert!(part.contains("5.4") && part.contains("6.8"), "{part}");
        assert!(!part.contains("5,4") && !part.contains("6,8"), "{part}");
    }
}

#[test]
fn wording_is_calm_and_addresses_the_reader() {
    let r = renderer();
    let s = Samples::new();
    for c in Samples::cases() {
        for locale in [Locale::Nl, Locale::En] {
            for role in [Role::Guardian, Role::Student] {
                let out = r
                    .render(&s.input(&c, role, locale, ChannelKind::Webhook, true))
                    .unwrap();
                let all = format!("{}\n{}\n{}\n{}", out.subject, out.text, out.title, out.body);
                assert!(!all.contains('!'), "{all}");
                for word in all.split(|c: char| !c.is_alphabetic()) {
                    let shouting =
                        word.chars().count() >= 3 && word.chars().all(|c| c.is_uppercase());
                    assert!(!shouting, "{word:?} in {all}");
                }
                let lower = all.to_lowercase();
                for alarm in [
                    "onvoldoende",
                    "insufficient",
                    "fail",
                    "urgent",
                    "dringend",
                    "let op",
                ] {
                    assert!(!lower.contains(alarm), "{alarm:?} in {all}");
                }
                // No remote content, links or red in the HTML.
                let html = out.html.to_lowercase();
                for bad in [
                    "http", "<img", "<a ", "src=", "red", "#f00", "#ff0000", "<style",
                ] {
                    assert!(!html.contains(bad), "{bad:?} in {}", out.html);
                }
                if role == Role::Student && c.items.len() == 1 {
                    let you = if locale == Locale::Nl { "je" } else { "you" };
                    assert!(lower.contains(you), "{all}");
                }
                assert!(out.text.contains(samples::SCHOOL), "{}", out.text);
                assert!(out.html.contains(samples::SCHOOL), "{}", out.html);
            }
        }
    }
}

#[test]
fn a_digest_lists_both_children_grouped_per_student() {
    let r = renderer();
    let s = Samples::new();
    let (_, guardian_case, _) = snapshot_cases().pop().unwrap();
    let out = r
        .render(&s.input(
            &guardian_case,
            Role::Guardian,
            Locale::Nl,
            ChannelKind::Email,
            false,
        ))
        .unwrap();
    assert_eq!(
        out.subject,
        "Overzicht voor Merel en Daan: 3 nieuwe berichten"
    );
    let merel = out.text.find("\nMerel\n").expect("a heading for Merel");
    let daan = out.text.find("\nDaan\n").expect("a heading for Daan");
    let grade = out.text.find("Nieuw cijfer voor Wiskunde").unwrap();
    let corrected = out.text.find("Gewijzigde absentiemelding").unwrap();
    let late = out.text.find("te laat").unwrap();
    // Merel's two items (grade first, correction third in the input) come together.
    assert!(merel < grade && grade < corrected && corrected < daan && daan < late);
}

#[test]
fn the_template_follows_the_event_not_only_the_notice_kind() {
    let r = renderer();
    let s = Samples::new();
    // A notice planned as a grade whose current event is a withdrawal reads as one.
    let c = case(
        "withdrawn",
        vec![(
            NoticeKind::Grade,
            samples::G_WITHDRAWN,
            Some(samples::G_TEST),
        )],
    );
    let out = r
        .render(&s.input(&c, Role::Guardian, Locale::Nl, ChannelKind::Email, false))
        .unwrap();
    assert_eq!(out.subject, "Cijfer ingetrokken voor Merel — Wiskunde");
    // An empty message is an error, not a panic.
    let mut input = s.input(&c, Role::Guardian, Locale::Nl, ChannelKind::Email, false);
    input.items.clear();
    assert!(r.render(&input).is_err());
}

#[test]
fn html_escapes_and_text_does_not() {
    let r = renderer();
    let s = Samples::new();
    let c = case("grade", vec![(NoticeKind::Grade, samples::G_TEST, None)]);
    let mut input = s.input(&c, Role::Guardian, Locale::En, ChannelKind::Email, false);
    input.items[0].student_name = "<b>Tom</b> & co";
    input.school_name = "School <1>";
    let out = r.render(&input).unwrap();
    assert!(out.html.contains("&lt;b&gt;Tom&lt;"), "{}", out.html);
    assert!(out.html.contains("School &lt;1&gt;"), "{}", out.html);
    assert!(!out.html.contains("<b>Tom"), "{}", out.html);
    assert!(out.text.contains("School <1>"), "{}", out.text);
}

// ---- Operator templates ---------------------------------------------------------------

fn write(dir: &Path, name: &str, source: &str) {
    std::fs::write(dir.join(name), source).unwrap();
}

fn load_err(dir: &Path) -> (String, String) {
    match Renderer::load(Some(dir)) {
        Ok(_) => panic!("the broken template was accepted"),
        Err(RenderError::Template { name, message }) => (name, message),
    }
}

const TEXT_OVERRIDE: &str = "{% block subject %}Cijfer: {{ item.grade.subject }}{% endblock %}
{% block text %}Hallo {{ recipient.first_name }}.
{% include \"extra.j2\" %}{% endblock %}
{% block title %}Nieuw cijfer{% endblock %}
{% block body %}Voor {{ item.student.first_name }}.{% endblock %}
";

/// A renderer with the operator's `grade.nl.text.j2` ([`TEXT_OVERRIDE`]) and the `extra.j2`
/// it includes; the directory lives as long as the first value.
fn with_override() -> (tempfile::TempDir, Renderer) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "grade.nl.text.j2", TEXT_OVERRIDE);
    write(dir.path(), "extra.j2", "Groet van {{ school }}.");
    let r = Renderer::load(Some(dir.path())).unwrap();
    (dir, r)
}

#[test]
fn an_operator_template_overrides_the_built_in_one() {
    let (_dir, r) = with_override();
    let s = Samples::new();
    let c = case("grade", vec![(NoticeKind::Grade, samples::G_TEST, None)]);
    let out = r
        .render(&s.input(&c, Role::Guardian, Locale::Nl, ChannelKind::Webhook, false))
        .unwrap();
    assert_eq!(out.subject, "Cijfer: Wiskunde");
    assert_eq!(out.text, "Hallo Anna.\nGroet van Coornhert Lyceum.");
    assert_eq!(out.body, "Voor Merel.");
    // The other templates stay built-in.
    let out = r
        .render(&s.input(&c, Role::Guardian, Locale::En, ChannelKind::Email, false))
        .unwrap();
    assert_eq!(out.subject, "New grade for Merel — Wiskunde");
    let names: Vec<&str> = r.operator_templates().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["extra.j2", "grade.nl.text.j2"]);
    assert!(Renderer::is_builtin("grade.nl.text.j2") && !Renderer::is_builtin("extra.j2"));
}

#[test]
fn a_missing_variable_fails_at_load_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    // Line 3, inside a branch the guardian samples never take: found statically.
    let source = TEXT_OVERRIDE.replace(
        "{% include \"extra.j2\" %}",
        "{% if for_student %}{{ item.grade.teacher }}{% endif %}",
    );
    write(dir.path(), "grade.nl.text.j2", &source);
    let (name, message) = load_err(dir.path());
    assert!(name.ends_with("grade.nl.text.j2"), "{name}");
    assert!(message.contains("line 3"), "{message}");
    assert!(message.contains("item.grade.teacher"), "{message}");

    // A missing top-level variable.
    write(
        dir.path(),
        "grade.nl.text.j2",
        &TEXT_OVERRIDE.replace("extra.j2", "x.j2"),
    );
    write(dir.path(), "x.j2", "{{ schol }}");
    let (name, message) = load_err(dir.path());
    assert!(name.ends_with("x.j2"), "{name}: {message}");
    assert!(message.contains("line 1"), "{message}");
    assert!(message.contains("schol"), "{message}");
    std::fs::remove_file(dir.path().join("x.j2")).unwrap();
    std::fs::remove_file(dir.path().join("grade.nl.text.j2")).unwrap();

    // An attribute of a loop variable: found by rendering the samples.
    write(
        dir.path(),
        "digest.en.html.j2",
        "{% extends \"layout.html.j2\" %}\n{% block content %}\n{% for it in items %}\n\
         <p>{{ it.grade.mark }}</p>\n{% endfor %}\n{% endblock %}\n",
    );
    let (name, message) = load_err(dir.path());
    assert!(name.ends_with("digest.en.html.j2"), "{name}");
    assert!(message.contains("line 4"), "{message}");
    assert!(message.contains("it.grade.mark"), "{message}");
    let shown = RenderError::Template { name, message }.to_string();
    assert!(shown.starts_with("template "), "{shown}");
}

#[test]
fn a_syntax_error_fails_at_load_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "absence.en.text.j2",
        "{% block subject %}\nAbsence of {{ item.student.name ) }}\n{% endblock %}\n",
    );
    let (name, message) = load_err(dir.path());
    assert!(name.ends_with("absence.en.text.j2"), "{name}");
    assert!(message.contains("line 2"), "{message}");
    assert!(message.contains("syntax error"), "{message}");

    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "macros.nl.j2",
        "{% macro greeting(r, s) %}\nHoi\n",
    );
    let (name, message) = load_err(dir.path());
    assert!(name.ends_with("macros.nl.j2"), "{name}");
    assert!(message.contains("line"), "{message}");
}

#[test]
fn a_missing_block_or_an_empty_subject_fails_at_load() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "grade.nl.text.j2",
        &TEXT_OVERRIDE.replace("{% block title %}Nieuw cijfer{% endblock %}", ""),
    );
    write(dir.path(), "extra.j2", "");
    let (name, message) = load_err(dir.path());
    assert!(name.ends_with("grade.nl.text.j2"), "{name}");
    assert!(message.contains("title"), "{message}");

    write(
        dir.path(),
        "grade.nl.text.j2",
        &TEXT_OVERRIDE.replace("Cijfer: {{ item.grade.subject }}", "{{ '' }}"),
    );
    let (name, message) = load_err(dir.path());
    assert!(name.ends_with("grade.nl.text.j2"), "{name}");
    assert!(message.contains("subject"), "{message}");
}

#[test]
fn an_unreadable_directory_is_an_error() {
    let err = Renderer::load(Some(Path::new("/nonexistent/rustig/templates"))).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/rustig/templates"),
        "{err}"
    );
}

#[test]
fn the_renderer_can_be_shared_between_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Renderer>();
}

/// The blocks of one evaluation (`once`) are exactly the blocks rendered one by one, for every
/// sample, locale, role and channel; and the built-in templates never need the slow way.
#[test]
fn blocks_at_once_equal_blocks_one_by_one() {
    let r = renderer();
    let s = Samples::new();
    let mut compared = 0;
    for case in Samples::cases() {
        for locale in [Locale::Nl, Locale::En] {
            for role in [Role::Guardian, Role::Student] {
                for show in [false, true] {
                    let input = s.input(&case, role, locale, ChannelKind::Webhook, show);
                    let kind = match input.items.as_slice() {
                        [one] => context::item_kind(one).unwrap(),
                        _ => "digest",
                    };
                    let name = templates::text_name(kind, locale.as_str());
                    let ctx = context::build(&input, show).unwrap();
                    for blocks in [["subject", "text"], ["title", "body"]] {
                        let at_once = r.at_once(&name, &ctx, &blocks);
                        let one_by_one = r.one_by_one(&name, &ctx, blocks).unwrap();
                        assert_eq!(
                            at_once.as_ref(),
                            Some(&one_by_one),
                            "{} {blocks:?}",
                            case.name
                        );
                        compared += 1;
                    }
                }
            }
        }
    }
    assert!(compared > 100, "{compared}");
}

/// An operator's template still renders, and fails, as before when the one evaluation cannot
/// be used: a block it lacks, or data that holds a marker character.
#[test]
fn blocks_fall_back_to_one_by_one() {
    let (_dir, r) = with_override();
    let s = Samples::new();
    let c = case("grade", vec![(NoticeKind::Grade, samples::G_TEST, None)]);
    let mut input = s.input(&c, Role::Guardian, Locale::Nl, ChannelKind::Email, false);
    let ctx = context::build(&input, true).unwrap();
    let [subject, _] = r
        .at_once("grade.nl.text.j2", &ctx, &["subject", "text"])
        .unwrap();
    assert_eq!(subject, "Cijfer: Wiskunde");
    input.school_name = "Lyceum \u{3}\u{4}";
    let ctx = context::build(&input, true).unwrap();
    assert_eq!(
        r.at_once("grade.nl.text.j2", &ctx, &["subject", "text"]),
        None
    );
    let out = r.render(&input).unwrap();
    assert_eq!(out.text, "Hallo Anna.\nGroet van Lyceum \u{3}\u{4}.");
    // A block the template lacks: the error names the template, as before.
    let missing = r.blocks("grade.nl.text.j2", &ctx, ["subject", "footer"]);
    assert!(missing.is_err());
}

/// What the templates get ([`MessageContext::value`], items shared) is the context the
/// contract lists, field for field: for every sample, locale, role and channel part.
#[test]
fn the_shared_context_is_the_context() {
    let s = Samples::new();
    let mut several_students = 0;
    for case in Samples::cases() {
        for locale in [Locale::Nl, Locale::En] {
            for role in [Role::Guardian, Role::Student] {
                for show in [false, true] {
                    let input = s.input(&case, role, locale, ChannelKind::Webhook, show);
                    let ctx = context::build(&input, show).unwrap();
                    several_students += usize::from(ctx.students.len() > 1);
                    let value = ctx.value();
                    assert_eq!(
                        value,
                        minijinja::Value::from_serialize(&ctx),
                        "{}",
                        case.name
                    );
                    // Deep equality, also as the text a template would print.
                    assert_eq!(
                        value.to_string(),
                        minijinja::Value::from_serialize(&ctx).to_string(),
                        "{}",
                        case.name
                    );
                }
            }
        }
    }
    assert!(several_students > 0, "a sample digest covers two students");
}
