//! A text template's blocks from one evaluation.
//!
//! minijinja renders a single block only out of an evaluated template: the whole template
//! (all four blocks), then each wanted block once more. Rendering is most of a release's CPU
//! (issue 18), so [`Renderer::render`](super::Renderer::render) asks instead for a *derived*
//! template that extends the text template, passes the wanted blocks through (`super()`)
//! between markers and leaves the other blocks empty: one evaluation, of the blocks the
//! channel shows. The derived templates come from the environment's loader, by name.
//!
//! Whatever is unusual (an error, a marker character in the data, a block the template lacks)
//! gives `None`, and the caller renders block by block as before, with its exact errors.

/// The blocks of a text template (the module documentation of `render`).
const BLOCKS: [&str; 4] = ["subject", "text", "title", "body"];

/// Before a block's number, between its number and its text, and after its text. Control
/// characters that no template writes; data that holds them makes [`split`] give up.
const OPEN: char = '\u{2}';
const SHUT: char = '\u{3}';
const DONE: char = '\u{4}';

/// The name of the derived template that renders `blocks` of the template `base`.
pub fn name(base: &str, blocks: &[&str]) -> String {
    format!("{base}#{}", blocks.join(","))
}

/// The source of a derived template named by [`name`]; `None` for any other name (the
/// environment's loader).
pub fn source(name: &str) -> Option<String> {
    let (base, wanted) = name.rsplit_once('#')?;
    if base.contains(['"', '\\']) {
        return None;
    }
    let wanted: Vec<&str> = wanted.split(',').collect();
    if !wanted.iter().all(|b| BLOCKS.contains(b)) {
        return None;
    }
    let mut src = format!("{{% extends \"{base}\" %}}");
    for block in BLOCKS {
        src.push_str(&match wanted.iter().position(|w| *w == block) {
            Some(i) => format!(
                "{{% block {block} %}}{OPEN}{i}{SHUT}{{{{ super() }}}}{DONE}{{% endblock %}}"
            ),
            None => format!("{{% block {block} %}}{{% endblock %}}"),
        });
    }
    Some(src)
}

/// The `N` blocks out of a derived template's output, in the order they were asked for.
pub fn split<const N: usize>(out: &str) -> Option<[String; N]> {
    for marker in [OPEN, SHUT, DONE] {
        if out.matches(marker).count() != N {
            return None;
        }
    }
    let mut found: [Option<String>; N] = std::array::from_fn(|_| None);
    let mut rest = out;
    while let Some(at) = rest.find(OPEN) {
        let (number, after) = rest[at + OPEN.len_utf8()..].split_once(SHUT)?;
        let (text, after) = after.split_once(DONE)?;
        let slot = found.get_mut(number.parse::<usize>().ok()?)?;
        if slot.replace(text.to_string()).is_some() {
            return None;
        }
        rest = after;
    }
    let found: Vec<String> = found.into_iter().collect::<Option<_>>()?;
    found.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_templates_are_named_and_made_only_for_text_blocks() {
        let name = name("grade.en.text.j2", &["subject", "text"]);
        assert_eq!(name, "grade.en.text.j2#subject,text");
        let src = source(&name).unwrap();
        assert!(src.starts_with("{% extends \"grade.en.text.j2\" %}"));
        assert!(src.contains("{% block title %}{% endblock %}"));
        assert!(src.contains("{% block text %}\u{2}1\u{3}{{ super() }}\u{4}{% endblock %}"));
        assert_eq!(source("grade.en.text.j2"), None);
        assert_eq!(source("grade.en.text.j2#footer"), None);
        assert_eq!(source("we\"ird#subject"), None);
    }

    #[test]
    fn splits_only_output_with_each_marker_once_per_block() {
        let out = "x\u{2}1\u{3}two\u{4}\n\u{2}0\u{3}one\u{4}";
        assert_eq!(split::<2>(out), Some(["one".into(), "two".into()]));
        // A marker character in the data, a block twice or one missing: not split.
        assert_eq!(
            split::<2>("\u{2}0\u{3}o\u{2}ne\u{4}\u{2}1\u{3}two\u{4}"),
            None
        );
        assert_eq!(split::<2>("\u{2}0\u{3}a\u{4}\u{2}0\u{3}b\u{4}"), None);
        assert_eq!(split::<2>("\u{2}0\u{3}a\u{4}"), None);
        assert_eq!(split::<1>("\u{2}7\u{3}a\u{4}"), None);
    }
}
