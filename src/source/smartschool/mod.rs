//! `[[ingest.smartschool]]`: absences from a Flemish school's Smartschool platform, through
//! its V3 SOAP webservice (`getAbsentsByDate(accesscode, date)`), for today and the last
//! `days` days, every interval. Smartschool offers no grade read call, so only absences.
//!
//! Each date is a part of one snapshot: a date that answered is compared code by code (a
//! late arrival corrected to sick is a correction, a code removed is a withdrawal); a date
//! that leaves the window is forgotten without events.

pub mod absences;
pub mod soap;

use std::sync::Arc;

use chrono::{Duration as Days, NaiveDate};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::sis::SmartschoolConfig;
use crate::ingest::Ingestor;
use crate::source::health::SourceHealth;
use crate::source::poll::commit::{CommitError, Committer};
use crate::source::poll::diff::Counts;
use crate::source::poll::fetch::{request_error, status_error, FetchError};
use crate::source::poll::pace::{self, Pace};
use crate::source::poll::{BadInput, Fetched};
use crate::store::Store;
use soap::Answer;

/// The snapshot scope: all dates of the window, one part each.
pub const SCOPE: &str = "absences";

pub struct SmartschoolSource {
    cfg: SmartschoolConfig,
    client: reqwest::Client,
    accesscode: String,
    committer: Committer,
}

impl SmartschoolSource {
    pub fn new(
        cfg: &SmartschoolConfig,
        ingestor: Arc<Ingestor>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<SmartschoolSource, String> {
        let name = format!("smartschool {}", cfg.poll.name);
        let accesscode = crate::source::poll::read_secret("accesscode_file", &cfg.accesscode_file)
            .map_err(|e| format!("{name}: {e}"))?;
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .build()
            .map_err(|e| format!("{name}: {e}"))?;
        Ok(SmartschoolSource {
            committer: Committer::new(&cfg.poll, name, ingestor, store, clock),
            cfg: cfg.clone(),
            client,
            accesscode,
        })
    }

    pub fn name(&self) -> String {
        format!("smartschool {}", self.cfg.poll.name)
    }

    pub fn health(&self) -> Arc<SourceHealth> {
        self.committer.health.clone()
    }

    pub async fn serve(self, mut stop: watch::Receiver<bool>) {
        let name = self.name();
        let mut pace = Pace::new(self.cfg.poll.interval);
        loop {
            let wait = match self.poll().await {
                Ok(_) => {
                    self.committer.health.set_connected(true);
                    pace.ok(self.cfg.poll.interval)
                }
                Err(e) => {
                    self.committer.health.set_connected(false);
                    self.committer.health.error(&e);
                    tracing::warn!(source = %name, error = %e, failures = pace.failures() + 1, "poll failed");
                    pace.failed(&e)
                }
            };
            if pace::sleep(wait, &mut stop).await {
                break;
            }
        }
        tracing::info!(source = %name, "source stopped");
    }

    /// Today and the `days` before it, each asked once; committed together.
    pub async fn poll(&self) -> Result<Counts, FetchError> {
        let config = self.committer.ingestor.shared().config();
        let tz = config
            .policy(&self.cfg.poll.school)
            .map(|p| p.calendar.tz)
            .unwrap_or(chrono_tz::Europe::Amsterdam);
        let today = self.committer.clock.now().with_timezone(&tz).date_naive();
        let first = today - Days::days(i64::from(self.cfg.days));
        let mut fetched = Fetched {
            parts: Some(vec![]),
            prune_before: Some(first.format("%Y-%m-%d").to_string()),
            ..Fetched::default()
        };
        let mut date = first;
        while date <= today {
            self.day(date, &mut fetched).await?;
            date += Days::days(1);
        }
        match self.committer.commit(SCOPE, fetched).await {
            Ok(c) => Ok(c),
            Err(CommitError::Held { .. }) => Ok(Counts::default()),
            Err(CommitError::Store(e)) => Err(FetchError::transient(format!("store: {e}"))),
        }
    }

    async fn day(&self, date: NaiveDate, fetched: &mut Fetched) -> Result<(), FetchError> {
        let day = date.format("%Y-%m-%d").to_string();
        let what = format!("{} {day}", self.cfg.method);
        let body = soap::request(&self.cfg.url, &self.cfg.method, &self.accesscode, &day);
        let resp = self
            .client
            .post(&self.cfg.url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header(
                "SOAPAction",
                format!("\"{}#{}\"", self.cfg.url, self.cfg.method),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| request_error(&what, &e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(|e| request_error(&what, &e))?;
        if !status.is_success() {
            return Err(match soap::parse(&text) {
                Ok(Answer::Fault(f)) if status.as_u16() == 500 => {
                    FetchError::Permanent(format!("{what}: SOAP fault: {f}"))
                }
                _ => status_error(&what, status, &headers),
            });
        }
        match soap::parse(&text) {
            Ok(Answer::Value(json)) => {
                let got = absences::read(&self.cfg, date, &json);
                fetched.items.extend(got.items);
                fetched.bad.extend(got.bad);
                if got.covered {
                    fetched.parts.get_or_insert_with(Vec::new).push(day);
                }
                Ok(())
            }
            Ok(Answer::ErrorCode(code)) => Err(FetchError::Permanent(format!(
                "{what}: Smartschool answered error code {code} (returnJsonErrorCodes names it; \
                 a wrong access code or a webservice not enabled for this call are common)"
            ))),
            Ok(Answer::Fault(f)) => Err(FetchError::Permanent(format!("{what}: SOAP fault: {f}"))),
            Err(m) => {
                fetched.bad.push(BadInput {
                    key: None,
                    place: format!("{what} line {}", m.line),
                    field: String::new(),
                    message: m.message,
                    raw: text.into_bytes(),
                });
                Ok(())
            }
        }
    }
}

#[async_trait::async_trait]
impl crate::source::Source for SmartschoolSource {
    fn name(&self) -> String {
        SmartschoolSource::name(self)
    }

    async fn run(self: Box<Self>, stop: watch::Receiver<bool>) -> Result<(), String> {
        self.serve(stop).await;
        Ok(())
    }
}
