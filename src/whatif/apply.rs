//! Applying a candidate: checked again, written over the config file atomically (a temporary
//! file in the same folder, fsync, rename, fsync of the folder) with the previous text kept
//! as `<file>.bak`, reloaded through the [`Reloader`] (every pending notice re-planned), and
//! written to the audit trail with digests of the old and new text. When the reload refuses
//! it, the old text is put back and reloaded.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::candidate::{self, Refused};
use crate::reload::Reloader;
use crate::shared::Shared;
use crate::store::audit::AuditEntry;
use crate::store::{Store, StoreError};

/// One apply at a time in this process: the temporary file and the backup are shared.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What applying needs of the running daemon, and who asks (for the audit trail).
pub struct ApplyCtx<'a> {
    pub store: &'a dyn Store,
    pub shared: &'a Shared,
    pub reloader: &'a Reloader,
    /// `admin:<token name>`, `dashboard:<token name>`, …
    pub actor: String,
    pub now: DateTime<Utc>,
}

/// The config in force after an apply.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Applied {
    pub file: String,
    /// Where the previous text is kept.
    pub backup: String,
    /// SHA-256 of the previous and the new text.
    pub old_sha256: String,
    pub new_sha256: String,
    /// Records whose pending notices were planned again under it.
    pub replanned: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The config in force is not the one the what-if was made against.
    #[error("the config in force is {actual}, not {expected}: run the what-if again / de geldende config is {actual}, niet {expected}: doe de what-if opnieuw")]
    Stale { expected: String, actual: String },
    /// Keys only a restart applies: the file would say what the daemon does not do.
    #[error("the candidate changes {}, which only a restart applies: change them in the file and restart / het voorstel wijzigt {}, dat pas na een herstart geldt", .0.join(", "), .0.join(", "))]
    RestartOnly(Vec<String>),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// The reload refused the new file; the old one is back (`restored`) and in force.
    #[error("the reload refused the candidate ({message}); {} / het herladen weigerde het voorstel", restored_text(.restored))]
    Reload { message: String, restored: bool },
    #[error("applying needs the running daemon / toepassen kan alleen in de draaiende daemon")]
    NoDaemon,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn restored_text(restored: &bool) -> &'static str {
    if *restored {
        "the previous file is back in place and in force"
    } else {
        "putting the previous file back failed too: check it by hand"
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ApplyError + '_ {
    move |e| ApplyError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn sha256(text: &[u8]) -> String {
    hex::encode(Sha256::digest(text))
}

/// `<file>.bak`, next to the file.
pub fn backup_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".bak");
    file.with_file_name(name)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder with the mode of
/// the file it replaces, fsync, rename over `path`, fsync of the folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ApplyError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        if let Ok(meta) = std::fs::metadata(path) {
            let _ = f.set_permissions(meta.permissions());
        }
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io(path))?;
        // The rename itself is durable once the folder is.
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Applies `candidate` (the TOML's bytes) to the running daemon; `base_sha256`, when given,
/// must be the config in force (the one the what-if was made against).
pub async fn apply(
    ctx: &ApplyCtx<'_>,
    candidate: &[u8],
    base_sha256: Option<&str>,
) -> Result<Applied, ApplyError> {
    let _one = ONE_AT_A_TIME.lock().await;
    let current = ctx.shared.config();
    let file = current.file.clone();
    let (config, text) = candidate::read(&file, candidate)?;
    if let Some(expected) = base_sha256.filter(|e| *e != current.sha256) {
        return Err(ApplyError::Stale {
            expected: expected.to_string(),
            actual: current.sha256.clone(),
        });
    }
    let restart: Vec<String> = crate::reload::restart_only_changes(&current, &config)
        .into_iter()
        .map(str::to_string)
        .collect();
    if !restart.is_empty() {
        return Err(ApplyError::RestartOnly(restart));
    }
    // The file as it is on disk now (it may differ from what is in force).
    let old = std::fs::read(&file).map_err(io(&file))?;
    let backup = backup_path(&file);
    write_atomically(&backup, &old)?;
    write_atomically(&file, text.as_bytes())?;
    let (old_sha256, new_sha256) = (sha256(&old), sha256(text.as_bytes()));
    let before = json!({ "sha256": old_sha256, "file": file.display().to_string() });
    match ctx.reloader.reload_file(ctx.now).await {
        Ok(replanned) => {
            let after = json!({
                "sha256": new_sha256,
                "backup": backup.display().to_string(),
                "replanned": replanned,
            });
            audit(ctx, Some(before), Some(after)).await?;
            Ok(Applied {
                file: file.display().to_string(),
                backup: backup.display().to_string(),
                old_sha256,
                new_sha256,
                replanned,
            })
        }
        Err(e) => {
            let message = e.to_string().lines().collect::<Vec<_>>().join("; ");
            let restored = write_atomically(&file, &old).is_ok()
                && ctx.reloader.reload_file(ctx.now).await.is_ok();
            tracing::error!(
                restored,
                "config.apply: the reload refused the candidate: {message}"
            );
            let after = json!({ "refused": message, "restored": restored, "sha256": new_sha256 });
            audit(ctx, Some(before), Some(after)).await?;
            Err(ApplyError::Reload { message, restored })
        }
    }
}

async fn audit(
    ctx: &ApplyCtx<'_>,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<(), StoreError> {
    let entry = AuditEntry::new(
        ctx.now,
        ctx.actor.clone(),
        "config.apply",
        "config".to_string(),
    );
    ctx.store
        .audit()
        .append(&entry.change(before, after))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_replaced_whole_and_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("rustig.toml");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        // No temporary file left behind.
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        assert_eq!(backup_path(&path), tmp.path().join("rustig.toml.bak"));
    }
}
