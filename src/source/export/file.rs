//! Finding the export to read: the newest matching file in a folder, or a download.
//!
//! A file is read only when it is complete. Writers are expected to write to a temporary
//! name and rename it into place (an atomic rename); names starting with "." or ending in
//! ".tmp", ".part", ".partial" or "~" are never read. For writers that write in place, a
//! file is read only after it has been still (same size and time) for `settle`, and is
//! dropped if it changed while being read; [`table`](super::table) then also requires that
//! it ends with a line break.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::clock::SystemClock;
use crate::config::sis::{FileSource, Location};
use crate::source::poll::fetch::{self, FetchError};

/// A complete export file.
#[derive(Debug, Clone)]
pub struct ExportFile {
    /// The file name (or the URL's last segment), for messages.
    pub name: String,
    pub bytes: Vec<u8>,
    /// A hash of the content: the cursor that says "this one is done".
    pub identity: String,
}

#[derive(Debug)]
pub enum Found {
    /// No matching file (yet).
    Nothing,
    /// The newest file is still being written (or settling).
    Waiting(String),
    /// The file already processed.
    Same,
    File(ExportFile),
}

/// Remembers what it saw, so that an unchanged folder costs a directory listing only.
pub struct FileWatch {
    source: FileSource,
    client: reqwest::Client,
    token: Option<String>,
    last: Option<(PathBuf, u64, SystemTime)>,
}

impl FileWatch {
    pub fn new(source: FileSource) -> Result<FileWatch, String> {
        let (timeout, token) = match &source.location {
            Location::Url {
                timeout,
                token_file,
                ..
            } => (
                *timeout,
                match token_file {
                    None => None,
                    Some(p) => Some(
                        std::fs::read_to_string(p)
                            .map_err(|e| format!("reading the token file {}: {e}", p.display()))?
                            .trim()
                            .to_string(),
                    ),
                },
            ),
            Location::Folder { .. } => (std::time::Duration::from_secs(30), None),
        };
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(FileWatch {
            source,
            client,
            token,
            last: None,
        })
    }

    pub fn source(&self) -> &FileSource {
        &self.source
    }

    /// The export to read now, given the identity of the one read last.
    pub async fn next(&mut self, done: Option<&str>) -> Result<Found, FetchError> {
        let found = match self.source.location.clone() {
            Location::Folder { folder, pattern } => self.in_folder(&folder, &pattern).await?,
            Location::Url { url, .. } => {
                let bytes =
                    fetch::get(&self.client, "export download", &url, self.token.as_deref())
                        .await?;
                let name = url
                    .rsplit('/')
                    .next()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("download")
                    .split('?')
                    .next()
                    .unwrap_or("download")
                    .to_string();
                Found::File(ExportFile {
                    identity: identity(&bytes),
                    name,
                    bytes,
                })
            }
        };
        Ok(match found {
            Found::File(f) if Some(f.identity.as_str()) == done => Found::Same,
            other => other,
        })
    }

    async fn in_folder(&mut self, folder: &Path, pattern: &str) -> Result<Found, FetchError> {
        let folder_owned = folder.to_path_buf();
        let pattern_owned = pattern.to_string();
        let newest = tokio::task::spawn_blocking(move || newest(&folder_owned, &pattern_owned))
            .await
            .map_err(|e| FetchError::transient(e.to_string()))?
            .map_err(|e| {
                FetchError::Permanent(format!("export folder {}: {e}", folder.display()))
            })?;
        let Some((path, len, modified)) = newest else {
            return Ok(Found::Nothing);
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let age = SystemClock::system_time()
            .duration_since(modified)
            .unwrap_or_default();
        if age < self.source.settle {
            return Ok(Found::Waiting(name));
        }
        if self.last.as_ref() == Some(&(path.clone(), len, modified)) {
            return Ok(Found::Same);
        }
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| FetchError::transient(format!("reading {name}: {e}")))?;
        let after = tokio::fs::metadata(&path).await.ok();
        let still = after.is_some_and(|m| m.len() == len && m.modified().ok() == Some(modified));
        if !still || bytes.len() as u64 != len {
            return Ok(Found::Waiting(name));
        }
        self.last = Some((path, len, modified));
        Ok(Found::File(ExportFile {
            identity: identity(&bytes),
            name,
            bytes,
        }))
    }
}

/// The newest regular file in `folder` whose name matches `pattern`, skipping names that
/// writers use while writing.
fn newest(folder: &Path, pattern: &str) -> std::io::Result<Option<(PathBuf, u64, SystemTime)>> {
    let mut best: Option<(PathBuf, u64, SystemTime)> = None;
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.')
            || [".tmp", ".part", ".partial", "~"]
                .iter()
                .any(|s| name.ends_with(s))
            || !matches(pattern, &name)
        {
            continue;
        }
        let meta = entry.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let modified = meta.modified()?;
        let newer = match &best {
            None => true,
            Some((p, _, m)) => (modified, &entry.path()) > (*m, p),
        };
        if newer {
            best = Some((entry.path(), meta.len(), modified));
        }
    }
    Ok(best)
}

/// `*` any run of characters, `?` one character; the rest literally.
pub fn matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

fn identity(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("*.csv", "cijfers-2026-11-23.csv"));
        assert!(matches("cijfers*.csv", "cijfers.csv"));
        assert!(!matches("cijfers*.csv", "absenties.csv"));
        assert!(matches("export-??.csv", "export-01.csv"));
        assert!(!matches("*.csv", "cijfers.csv.tmp"));
    }
}
