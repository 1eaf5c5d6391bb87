//! Where a config problem is: file, line, column and key, and the text that says what is
//! allowed.

use std::fmt;

/// One problem in the file, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "{}", self.key)?;
        }
        write!(f, "{}", self.message)
    }
}

/// All problems found in one file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

pub(super) fn tidy_serde_message(msg: &str) -> String {
    msg.replace("unknown field", "unknown key")
        .replace("expected one of", "allowed:")
}

pub(super) fn shorten(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// Finds a dotted key ("schools.x.grades.max_hold") in the file: its line and column.
pub(super) fn locate(text: &str, key: &str) -> (usize, usize) {
    walk(text, key)
        .1
        .map(|o| line_col(text, o))
        .unwrap_or((1, 1))
}

/// The byte span of a dotted key's value, when the file has that key.
pub(super) fn value_span(text: &str, key: &str) -> Option<std::ops::Range<usize>> {
    walk(text, key).0
}

/// Follows a dotted key through the file: the span of its value when every part was found,
/// and the start of the deepest part that was.
fn walk(text: &str, key: &str) -> (Option<std::ops::Range<usize>>, Option<usize>) {
    let Ok(doc) = text.parse::<toml_edit::ImDocument<String>>() else {
        return (None, None);
    };
    let mut item: Option<&toml_edit::Item> = None;
    let mut best = None;
    let mut found = None;
    for part in key.split('.') {
        // "nats[0]": a table of an array of tables, as serde_path_to_error writes it.
        let (part, index) = match part.strip_suffix(']').and_then(|p| p.split_once('[')) {
            Some((name, n)) => (name, n.parse::<usize>().ok()),
            None => (part, None),
        };
        let next = match item {
            None => doc.get(part),
            Some(i) => i.get(part),
        };
        let next = match index {
            Some(n) => next.and_then(|a| a.get(n)),
            None => next,
        };
        match next {
            Some(n) => {
                found = n.span();
                if let Some(span) = n.span() {
                    best = Some(span.start);
                } else if let Some(t) = n.as_table() {
                    best = t.span().map(|s| s.start).or(best);
                }
                item = Some(n);
            }
            None => return (None, best),
        }
    }
    (found, best)
}

/// A key path as serde_path_to_error writes it, without its placeholders: "." (the whole
/// file) becomes empty, and "?" segments (a part it could not name) are dropped, so that
/// no message shows one.
pub(super) fn clean_path(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    path.split('.')
        .filter(|p| *p != "?")
        .collect::<Vec<_>>()
        .join(".")
}

/// `table` + `.` + `key` (just `key` at the top).
pub(super) fn join(table: &str, key: &str) -> String {
    if table.is_empty() {
        key.to_string()
    } else {
        format!("{table}.{key}")
    }
}

/// Takes a dotted key ("schools.b.grades.max_hold", "ingest.nats[0].url") out of the
/// document; `false` when it is not there.
pub(super) fn remove_key(doc: &mut toml_edit::DocumentMut, key: &str) -> bool {
    let parts: Vec<&str> = key.split('.').collect();
    let Some((last, parents)) = parts.split_last() else {
        return false;
    };
    let mut item: &mut toml_edit::Item = doc.as_item_mut();
    for part in parents {
        let (name, index) = split_index(part);
        let Some(next) = get_mut(item, name) else {
            return false;
        };
        item = next;
        if let Some(n) = index {
            let Some(next) = index_mut(item, n) else {
                return false;
            };
            item = next;
        }
    }
    let (name, index) = split_index(last);
    if let Some(n) = index {
        let Some(parent) = get_mut(item, name) else {
            return false;
        };
        return match parent {
            toml_edit::Item::ArrayOfTables(a) if n < a.len() => {
                a.remove(n);
                true
            }
            toml_edit::Item::Value(toml_edit::Value::Array(a)) if n < a.len() => {
                a.remove(n);
                true
            }
            _ => false,
        };
    }
    match item {
        toml_edit::Item::Table(t) => t.remove(name).is_some(),
        toml_edit::Item::Value(toml_edit::Value::InlineTable(t)) => t.remove(name).is_some(),
        _ => false,
    }
}

/// "nats[0]" → ("nats", Some(0)).
fn split_index(part: &str) -> (&str, Option<usize>) {
    match part.strip_suffix(']').and_then(|p| p.split_once('[')) {
        Some((name, n)) => (name, n.parse().ok()),
        None => (part, None),
    }
}

fn get_mut<'a>(item: &'a mut toml_edit::Item, name: &str) -> Option<&'a mut toml_edit::Item> {
    match item {
        toml_edit::Item::Table(t) => t.get_mut(name),
        toml_edit::Item::Value(toml_edit::Value::InlineTable(_)) => {
            // Inline tables hold values; wrap access through the item API.
            item.get_mut(name)
        }
        _ => None,
    }
}

fn index_mut(item: &mut toml_edit::Item, n: usize) -> Option<&mut toml_edit::Item> {
    match item {
        toml_edit::Item::ArrayOfTables(_) => item.get_mut(n),
        toml_edit::Item::Value(toml_edit::Value::Array(_)) => item.get_mut(n),
        _ => None,
    }
}

/// In the inline table or table at `key`, the dotted key of the entry whose value is the
/// string `value` (which entry of a map keyed by an enum was wrong).
pub(super) fn entry_with_value(text: &str, key: &str, value: &str) -> Option<String> {
    let doc = text.parse::<toml_edit::ImDocument<String>>().ok()?;
    let mut item: &toml_edit::Item = doc.as_item();
    for part in key.split('.') {
        item = item.get(part)?;
    }
    let entries: Vec<(String, Option<String>)> = match item {
        toml_edit::Item::Table(t) => t
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_str().map(str::to_string)))
            .collect(),
        toml_edit::Item::Value(toml_edit::Value::InlineTable(t)) => t
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_str().map(str::to_string)))
            .collect(),
        _ => return None,
    };
    entries
        .into_iter()
        .find(|(_, v)| v.as_deref() == Some(value))
        .map(|(k, _)| join(key, &k))
}
