//! A contact (one way to reach a person) and its channel, and what makes a contact usable:
//! an email address a real parser accepts, endpoints that are URLs with a scheme the channel
//! allows, Web Push keys of the right length, and nowhere a control character that could
//! start a new header line in a message or a request.

use std::net::IpAddr;
use std::str::FromStr;

use base64::Engine;
use serde::{Deserialize, Serialize};

/// One way to reach a person; exactly one key per object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Contact {
    Email(String),
    /// Boxed: a subscription is large and rare, and every contact is as big as the largest
    /// variant (a directory holds tens of thousands of contacts).
    Webpush(Box<WebPushSubscription>),
    Fcm(String),
    Ntfy(String),
    Webhook(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebPushSubscription {
    pub endpoint: String,
    pub keys: WebPushKeys,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebPushKeys {
    pub p256dh: String,
    pub auth: String,
}

/// The channel a contact belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Email,
    Webpush,
    Fcm,
    Ntfy,
    Webhook,
}

impl ChannelKind {
    /// Every channel, in the order of the enum.
    pub const ALL: [ChannelKind; 5] = [
        ChannelKind::Email,
        ChannelKind::Webpush,
        ChannelKind::Fcm,
        ChannelKind::Ntfy,
        ChannelKind::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Webpush => "webpush",
            ChannelKind::Fcm => "fcm",
            ChannelKind::Ntfy => "ntfy",
            ChannelKind::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<ChannelKind> {
        Some(match s {
            "email" => ChannelKind::Email,
            "webpush" => ChannelKind::Webpush,
            "fcm" => ChannelKind::Fcm,
            "ntfy" => ChannelKind::Ntfy,
            "webhook" => ChannelKind::Webhook,
            _ => return None,
        })
    }

    /// Push channels show text on a lock screen.
    pub fn is_push(self) -> bool {
        !matches!(self, ChannelKind::Email | ChannelKind::Webhook)
    }
}

impl Contact {
    pub fn channel(&self) -> ChannelKind {
        match self {
            Contact::Email(_) => ChannelKind::Email,
            Contact::Webpush(_) => ChannelKind::Webpush,
            Contact::Fcm(_) => ChannelKind::Fcm,
            Contact::Ntfy(_) => ChannelKind::Ntfy,
            Contact::Webhook(_) => ChannelKind::Webhook,
        }
    }
}

/// The distinct channels of a contact list, in first-seen order.
pub fn channels(contacts: &[Contact]) -> Vec<ChannelKind> {
    let mut out: Vec<ChannelKind> = Vec::new();
    for c in contacts {
        if !out.contains(&c.channel()) {
            out.push(c.channel());
        }
    }
    out
}

/// RFC 5321 limits a path to 256 octets, so an address to 254.
const MAX_EMAIL: usize = 254;
/// Endpoints and topic URLs; push services' endpoints are a few hundred bytes.
const MAX_URL: usize = 2048;
/// FCM registration tokens are ~160 bytes today; leave room for growth.
const MAX_TOKEN: usize = 4096;
/// An uncompressed P-256 point (RFC 8291 §3.1): 0x04, x, y.
const P256DH_BYTES: usize = 65;
/// The authentication secret (RFC 8291 §3.2).
const AUTH_BYTES: usize = 16;

/// Every problem of one contact as (path below the contact, message): `email`,
/// `webpush.keys.auth`, …; empty when the contact is usable.
pub fn problems(contact: &Contact) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut check = |path: &str, r: Result<(), String>| {
        if let Err(message) = r {
            out.push((path.to_string(), message));
        }
    };
    match contact {
        Contact::Email(a) => check("email", email(a)),
        Contact::Webpush(sub) => webpush(sub, &mut check),
        Contact::Fcm(t) => check("fcm", fcm_token(t)),
        Contact::Ntfy(u) => check("ntfy", url(u)),
        Contact::Webhook(u) => check("webhook", url(u)),
    }
    out
}

/// A bare address (no display name, no comments), as lettre's RFC 5321 parser reads it.
fn email(a: &str) -> Result<(), String> {
    no_control(a)?;
    if a.len() > MAX_EMAIL {
        return Err(format!("is longer than {MAX_EMAIL} bytes"));
    }
    if a.trim() != a || a.contains(['<', '>', ' ']) {
        return Err(
            "expected a bare address like \"anna@example.nl\", without a name, spaces or <>".into(),
        );
    }
    lettre::Address::from_str(a)
        .map(|_| ())
        .map_err(|e| format!("is not an email address like \"anna@example.nl\" ({e})"))
}

fn webpush(sub: &WebPushSubscription, check: &mut impl FnMut(&str, Result<(), String>)) {
    check("webpush.endpoint", url(&sub.endpoint));
    check(
        "webpush.keys.p256dh",
        key(&sub.keys.p256dh, P256DH_BYTES).and_then(|k| match k.first() {
            Some(4) => Ok(()),
            _ => Err("is not an uncompressed P-256 public key (it must start with 0x04)".into()),
        }),
    );
    check(
        "webpush.keys.auth",
        key(&sub.keys.auth, AUTH_BYTES).map(|_| ()),
    );
}

fn key(s: &str, len: usize) -> Result<Vec<u8>, String> {
    let bytes = decode_base64url(s).ok_or("is not base64url")?;
    if bytes.len() != len {
        return Err(format!("decodes to {} bytes; expected {len}", bytes.len()));
    }
    Ok(bytes)
}

/// Base64url as browsers hand out subscription keys; padding and the standard alphabet are
/// accepted too.
pub fn decode_base64url(s: &str) -> Option<Vec<u8>> {
    let s: String = s
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}

/// An opaque device token: printable ASCII without spaces.
fn fcm_token(t: &str) -> Result<(), String> {
    if t.is_empty() || t.len() > MAX_TOKEN {
        return Err(format!("expected a device token of 1 to {MAX_TOKEN} bytes"));
    }
    if !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("a device token is printable ASCII without spaces".into());
    }
    Ok(())
}

/// An https URL, or http to this machine (a local relay, and the tests' endpoints).
fn url(u: &str) -> Result<(), String> {
    // The URL parser would silently drop tabs and line breaks: refuse them first.
    no_control(u)?;
    if u.len() > MAX_URL {
        return Err(format!("is longer than {MAX_URL} bytes"));
    }
    let parsed = url::Url::parse(u).map_err(|e| format!("is not a URL ({e})"))?;
    let host = parsed.host().ok_or("the URL has no host")?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("the URL must not carry a user name or password".into());
    }
    let loopback = match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => IpAddr::V4(ip).is_loopback(),
        url::Host::Ipv6(ip) => IpAddr::V6(ip).is_loopback(),
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(
            "expected https:// (http:// only to this machine: 127.0.0.1, ::1 or localhost)".into(),
        ),
        other => Err(format!("expected an https:// URL, not {other}://")),
    }
}

pub(super) fn no_control(s: &str) -> Result<(), String> {
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters (line breaks, tabs, …)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::directory::WebPushKeys;

    fn bad(c: Contact) -> Vec<String> {
        problems(&c).into_iter().map(|(p, _)| p).collect()
    }

    const P256DH: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

    fn sub(endpoint: &str, p256dh: &str, auth: &str) -> Contact {
        Contact::Webpush(Box::new(WebPushSubscription {
            endpoint: endpoint.into(),
            keys: WebPushKeys {
                p256dh: p256dh.into(),
                auth: auth.into(),
            },
        }))
    }

    #[test]
    fn emails_are_bare_addresses_without_control_characters() {
        for ok in [
            "anna@example.nl",
            "merel.de-jong+school@leerling.example",
            "a@b",
        ] {
            assert!(problems(&Contact::Email(ok.into())).is_empty(), "{ok}");
        }
        for no in [
            "merel de jong <merel@@leerling.example",
            "Merel <merel@leerling.example>",
            "anna@example.nl\nBcc: x@y",
            "anna@example.nl\r\nBcc: x@y",
            "anna@example.nl\u{85}",
            " anna@example.nl",
            "anna@@example.nl",
            "anna",
            "@example.nl",
            "",
        ] {
            assert_eq!(bad(Contact::Email(no.into())), ["email"], "{no:?}");
        }
        let long = format!("{}@example.nl", "a".repeat(250));
        assert_eq!(bad(Contact::Email(long)), ["email"]);
    }

    #[test]
    fn endpoints_are_https_or_http_to_loopback() {
        for ok in [
            "https://ntfy.example/abc",
            "https://app.example:8443/hook?x=1",
            "http://127.0.0.1:8080/hook",
            "http://[::1]:8080/hook",
            "http://localhost/topic",
        ] {
            assert!(problems(&Contact::Webhook(ok.into())).is_empty(), "{ok}");
            assert!(problems(&Contact::Ntfy(ok.into())).is_empty(), "{ok}");
        }
        for no in [
            "http://ntfy.example/abc",
            "ftp://ntfy.example/abc",
            "javascript:alert(1)",
            "ntfy.example/abc",
            "https://user:pw@app.example/hook",
            "https://app.example/hook\nX-Injected: 1",
            "https://app.example/\thook",
            "",
        ] {
            assert_eq!(bad(Contact::Webhook(no.into())), ["webhook"], "{no:?}");
            assert_eq!(bad(Contact::Ntfy(no.into())), ["ntfy"], "{no:?}");
        }
    }

    #[test]
    fn web_push_keys_have_their_decoded_length() {
        assert!(problems(&sub("https://push.example/x", P256DH, AUTH)).is_empty());
        // Padding and the standard alphabet, as some libraries write them.
        let padded = format!("{}==", AUTH.replace('_', "/"));
        assert!(problems(&sub("https://push.example/x", P256DH, &padded)).is_empty());
        assert_eq!(
            bad(sub("http://push.example/x", &P256DH[..40], "short")),
            [
                "webpush.endpoint",
                "webpush.keys.p256dh",
                "webpush.keys.auth"
            ]
        );
        // 65 bytes, but compressed-point prefix.
        let mut k = decode_base64url(P256DH).unwrap();
        k[0] = 2;
        let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k);
        assert_eq!(
            bad(sub("https://push.example/x", &k, AUTH)),
            ["webpush.keys.p256dh"]
        );
        assert_eq!(
            bad(sub("https://push.example/x", P256DH, "!!!")),
            ["webpush.keys.auth"]
        );
    }

    #[test]
    fn fcm_tokens_are_printable_ascii() {
        let token = "dGVzdA:APA91bH-x_y";
        assert!(problems(&Contact::Fcm(token.into())).is_empty());
        for no in ["", "a b", "tok\nen", "tökén"] {
            assert_eq!(bad(Contact::Fcm(no.into())), ["fcm"], "{no:?}");
        }
        assert_eq!(bad(Contact::Fcm("x".repeat(5000))), ["fcm"]);
    }
}
