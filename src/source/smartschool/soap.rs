//! The two ends of a Smartschool V3 webservice call, as SOAP 1.1 RPC: the request envelope,
//! and the value in the answer's `return` element (a JSON string, or an integer error code;
//! `returnJsonErrorCodes` on the same service names the codes). Pure.

use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::Event;
use quick_xml::Reader;

/// The envelope of `method(accesscode, date)`.
pub fn request(namespace: &str, method: &str, accesscode: &str, date: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:ns1=\"{ns}\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         SOAP-ENV:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">\
         <SOAP-ENV:Body><ns1:{method}>\
         <accesscode xsi:type=\"xsd:string\">{code}</accesscode>\
         <date xsi:type=\"xsd:string\">{date}</date>\
         </ns1:{method}></SOAP-ENV:Body></SOAP-ENV:Envelope>",
        ns = escape(namespace),
        method = method,
        code = escape(accesscode),
        date = escape(date),
    )
}

/// What a call answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The `return` value as text (JSON for the absence calls).
    Value(String),
    /// An integer error code instead of data.
    ErrorCode(i64),
    /// A SOAP fault: its `faultstring`.
    Fault(String),
}

/// An answer that is not well-formed XML or has no `return`: where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct Malformed {
    pub line: usize,
    pub message: String,
}

/// Reads the `return` element (or the fault) of a SOAP answer.
pub fn parse(xml: &str) -> Result<Answer, Malformed> {
    let mut reader = Reader::from_str(xml);
    let line_at = |pos: u64| {
        xml.as_bytes()[..(pos as usize).min(xml.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    };
    // Inside `return` (with its xsi:type) or `faultstring`: the text so far.
    let mut capture: Option<(String, Option<String>)> = None;
    let mut fault = false;
    loop {
        let event = reader.read_event().map_err(|e| Malformed {
            line: line_at(reader.error_position()),
            message: format!("not well-formed XML: {e}"),
        })?;
        match event {
            Event::Start(e) => {
                let name = e.local_name();
                let local = name.as_ref();
                if local == b"Fault" {
                    fault = true;
                } else if local == b"return" || (fault && local == b"faultstring") {
                    let ty = e
                        .attributes()
                        .flatten()
                        .find(|a| a.key.local_name().as_ref() == b"type")
                        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()));
                    capture = Some((String::new(), ty));
                }
            }
            Event::Empty(e) if e.local_name().as_ref() == b"return" => {
                return Ok(Answer::Value(String::new()));
            }
            Event::Text(t) => {
                if let Some((text, _)) = &mut capture {
                    text.push_str(&t.xml_content().map_err(|e| Malformed {
                        line: line_at(reader.buffer_position()),
                        message: e.to_string(),
                    })?);
                }
            }
            Event::CData(t) => {
                if let Some((text, _)) = &mut capture {
                    text.push_str(&String::from_utf8_lossy(&t.into_inner()));
                }
            }
            Event::GeneralRef(r) => {
                if let Some((text, _)) = &mut capture {
                    let bad = |message: String| Malformed {
                        line: line_at(reader.buffer_position()),
                        message,
                    };
                    match r.resolve_char_ref().map_err(|e| bad(e.to_string()))? {
                        Some(c) => text.push(c),
                        None => {
                            let name = r.decode().map_err(|e| bad(e.to_string()))?;
                            let v = resolve_predefined_entity(&name)
                                .ok_or_else(|| bad(format!("unknown entity &{name};")))?;
                            text.push_str(v);
                        }
                    }
                }
            }
            Event::End(e) => {
                let name = e.local_name();
                let local = name.as_ref();
                if local == b"return" || local == b"faultstring" {
                    if let Some((text, ty)) = capture.take() {
                        if local == b"faultstring" {
                            return Ok(Answer::Fault(text.trim().to_string()));
                        }
                        let is_int = ty
                            .as_deref()
                            .is_some_and(|t| t.ends_with("int") || t.ends_with("integer"));
                        return Ok(match text.trim().parse::<i64>() {
                            Ok(code) if is_int => Answer::ErrorCode(code),
                            _ => Answer::Value(text),
                        });
                    }
                }
            }
            Event::Eof => {
                return Err(Malformed {
                    line: line_at(xml.len() as u64),
                    message: "the answer has no return value".into(),
                })
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(ret: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope \
             xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:ns1=\"urn:x\" \
             xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n<SOAP-ENV:Body>\
             <ns1:getAbsentsByDateResponse>{ret}</ns1:getAbsentsByDateResponse>\
             </SOAP-ENV:Body></SOAP-ENV:Envelope>"
        )
    }

    #[test]
    fn reads_the_json_string_with_its_entities() {
        let xml = envelope(
            "<return xsi:type=\"xsd:string\">{&quot;1001&quot;:{&quot;am&quot;:&quot;L&quot;}, &#34;x&#34;: &amp;}</return>",
        );
        assert_eq!(
            parse(&xml).unwrap(),
            Answer::Value("{\"1001\":{\"am\":\"L\"}, \"x\": &}".into())
        );
    }

    #[test]
    fn error_codes_faults_and_broken_answers() {
        assert_eq!(
            parse(&envelope("<return xsi:type=\"xsd:int\">12</return>")).unwrap(),
            Answer::ErrorCode(12)
        );
        let fault = "<?xml version=\"1.0\"?><SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\">\
            <SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Server</faultcode>\
            <faultstring>Procedure 'getAbsentsByDat' not present</faultstring></SOAP-ENV:Fault>\
            </SOAP-ENV:Body></SOAP-ENV:Envelope>";
        assert_eq!(
            parse(fault).unwrap(),
            Answer::Fault("Procedure 'getAbsentsByDat' not present".into())
        );
        let broken = envelope("<return>{}</retrun>");
        let e = parse(&broken).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(parse("<a/>").unwrap_err().message.contains("no return"));
    }

    #[test]
    fn the_request_escapes_the_access_code() {
        let r = request(
            "https://s.smartschool.be/Webservices/V3",
            "getAbsentsByDate",
            "a<b&c",
            "2026-11-23",
        );
        assert!(
            r.contains("<accesscode xsi:type=\"xsd:string\">a&lt;b&amp;c</accesscode>"),
            "{r}"
        );
        assert!(r.contains("<ns1:getAbsentsByDate>") && r.contains("2026-11-23"));
        // Well-formed: a SOAP server can read it to the end.
        let mut reader = Reader::from_str(&r);
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Eof => break,
                _ => continue,
            }
        }
    }
}
