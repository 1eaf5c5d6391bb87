//! `GET /v1/status` and `rustig status`: per school what is waiting and when it goes, what
//! failed; the store's and each source's health; which config is in force.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use super::api::{human, local, zone, ApiResult};
use super::{AdminState, Routes};
use crate::config::Config;
use crate::source::health::HealthSnapshot;
use crate::store::{Result, Store};

pub fn routes() -> Routes {
    Routes::default().read(OpenApiRouter::new().routes(utoipa_axum::routes!(get_status)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    pub version: String,
    /// When the daemon started (absent from `rustig status`, which reads the store only).
    pub started_at: Option<String>,
    pub uptime: Option<String>,
    pub config: ConfigInfo,
    pub store: StoreStatus,
    /// Empty in `rustig status`: sources live in the daemon.
    pub sources: Vec<SourceStatus>,
    /// The sending channels' relays (email over SMTP): a fault that holds messages, or the
    /// relay's last refusal. Empty in `rustig status`, which counts the held messages in
    /// `held_by_relay_fault` instead.
    pub channels: Vec<ChannelStatus>,
    /// Pending email notices whose last try met a relay fault (from the store).
    pub held_by_relay_fault: i64,
    /// Inputs that could not be accepted, kept for replay or discarding.
    pub quarantined: i64,
    /// Contacts in the directory on channels whose table the config lacks (`fcm` without
    /// `[fcm]`): nothing is sent to them.
    pub unconfigured_channels: Vec<UnconfiguredChannel>,
    pub schools: Vec<SchoolStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnconfiguredChannel {
    /// `webpush`, `fcm` or `webhook`.
    pub channel: String,
    /// The table the config lacks: `[fcm]`.
    pub table: String,
    pub contacts: usize,
}

/// The directory's contacts on channels the config cannot send on.
pub fn unconfigured(config: &Config, dir: &crate::model::Directory) -> Vec<UnconfiguredChannel> {
    config
        .channels
        .unconfigured(dir.data())
        .into_iter()
        .map(|u| UnconfiguredChannel {
            channel: u.channel.as_str().into(),
            table: u.table.into(),
            contacts: u.contacts,
        })
        .collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigInfo {
    pub file: String,
    /// SHA-256 of the file as loaded.
    pub sha256: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StoreStatus {
    /// `sqlite` or `postgres`.
    pub backend: String,
    pub connected: bool,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceStatus {
    pub name: String,
    pub connected: bool,
    /// Messages waiting upstream, where the broker reports it.
    pub lag: Option<u64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub last_batch_at: Option<String>,
    pub acked: u64,
}

/// A channel's relay, as the daemon knows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelStatus {
    /// `email`.
    pub channel: String,
    /// `host:port`.
    pub relay: String,
    /// False while a fault holds its messages.
    pub ok: bool,
    /// The fault in force: an untrusted certificate, no STARTTLS where required. Messages
    /// are held without connecting; one per minute tries again.
    pub fault: Option<String>,
    pub fault_since: Option<String>,
    /// Sends held since the fault began.
    pub held: u64,
    /// The relay's last refusal of EHLO or AUTH (those messages are dead), until a message
    /// goes through again.
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct SchoolStatus {
    pub school: String,
    pub name: String,
    pub timezone: String,
    pub pending: i64,
    pub claimed: i64,
    pub sent: i64,
    pub dead: i64,
    pub cancelled: i64,
    /// Pending notices whose due time has passed: the release is behind.
    pub overdue: i64,
    /// The earliest due time of a pending notice (local).
    pub oldest_pending_due: Option<String>,
    /// The next instant pending notices are due, and what goes then.
    pub next_release: Option<Release>,
    /// Events for a student the directory does not list yet: planned once an import adds
    /// the student.
    pub unresolved: i64,
    /// Events whose student was not listed within `[directory] unresolved_hold`: dead.
    pub unresolved_dead: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Release {
    /// Local time with offset.
    pub at: String,
    /// From now, humantime (`2h 3m`).
    pub from_now: String,
    pub notices: i64,
    pub holds: Vec<Hold>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Hold {
    pub role: String,
    pub channel: String,
    pub notices: i64,
}

/// The status from the store: what `rustig status` prints (the daemon adds its sources and
/// uptime).
pub async fn build(store: &dyn Store, config: &Config, now: DateTime<Utc>) -> Result<Status> {
    let views = store.views();
    let health = store.health().await;
    let counts = views.state_counts().await?;
    let unresolved = store.unresolved().counts().await?;
    // Schools of the config, and any the store holds notices or unresolved events for.
    let mut ids: BTreeSet<String> = config.schools.keys().cloned().collect();
    ids.extend(counts.iter().map(|c| c.school.clone()));
    ids.extend(unresolved.iter().map(|c| c.school.clone()));
    let mut schools = Vec::with_capacity(ids.len());
    for id in ids {
        let tz = zone(config, &id);
        let mut s = SchoolStatus {
            name: config
                .policy(&id)
                .map(|p| p.school_name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| id.clone()),
            timezone: tz.name().to_string(),
            school: id.clone(),
            ..SchoolStatus::default()
        };
        for c in counts.iter().filter(|c| c.school == id) {
            match c.state.as_str() {
                "pending" => s.pending = c.count,
                "claimed" => s.claimed = c.count,
                "sent" => s.sent = c.count,
                "dead" => s.dead = c.count,
                "cancelled" => s.cancelled = c.count,
                _ => {}
            }
        }
        if let Some(u) = unresolved.iter().find(|u| u.school == id) {
            s.unresolved = u.waiting;
            s.unresolved_dead = u.dead;
        }
        if s.pending > 0 {
            let (oldest, overdue) = views.oldest_pending(&id, now).await?;
            s.oldest_pending_due = oldest.map(|t| local(t, tz));
            s.overdue = overdue;
            s.next_release = views.next_release(&id, now).await?.map(|r| Release {
                at: local(r.at, tz),
                from_now: human(r.at - now),
                notices: r.holds.iter().map(|h| h.2).sum(),
                holds: r
                    .holds
                    .iter()
                    .map(|(role, channel, n)| Hold {
                        role: role.as_str().into(),
                        channel: channel.as_str().into(),
                        notices: *n,
                    })
                    .collect(),
            });
        }
        schools.push(s);
    }
    Ok(Status {
        version: env!("CARGO_PKG_VERSION").into(),
        started_at: None,
        uptime: None,
        config: ConfigInfo {
            file: config.file.display().to_string(),
            sha256: config.sha256.clone(),
        },
        store: StoreStatus {
            backend: health.backend.into(),
            connected: health.connected,
            last_error: health.last_error,
            last_error_at: health.last_error_at.map(|t| t.to_rfc3339()),
        },
        sources: vec![],
        channels: vec![],
        held_by_relay_fault: views.held_by_relay_fault().await?,
        quarantined: views.quarantine_count().await?,
        unconfigured_channels: vec![],
        schools,
    })
}

fn source_status(h: HealthSnapshot) -> SourceStatus {
    let t = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339());
    SourceStatus {
        name: h.name,
        connected: h.connected,
        lag: h.lag,
        last_error: h.last_error,
        last_error_at: t(h.last_error_at),
        last_batch_at: t(h.last_batch_at),
        acked: h.acked,
    }
}

/// Per school: notices by state, the next release and what it holds, the oldest pending
/// notice; the store's and every source's health; the config in force; version and uptime.
#[utoipa::path(get, path = "/v1/status", tag = "views",
    responses((status = 200, body = Status), (status = 503, body = super::api::ErrorBody)))]
async fn get_status(State(state): State<AdminState>) -> ApiResult<Status> {
    let now = state.clock.now();
    let config = state.shared.config();
    let mut status = build(&*state.store, &config, now).await?;
    status.started_at = Some(state.started_at.to_rfc3339());
    status.uptime = Some(human(now - state.started_at));
    status.unconfigured_channels = unconfigured(&config, &state.shared.listed_directory());
    status.sources = state
        .sources
        .iter()
        .map(|s| source_status(s.snapshot()))
        .collect();
    status.channels = state
        .email
        .iter()
        .filter_map(|e| e.relay_health())
        .map(|h| {
            let t = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339());
            ChannelStatus {
                channel: "email".into(),
                relay: h.relay,
                ok: h.fault.is_none(),
                fault_since: t(h.fault_since),
                fault: h.fault,
                held: h.held,
                last_error_at: t(h.last_error_at),
                last_error: h.last_error,
            }
        })
        .collect();
    Ok(Json(status))
}

/// The status for a terminal: local times, human durations.
pub fn text(s: &Status) -> String {
    let mut out = String::new();
    let short = &s.config.sha256[..s.config.sha256.len().min(12)];
    let _ = writeln!(
        out,
        "rustig {} · config {} (sha256 {short}) · store {}: {}",
        s.version,
        s.config.file,
        s.store.backend,
        if s.store.connected {
            "connected".to_string()
        } else {
            format!(
                "NOT CONNECTED ({})",
                s.store.last_error.as_deref().unwrap_or("no answer")
            )
        }
    );
    if let Some(up) = &s.uptime {
        let _ = writeln!(out, "up {up}");
    }
    for src in &s.sources {
        let _ = writeln!(
            out,
            "source {}: {}{}{}",
            src.name,
            if src.connected {
                "connected"
            } else {
                "DISCONNECTED"
            },
            src.lag.map(|l| format!(", lag {l}")).unwrap_or_default(),
            src.last_error
                .as_ref()
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default()
        );
    }
    for ch in &s.channels {
        let _ = writeln!(
            out,
            "channel {} (relay {}): {}{}",
            ch.channel,
            ch.relay,
            match &ch.fault {
                None => "ok".to_string(),
                Some(f) => format!(
                    "FAULT since {}, {} held: {f}",
                    ch.fault_since.as_deref().unwrap_or("?"),
                    ch.held
                ),
            },
            ch.last_error
                .as_ref()
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default()
        );
    }
    if s.held_by_relay_fault > 0 {
        let _ = writeln!(
            out,
            "held by a relay fault: {} pending notices (see the daemon's log or /v1/status)",
            s.held_by_relay_fault
        );
    }
    let _ = writeln!(out, "quarantined: {}", s.quarantined);
    for u in &s.unconfigured_channels {
        let _ = writeln!(
            out,
            "UNCONFIGURED: {} contact(s) on {} but the config has no {} table: nothing is sent to them",
            u.contacts, u.channel, u.table
        );
    }
    if s.schools.is_empty() {
        let _ = writeln!(out, "\nno notices stored yet");
    }
    for school in &s.schools {
        let _ = writeln!(
            out,
            "\n{} ({}), {}",
            school.name, school.school, school.timezone
        );
        let _ = writeln!(
            out,
            "  pending {} · claimed {} · sent {} · dead {} · cancelled {}",
            school.pending, school.claimed, school.sent, school.dead, school.cancelled
        );
        if school.unresolved > 0 || school.unresolved_dead > 0 {
            let _ = writeln!(
                out,
                "  unresolved {} (events for students the directory does not list; planned \
                 once an import adds them) · dead unresolved {}",
                school.unresolved, school.unresolved_dead
            );
        }
        match &school.next_release {
            Some(r) => {
                let holds: Vec<String> = r
                    .holds
                    .iter()
                    .map(|h| format!("{} {} {}", h.role, h.channel, h.notices))
                    .collect();
                let _ = writeln!(
                    out,
                    "  next release {} (in {}): {} notice(s): {}",
                    pretty(&r.at),
                    r.from_now,
                    r.notices,
                    holds.join(", ")
                );
            }
            None => {
                let _ = writeln!(out, "  next release: nothing scheduled");
            }
        }
        if let Some(oldest) = &school.oldest_pending_due {
            let _ = writeln!(
                out,
                "  oldest pending due {}; overdue {}",
                pretty(oldest),
                school.overdue
            );
        }
    }
    out
}

/// `2026-11-23T11:05:00+01:00` as `Mon 23 Nov 2026 11:05 (+01:00)`.
fn pretty(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.format("%a %-d %b %Y %H:%M (%:z)").to_string())
        .unwrap_or_else(|_| rfc3339.to_string())
}
