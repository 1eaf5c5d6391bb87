//! The built-in templates, embedded in the binary. An operator overrides any of them by a
//! file of the same name in `templates_dir`; see the module documentation of `render`.

/// A built-in template: its file name (also its name in the environment) and source.
pub struct Builtin {
    pub name: &'static str,
    pub source: &'static str,
}

macro_rules! builtin {
    ($($name:literal),* $(,)?) => {
        &[$(Builtin { name: $name, source: include_str!(concat!("templates/", $name)) }),*]
    };
}

/// Every built-in template, sorted by name.
pub const BUILTIN: &[Builtin] = builtin![
    "absence.en.html.j2",
    "absence.en.text.j2",
    "absence.nl.html.j2",
    "absence.nl.text.j2",
    "correction.en.html.j2",
    "correction.en.text.j2",
    "correction.nl.html.j2",
    "correction.nl.text.j2",
    "digest.en.html.j2",
    "digest.en.text.j2",
    "digest.nl.html.j2",
    "digest.nl.text.j2",
    "grade.en.html.j2",
    "grade.en.text.j2",
    "grade.nl.html.j2",
    "grade.nl.text.j2",
    "layout.html.j2",
    "macros.en.j2",
    "macros.nl.j2",
    "withdrawal.en.html.j2",
    "withdrawal.en.text.j2",
    "withdrawal.nl.html.j2",
    "withdrawal.nl.text.j2",
];

/// `grade.nl.text.j2`: subject and plain text of the email, title and body of a push.
pub fn text_name(kind: &str, locale: &str) -> String {
    format!("{kind}.{locale}.text.j2")
}

/// `grade.nl.html.j2`: the HTML part of the email.
pub fn html_name(kind: &str, locale: &str) -> String {
    format!("{kind}.{locale}.html.j2")
}

pub fn is_builtin(name: &str) -> bool {
    BUILTIN.iter().any(|b| b.name == name)
}
