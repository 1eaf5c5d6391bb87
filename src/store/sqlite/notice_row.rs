//! A stored notice from a row of [`NOTICE_COLUMNS`], read through sqlx or, where a claim reads
//! thousands of them, straight from the raw connection ([`raw::Row`]): one decoder for both.

use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::raw;
use crate::model::{ChannelKind, Role};
use crate::policy::NoticeKind;
use crate::store::{from_ms, Result, StoreError, StoredNotice};

/// The columns [`notice_from_row`] reads, in its order; a query may select more after them.
///
/// A notice in a message reads its key from the message's row: the release no longer copies
/// the key into every notice of the message ([`super::claimed`]); rows written before keep
/// their own copy, which is read first.
pub(super) const NOTICE_COLUMNS: &str =
    "id, key, school, record, event_id, student, recipient, role, channel, kind, due_at, \
     state, attempts, last_error, reasons, message_id, \
     COALESCE(message_key, (SELECT key FROM messages WHERE messages.id = message_id))";

/// Column values by position.
pub(super) trait Columns {
    fn int(&self, i: usize) -> Result<i64>;
    fn str(&self, i: usize) -> Result<&str>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>>;
    fn opt_str(&self, i: usize) -> Result<Option<&str>>;
}

impl Columns for SqliteRow {
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.try_get(i)?)
    }
    fn str(&self, i: usize) -> Result<&str> {
        Ok(self.try_get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        Ok(self.try_get(i)?)
    }
    fn opt_str(&self, i: usize) -> Result<Option<&str>> {
        Ok(self.try_get(i)?)
    }
}

impl Columns for raw::Row<'_> {
    fn int(&self, i: usize) -> Result<i64> {
        Ok(raw::Row::int(self, i as _))
    }
    fn str(&self, i: usize) -> Result<&str> {
        Ok(self.text(i as _))
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        Ok((!self.is_null(i as _)).then(|| raw::Row::int(self, i as _)))
    }
    fn opt_str(&self, i: usize) -> Result<Option<&str>> {
        Ok((!self.is_null(i as _)).then(|| self.text(i as _)))
    }
}

/// The notice in a row that starts with [`NOTICE_COLUMNS`].
pub(super) fn notice_from_row(r: &impl Columns) -> Result<StoredNotice> {
    let (mut notice, reasons) = reasons_undecoded(r)?;
    notice.reasons = crate::store::reasons::decode(&reasons)?;
    Ok(notice)
}

/// The notice in a row that starts with [`NOTICE_COLUMNS`] without its reasons, and the
/// reasons as stored. The claim reads thousands of rows while it holds the store's one
/// writer; it decodes their reasons (JSON, ~6 % of its instructions) after its commit
/// (BENCHMARKS.md, issue 18, nineteenth round).
pub(super) fn reasons_undecoded(r: &impl Columns) -> Result<(StoredNotice, String)> {
    let corrupt = |what: &str, value: &str| StoreError::Corrupt(format!("{what} {value:?}"));
    let (role, channel, kind) = (r.str(7)?, r.str(8)?, r.str(9)?);
    let notice = StoredNotice {
        id: r.int(0)?,
        key: r.str(1)?.to_owned(),
        school: r.str(2)?.to_owned(),
        record: r.str(3)?.to_owned(),
        event_id: r.str(4)?.to_owned(),
        student: r.str(5)?.to_owned(),
        recipient: r.str(6)?.to_owned(),
        role: Role::parse(role).ok_or_else(|| corrupt("role", role))?,
        channel: ChannelKind::parse(channel).ok_or_else(|| corrupt("channel", channel))?,
        kind: NoticeKind::parse(kind).ok_or_else(|| corrupt("kind", kind))?,
        due_at: from_ms(r.int(10)?),
        state: r.str(11)?.to_owned(),
        attempts: r.int(12)? as u32,
        last_error: r.opt_str(13)?.map(str::to_owned),
        reasons: Vec::new(),
        message_id: r.opt_int(15)?,
        message_key: r.opt_str(16)?.map(str::to_owned),
    };
    Ok((notice, r.str(14)?.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// The raw path (claims) and sqlx's (everything else) read the same notices, with and
    /// without the nullable columns.
    #[tokio::test]
    async fn raw_rows_read_as_sqlx_rows() {
        let store = SqliteStore::memory().await.unwrap();
        let mut conn = store.pool.acquire().await.unwrap();
        sqlx::query(
            "INSERT INTO messages (id, key, school, recipient, channel, created_at) \
             VALUES (7, 'm7', 'lyceum', 'g-1', 'email', 0)",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO notices (key, school, record, event_id, student, recipient, role, channel, \
             kind, due_at, state, attempts, last_error, reasons, message_id, message_key) VALUES \
             ('k1', 'lyceum', 'r1', 'e1', 's-1', 's-1', 'student', 'webpush', 'grade', 1797228000000, \
              'pending', 0, NULL, '[]', NULL, NULL), \
             ('k2', 'lyceum', 'r1', 'e1', 's-1', 'g-1', 'guardian', 'email', 'correction', 5, \
              'claimed', 3, 'relay said 451 – später', '[]', 7, 'm7'), \
             ('k3', 'lyceum', 'r1', 'e1', 's-1', 'g-2', 'guardian', 'email', 'grade', 5, \
              'sent', 1, NULL, '[]', 7, NULL)",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        let select = format!("SELECT {NOTICE_COLUMNS} FROM notices ORDER BY id");
        let by_sqlx: Vec<StoredNotice> = sqlx::query(&select)
            .fetch_all(&mut *conn)
            .await
            .unwrap()
            .iter()
            .map(|r| notice_from_row(r).unwrap())
            .collect();
        let by_raw = raw::with_raw(&mut conn, |db| {
            let mut out = Vec::new();
            db.prepare(&select)?
                .run_rows(&[], |row| out.push(notice_from_row(&row)))?;
            out.into_iter().collect::<Result<Vec<_>>>()
        })
        .await
        .unwrap();
        assert_eq!(by_raw, by_sqlx);
        assert_eq!(by_raw.len(), 3);
        let (pending, claimed) = (&by_raw[0], &by_raw[1]);
        // A notice without a copy of its message's key reads it from the message's row.
        assert_eq!(by_raw[2].message_key.as_deref(), Some("m7"));
        assert_eq!(
            (
                pending.message_id,
                &pending.message_key,
                &pending.last_error
            ),
            (None, &None, &None)
        );
        assert_eq!(claimed.message_id, Some(7));
        assert_eq!(claimed.message_key.as_deref(), Some("m7"));
        assert_eq!(
            claimed.last_error.as_deref(),
            Some("relay said 451 – später")
        );
        assert_eq!((claimed.attempts, claimed.role), (3, Role::Guardian));
        assert_eq!(claimed.kind, NoticeKind::Correction);
    }
}
