//! NDJSON batches of events: one JSON object per line.

/// The non-blank lines of an NDJSON body with their 1-based line numbers; `\r\n` line ends
/// are accepted.
pub fn lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    body.split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_are_skipped_and_numbers_kept() {
        let body = b"{\"a\":1}\r\n\n  \n{\"b\":2}\n{\"c\":3}";
        let got: Vec<(usize, &[u8])> = lines(body).collect();
        assert_eq!(
            got,
            [
                (1, &b"{\"a\":1}"[..]),
                (4, &b"{\"b\":2}"[..]),
                (5, &b"{\"c\":3}"[..])
            ]
        );
        assert_eq!(lines(b"").count(), 0);
        assert_eq!(lines(b"\n\r\n\t").count(), 0);
    }
}
