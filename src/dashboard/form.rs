//! The dashboard's form bodies: `application/x-www-form-urlencoded`, and for the what-if's
//! file upload `multipart/form-data` (a small reader of our own: one form, known fields,
//! bounded sizes; nothing streamed, the listener has read the body already).

/// The fields of a form, in order (a field may repeat, e.g. the selected `id`s).
pub type Fields = Vec<(String, String)>;

/// A form no page of ours sends: an unknown field, an overlong value.
#[derive(Debug, PartialEq, Eq)]
pub struct BadForm;

/// A urlencoded body; `Err` on an unknown field or an overlong value.
pub fn parse(body: &[u8], known: &[&str], max_value: usize) -> Result<Fields, BadForm> {
    let mut out = Vec::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if !known.contains(&k.as_ref()) || v.len() > max_value {
            return Err(BadForm);
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

/// The first value of `k`.
pub fn field<'a>(form: &'a Fields, k: &str) -> Option<&'a str> {
    form.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
}

/// Every value of `k`.
pub fn all<'a>(form: &'a Fields, k: &str) -> Vec<&'a str> {
    form.iter()
        .filter(|(x, _)| x == k)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Why a multipart body was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum MultipartError {
    /// Not multipart, no boundary, a part without a name, an unknown field.
    Malformed,
    /// A value is not UTF-8 text (a binary upload).
    NotText(String),
    /// A value is longer than allowed.
    TooLarge(String),
}

/// The boundary of a `multipart/form-data; boundary=…` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty() && b.len() <= 200)
    })
}

/// A `multipart/form-data` body: each part's name and text value. Files count as text (their
/// file name is dropped); a value that is not UTF-8 or longer than `max_value` is refused.
pub fn parse_multipart(
    body: &[u8],
    boundary: &str,
    known: &[&str],
    max_value: usize,
) -> Result<Fields, MultipartError> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut out = Vec::new();
    let mut rest = match find(body, delim) {
        Some(i) => &body[i + delim.len()..],
        None => return Err(MultipartError::Malformed),
    };
    loop {
        if rest.starts_with(b"--") {
            return Ok(out);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or(MultipartError::Malformed)?;
        let head_end = find(rest, b"\r\n\r\n").ok_or(MultipartError::Malformed)?;
        let head = std::str::from_utf8(&rest[..head_end]).map_err(|_| MultipartError::Malformed)?;
        let after = &rest[head_end + 4..];
        let mut end_delim = b"\r\n".to_vec();
        end_delim.extend_from_slice(delim);
        let end = find(after, &end_delim).ok_or(MultipartError::Malformed)?;
        let value = &after[..end];
        rest = &after[end + end_delim.len()..];
        let name = head
            .lines()
            .find(|l| {
                l.to_ascii_lowercase()
                    .starts_with("content-disposition: form-data")
            })
            .and_then(|l| {
                l.split(';').find_map(|p| {
                    let p = p.trim();
                    p.strip_prefix("name=")
                        .map(|v| v.trim_matches('"').to_string())
                })
            })
            .ok_or(MultipartError::Malformed)?;
        if !known.contains(&name.as_str()) {
            return Err(MultipartError::Malformed);
        }
        if value.len() > max_value {
            return Err(MultipartError::TooLarge(name));
        }
        let text = String::from_utf8(value.to_vec())
            .ok()
            .filter(|t| !t.contains('\0'))
            .ok_or_else(|| MultipartError::NotText(name.clone()))?;
        out.push((name, text));
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_forms_refuse_unknown_fields() {
        let f = parse(b"csrf=a&id=1&id=2", &["csrf", "id"], 100).unwrap();
        assert_eq!(field(&f, "csrf"), Some("a"));
        assert_eq!(all(&f, "id"), vec!["1", "2"]);
        assert!(parse(b"csrf=a&x=1", &["csrf"], 100).is_err());
        assert!(parse(b"csrf=aaaa", &["csrf"], 3).is_err());
    }

    #[test]
    fn multipart_reads_text_fields_and_files() {
        let ct = "multipart/form-data; boundary=----x1";
        let b = boundary(ct).unwrap();
        let body = "------x1\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n\
                    ------x1\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.toml\"\r\n\
                    Content-Type: application/octet-stream\r\n\r\n[quiet_hours]\r\nstart = \"19:00\"\r\n\
                    ------x1--\r\n";
        let f = parse_multipart(body.as_bytes(), &b, &["csrf", "file"], 1000).unwrap();
        assert_eq!(field(&f, "csrf"), Some("abc"));
        assert_eq!(
            field(&f, "file"),
            Some("[quiet_hours]\r\nstart = \"19:00\"")
        );
        let bin = b"------x1\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\xff\x00\r\n------x1--";
        assert_eq!(
            parse_multipart(bin, &b, &["file"], 1000),
            Err(MultipartError::NotText("file".into()))
        );
        assert_eq!(
            parse_multipart(body.as_bytes(), &b, &["csrf", "file"], 5),
            Err(MultipartError::TooLarge("file".into()))
        );
        assert_eq!(
            parse_multipart(body.as_bytes(), &b, &["csrf"], 1000),
            Err(MultipartError::Malformed)
        );
        assert!(boundary("application/x-www-form-urlencoded").is_none());
    }
}
