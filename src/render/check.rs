//! The load-time check of all templates: every variable a template names must exist in the
//! context (checked statically, so also in branches no sample reaches), and every message
//! kind must render in both locales, for both roles, with and without values on push.

use std::collections::HashSet;
use std::ops::Range;

use serde_json::Value;

use super::samples::Samples;
use super::{context, templates, RenderError, Renderer};
use crate::model::{ChannelKind, Locale, Role};

/// Names minijinja provides inside templates without a declaration.
const SPECIAL: [&str; 6] = ["loop", "self", "super", "caller", "varargs", "kwargs"];

pub fn validate(r: &Renderer) -> Result<(), RenderError> {
    let samples = Samples::new();
    let schema = schema(&samples)?;
    let globals: HashSet<&str> = r.env.globals().map(|(k, _)| k).collect();
    for b in templates::BUILTIN {
        check_names(r, b.name, &schema, &globals)?;
    }
    for case in Samples::cases() {
        for locale in [Locale::Nl, Locale::En] {
            for role in [Role::Guardian, Role::Student] {
                for show in [false, true] {
                    let input = samples.input(&case, role, locale, ChannelKind::Webhook, show);
                    let what = format!(
                        "the sample \"{}\" for a {} in {}{}",
                        case.name,
                        role.as_str(),
                        locale.as_str(),
                        if show { ", values on push" } else { "" }
                    );
                    let out = r.render(&input).map_err(|e| e.during(&what))?;
                    let kind = match input.items.as_slice() {
                        [one] => context::item_kind(one)?,
                        _ => "digest",
                    };
                    for (block, text) in [
                        ("subject", &out.subject),
                        ("text", &out.text),
                        ("title", &out.title),
                        ("body", &out.body),
                    ] {
                        if text.trim().is_empty() {
                            let name = templates::text_name(kind, locale.as_str());
                            return Err(RenderError::Template {
                                name: r.display_name(&name),
                                message: format!("block `{block}` renders as empty text"),
                            }
                            .during(&what));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The shape of the context: one sample context with every optional part filled in.
fn schema(samples: &Samples) -> Result<Value, RenderError> {
    let cases = Samples::cases();
    let mut schema = Value::Null;
    for case in &cases {
        let input = samples.input(case, Role::Guardian, Locale::Nl, ChannelKind::Email, true);
        let ctx = context::build(&input, true)?;
        let value = serde_json::to_value(&ctx).map_err(|e| RenderError::Template {
            name: "context".into(),
            message: e.to_string(),
        })?;
        if let Some(items) = value.get("items").and_then(Value::as_array) {
            for item in items {
                let mut wrapped = serde_json::Map::new();
                wrapped.insert("item".into(), item.clone());
                merge(&mut schema, &Value::Object(wrapped));
            }
        }
        merge(&mut schema, &value);
    }
    Ok(schema)
}

/// Fills the holes of `into` (nulls, missing keys) from `from`, recursively.
fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (into @ Value::Null, from) => *into = from.clone(),
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        _ => {}
    }
}

fn check_names(
    r: &Renderer,
    name: &str,
    schema: &Value,
    globals: &HashSet<&str>,
) -> Result<(), RenderError> {
    let tmpl = r.env.get_template(name).map_err(|e| r.error(name, &e))?;
    let mut paths: Vec<String> = tmpl.undeclared_variables(true).into_iter().collect();
    paths.sort();
    for path in paths {
        let mut segments = path.split('.');
        let first = segments.next().unwrap_or_default();
        if globals.contains(first) || SPECIAL.contains(&first) {
            continue;
        }
        let mut node = schema;
        let mut walked = String::new();
        for segment in std::iter::once(first).chain(segments) {
            let Value::Object(map) = node else {
                break; // a list or a text: nothing more to check statically
            };
            match map.get(segment) {
                Some(next) => node = next,
                None => {
                    let mut known: Vec<&str> = map.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    let line = line_of(tmpl.source(), &path)
                        .map(|l| format!("line {l}: "))
                        .unwrap_or_default();
                    let within = if walked.is_empty() {
                        "the context".to_string()
                    } else {
                        format!("`{walked}`")
                    };
                    return Err(RenderError::Template {
                        name: r.display_name(name),
                        message: format!(
                            "{line}undefined variable `{path}`: {within} has no `{segment}` \
                             (it has: {})",
                            known.join(", ")
                        ),
                    });
                }
            }
            if !walked.is_empty() {
                walked.push('.');
            }
            walked.push_str(segment);
        }
    }
    Ok(())
}

/// The line of the first use of `path` inside a template tag (or of its first segment).
fn line_of(source: &str, path: &str) -> Option<usize> {
    let spans = tag_spans(source);
    let first = path.split('.').next().unwrap_or(path);
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    for needle in [path, first] {
        for (at, _) in source.match_indices(needle) {
            if !spans.iter().any(|s| s.contains(&at)) {
                continue;
            }
            let before = source[..at].chars().next_back();
            let after = source[at + needle.len()..].chars().next();
            if before.is_some_and(|c| ident(c) || c == '.') || after.is_some_and(ident) {
                continue;
            }
            return Some(source[..at].matches('\n').count() + 1);
        }
    }
    None
}

/// Byte ranges of `{{ … }}` and `{% … %}` (comments are skipped).
fn tag_spans(source: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut i = 0;
    while let Some(pos) = source[i..].find('{') {
        let start = i + pos;
        let close = match source.as_bytes().get(start + 1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            Some(b'#') => "#}",
            _ => {
                i = start + 1;
                continue;
            }
        };
        let end = source[start + 2..]
            .find(close)
            .map_or(source.len(), |p| start + 2 + p + 2);
        if close != "#}" {
            spans.push(start..end);
        }
        i = end;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_line_of_a_name_inside_tags_only() {
        let src = "item grade\n{{ x }}\n{% if item.grade.subjct %}\n";
        assert_eq!(line_of(src, "item.grade.subjct"), Some(3));
        assert_eq!(line_of(src, "x"), Some(2));
        assert_eq!(line_of("{# foo #}\n{{ foo }}", "foo"), Some(2));
        assert_eq!(line_of("foo", "foo"), None);
    }
}
