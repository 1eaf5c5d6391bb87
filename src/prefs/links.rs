//! The personal link in every email and webhook document ("Berichtinstellingen / Message
//! settings") and the email's `List-Unsubscribe` headers (RFC 2369, RFC 8058).

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use super::token::Keyring;
use crate::config::preferences::PreferencesConfig;
use crate::model::{ChannelKind, Role};
use crate::send::Rendered;
use crate::shared::Shared;

/// A recipient's fresh links, signed for `link_ttl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    /// The preference page.
    pub page: String,
    /// One-click unsubscribe (POST `List-Unsubscribe=One-Click`).
    pub unsubscribe: String,
}

/// Signs links with the current key, for the `base_url` and `link_ttl` in force: both are
/// read from the config at each message, so a reload (`SIGHUP`, the admin API) changes the
/// links of the next message without a restart.
pub struct LinkMaker {
    pub keys: Arc<RwLock<Arc<Keyring>>>,
    /// The config in force (swapped by a reload).
    pub shared: Arc<Shared>,
    /// The `[preferences]` the page was started with: used while a reloaded config has
    /// none (the page keeps running until the next start, so its links keep working).
    pub started_with: PreferencesConfig,
}

impl std::fmt::Debug for LinkMaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkMaker").finish_non_exhaustive()
    }
}

impl LinkMaker {
    pub fn links(&self, school: &str, role: Role, person: &str, now: DateTime<Utc>) -> Links {
        let keys = self.keys.read().expect("keys lock").clone();
        let config = self.shared.config();
        let cfg = config.preferences.as_ref().unwrap_or(&self.started_with);
        let token = keys.sign(school, role, person, now, cfg.link_ttl);
        Links {
            page: cfg.page_url(&token),
            unsubscribe: cfg.unsubscribe_url(&token),
        }
    }
}

/// Channels that carry the link: email and webhooks (a push message has no room for it and
/// shows on a lock screen).
pub fn carries_link(channel: ChannelKind) -> bool {
    matches!(channel, ChannelKind::Email | ChannelKind::Webhook)
}

/// The footer's label, in both languages.
pub const LABEL: &str = "Berichtinstellingen / Message settings";

/// Adds the link under the text part and inside the HTML part's body.
pub fn add_footer(content: &mut Rendered, links: &Links) {
    content.text = format!(
        "{}\n\n-- \n{LABEL}:\n{}\n",
        content.text.trim_end(),
        links.page
    );
    if !content.html.trim().is_empty() {
        let href = escape(&links.page);
        let footer = format!(
            "<p style=\"margin-top:24px;font-size:13px;color:#444\"><a href=\"{href}\" style=\"color:#1a4d8f\">{LABEL}</a></p>"
        );
        content.html = match content.html.rfind("</body>") {
            Some(i) => format!("{}{footer}\n{}", &content.html[..i], &content.html[i..]),
            None => format!("{}\n{footer}", content.html),
        };
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_in_text_and_html() {
        let mut c = Rendered {
            text: "Hallo\n\n".into(),
            html: "<html><body><p>Hallo</p></body></html>".into(),
            ..Rendered::default()
        };
        let l = Links {
            page: "https://s.example/p/a.b".into(),
            unsubscribe: "https://s.example/u/a.b".into(),
        };
        add_footer(&mut c, &l);
        assert_eq!(
            c.text,
            "Hallo\n\n-- \nBerichtinstellingen / Message settings:\nhttps://s.example/p/a.b\n"
        );
        assert!(
            c.html.ends_with("Message settings</a></p>\n</body></html>"),
            "{}",
            c.html
        );
        assert!(c.html.contains("href=\"https://s.example/p/a.b\""));
    }
}
