//! `[email]`: the outbox or the SMTP relay, and how rustig talks to the relay (TLS mode, which
//! CAs it trusts, the name it greets with). Checked here, at `rustig check`, so that a school's
//! relay never sees a message from a configuration it would refuse.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

/// How the SMTP connection is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain text, even when the relay offers STARTTLS (a relay on the same machine).
    None,
    /// STARTTLS when the relay offers it, plain text only when it does not offer it. A
    /// STARTTLS that fails (a certificate rustig does not trust) is an error, never a reason
    /// to go on in plain text.
    Opportunistic,
    /// STARTTLS or nothing.
    Required,
    /// TLS from the first byte (`smtps://`, port 465).
    Implicit,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::Opportunistic => "opportunistic",
            TlsMode::Required => "required",
            TlsMode::Implicit => "implicit",
        }
    }
}

/// `transport = "smtp"`: the relay and how to talk to it.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// `smtp://host[:port]` or `smtps://host[:port]` (a `?tls=` in the URL is read as `tls`).
    pub url: String,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub pool_size: u32,
    /// The `tls` key; `None`: what the URL says (`smtps://`, `?tls=`), else opportunistic.
    pub tls: Option<TlsMode>,
    /// PEM file with one or more CA certificates trusted in addition to the system's.
    pub ca_file: Option<PathBuf>,
    /// The EHLO name; `None`: the domain of `email.from`.
    pub helo_name: Option<String>,
}

impl SmtpConfig {
    /// The relay at `url` with every other setting at its default.
    pub fn new(url: impl Into<String>) -> SmtpConfig {
        SmtpConfig {
            url: url.into(),
            username: None,
            password_file: None,
            pool_size: DEFAULT_POOL_SIZE,
            tls: None,
            ca_file: None,
            helo_name: None,
        }
    }
}

pub const DEFAULT_POOL_SIZE: u32 = 8;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the relay is and how to reach it, from `url` and the `tls` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpTarget {
    /// Host name or IP address (without the brackets of an IPv6 URL).
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// An EHLO name in the URL's path (`smtp://host/rustig.school.example`), the old way.
    pub helo_name: Option<String>,
    /// A user and password in the URL (percent-decoded).
    pub user_password: Option<(String, String)>,
}

impl SmtpTarget {
    /// Reads `url`; `tls` (the key) must agree with what the URL says, if it says anything.
    pub fn parse(url: &str, tls: Option<TlsMode>) -> Result<SmtpTarget, String> {
        let parsed = Url::parse(url).map_err(|e| format!("{e}"))?;
        let host = match parsed.host_str() {
            Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']'),
            _ => return Err("the URL has no host".into()),
        }
        .to_string();
        let in_query = match parsed.query_pairs().find(|(k, _)| k == "tls") {
            None => None,
            Some((_, v)) => Some(match &*v {
                "none" => TlsMode::None,
                "opportunistic" => TlsMode::Opportunistic,
                "required" => TlsMode::Required,
                "implicit" => TlsMode::Implicit,
                other => {
                    return Err(format!(
                        "?tls={other} is not a TLS mode (none, opportunistic, required, implicit)"
                    ))
                }
            }),
        };
        let from_url = match (parsed.scheme(), in_query) {
            ("smtps", None | Some(TlsMode::Implicit)) => Some(TlsMode::Implicit),
            ("smtps", Some(other)) => {
                return Err(format!(
                    "smtps:// is TLS from the first byte, not ?tls={}",
                    other.as_str()
                ))
            }
            ("smtp", mode) => mode,
            (scheme, _) => {
                return Err(format!(
                    "the scheme is {scheme:?}; expected smtp:// or smtps://"
                ))
            }
        };
        let tls = match (from_url, tls) {
            (Some(u), Some(k)) if u != k => {
                return Err(format!(
                    "the URL says TLS {} but email.tls = {:?}; say it once",
                    u.as_str(),
                    k.as_str()
                ))
            }
            (u, k) => k.or(u).unwrap_or(TlsMode::Opportunistic),
        };
        let default_port = match tls {
            TlsMode::Implicit => 465,
            TlsMode::Required => 587,
            TlsMode::None | TlsMode::Opportunistic => 25,
        };
        let path = parsed.path().trim_matches('/');
        let user_password = match parsed.password() {
            None => None,
            Some(p) => Some((percent_decode(parsed.username())?, percent_decode(p)?)),
        };
        Ok(SmtpTarget {
            port: parsed.port().unwrap_or(default_port),
            host,
            tls,
            helo_name: (!path.is_empty()).then(|| path.to_string()),
            user_password,
        })
    }

    /// `host:port`, for messages.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Decodes `%XX` escapes (the user and password of a URL).
fn percent_decode(s: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        let escaped = tail
            .get(..2)
            .filter(|h| b == b'%' && h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match escaped {
            Some(v) => {
                out.push(v);
                rest = &tail[2..];
            }
            None => {
                out.push(b);
                rest = tail;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "the user or password in the URL is not UTF-8".into())
}

/// Whether `name` is a name a strict relay accepts after EHLO (Postfix's
/// `reject_non_fqdn_helo_hostname` and `reject_invalid_helo_hostname`): two or more labels of
/// letters, digits and inner hyphens, at most 253 characters, the last label not all digits;
/// or an address literal like `[192.0.2.1]` / `[IPv6:2001:db8::1]`.
pub fn is_fqdn(name: &str) -> bool {
    if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return match inner.strip_prefix("IPv6:") {
            Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => inner.parse::<std::net::Ipv4Addr>().is_ok(),
        };
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && !labels
            .last()
            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
}

/// The domain of an address like `"School <noreply@school.example>"` (lower case).
pub fn from_domain(from: &str) -> Option<String> {
    let mailbox: lettre::message::Mailbox = from.parse().ok()?;
    Some(mailbox.email.domain().to_ascii_lowercase())
}

/// The EHLO name rustig uses: `helo_name`, or the URL's path, or the domain of `from`.
pub fn effective_helo_name(smtp: &SmtpConfig, from: &str) -> Result<String, String> {
    let target = SmtpTarget::parse(&smtp.url, smtp.tls)?;
    let (name, origin) = match (&smtp.helo_name, &target.helo_name) {
        (Some(n), _) => (n.clone(), "email.helo_name"),
        (None, Some(n)) => (n.clone(), "the path of email.url"),
        (None, None) => (
            from_domain(from).ok_or_else(|| format!("email.from = {from:?} has no domain"))?,
            "the domain of email.from",
        ),
    };
    if is_fqdn(&name) {
        Ok(name)
    } else {
        Err(format!(
            "the EHLO name {name:?} ({origin}) is not a fully-qualified domain name like \
             \"rustig.school.example\" (or an address literal like \"[192.0.2.1]\"); relays \
             with reject_non_fqdn_helo_hostname refuse every message after it: set \
             email.helo_name"
        ))
    }
}

/// The CA certificates (DER) in a PEM file: at least one, or an error that says what is wrong.
pub fn read_ca_file(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no certificate (expected one or more \"-----BEGIN CERTIFICATE-----\" blocks)",
            path.display()
        ));
    }
    Ok(certs)
}

/// `[email.dkim]`: sign every message (for schools that send without a signing relay).
#[derive(Debug, Clone)]
pub struct DkimSettings {
    /// The DNS record is `{selector}._domainkey.{domain}`.
    pub selector: String,
    /// The signing domain (`d=`); default: the domain of `from`.
    pub domain: String,
    pub private_key_file: PathBuf,
}

/// A DKIM signing key as lettre takes it.
#[derive(Clone, PartialEq, Eq)]
pub enum DkimKey {
    /// RSA-SHA256: the key as PKCS#1 PEM.
    Rsa(String),
    /// Ed25519-SHA256 (RFC 8463): the 32-byte secret, base64.
    Ed25519(String),
}

impl std::fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DkimKey::Rsa(_) => "DkimKey::Rsa(..)",
            DkimKey::Ed25519(_) => "DkimKey::Ed25519(..)",
        })
    }
}

/// Reads a DKIM private key: RSA (PKCS#1 `BEGIN RSA PRIVATE KEY` or PKCS#8, at least 1024
/// bits) or Ed25519 (PKCS#8), PEM, as `rustig dkim-keygen` and `openssl genpkey` write them.
pub fn read_dkim_key(path: &Path) -> Result<DkimKey, String> {
    use base64::Engine as _;
    use ed25519_dalek::pkcs8::DecodePrivateKey as _;
    use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _};
    use rsa::traits::PublicKeyParts as _;
    let pem = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let rsa_key = if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
        rsa::RsaPrivateKey::from_pkcs1_pem(&pem).ok()
    } else if pem.contains("-----BEGIN PRIVATE KEY-----") {
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem) {
            let secret = base64::engine::general_purpose::STANDARD.encode(key.to_bytes());
            return Ok(DkimKey::Ed25519(secret));
        }
        rsa::RsaPrivateKey::from_pkcs8_pem(&pem).ok()
    } else {
        None
    };
    let key = rsa_key.ok_or_else(|| {
        format!(
            "{} is not an RSA or Ed25519 private key in PEM (as `rustig dkim-keygen` writes)",
            path.display()
        )
    })?;
    if key.size() * 8 < 1024 {
        return Err(format!(
            "{}: an RSA key of {} bits; DKIM needs at least 1024 (2048 advised)",
            path.display(),
            key.size() * 8
        ));
    }
    let pkcs1 = key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(DkimKey::Rsa(pkcs1.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> SmtpTarget {
        SmtpTarget::parse(url, None).unwrap()
    }

    #[test]
    fn urls_and_tls_modes() {
        let t = target("smtp://mail.example.com");
        assert_eq!(
            (t.host.as_str(), t.port, t.tls),
            ("mail.example.com", 25, TlsMode::Opportunistic)
        );
        assert_eq!(target("smtp://127.0.0.1:2525").port, 2525);
        let t = target("smtp://mail.example.com?tls=required");
        assert_eq!((t.port, t.tls), (587, TlsMode::Required));
        let t = target("smtp://mail.example.com:2587?tls=opportunistic");
        assert_eq!((t.port, t.tls), (2587, TlsMode::Opportunistic));
        assert_eq!(target("smtp://h.example?tls=none").tls, TlsMode::None);
        let t = target("smtps://mail.example.com");
        assert_eq!((t.port, t.tls), (465, TlsMode::Implicit));
        let t = target("smtp://[::1]:2525/rustig.school.example");
        assert_eq!((t.host.as_str(), t.port), ("::1", 2525));
        assert_eq!(t.server(), "[::1]:2525");
        assert_eq!(t.helo_name.as_deref(), Some("rustig.school.example"));
        let t = target("smtp://rustig:p%40ss%2Fw@mail.example.com");
        assert_eq!(t.user_password, Some(("rustig".into(), "p@ss/w".into())));

        // The key and the URL.
        let t = SmtpTarget::parse("smtp://h.example", Some(TlsMode::Required)).unwrap();
        assert_eq!((t.port, t.tls), (587, TlsMode::Required));
        let t = SmtpTarget::parse("smtp://h.example?tls=none", Some(TlsMode::None)).unwrap();
        assert_eq!(t.tls, TlsMode::None);
        for (url, key) in [
            ("smtp://h.example?tls=none", Some(TlsMode::Required)),
            ("smtps://h.example", Some(TlsMode::Opportunistic)),
            ("smtps://h.example?tls=required", None),
            ("smtp://h.example?tls=sometimes", None),
            ("http://h.example", None),
            ("smtp:///nohost", None),
            ("not a url", None),
        ] {
            assert!(SmtpTarget::parse(url, key).is_err(), "{url} {key:?}");
        }
        assert_eq!(percent_decode("a%2"), Ok("a%2".into()));
        assert_eq!(percent_decode("%C3%A9%zz"), Ok("é%zz".into()));
    }

    #[test]
    fn fqdn() {
        for good in [
            "coornhert.example",
            "rustig.school.example.",
            "mail-1.school.nl",
            "[192.0.2.1]",
            "[IPv6:2001:db8::1]",
        ] {
            assert!(is_fqdn(good), "{good}");
        }
        for bad in [
            "vm",
            "localhost",
            "",
            "a..b",
            "-a.example",
            "a-.example",
            "a_b.example",
            "1.2.3.4",
            "[300.1.1.1]",
            "school .example",
            &format!("{}.example", "a".repeat(64)),
        ] {
            assert!(!is_fqdn(bad), "{bad}");
        }
    }

    #[test]
    fn helo_name_defaults_to_the_domain_of_from() {
        let from = "Coornhert Lyceum <noreply@Coornhert.example>";
        let mut smtp = SmtpConfig::new("smtp://127.0.0.1:2525");
        assert_eq!(
            effective_helo_name(&smtp, from).unwrap(),
            "coornhert.example"
        );
        smtp.url = "smtp://127.0.0.1:2525/rustig.coornhert.example".into();
        assert_eq!(
            effective_helo_name(&smtp, from).unwrap(),
            "rustig.coornhert.example"
        );
        smtp.helo_name = Some("mail.coornhert.example".into());
        assert_eq!(
            effective_helo_name(&smtp, from).unwrap(),
            "mail.coornhert.example"
        );
        smtp.helo_name = Some("vm".into());
        let e = effective_helo_name(&smtp, from).unwrap_err();
        assert!(
            e.contains("\"vm\" (email.helo_name)") && e.contains("set email.helo_name"),
            "{e}"
        );
        let e = effective_helo_name(
            &SmtpConfig::new("smtp://h.example"),
            "rustig <noreply@localhost>",
        )
        .unwrap_err();
        assert!(e.contains("domain of email.from"), "{e}");
    }

    #[test]
    fn ca_files() {
        let dir = tempfile::tempdir().unwrap();
        let none = dir.path().join("none.pem");
        std::fs::write(&none, "nothing here\n").unwrap();
        assert!(read_ca_file(&none)
            .unwrap_err()
            .contains("holds no certificate"));
        assert!(read_ca_file(&dir.path().join("missing.pem"))
            .unwrap_err()
            .contains("cannot read"));
        let two = dir.path().join("two.pem");
        let ca = rcgen::generate_simple_self_signed(vec!["ca.example".into()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["ca2.example".into()]).unwrap();
        std::fs::write(&two, format!("{}{}", ca.cert.pem(), other.cert.pem())).unwrap();
        let certs = read_ca_file(&two).unwrap();
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0], ca.cert.der().to_vec());
    }

    fn errors(text: &str) -> Vec<String> {
        match crate::config::Config::parse(Path::new("rustig.toml"), text) {
            Ok(_) => vec![],
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn config_errors_name_the_line_and_the_key() {
        let base = "[email]\ntransport = \"smtp\"\nfrom = \"School <noreply@school.example>\"\n";
        assert_eq!(
            errors(&format!("{base}url = \"smtp://relay.school.example\"\n")),
            Vec::<String>::new()
        );
        let e = errors(&format!(
            "{base}url = \"smtp://relay.school.example\"\nhelo_name = \"vm\"\n"
        ));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("rustig.toml:5:13: email.helo_name = \"vm\": the EHLO name \"vm\""),
            "{e:?}"
        );
        let e = errors("[email]\ntransport = \"smtp\"\nurl = \"smtp://relay.school.example\"\nfrom = \"noreply@localhost\"\n");
        assert!(
            e[0].starts_with("rustig.toml:4:8: email.from = \"noreply@localhost\""),
            "{e:?}"
        );
        assert!(e[0].contains("set email.helo_name"), "{e:?}");
        let e = errors(&format!(
            "{base}url = \"smtps://relay.school.example\"\ntls = \"required\"\n"
        ));
        assert!(e[0].starts_with("rustig.toml:4:7: email.url = "), "{e:?}");
        assert!(e[0].contains("say it once"), "{e:?}");
        let e = errors(&format!(
            "{base}url = \"smtp://relay.school.example\"\ntls = \"sometimes\"\n"
        ));
        assert!(e[0].contains("email.tls"), "{e:?}");
        let e = errors(&format!(
            "{base}url = \"smtp://relay.school.example\"\nca_file = \"/nonexistent/ca.pem\"\n"
        ));
        assert!(
            e[0].starts_with(
                "rustig.toml:5:11: email.ca_file = \"/nonexistent/ca.pem\": cannot read"
            ),
            "{e:?}"
        );
        let e = errors(base);
        assert!(
            e[0].contains("email.url") && e[0].contains("smtp://host:port"),
            "{e:?}"
        );
    }
}
