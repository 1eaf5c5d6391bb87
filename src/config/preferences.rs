//! `[preferences]`: the families' preference page on a listener of its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::values::HumanDuration;
use super::values::Listen;
use super::Resolver;
use crate::listener::Limits;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPreferences {
    listen: Listen,
    base_url: String,
    key_file: PathBuf,
    link_ttl: Option<HumanDuration>,
    per_link_per_minute: Option<u32>,
    per_address_per_minute: Option<u32>,
    max_body_bytes: Option<usize>,
    read_timeout: Option<HumanDuration>,
    idle_timeout: Option<HumanDuration>,
    max_connections: Option<usize>,
}

/// The resolved `[preferences]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct PreferencesConfig {
    /// The page's own listener (behind the school's TLS reverse proxy).
    pub listen: SocketAddr,
    /// How links start, e.g. `https://rustig.school.example/` (with the proxy's path prefix).
    pub base_url: url::Url,
    pub key_file: PathBuf,
    /// How long a link opens the page (each new message brings a fresh one).
    pub link_ttl: chrono::Duration,
    /// Requests per link and per client address per minute; more get `429`.
    pub per_link_per_minute: u32,
    pub per_address_per_minute: u32,
    pub limits: Limits,
}

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

impl Resolver<'_> {
    pub(super) fn preferences(&mut self, raw: RawPreferences) -> PreferencesConfig {
        let p = "preferences";
        let base_url = match url::Url::parse(&raw.base_url) {
            Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && is_local(&u)) => {
                if u.query().is_some() || u.fragment().is_some() {
                    self.value_error(
                        &format!("{p}.base_url"),
                        "expected a URL without query or fragment".into(),
                    );
                }
                u
            }
            _ => {
                self.value_error(
                    &format!("{p}.base_url"),
                    "expected an https:// URL like \"https://rustig.school.example/\" \
                     (http:// only for localhost)"
                        .into(),
                );
                url::Url::parse("http://localhost/").expect("a valid URL")
            }
        };
        let link_ttl = self.duration(
            &format!("{p}.link_ttl"),
            raw.link_ttl,
            MINUTE * 60,
            365 * DAY,
            "a link would expire before the family opens the message",
        );
        let per_link = self.count(
            &format!("{p}.per_link_per_minute"),
            raw.per_link_per_minute,
            1,
            10_000,
            "no one could open their page",
        );
        let per_address = self.count(
            &format!("{p}.per_address_per_minute"),
            raw.per_address_per_minute,
            1,
            100_000,
            "no one could open their page",
        );
        let d = Limits {
            max_body_bytes: 16 * 1024,
            ..Limits::default()
        };
        let max_body = self.count(
            &format!("{p}.max_body_bytes"),
            raw.max_body_bytes,
            1024,
            1 << 20,
            "the form could not be sent",
        );
        let read = self.duration(
            &format!("{p}.read_timeout"),
            raw.read_timeout,
            Duration::from_secs(1),
            10 * MINUTE,
            "no browser could send a request in time",
        );
        let idle = self.duration(
            &format!("{p}.idle_timeout"),
            raw.idle_timeout,
            Duration::from_secs(1),
            10 * MINUTE,
            "a browser could not reuse its connection",
        );
        let conns = self.count(
            &format!("{p}.max_connections"),
            raw.max_connections,
            1,
            10_000,
            "no connection would ever be served",
        );
        PreferencesConfig {
            listen: raw.listen.0,
            base_url,
            key_file: raw.key_file,
            link_ttl: chrono::Duration::from_std(link_ttl.unwrap_or(30 * DAY))
                .unwrap_or(chrono::Duration::days(30)),
            per_link_per_minute: per_link.unwrap_or(20),
            per_address_per_minute: per_address.unwrap_or(120),
            limits: Limits {
                max_body_bytes: max_body.unwrap_or(d.max_body_bytes),
                read_timeout: read.unwrap_or(d.read_timeout),
                idle_timeout: idle.unwrap_or(d.idle_timeout),
                max_connections: conns.unwrap_or(d.max_connections),
            },
        }
    }
}

fn is_local(u: &url::Url) -> bool {
    matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

impl PreferencesConfig {
    /// The page of a token: `{base_url}p/{token}`.
    pub fn page_url(&self, token: &str) -> String {
        format!("{}p/{token}", self.base(),)
    }

    /// The one-click unsubscribe address of a token (RFC 8058): `{base_url}u/{token}`.
    pub fn unsubscribe_url(&self, token: &str) -> String {
        format!("{}u/{token}", self.base())
    }

    fn base(&self) -> String {
        let b = self.base_url.as_str();
        if b.ends_with('/') {
            b.to_string()
        } else {
            format!("{b}/")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    fn parse(t: &str) -> Result<Config, String> {
        Config::parse(Path::new("config/rustig.toml"), t).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_urls() {
        let c = parse(
            "[preferences]\nlisten = \"127.0.0.1:8427\"\nbase_url = \"https://rustig.school.example/instellingen\"\nkey_file = \"/etc/rustig/links.key\"\n",
        )
        .unwrap();
        let p = c.preferences.unwrap();
        assert_eq!(p.link_ttl, chrono::Duration::days(30));
        assert_eq!(p.limits.max_body_bytes, 16 * 1024);
        assert_eq!(
            p.page_url("T"),
            "https://rustig.school.example/instellingen/p/T"
        );
        assert_eq!(
            p.unsubscribe_url("T"),
            "https://rustig.school.example/instellingen/u/T"
        );
    }

    #[test]
    fn errors_name_line_key_and_bounds() {
        let base = "[preferences]\nlisten = \"127.0.0.1:8427\"\nkey_file = \"k\"\n";
        let e = parse(&format!("{base}base_url = \"http://school.example/\"\n")).unwrap_err();
        assert!(
            e.starts_with("config/rustig.toml:4:12: preferences.base_url = \"http://school.example/\": expected an https:// URL"),
            "{e}"
        );
        let e = parse(&format!(
            "{base}base_url = \"https://s.example/\"\nlink_ttl = \"5m\"\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("preferences.link_ttl = \"5m\": must be at least \"1h\""),
            "{e}"
        );
        let e = parse(&format!(
            "{base}base_url = \"https://s.example/\"\nper_link_per_minute = 0\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("preferences.per_link_per_minute = 0: must be at least 1"),
            "{e}"
        );
        let e = parse(&format!(
            "{base}base_url = \"https://s.example/\"\nlisten2 = 1\n"
        ))
        .unwrap_err();
        assert!(e.contains("unknown key `listen2`"), "{e}");
        assert!(parse(&format!("{base}base_url = \"http://localhost:8427/\"\n")).is_ok());
    }
}
