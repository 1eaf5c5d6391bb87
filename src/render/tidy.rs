//! Whitespace clean-up of rendered text, so templates can be laid out for readability.

/// Subjects and push titles: one line, single spaces (a newline in a subject would break
/// the mail header).
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Plain text: no trailing spaces, at most one empty line in a row, none at either end.
pub fn paragraphs(s: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for line in s.lines().map(str::trim_end) {
        let blank = line.is_empty();
        if blank && out.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        out.push(line);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out.join("\n")
}

/// HTML: drop the empty lines left by template tags.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
    {
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidies() {
        assert_eq!(
            one_line("\n  Nieuw cijfer\n voor  Merel \n"),
            "Nieuw cijfer voor Merel"
        );
        assert_eq!(paragraphs("\n\nA  \n\n\n\nB\n  \n"), "A\n\nB");
        assert_eq!(html("<p>\n\n  \n</p>\n"), "<p>\n</p>\n");
    }
}
