//! **Rules**: per school the rules in force in plain language (the paragraphs of
//! [`crate::outlook::rules`], what `rustig check` says), and the same as a standalone HTML
//! page in Dutch or English for the school's website.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::page::{message, Dash, Operator};
use super::texts::text;
use super::view::school_name;
use super::week::choose;
use crate::model::Locale;
use crate::outlook::rules;

#[derive(Debug, Default, Deserialize)]
pub struct RulesQuery {
    pub school: Option<String>,
    /// For the download: `nl` or `en`.
    pub locale: Option<String>,
}

fn unknown(op: &Operator) -> Response {
    message(
        &op.v,
        Some(&op.session),
        StatusCode::NOT_FOUND,
        "rules_title",
        text(op.nl(), "school_unknown").into(),
        Some("/rules"),
    )
}

pub async fn page(State(d): State<Dash>, op: Operator, Query(q): Query<RulesQuery>) -> Response {
    let nl = op.nl();
    let config = d.admin.shared.config();
    let Some((schools, school)) = choose(&config, q.school.as_deref()) else {
        return unknown(&op);
    };
    let locale = if nl { Locale::Nl } else { Locale::En };
    let download = |l: &str| {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("school", &school)
            .append_pair("locale", l)
            .finish();
        format!("/rules/download?{q}")
    };
    d.page(
        &op,
        "rules",
        "rules.html.j2",
        json!({
            "title": format!("{} · {}", text(nl, "rules_title"), school_name(&config, &school)),
            "schools": schools,
            "school": school,
            "school_name": school_name(&config, &school),
            "paragraphs": rules::paragraphs(&config, &school, locale),
            "download_nl": download("nl"),
            "download_en": download("en"),
        }),
    )
}

/// `GET /rules/download?school=&locale=`: the standalone page as a file.
pub async fn download(
    State(d): State<Dash>,
    op: Operator,
    Query(q): Query<RulesQuery>,
) -> Response {
    let config = d.admin.shared.config();
    let Some((_, school)) = choose(&config, q.school.as_deref()) else {
        return unknown(&op);
    };
    let locale = match q.locale.as_deref() {
        Some("en") => Locale::En,
        _ => Locale::Nl,
    };
    let html = rules::standalone_html(&config, &school, locale);
    let mut r = html.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The school id is a config key (letters, digits, `-`, `_`): safe in a file name.
    let file: String = school
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"rules-{file}-{}.html\"",
        locale.as_str()
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    r
}
