//! Bearer tokens of the admin API, two levels: `read` (views, metrics) and `operate`
//! (actions, and the views too).
//!
//! A token file holds one token per line, optionally preceded by a name and a space
//! (`jan 6f1c…`); a bare token is named after the file (`operate.token` → `operate`). The
//! name is what the audit trail records (`admin:jan`), so that several operators can each
//! have their own token and one can be revoked by deleting its line. Blank lines and lines
//! starting with `#` are skipped.
//!
//! Tokens are kept and compared as SHA-256 digests in constant time (`subtle`): neither the
//! bytes nor the length of a token leak through the time a refusal takes.

use std::path::{Path, PathBuf};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::AdminConfig;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The views (`GET`), metrics and the OpenAPI document.
    Read,
    /// The actions, which the audit trail records, and everything `Read` allows.
    Operate,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Operate => "operate",
        }
    }
}

/// Who made a request, as handlers see it (`Extension<Caller>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name; `loopback` when no token files are configured.
    pub name: String,
    pub level: Level,
}

impl Caller {
    /// The audit trail's actor: `admin:<token name>`.
    pub fn actor(&self) -> String {
        format!("admin:{}", self.name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("reading the admin token file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("admin token file {path}, line {line}: {message}")]
    Invalid {
        path: String,
        line: usize,
        message: String,
    },
    #[error("the admin token file {0} holds no token")]
    Empty(String),
}

/// The shortest token accepted: 16 bytes of text are ~96 bits when random.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Debug)]
struct Token {
    name: String,
    digest: [u8; 32],
    level: Level,
}

/// The tokens of both levels. Without any token file the API is open (the config allows that
/// only on a loopback address).
#[derive(Debug, Default)]
pub struct Tokens {
    tokens: Vec<Token>,
    /// Token files were configured: every request needs a token.
    required: bool,
    /// An operate token file was configured (else actions are refused to everyone).
    operate: bool,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token that is not in any file.
    Wrong,
    /// A read token on an action, or no operate tokens configured.
    Forbidden,
}

impl Tokens {
    /// Reads the token files `cfg` names.
    pub fn load(cfg: &AdminConfig) -> Result<Tokens, TokenError> {
        let mut tokens = Vec::new();
        for (file, level) in [
            (&cfg.read_token_file, Level::Read),
            (&cfg.operate_token_file, Level::Operate),
        ] {
            if let Some(path) = file {
                let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                tokens.extend(parse(path, &text, level)?);
            }
        }
        Ok(Tokens {
            tokens,
            required: cfg.read_token_file.is_some() || cfg.operate_token_file.is_some(),
            operate: cfg.operate_token_file.is_some(),
        })
    }

    /// No token needed: for tests and a loopback-only API without token files.
    pub fn open() -> Tokens {
        Tokens::default()
    }

    /// Whether requests need a token at all.
    pub fn required(&self) -> bool {
        self.required
    }

    /// Checks an `Authorization` header value against the tokens for `need`.
    pub fn check(&self, authorization: Option<&str>, need: Level) -> Result<Caller, Refusal> {
        if !self.required {
            return Ok(Caller {
                name: "loopback".into(),
                level: Level::Operate,
            });
        }
        let given = authorization
            .and_then(bearer_token)
            .ok_or(Refusal::Missing)?;
        let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        // Every token is compared, whichever matches.
        let mut found: Option<&Token> = None;
        for t in &self.tokens {
            let eq: bool = t.digest.ct_eq(&digest).into();
            if eq && found.is_none() {
                found = Some(t);
            }
        }
        let t = found.ok_or(Refusal::Wrong)?;
        if t.level < need || (need == Level::Operate && !self.operate) {
            return Err(Refusal::Forbidden);
        }
        Ok(Caller {
            name: t.name.clone(),
            level: t.level,
        })
    }
}

/// The tokens of one file.
fn parse(path: &Path, text: &str, level: Level) -> Result<Vec<Token>, TokenError> {
    let stem = file_stem(path);
    let invalid = |line: usize, message: &str| TokenError::Invalid {
        path: path.display().to_string(),
        line,
        message: message.into(),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (name, token) = match (parts.next(), parts.next(), parts.next()) {
            (Some(token), None, _) => (stem.clone(), token),
            (Some(name), Some(token), None) => (name.to_string(), token),
            _ => return Err(invalid(i + 1, "expected `TOKEN` or `NAME TOKEN`")),
        };
        if token.len() < MIN_TOKEN_LEN {
            return Err(invalid(
                i + 1,
                &format!("a token must be at least {MIN_TOKEN_LEN} characters"),
            ));
        }
        if name.len() > 64 || !name.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid(
                i + 1,
                "a token's name is at most 64 printable ASCII characters",
            ));
        }
        out.push(Token {
            name,
            digest: Sha256::digest(token.as_bytes()).into(),
            level,
        });
    }
    if out.is_empty() {
        return Err(TokenError::Empty(path.display().to_string()));
    }
    Ok(out)
}

fn file_stem(path: &Path) -> String {
    PathBuf::from(path.file_name().unwrap_or_default())
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "token".into())
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is case-insensitive
/// (RFC 9110 §11.1).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once([' ', '\t'])?;
    let token = token.trim_start_matches([' ', '\t']);
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Middleware: lets a request through with its [`Caller`] when its token allows `need`.
pub(crate) async fn require(
    State((tokens, need)): State<(std::sync::Arc<Tokens>, Level)>,
    mut req: Request,
    next: Next,
) -> Response {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match tokens.check(authorization, need) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(refusal) => {
            // The route's template, never its path: paths carry student ids.
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            tracing::info!(
                method = %req.method(),
                route = %route,
                refusal = ?refusal,
                "admin request refused"
            );
            refused(refusal, need)
        }
    }
}

fn refused(refusal: Refusal, need: Level) -> Response {
    let (status, error) = match refusal {
        Refusal::Missing => (
            StatusCode::UNAUTHORIZED,
            "missing bearer token / bearer-token ontbreekt",
        ),
        Refusal::Wrong => (
            StatusCode::UNAUTHORIZED,
            "wrong bearer token / onjuist bearer-token",
        ),
        Refusal::Forbidden => (
            StatusCode::FORBIDDEN,
            "this needs an operate token / hiervoor is een operate-token nodig",
        ),
    };
    let body = serde_json::json!({ "error": error, "needs": need.as_str() });
    match refusal {
        Refusal::Forbidden => (status, axum::Json(body)).into_response(),
        _ => (
            status,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(body),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "read-token-0123456789";
    const O: &str = "operate-token-0123456789";

    fn tokens() -> Tokens {
        let mut t = parse(Path::new("/etc/rustig/read.token"), R, Level::Read).unwrap();
        t.extend(
            parse(
                Path::new("ops.txt"),
                &format!("# operators\n\njan {O}\npiet {O}x\n"),
                Level::Operate,
            )
            .unwrap(),
        );
        Tokens {
            tokens: t,
            required: true,
            operate: true,
        }
    }

    #[test]
    fn each_level_takes_its_tokens_and_operate_also_reads() {
        let t = tokens();
        let h = |tok: &str| format!("Bearer {tok}");
        let read = t.check(Some(&h(R)), Level::Read).unwrap();
        assert_eq!((read.name.as_str(), read.level), ("read", Level::Read));
        assert_eq!(
            t.check(Some(&h(R)), Level::Operate),
            Err(Refusal::Forbidden)
        );
        assert_eq!(
            t.check(Some(&h(O)), Level::Read).unwrap().actor(),
            "admin:jan"
        );
        let piet = t.check(Some(&format!("bearer  {O}x")), Level::Operate);
        assert_eq!(piet.unwrap().name, "piet");
        assert_eq!(t.check(None, Level::Read), Err(Refusal::Missing));
        assert_eq!(
            t.check(Some("Basic abc"), Level::Read),
            Err(Refusal::Missing)
        );
        assert_eq!(t.check(Some("Bearer "), Level::Read), Err(Refusal::Missing));
        assert_eq!(t.check(Some(&h("x")), Level::Read), Err(Refusal::Wrong));
        assert_eq!(t.check(Some(&h(&R[1..])), Level::Read), Err(Refusal::Wrong));
    }

    #[test]
    fn without_operate_tokens_no_one_operates() {
        let mut t = tokens();
        t.operate = false;
        t.tokens.retain(|t| t.level == Level::Read);
        assert!(t.check(Some(&format!("Bearer {R}")), Level::Read).is_ok());
        assert_eq!(
            t.check(Some(&format!("Bearer {R}")), Level::Operate),
            Err(Refusal::Forbidden)
        );
    }

    #[test]
    fn without_token_files_everything_is_open() {
        let t = Tokens::open();
        assert_eq!(
            t.check(None, Level::Operate).unwrap().actor(),
            "admin:loopback"
        );
    }

    #[test]
    fn bad_token_files_name_file_and_line() {
        let err = |text: &str| {
            parse(Path::new("t"), text, Level::Read)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("# c\nshort\n"),
            "admin token file t, line 2: a token must be at least 16 characters"
        );
        assert_eq!(
            err("a b c\n"),
            "admin token file t, line 1: expected `TOKEN` or `NAME TOKEN`"
        );
        assert_eq!(err("# nothing\n"), "the admin token file t holds no token");
    }
}
