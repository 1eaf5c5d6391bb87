//! Signed, expiring links to a person's preference page.
//!
//! A token is `base64url(payload) "." base64url(HMAC-SHA256(key, payload))` where the payload
//! is `v1␟kid␟school␟role␟person␟issued␟expires` (␟ = U+001F, which ids cannot contain: the
//! directory refuses control characters). The key id names the key that signed it, so a key
//! can be rotated: the newest key of the key file signs, older ones still verify until the
//! end of their grace period. A token is refused when any byte changed, when its key is
//! unknown or past its grace, and from the second its expiry is reached.
//!
//! The key file (`[preferences] key_file`), one key a line, newest first:
//!
//! ```text
//! # kid   secret (base64, at least 32 bytes)          [until RFC 3339: verifies only, until then]
//! k2      q0V3…
//! k1      Zm9v…                                        until 2027-01-03T00:00:00Z
//! ```
//!
//! `rustig prefs-key --key-file F` writes a new key in front and gives the old one a grace
//! period of `link_ttl`, so every link already sent keeps working until it expires anyway.

use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::model::Role;

type HmacSha256 = Hmac<Sha256>;

const SEP: char = '\u{1f}';
/// The shortest secret accepted (256 bits).
pub const MIN_SECRET: usize = 32;

/// One key of the key file.
#[derive(Clone)]
pub struct Key {
    pub id: String,
    secret: Vec<u8>,
    /// Verifies only, until this instant (a retired key in its grace period).
    pub until: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("until", &self.until)
            .finish_non_exhaustive()
    }
}

/// The keys of a key file: the first signs, all verify (the retired ones until `until`).
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: Vec<Key>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    #[error("{file}:{line}: {message}")]
    Line {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    File { file: String, message: String },
}

/// Whose page a token opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub school: String,
    pub role: Role,
    pub person: String,
    /// Unix seconds.
    pub issued: i64,
    /// Unix seconds; refused from this second on.
    pub expires: i64,
}

/// Why a token is refused. The page never says which (a neutral 403); logs may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("malformed")]
    Malformed,
    #[error("unknown or retired key")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
    #[error("expired")]
    Expired,
}

impl Keyring {
    /// Parses a key file's text; `file` only names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Keyring, KeyFileError> {
        let mut keys: Vec<Key> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let err = |message: String| KeyFileError::Line {
                file: file.to_string(),
                line: i + 1,
                message,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (id, secret, until) = match fields.as_slice() {
                [id, secret] => (*id, *secret, None),
                [id, secret, "until", t] => (*id, *secret, Some(*t)),
                _ => {
                    return Err(err(
                        "expected \"KID SECRET\" or \"KID SECRET until RFC3339\"".into(),
                    ))
                }
            };
            if id.is_empty()
                || id.len() > 16
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(err(format!(
                    "key id {id:?}: 1 to 16 of A-Z, a-z, 0-9, '-' and '_'"
                )));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(err(format!("key id {id:?} appears twice")));
            }
            let secret = STANDARD
                .decode(secret)
                .map_err(|_| err(format!("the secret of key {id:?} is not base64")))?;
            if secret.len() < MIN_SECRET {
                return Err(err(format!(
                    "the secret of key {id:?} has {} bytes: at least {MIN_SECRET} are needed",
                    secret.len()
                )));
            }
            let until = until
                .map(|t| {
                    DateTime::parse_from_rfc3339(t)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|_| err(format!("until {t:?}: expected an RFC 3339 time")))
                })
                .transpose()?;
            if keys.is_empty() && until.is_some() {
                return Err(err(
                    "the first key signs new links and cannot have an end (\"until\")".into(),
                ));
            }
            keys.push(Key {
                id: id.to_string(),
                secret,
                until,
            });
        }
        if keys.is_empty() {
            return Err(KeyFileError::File {
                file: file.to_string(),
                message: "no key: make one with `rustig prefs-key --key-file FILE`".into(),
            });
        }
        Ok(Keyring { keys })
    }

    pub fn load(path: &Path) -> Result<Keyring, KeyFileError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| KeyFileError::File {
            file: file.clone(),
            message: format!("cannot read: {e}"),
        })?;
        Keyring::parse(&file, &text)
    }

    /// A keyring of one key (tests and `simulate`).
    pub fn single(id: &str, secret: &[u8]) -> Keyring {
        Keyring {
            keys: vec![Key {
                id: id.to_string(),
                secret: secret.to_vec(),
                until: None,
            }],
        }
    }

    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    fn signer(&self) -> &Key {
        &self.keys[0]
    }

    fn mac(key: &Key, data: &[u8]) -> HmacSha256 {
        let mut m = HmacSha256::new_from_slice(&key.secret).expect("HMAC takes any key length");
        m.update(data);
        m
    }

    /// Signs a link for `person` valid for `ttl` from `now`.
    pub fn sign(
        &self,
        school: &str,
        role: Role,
        person: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> String {
        let key = self.signer();
        let payload = format!(
            "v1{SEP}{}{SEP}{school}{SEP}{}{SEP}{person}{SEP}{}{SEP}{}",
            key.id,
            role_code(role),
            now.timestamp(),
            (now + ttl).timestamp()
        );
        let tag = Self::mac(key, payload.as_bytes()).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload.as_bytes()),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Checks a token at `now`: signature (constant time), key, expiry to the second.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, Refused> {
        if token.len() > 2048 {
            return Err(Refused::Malformed);
        }
        let (p, t) = token.split_once('.').ok_or(Refused::Malformed)?;
        let payload = URL_SAFE_NO_PAD.decode(p).map_err(|_| Refused::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(t).map_err(|_| Refused::Malformed)?;
        // The canonical encoding only: two spellings of one token would be two tokens.
        if URL_SAFE_NO_PAD.encode(&payload) != p || URL_SAFE_NO_PAD.encode(&tag) != t {
            return Err(Refused::Malformed);
        }
        let text = std::str::from_utf8(&payload).map_err(|_| Refused::Malformed)?;
        let fields: Vec<&str> = text.split(SEP).collect();
        let [v, kid, school, role, person, issued, expires] = fields.as_slice() else {
            return Err(Refused::Malformed);
        };
        if *v != "v1" {
            return Err(Refused::Malformed);
        }
        let key = self
            .keys
            .iter()
            .find(|k| k.id == *kid)
            .ok_or(Refused::UnknownKey)?;
        if key.until.is_some_and(|u| now >= u) {
            return Err(Refused::UnknownKey);
        }
        Self::mac(key, &payload)
            .verify_slice(&tag)
            .map_err(|_| Refused::BadSignature)?;
        let role = match *role {
            "s" => Role::Student,
            "g" => Role::Guardian,
            _ => return Err(Refused::Malformed),
        };
        let issued: i64 = issued.parse().map_err(|_| Refused::Malformed)?;
        let expires: i64 = expires.parse().map_err(|_| Refused::Malformed)?;
        if now.timestamp() >= expires {
            return Err(Refused::Expired);
        }
        if school.is_empty() || person.is_empty() {
            return Err(Refused::Malformed);
        }
        Ok(Claims {
            school: school.to_string(),
            role,
            person: person.to_string(),
            issued,
            expires,
        })
    }

    /// A MAC over `parts` with the signing key, hex (CSRF tokens and the like).
    pub fn tag(&self, parts: &[&str]) -> String {
        let mut m = HmacSha256::new_from_slice(&self.signer().secret).expect("any key length");
        for p in parts {
            m.update(p.as_bytes());
            m.update(&[0x1f]);
        }
        hex::encode(&m.finalize().into_bytes()[..16])
    }

    /// Compares `given` with [`Keyring::tag`] of `parts` in constant time.
    pub fn check_tag(&self, parts: &[&str], given: &str) -> bool {
        use subtle::ConstantTimeEq;
        let want = self.tag(parts);
        want.len() == given.len() && bool::from(want.as_bytes().ct_eq(given.as_bytes()))
    }
}

fn role_code(r: Role) -> &'static str {
    match r {
        Role::Student => "s",
        Role::Guardian => "g",
    }
}

/// A new key line: a random 32-byte secret under `id`.
pub fn new_key_line(id: &str) -> String {
    let mut secret = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
        .expect("the system's random source");
    format!("{id} {}", STANDARD.encode(secret))
}

/// The key file after a rotation: a new signing key first, the old signing key retired
/// with `grace` from `now`, keys past their grace dropped.
pub fn rotate(text: &str, now: DateTime<Utc>, grace: Duration) -> (String, String) {
    let old = Keyring::parse("", text).ok();
    let mut n = old.as_ref().map(|k| k.keys.len()).unwrap_or(0) + 1;
    let taken = |id: &str| {
        old.as_ref()
            .is_some_and(|k| k.keys.iter().any(|x| x.id == id))
    };
    while taken(&format!("k{n}")) {
        n += 1;
    }
    let id = format!("k{n}");
    let mut out = format!(
        "# rustig preference-link keys: the first signs, the others verify until their end.\n{}\n",
        new_key_line(&id)
    );
    if let Some(old) = old {
        for (i, k) in old.keys.iter().enumerate() {
            let until = if i == 0 { Some(now + grace) } else { k.until };
            if until.is_some_and(|u| u <= now) {
                continue;
            }
            out.push_str(&format!(
                "{} {} until {}\n",
                k.id,
                STANDARD.encode(&k.secret),
                until.expect("retired keys have an end").to_rfc3339()
            ));
        }
    }
    (out, id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn ring() -> Keyring {
        Keyring::single("k1", &[7u8; 32])
    }

    #[test]
    fn signs_and_verifies() {
        let now = at("2026-11-23T12:00:00Z");
        let t = ring().sign(
            "coornhert",
            Role::Guardian,
            "g-2001",
            now,
            Duration::days(30),
        );
        let c = ring().verify(&t, now).unwrap();
        assert_eq!(
            (c.school.as_str(), c.role, c.person.as_str()),
            ("coornhert", Role::Guardian, "g-2001")
        );
        assert_eq!(c.expires - c.issued, 30 * 86400);
    }

    #[test]
    fn key_file_errors_name_the_line() {
        let e = Keyring::parse("keys", "# c\nk1 c2hvcnQ=\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "keys:2: the secret of key \"k1\" has 5 bytes: at least 32 are needed"
        );
        assert!(Keyring::parse("keys", "")
            .unwrap_err()
            .to_string()
            .contains("no key"));
        let secret = STANDARD.encode([1u8; 32]);
        let e = Keyring::parse("keys", &format!("k1 {secret} until 2027-01-01T00:00:00Z\n"))
            .unwrap_err();
        assert!(e.to_string().contains("first key signs"), "{e}");
        let e = Keyring::parse("keys", &format!("k1 {secret}\nk1 {secret}\n")).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }

    #[test]
    fn rotation_keeps_old_links_for_the_grace_period() {
        let now = at("2026-11-23T12:00:00Z");
        let (first, id1) = rotate("", now, Duration::days(30));
        let old = Keyring::parse("f", &first).unwrap();
        let link = old.sign("s", Role::Student, "s-1", now, Duration::days(30));
        let (second, id2) = rotate(&first, now, Duration::days(30));
        assert_ne!(id1, id2);
        let new = Keyring::parse("f", &second).unwrap();
        assert_eq!(new.keys()[0].id, id2);
        // The old link still opens within the grace period…
        assert!(new.verify(&link, now + Duration::days(29)).is_ok());
        // …and no longer once it ended (the link itself would have expired too).
        assert_eq!(
            new.verify(&link, now + Duration::days(30)),
            Err(Refused::UnknownKey)
        );
        // New links are signed with the new key and the old ring does not know it.
        let fresh = new.sign("s", Role::Student, "s-1", now, Duration::days(30));
        assert_eq!(old.verify(&fresh, now), Err(Refused::UnknownKey));
        // A third rotation drops nothing still in grace, and drops keys past it.
        let (third, _) = rotate(&second, now + Duration::days(31), Duration::days(30));
        let ids: Vec<String> = Keyring::parse("f", &third)
            .unwrap()
            .keys()
            .iter()
            .map(|k| k.id.clone())
            .collect();
        assert_eq!(ids.len(), 2, "{third}");
    }

    #[test]
    fn tags_compare() {
        let r = ring();
        let t = r.tag(&["csrf", "abc"]);
        assert!(r.check_tag(&["csrf", "abc"], &t));
        assert!(!r.check_tag(&["csrf", "abd"], &t));
        assert!(!r.check_tag(&["csrf", "abc"], ""));
    }

    proptest! {
        /// Any change of any byte of a token is refused.
        #[test]
        fn any_changed_byte_is_refused(i in 0usize..400, b in any::<u8>(), person in "[a-z0-9-]{1,40}") {
            let now = at("2026-11-23T12:00:00Z");
            let t = ring().sign("coornhert", Role::Guardian, &person, now, Duration::days(30));
            let mut bytes = t.clone().into_bytes();
            let i = i % bytes.len();
            prop_assume!(bytes[i] != b);
            bytes[i] = b;
            let tampered = String::from_utf8_lossy(&bytes).to_string();
            prop_assert!(ring().verify(&tampered, now).is_err());
        }

        /// Any change of a signed payload byte, re-encoded properly, is refused as a bad
        /// signature (or malformed): the MAC covers every byte.
        #[test]
        fn any_changed_payload_byte_is_refused(i in 0usize..200, flip in 1u8..=255) {
            let now = at("2026-11-23T12:00:00Z");
            let t = ring().sign("coornhert", Role::Student, "s-1001", now, Duration::days(30));
            let (p, tag) = t.split_once('.').unwrap();
            let mut payload = URL_SAFE_NO_PAD.decode(p).unwrap();
            let i = i % payload.len();
            payload[i] ^= flip;
            let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&payload));
            prop_assert!(ring().verify(&forged, now).is_err());
        }

        /// Expiry holds to the second: valid one second before, refused at the instant.
        #[test]
        fn expiry_to_the_second(ttl in 1i64..100_000_000, start in 0i64..2_000_000_000) {
            let now = DateTime::from_timestamp(start, 0).unwrap();
            let t = ring().sign("x", Role::Guardian, "g", now, Duration::seconds(ttl));
            let end = now + Duration::seconds(ttl);
            prop_assert!(ring().verify(&t, end - Duration::seconds(1)).is_ok());
            prop_assert!(ring().verify(&t, end - Duration::milliseconds(1)).is_ok());
            prop_assert_eq!(ring().verify(&t, end), Err(Refused::Expired));
            prop_assert_eq!(ring().verify(&t, end + Duration::seconds(1)), Err(Refused::Expired));
        }

        /// A token signed with another secret under the same key id is refused.
        #[test]
        fn another_secret_is_refused(secret in proptest::collection::vec(any::<u8>(), 32..64)) {
            prop_assume!(secret != vec![7u8; 32]);
            let now = at("2026-11-23T12:00:00Z");
            let forged = Keyring::single("k1", &secret).sign("coornhert", Role::Guardian, "g-2001", now, Duration::days(1));
            prop_assert_eq!(ring().verify(&forged, now), Err(Refused::BadSignature));
        }
    }
}
