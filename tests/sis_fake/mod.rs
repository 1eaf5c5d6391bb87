//! Local stand-ins for SOMtoday Connect and a Smartschool V3 webservice, started in the test
//! process. They serve JSON and SOAP in the shapes of the public documents (the Connect
//! OpenAPI 14.10.0; SOAP 1.1 RPC with the JSON string in `return`), page with
//! `offset`/`amount`, leave out absent fields, refuse an expired token with 401, and answer
//! scripted 429s (with `Retry-After`) and 5xx.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

pub const ORG: &str = "1349fac3-259a-44fd-a1f1-6fe5f8a2f39e";
pub const VESTIGING: &str = "3d8b2a4c-0000-4000-8000-00000000v001";
pub const CLIENT: &str = "rustig-test";
pub const SECRET: &str = "s3cret";
pub const ACCESSCODE: &str = "code-123";

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub at: Instant,
    pub path: String,
    pub status: u16,
}

#[derive(Default)]
pub struct Data {
    /// The token the API accepts now.
    pub token: String,
    pub tokens_issued: usize,
    pub students: Vec<Value>,
    pub guardians: Vec<Value>,
    /// Per student uuid: the `voortgangsdossiers` list.
    pub dossiers: HashMap<String, Value>,
    /// Per student uuid: the `afspraken` of every week.
    pub rosters: HashMap<String, Vec<Value>>,
    /// `/events`: `None` answers 404 (as a Connect without the feed would).
    pub events: Option<Vec<Value>>,
    /// Smartschool: per date, the JSON of getAbsentsByDate.
    pub absences: HashMap<String, Value>,
    /// Dates whose answer is broken XML.
    pub broken_xml: HashSet<String>,
    /// Answers for the next API (not token) requests, first come first served.
    pub faults: VecDeque<(u16, Option<u64>)>,
    /// Each API answer waits this long.
    pub delay: Duration,
    pub hits: Vec<Hit>,
    /// The largest `amount` asked for.
    pub max_amount: usize,
}

#[derive(Clone)]
pub struct Fake {
    pub addr: SocketAddr,
    pub data: Arc<Mutex<Data>>,
}

impl Fake {
    pub async fn start() -> Fake {
        let data = Arc::new(Mutex::new(Data {
            token: "tok-0".into(),
            ..Data::default()
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(data.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Fake { addr, data }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Data) -> R) -> R {
        f(&mut self.data.lock().unwrap())
    }

    /// Makes the current token invalid (the next API call gets 401).
    pub fn expire_token(&self) {
        self.with(|d| d.token = format!("tok-expired-{}", d.tokens_issued));
    }

    pub fn hits(&self, part: &str) -> Vec<Hit> {
        self.with(|d| {
            d.hits
                .iter()
                .filter(|h| h.path.contains(part))
                .cloned()
                .collect()
        })
    }

    /// The SOMtoday part of an `[[ingest.somtoday]]` table.
    pub fn somtoday_toml(&self, secret_file: &std::path::Path) -> String {
        format!(
            "organisation = \"{ORG}\"\nvestiging = \"{VESTIGING}\"\nclient_id = \"{CLIENT}\"\n\
             client_secret_file = \"{}\"\ntoken_url = \"{}/oauth2/token\"\napi_url = \"{}/rest/v1\"\n",
            secret_file.display(),
            self.url(),
            self.url()
        )
    }
}

fn respond(status: u16, content_type: &str, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap()
}

async fn handle(AxState(data): AxState<Arc<Mutex<Data>>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let soap_action = req.headers().get("soapaction").is_some();
    let body = to_bytes(req.into_body(), 1 << 20).await.unwrap();
    let body = String::from_utf8_lossy(&body).into_owned();
    let full = match req_query_string(&query) {
        q if q.is_empty() => path.clone(),
        q => format!("{path}?{q}"),
    };
    let (delay, fault) = {
        let mut d = data.lock().unwrap();
        let fault = if path.ends_with("/oauth2/token") {
            None
        } else {
            d.faults.pop_front()
        };
        (d.delay, fault)
    };
    if !delay.is_zero() && !path.ends_with("/oauth2/token") {
        tokio::time::sleep(delay).await;
    }
    let resp = if let Some((status, retry_after)) = fault {
        let mut r = respond(
            status,
            "application/json",
            "{\"error\":\"scripted\"}".into(),
        );
        if let Some(s) = retry_after {
            r.headers_mut()
                .insert("retry-after", s.to_string().parse().unwrap());
        }
        r
    } else if path.ends_with("/oauth2/token") {
        token(&data, &query, &body)
    } else if path.ends_with("/Webservices/V3") {
        smartschool(&data, &body, soap_action)
    } else {
        somtoday(&data, &path, &query, auth.as_deref())
    };
    data.lock().unwrap().hits.push(Hit {
        at: Instant::now(),
        path: full,
        status: resp.status().as_u16(),
    });
    resp
}

fn req_query_string(q: &HashMap<String, String>) -> String {
    let mut parts: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.sort();
    parts.join("&")
}

fn token(data: &Arc<Mutex<Data>>, query: &HashMap<String, String>, body: &str) -> Response {
    let form: HashMap<&str, &str> = body
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let ok = query.get("organisation").map(String::as_str) == Some(ORG)
        && form.get("grant_type") == Some(&"client_credentials")
        && form.get("client_id") == Some(&CLIENT)
        && form.get("client_secret") == Some(&SECRET);
    if !ok {
        return respond(
            401,
            "application/json",
            json!({"error": "invalid_client"}).to_string(),
        );
    }
    let mut d = data.lock().unwrap();
    d.tokens_issued += 1;
    d.token = format!("tok-{}", d.tokens_issued);
    respond(
        200,
        "application/json",
        json!({"access_token": d.token, "token_type": "bearer", "expires_in": 3600}).to_string(),
    )
}

fn somtoday(
    data: &Arc<Mutex<Data>>,
    path: &str,
    query: &HashMap<String, String>,
    auth: Option<&str>,
) -> Response {
    let mut d = data.lock().unwrap();
    if auth != Some(format!("Bearer {}", d.token).as_str()) {
        return respond(
            401,
            "text/plain",
            "UNAUTHORIZED - Geen geldig token.".into(),
        );
    }
    let prefix = format!("/rest/v1/connect/vestiging/{VESTIGING}");
    let Some(rest) = path.strip_prefix(&prefix) else {
        return respond(404, "text/plain", "NOT FOUND".into());
    };
    // The error is the text of a 400 answer.
    let page = |items: &[Value], d: &mut Data| -> Result<Vec<Value>, &'static str> {
        let amount: usize = query
            .get("amount")
            .and_then(|a| a.parse().ok())
            .ok_or("amount is required")?;
        if amount > 200 {
            return Err("amount: maximaal 200");
        }
        d.max_amount = d.max_amount.max(amount);
        let offset: usize = query
            .get("offset")
            .and_then(|o| o.parse().ok())
            .unwrap_or(0);
        Ok(items.iter().skip(offset).take(amount).cloned().collect())
    };
    let json_ok = |v: Value| respond(200, "application/json", v.to_string());
    match rest {
        "/leerling" => {
            let all = d.students.clone();
            match page(&all, &mut d) {
                Ok(p) => json_ok(json!({"leerlingen": p})),
                Err(why) => respond(400, "text/plain", why.into()),
            }
        }
        "/ouderVerzorger/" => {
            let all = d.guardians.clone();
            match page(&all, &mut d) {
                Ok(p) => json_ok(json!({"ouderVerzorgers": p})),
                Err(why) => respond(400, "text/plain", why.into()),
            }
        }
        "/events" => match d.events.clone() {
            None => respond(404, "text/plain", "NOT FOUND".into()),
            Some(all) => {
                let after: i64 = query
                    .get("index")
                    .and_then(|i| i.parse().ok())
                    .unwrap_or(-1);
                let newer: Vec<Value> = all
                    .into_iter()
                    .filter(|e| e["index"].as_i64().unwrap_or(0) > after)
                    .collect();
                match page(&newer, &mut d) {
                    Ok(p) => json_ok(Value::Array(p)),
                    Err(why) => respond(400, "text/plain", why.into()),
                }
            }
        },
        _ => {
            let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
            match parts.as_slice() {
                ["leerling", uuid, "voortgangsdossier"] => match d.dossiers.get(*uuid) {
                    Some(v) => json_ok(json!({"voortgangsdossiers": v})),
                    None if d.students.iter().any(|s| s["uuid"] == *uuid) => {
                        json_ok(json!({"voortgangsdossiers": []}))
                    }
                    None => respond(404, "text/plain", "NOT FOUND".into()),
                },
                ["leerling", uuid, "rooster"] => {
                    let week: u32 = query
                        .get("weeknummer")
                        .and_then(|w| w.parse().ok())
                        .unwrap_or(0);
                    if !(1..=53).contains(&week) {
                        return respond(
                            400,
                            "text/plain",
                            "BAD REQUEST - ongeldig weeknummer.".into(),
                        );
                    }
                    let afspraken = d.rosters.get(*uuid).cloned().unwrap_or_default();
                    json_ok(json!({"rooster": {"weeknummer": week, "afspraken": afspraken}}))
                }
                _ => respond(404, "text/plain", "NOT FOUND".into()),
            }
        }
    }
}

fn smartschool(data: &Arc<Mutex<Data>>, body: &str, soap_action: bool) -> Response {
    let between = |tag: &str| -> Option<String> {
        let start = body.find(&format!("<{tag} "))?;
        let from = start + body[start..].find('>')? + 1;
        let to = from + body[from..].find(&format!("</{tag}>"))?;
        Some(body[from..to].to_string())
    };
    let envelope = |ret: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope \
             xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:ns1=\"urn:smartschool\" \
             xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n<SOAP-ENV:Body>\
             <ns1:getAbsentsByDateResponse>{ret}</ns1:getAbsentsByDateResponse>\
             </SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n"
        )
    };
    if !soap_action || !body.contains("getAbsentsByDate>") {
        let fault = "<?xml version=\"1.0\"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\">\
            <SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode>\
            <faultstring>Procedure not present</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>";
        return respond(500, "text/xml", fault.into());
    }
    let d = data.lock().unwrap();
    if between("accesscode").as_deref() != Some(ACCESSCODE) {
        return respond(
            200,
            "text/xml",
            envelope("<return xsi:type=\"xsd:int\">12</return>"),
        );
    }
    let date = between("date").unwrap_or_default();
    if d.broken_xml.contains(&date) {
        return respond(
            200,
            "text/xml",
            envelope("<return xsi:type=\"xsd:string\">{}</retrun>"),
        );
    }
    let json = d
        .absences
        .get(&date)
        .cloned()
        .unwrap_or(json!([]))
        .to_string();
    let escaped = json
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    respond(
        200,
        "text/xml; charset=utf-8",
        envelope(&format!(
            "<return xsi:type=\"xsd:string\">{escaped}</return>"
        )),
    )
}

// ---- Building the documented shapes ------------------------------------------------------------

pub fn leerling(uuid: &str, nummer: i64, roepnaam: &str, achternaam: &str, class: &str) -> Value {
    json!({
        "uuid": uuid, "leerlingnummer": nummer, "roepnaam": roepnaam, "achternaam": achternaam,
        "geboortedatum": "2011-03-14", "emailadres": format!("{roepnaam}@leerling.example").to_lowercase(),
        "verzorgers": [{"uuid": format!("g-{uuid}"), "volgnummer": 1}],
        "plaatsingen": [{"schooljaar": "2026/2027", "startdatum": "2026-08-01", "einddatum": "2027-07-31",
                          "leerjaar": 3, "stamgroep": {"naam": class}}]
    })
}

pub fn verzorger(student_uuid: &str) -> Value {
    json!({"uuid": format!("g-{student_uuid}"), "voorletters": "A.", "achternaam": "Ouder",
           "emailadres": format!("ouder-{student_uuid}@example.nl"),
           "leerlingen_van_vestiging": [student_uuid]})
}

/// A `voortgangsdossiers` list: one subject with `(uuid, code, value)` results in period 1.
pub fn dossier(vak: &str, results: &[(&str, &str, &str)]) -> Value {
    let resultaten: Vec<Value> = results
        .iter()
        .map(|(uuid, code, value)| {
            json!({"uuid": uuid, "omschrijving": format!("Toets {code}"), "code": code,
                   "toetsType": "TOETS", "weging": 1, "geldend_resultaat": value,
                   "pogingen": [{"resultaat": value, "poging": 1}]})
        })
        .collect();
    json!([{"vakuuid": format!("vak-{vak}"), "vaknaam": vak, "niveau": "HAVO", "leerjaar": 3,
            "periodes": [{"periode": 1, "resultaten": resultaten}]}])
}

/// An `afspraak` of `vak` on a date of the week of 23 November 2026 (Monday = 23).
pub fn les(vak: &str, day: u32, begin: &str, end: &str) -> Value {
    json!({"id": 1, "titel": vak, "vak": {"uuid": format!("vak-{vak}"), "naam": vak},
           "afspraaktype": "LES",
           "begintijd": format!("2026-11-{day:02}T{begin}:00+01:00"),
           "eindtijd": format!("2026-11-{day:02}T{end}:00+01:00")})
}

pub async fn wait_until<F, Fut>(what: &str, secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

pub fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap()
}

// ---- Reading what a daemon stored (its SQLite file, read-only) --------------------------------

pub async fn db(tmp: &std::path::Path) -> Option<sqlx::SqliteConnection> {
    let url = format!("sqlite://{}/rustig.db?mode=ro", tmp.display());
    <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .ok()
}

/// (type, record, grade value or absence kind) of every stored event, sorted.
pub async fn events(tmp: &std::path::Path) -> Vec<(String, String, String)> {
    let Some(mut conn) = db(tmp).await else {
        return vec![];
    };
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT type, record, body FROM events")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    let mut out: Vec<(String, String, String)> = rows
        .into_iter()
        .map(|(t, r, body)| {
            let v: Value = serde_json::from_str(&body).unwrap();
            let what = v["grade"]["value"]
                .as_str()
                .or(v["absence"]["kind"].as_str())
                .unwrap_or("")
                .to_string();
            (t, r, what)
        })
        .collect();
    out.sort();
    out
}

/// (source, reason) of every quarantined input, oldest first.
pub async fn quarantine(tmp: &std::path::Path) -> Vec<(String, String)> {
    let Some(mut conn) = db(tmp).await else {
        return vec![];
    };
    sqlx::query_as("SELECT source, reason FROM quarantine ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default()
}
