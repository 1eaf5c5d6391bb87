//! An export file as a table: decoded (UTF-8 or a single-byte encoding such as
//! Windows-1252), checked for completeness, and split into rows that remember their line.
//! Pure: bytes in, rows and per-row errors out.

use std::collections::BTreeMap;

use crate::config::sis::{ColumnRef, CsvFormat};

/// Why a whole file is not read (nothing of it is diffed, the snapshot stays).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileRefused {
    #[error("{file}: {message}")]
    Encoding { file: String, message: String },
    #[error(
        "{file}: does not end with a line break: still being written, or cut off; it is read \
         once complete (write exports to a temporary name and rename them into place)"
    )]
    Incomplete { file: String },
    #[error("{file}: the header lacks column(s) {missing}; it has: {found}")]
    Columns {
        file: String,
        missing: String,
        found: String,
    },
    #[error("{file}: {message}")]
    Csv { file: String, message: String },
}

/// One data row: its 1-based line, its fields by column name, and its raw text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: u64,
    pub fields: BTreeMap<String, String>,
    pub raw: String,
}

/// A row that could not be read as CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenRow {
    pub line: u64,
    pub message: String,
    pub raw: String,
    /// Its fields by position as far as they go, so that its record can still be named
    /// (a broken row is not a withdrawal of the record).
    pub fields: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub rows: Vec<Row>,
    pub broken: Vec<BrokenRow>,
}

/// Decodes and splits `bytes`; `columns` are the mapped columns the header must have.
pub fn read(
    file: &str,
    bytes: &[u8],
    format: &CsvFormat,
    columns: &BTreeMap<String, ColumnRef>,
) -> Result<Table, FileRefused> {
    let text = decode(file, bytes, format.encoding)?;
    if !text.is_empty() && !text.ends_with('\n') {
        return Err(FileRefused::Incomplete {
            file: file.to_string(),
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(format.delimiter)
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| FileRefused::Csv {
            file: file.to_string(),
            message: format!("the header cannot be read: {e}"),
        })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut missing: Vec<&str> = columns
        .values()
        .flat_map(ColumnRef::names)
        .filter(|c| !header.iter().any(|h| h == c))
        .collect();
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        return Err(FileRefused::Columns {
            file: file.to_string(),
            missing: missing.join(", "),
            found: header.join(", "),
        });
    }
    // csv's own line numbers skip blank lines; byte offsets do not.
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    // csv reports where it resumed (before the line break and blank lines that precede a
    // record); the record's line is that of its first character.
    let bytes = text.as_bytes();
    let line_at = |byte: u64| {
        let mut b = byte as usize;
        while b < bytes.len() && (bytes[b] == b'\r' || bytes[b] == b'\n') {
            b += 1;
        }
        starts.partition_point(|s| *s <= b) as u64
    };
    let raw_of = |line: u64| {
        let i = line.saturating_sub(1) as usize;
        let start = starts.get(i).copied().unwrap_or(text.len());
        let end = starts.get(i + 1).copied().unwrap_or(text.len());
        text[start..end].trim_end_matches(['\r', '\n']).to_string()
    };
    let mut table = Table::default();
    let mut record = csv::StringRecord::new();
    loop {
        let at = reader.position().byte();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = line_at(record.position().map(|p| p.byte()).unwrap_or(at));
                if record.iter().all(|f| f.trim().is_empty()) {
                    continue;
                }
                let fields: BTreeMap<String, String> = header
                    .iter()
                    .zip(record.iter())
                    .map(|(h, v)| (h.clone(), v.trim().to_string()))
                    .collect();
                if record.len() != header.len() {
                    table.broken.push(BrokenRow {
                        line,
                        message: format!(
                            "{} fields where the header has {}",
                            record.len(),
                            header.len()
                        ),
                        raw: raw_of(line),
                        fields,
                    });
                    continue;
                }
                table.rows.push(Row {
                    line,
                    fields,
                    raw: raw_of(line),
                });
            }
            Err(e) => {
                let line = line_at(e.position().map(|p| p.byte()).unwrap_or(at));
                table.broken.push(BrokenRow {
                    line,
                    message: format!("not readable as CSV: {e}"),
                    raw: raw_of(line),
                    fields: BTreeMap::new(),
                });
            }
        }
    }
    Ok(table)
}

/// The file's text. A UTF-8 byte order mark means UTF-8 whatever is configured. A file that
/// does not decode as configured is refused rather than read as mojibake: for UTF-8, bytes
/// that are not UTF-8; for a single-byte encoding, non-ASCII text that is valid UTF-8 (a
/// Windows-1252 file with "é" never is).
fn decode(
    file: &str,
    bytes: &[u8],
    enc: &'static encoding_rs::Encoding,
) -> Result<String, FileRefused> {
    let refuse = |message: String| FileRefused::Encoding {
        file: file.to_string(),
        message,
    };
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return std::str::from_utf8(rest)
            .map(str::to_string)
            .map_err(|e| refuse(format!("has a UTF-8 byte order mark but is not UTF-8: {e}")));
    }
    if enc == encoding_rs::UTF_8 {
        return std::str::from_utf8(bytes).map(str::to_string).map_err(|e| {
            let at = e.valid_up_to();
            let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
            refuse(format!(
                "is not UTF-8 (line {line}); if it is a Windows export, set encoding = \"windows-1252\""
            ))
        });
    }
    if !bytes.is_ascii() && std::str::from_utf8(bytes).is_ok() {
        return Err(refuse(format!(
            "looks like UTF-8, not {}; set encoding = \"utf-8\"",
            enc.name()
        )));
    }
    let (text, had_errors) = enc.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(refuse(format!("is not valid {}", enc.name())));
    }
    Ok(text.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(enc: &str, delimiter: u8) -> CsvFormat {
        CsvFormat {
            delimiter,
            encoding: encoding_rs::Encoding::for_label(enc.as_bytes()).unwrap(),
            decimal_comma: true,
            date_formats: vec![],
        }
    }

    fn cols(names: &[&str]) -> BTreeMap<String, ColumnRef> {
        names
            .iter()
            .map(|n| (n.to_string(), ColumnRef::One(n.to_string())))
            .collect()
    }

    #[test]
    fn windows_1252_with_semicolons_reads_and_rows_keep_their_lines() {
        // "Bèta" and "één" in Windows-1252.
        let bytes = b"Stamnr;Vak;Cijfer\r\n1001;B\xe8ta;7,5\r\n\r\n1002;\xe9\xe9n;8\r\n";
        let t = read(
            "c.csv",
            bytes,
            &format("windows-1252", b';'),
            &cols(&["Stamnr", "Vak"]),
        )
        .unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].fields["Vak"], "Bèta");
        assert_eq!(t.rows[0].line, 2);
        assert_eq!(t.rows[1].fields["Vak"], "één");
        assert_eq!(t.rows[1].line, 4);
        assert_eq!(t.rows[1].fields["Cijfer"], "8");
    }

    #[test]
    fn the_wrong_encoding_is_refused_not_misread() {
        let utf8 = "Stamnr;Vak\n1001;Bèta\n".as_bytes();
        let e = read(
            "c.csv",
            utf8,
            &format("windows-1252", b';'),
            &cols(&["Vak"]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("looks like UTF-8"), "{e}");
        let latin = b"Stamnr;Vak\n1001;B\xe8ta\n";
        let e = read("c.csv", latin, &format("utf-8", b';'), &cols(&["Vak"])).unwrap_err();
        assert!(
            e.to_string().contains("line 2") && e.to_string().contains("windows-1252"),
            "{e}"
        );
        // A BOM says UTF-8, whatever the config says.
        let bom = "\u{feff}Stamnr;Vak\n1001;Bèta\n".as_bytes();
        let t = read("c.csv", bom, &format("windows-1252", b';'), &cols(&["Vak"])).unwrap();
        assert_eq!(t.rows[0].fields["Vak"], "Bèta");
    }

    #[test]
    fn a_file_cut_off_mid_line_is_not_read() {
        let e = read(
            "c.csv",
            b"Stamnr;Vak\n1001;Wisk",
            &format("utf-8", b';'),
            &cols(&["Vak"]),
        )
        .unwrap_err();
        assert!(matches!(e, FileRefused::Incomplete { .. }), "{e}");
    }

    #[test]
    fn missing_columns_are_named_and_bad_rows_kept_apart() {
        let e = read(
            "c.csv",
            b"Stamnr;Vakk\n1;x\n",
            &format("utf-8", b';'),
            &cols(&["Vak", "Stamnr"]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("lacks column(s) Vak"), "{e}");
        let t = read(
            "c.csv",
            b"a;b\n1;2\n1;2;3\n\"x;y\n",
            &format("utf-8", b';'),
            &cols(&["a"]),
        )
        .unwrap();
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.broken[0].line, 3);
        assert!(t.broken[0].message.contains("3 fields"), "{:?}", t.broken);
        assert_eq!(t.broken[0].raw, "1;2;3");
    }
}
