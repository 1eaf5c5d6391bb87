//! Turns a group of notices into the text a recipient sees, in Dutch or English.
//!
//! # Templates
//!
//! Messages are [minijinja] templates (Jinja2 syntax). The built-in ones live in
//! `src/render/templates/` and are compiled into the binary; an operator overrides any of
//! them by putting a file with the same name in `templates_dir`. Other `*.j2` files there
//! are loaded too, so overrides can `{% include %}` or `{% import %}` their own partials.
//!
//! | file | what |
//! |---|---|
//! | `{kind}.{locale}.text.j2` | blocks `subject` and `text` (email), `title` and `body` (push) |
//! | `{kind}.{locale}.html.j2` | the HTML part of the email; extends `layout.html.j2` |
//! | `layout.html.j2` | the HTML frame: blocks `content` and `footer` |
//! | `macros.{locale}.j2` | shared phrases (imported as `m`) |
//!
//! `kind` is `grade`, `absence`, `correction`, `withdrawal` (one item) or `digest` (several
//! items); `locale` is `nl` or `en`, the recipient's locale. Email fills subject, text and
//! HTML; push channels (webpush, fcm, ntfy) fill title and body; webhooks get all five.
//! Whitespace is tidied after rendering: subject and title become one line, text and body
//! keep at most one empty line in a row.
//!
//! Loading checks every template: syntax, every variable it names against the context
//! below (also in branches the samples do not reach), and a render of a set of sample
//! messages under strict undefined behaviour. A broken template is a [`RenderError`] that
//! names the file and the line, at start and in `rustig check`, never at send time.
//!
//! # Template context
//!
//! These names are a contract with operators; keep them stable.
//!
//! | field | meaning |
//! |---|---|
//! | `locale` | `"nl"` or `"en"` |
//! | `channel` | `"email"`, `"webpush"`, `"fcm"`, `"ntfy"` or `"webhook"` |
//! | `school` | the school's name, for the signature |
//! | `recipient.name`, `recipient.first_name` | who reads it |
//! | `recipient.role` | `"student"` or `"guardian"` |
//! | `for_student` | the reader is the student the items are about: say "je"/"you" |
//! | `show_value` | values and notes are shown in this part (always in email; in push only with `grades.push_shows_value`) |
//! | `count` | number of items |
//! | `counts.grades`, `.absences`, `.corrections`, `.withdrawals` | items per kind |
//! | `student_names` | first names of the students, joined: "Merel en Daan" / "Merel and Daan" |
//! | `students` | list, grouped per student in order of appearance: `id`, `name`, `first_name`, `items` |
//! | `items` | all items, in message order |
//! | `item` | the first item (the only one in a single-item message) |
//!
//! Each item:
//!
//! | field | meaning |
//! |---|---|
//! | `kind` | `"grade"`, `"absence"`, `"correction"` or `"withdrawal"` |
//! | `about` | `"grade"` or `"absence"`: what the record is |
//! | `for_student` | as above |
//! | `event_id`, `record` | the SIS ids |
//! | `student.id`, `student.name`, `student.first_name` | whom it is about ("Merel") |
//! | `grade` | a grade or `none`; for a withdrawal the withdrawn grade when known |
//! | `absence` | an absence or `none`; for a withdrawal the withdrawn one when known |
//! | `previous` | for a correction, the earlier version when known (`previous.grade`, `previous.absence`), else `none` |
//!
//! A grade: `subject` ("Wiskunde"), `subject_id` ("wiskunde"), `assessment`, `class`,
//! `description` ("Toets H3" or ""), `value` ("5,4" in nl, "5.4" in en), `kind` (`test`,
//! `assignment`, `report`, `average`, `exam`), `kind_text` ("toets" / "test"), `weight`
//! ("2" or "").
//!
//! An absence: `kind` (`unauthorized`, `authorized`, `sick`, `late`, `removed`,
//! `forgot_materials`, `homework_missing`), `kind_text` ("ongeoorloofd afwezig" / "absent
//! without leave", …), `when` ("maandag 23 november, 1e uur (08:30–09:20)"), `date`
//! ("maandag 23 november"), `time` ("08:30" or ""), `period` ("1" or ""), `period_text`
//! ("1e uur" / "period 1" or ""), `subject` ("Wiskunde" or ""), `note` (the school's note
//! or "").
//!
//! Lock-screen privacy: while rendering push texts (title, body) without
//! `grades.push_shows_value`, every grade `value` and absence `note` in the context is the
//! empty string, so no template, built-in or not, can put them on a lock screen.
//!
//! [minijinja]: https://docs.rs/minijinja

mod check;
mod context;
pub mod format;
mod once;
mod samples;
mod templates;
mod tidy;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

pub use context::MessageContext;

use crate::model::{ChannelKind, Event, Locale, Role};
use crate::policy::NoticeKind;

/// The visible text of a message, filled for every channel kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Rendered {
    /// Email subject.
    pub subject: String,
    /// Email plain-text part.
    pub text: String,
    /// Email HTML part.
    pub html: String,
    /// Push notification title.
    pub title: String,
    /// Push notification body.
    pub body: String,
}

/// One notice in a message, with the current version of its event.
#[derive(Debug, Clone)]
pub struct Item<'a> {
    pub kind: NoticeKind,
    pub event: &'a Event,
    /// The student's full name as in the directory.
    pub student_name: &'a str,
    /// The version of the record the recipient saw before, if known: the earlier
    /// `grade.entered` / `absence.registered` of a correction, or the withdrawn one of a
    /// withdrawal (whose own event carries no details). Without it the text stays general.
    pub previous: Option<&'a Event>,
}

impl<'a> Item<'a> {
    pub fn new(kind: NoticeKind, event: &'a Event, student_name: &'a str) -> Item<'a> {
        Item {
            kind,
            event,
            student_name,
            previous: None,
        }
    }

    pub fn with_previous(self, previous: Option<&'a Event>) -> Item<'a> {
        Item { previous, ..self }
    }
}

/// Everything a template may use.
#[derive(Debug, Clone)]
pub struct MessageInput<'a> {
    pub school_name: &'a str,
    pub recipient_name: &'a str,
    pub role: Role,
    pub locale: Locale,
    pub channel: ChannelKind,
    /// `grades.push_shows_value`: lock-screen text may show the grade.
    pub push_shows_value: bool,
    pub items: Vec<Item<'a>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
}

/// The loaded, checked templates. Cheap to share (`Arc<Renderer>`); rendering takes `&self`.
pub struct Renderer {
    env: Environment<'static>,
    /// Templates read from the operator's directory, by name.
    from_dir: BTreeMap<String, PathBuf>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("from_dir", &self.from_dir)
            .finish_non_exhaustive()
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    // A text template's blocks in one evaluation (see `once`).
    env.set_loader(|name| Ok(once::source(name)));
    // Auto-escaping by file name: `*.html.j2` escapes HTML, the rest is plain text.
    env
}

impl Renderer {
    /// The built-in templates only. They are checked by the test suite, so this skips the
    /// load-time check; use [`Renderer::load`] for anything an operator may have touched.
    pub fn builtin() -> Renderer {
        let mut env = environment();
        for b in templates::BUILTIN {
            if let Err(e) = env.add_template(b.name, b.source) {
                // Unreachable while the tests pass; logged rather than panicking.
                tracing::error!(template = b.name, error = %e, "built-in template is broken");
            }
        }
        Renderer {
            env,
            from_dir: BTreeMap::new(),
        }
    }

    /// The built-in templates, overridden by the `*.j2` files in `dir`, all checked.
    pub fn load(dir: Option<&Path>) -> Result<Renderer, RenderError> {
        let mut r = Renderer::builtin();
        if let Some(dir) = dir {
            r.add_dir(dir)?;
        }
        check::validate(&r)?;
        Ok(r)
    }

    fn add_dir(&mut self, dir: &Path) -> Result<(), RenderError> {
        let io_err = |path: &Path, e: std::io::Error| RenderError::Template {
            name: path.display().to_string(),
            message: format!("cannot read: {e}"),
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
            let path = entry.map_err(|e| io_err(dir, e))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.ends_with(".j2") && path.is_file() {
                files.push((name.to_string(), path));
            }
        }
        files.sort();
        for (name, path) in files {
            let source = std::fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
            self.from_dir.insert(name.clone(), path);
            self.env
                .add_template_owned(name.clone(), source)
                .map_err(|e| self.error(&name, &e))?;
        }
        Ok(())
    }

    /// The templates read from the operator's directory, with their paths. Names that are
    /// not built-in ([`Renderer::is_builtin`]) are only used when another template includes
    /// them, which makes a misspelt override easy to spot in `rustig check`.
    pub fn operator_templates(&self) -> Vec<(&str, &Path)> {
        self.from_dir
            .iter()
            .map(|(n, p)| (n.as_str(), p.as_path()))
            .collect()
    }

    /// Whether `name` is one of the built-in template files.
    pub fn is_builtin(name: &str) -> bool {
        templates::is_builtin(name)
    }

    /// Renders one message: subject, text and HTML for email; title and body for push
    /// channels; all of them for webhooks.
    pub fn render(&self, input: &MessageInput<'_>) -> Result<Rendered, RenderError> {
        let kind = match input.items.as_slice() {
            [one] => context::item_kind(one)?,
            _ => "digest",
        };
        let locale = input.locale.as_str();
        let text = templates::text_name(kind, locale);
        let mut out = Rendered::default();
        let email = matches!(input.channel, ChannelKind::Email | ChannelKind::Webhook);
        let push = input.channel.is_push() || input.channel == ChannelKind::Webhook;
        if email {
            let ctx = context::build(input, true)?.value();
            let [subject, body] = self.blocks(&text, &ctx, ["subject", "text"])?;
            out.subject = tidy::one_line(&subject);
            out.text = tidy::paragraphs(&body);
            let html = templates::html_name(kind, locale);
            out.html = tidy::html(&self.whole(&html, &ctx)?);
        }
        if push {
            let ctx = context::build(input, input.push_shows_value)?.value();
            let [title, body] = self.blocks(&text, &ctx, ["title", "body"])?;
            out.title = tidy::one_line(&title);
            out.body = tidy::paragraphs(&body);
        }
        Ok(out)
    }

    fn whole(&self, name: &str, ctx: &impl Serialize) -> Result<String, RenderError> {
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| self.error(name, &e))?;
        tmpl.render(ctx).map_err(|e| self.error(name, &e))
    }

    /// `blocks` of the text template `name`: from one evaluation of only those blocks (see
    /// `once`), or, when that does not work out, block by block with the exact error.
    fn blocks<const N: usize>(
        &self,
        name: &str,
        ctx: &impl Serialize,
        blocks: [&str; N],
    ) -> Result<[String; N], RenderError> {
        match self.at_once(name, ctx, &blocks) {
            Some(out) => Ok(out),
            None => self.one_by_one(name, ctx, blocks),
        }
    }

    fn at_once<const N: usize>(
        &self,
        name: &str,
        ctx: &impl Serialize,
        blocks: &[&str; N],
    ) -> Option<[String; N]> {
        let tmpl = self.env.get_template(&once::name(name, blocks)).ok()?;
        once::split(&tmpl.render(ctx).ok()?)
    }

    /// The whole template evaluated, then each block rendered out of its state.
    fn one_by_one<const N: usize>(
        &self,
        name: &str,
        ctx: &impl Serialize,
        blocks: [&str; N],
    ) -> Result<[String; N], RenderError> {
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| self.error(name, &e))?;
        let mut captured = tmpl
            .render_captured(ctx)
            .map_err(|e| self.error(name, &e))?;
        let mut out: [String; N] = std::array::from_fn(|_| String::new());
        for (slot, block) in out.iter_mut().zip(blocks) {
            *slot = captured
                .with_state_mut(|state| state.render_block(block))
                .map_err(|e| self.error(name, &e))?;
        }
        Ok(out)
    }

    /// How a template is named in errors: the operator's file path, or the built-in name.
    fn display_name(&self, name: &str) -> String {
        match self.from_dir.get(name) {
            Some(path) => path.display().to_string(),
            None => name.to_string(),
        }
    }

    /// A minijinja error as "template <file>: line N: <what> (`<expression>`)". The file
    /// is the one the error is in (an included template or macro file, say), not only the
    /// entry point.
    fn error(&self, name: &str, e: &minijinja::Error) -> RenderError {
        // An error inside an `{% include %}` is wrapped; report the innermost one.
        let mut inner = e;
        while let Some(src) =
            std::error::Error::source(inner).and_then(|s| s.downcast_ref::<minijinja::Error>())
        {
            inner = src;
        }
        let at = inner.name().unwrap_or(name);
        let mut message = String::new();
        if let Some(line) = inner.line() {
            message.push_str(&format!("line {line}: "));
        }
        let expr = inner
            .range()
            .zip(inner.template_source())
            .and_then(|(r, src)| src.get(expression_start(src, r.start)..r.end))
            .map(str::trim)
            .filter(|x| !x.is_empty());
        if inner.kind() == minijinja::ErrorKind::UndefinedError {
            message.push_str("undefined variable");
            if let Some(expr) = expr {
                message.push_str(&format!(" `{expr}`"));
                let optional = [".grade.", ".absence.", ".previous."];
                if optional.iter().any(|o| format!("{expr}.").contains(o)) {
                    message.push_str(
                        " (an item's `grade`, `absence` and `previous` may be none: \
                         test them with {% if … %} first)",
                    );
                }
            }
        } else {
            message.push_str(&inner.kind().to_string());
            if let Some(detail) = inner.detail() {
                message.push_str(&format!(": {detail}"));
            }
            if let Some(expr) = expr {
                message.push_str(&format!(" (at `{expr}`)"));
            }
        }
        if at != name {
            message.push_str(&format!(", used by {}", self.display_name(name)));
            if let Some(line) = e.line().filter(|_| !std::ptr::eq(inner, e)) {
                message.push_str(&format!(" line {line}"));
            }
        }
        RenderError::Template {
            name: self.display_name(at),
            message,
        }
    }
}

/// minijinja points at the failing attribute (`.grade.mark`); widen to the whole dotted
/// name (`it.grade.mark`) so the operator recognises it.
fn expression_start(src: &str, mut start: usize) -> usize {
    while let Some(c) = src.get(..start).and_then(|s| s.chars().next_back()) {
        if !(c.is_alphanumeric() || c == '_' || c == '.') {
            break;
        }
        start -= c.len_utf8();
    }
    start
}

impl RenderError {
    /// Adds what was being rendered when the error happened.
    fn during(self, what: &str) -> RenderError {
        match self {
            RenderError::Template { name, message } => RenderError::Template {
                name,
                message: format!("{message} (while rendering {what})"),
            },
        }
    }
}
