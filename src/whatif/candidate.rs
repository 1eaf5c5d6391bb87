//! A candidate config as text: refused when it is too large or not UTF-8, else parsed and
//! checked by the same loader as `rustig check`, with every error and its line.

use std::path::Path;

use serde::Serialize;
use utoipa::ToSchema;

use crate::config::Config;

/// A candidate larger than this is refused before it is read (a real config is a few kB).
pub const MAX_BYTES: usize = 256 * 1024;

/// One problem of the candidate, where `rustig check` would put it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CandidateError {
    /// 1-based line in the candidate text.
    pub line: usize,
    pub column: usize,
    /// The dotted key, when the problem has one.
    pub key: String,
    /// As `rustig check` prints it: `line:column: key…message`.
    pub message: String,
}

/// Why a candidate text was not even checked, or what the check found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the candidate is {0} bytes; at most {MAX_BYTES} / het voorstel is {0} bytes; hoogstens {MAX_BYTES}")]
    TooLarge(usize),
    #[error(
        "the candidate is not UTF-8 text (byte {0}) / het voorstel is geen UTF-8-tekst (byte {0})"
    )]
    NotText(usize),
    #[error("the candidate has {} error(s) / het voorstel heeft {} fout(en)", .0.len(), .0.len())]
    Invalid(Vec<CandidateError>),
}

/// Bytes as the candidate's text: size and encoding first (no NUL either: a binary upload).
pub fn text(bytes: &[u8]) -> Result<&str, Refused> {
    if bytes.len() > MAX_BYTES {
        return Err(Refused::TooLarge(bytes.len()));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| Refused::NotText(e.valid_up_to()))?;
    if let Some(at) = text.find('\0') {
        return Err(Refused::NotText(at));
    }
    Ok(text)
}

/// Parses and checks `text` as if it were the file at `path` (relative paths in it resolve
/// as they would there): the config, or every error with its line.
pub fn check(path: &Path, text: &str) -> Result<Config, Refused> {
    Config::parse(path, text).map_err(|errors| {
        Refused::Invalid(
            errors
                .0
                .into_iter()
                .map(|e| CandidateError {
                    line: e.line,
                    column: e.column,
                    key: e.key.clone(),
                    message: format!("{}:{}: {}{}", e.line, e.column, e.key, e.message),
                })
                .collect(),
        )
    })
}

/// [`text`] then [`check`].
pub fn read(path: &Path, bytes: &[u8]) -> Result<(Config, String), Refused> {
    let text = text(bytes)?;
    Ok((check(path, text)?, text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str =
        "[store]\nurl = \"sqlite://var/x.db\"\n[ingest.http]\nlisten = \"127.0.0.1:8425\"\n";

    #[test]
    fn every_error_is_reported_with_its_line() {
        let text = format!(
            "{BASE}[quiet_hours]\nstart = \"25:00\"\nend = \"07:00\"\n[grades]\nmax_hold = \"soon\"\n[digest]\nguardians = \"every now and then\"\n"
        );
        let Err(Refused::Invalid(errors)) = check(Path::new("c.toml"), &text) else {
            panic!("accepted");
        };
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [6, 9, 11], "{errors:?}");
        assert!(errors[0].message.starts_with("6:"), "{errors:?}");
    }

    #[test]
    fn too_large_and_binary_are_refused_before_parsing() {
        assert_eq!(
            text(&vec![b'#'; MAX_BYTES + 1]),
            Err(Refused::TooLarge(MAX_BYTES + 1))
        );
        assert_eq!(text(b"a = 1\n\xff\xfe"), Err(Refused::NotText(6)));
        assert_eq!(text(b"a = 1\0"), Err(Refused::NotText(5)));
        assert!(read(Path::new("c.toml"), BASE.as_bytes()).is_ok());
    }
}
