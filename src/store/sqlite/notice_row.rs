//! A stored notice from a row of [`NOTICE_COLUMNS`], read through sqlx or, where a claim reads
//! thousands of them, straight from the raw connection ([`raw::Row`]): one decoder for both.

use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::raw;
use crate::model::{ChannelKind, Role};
use crate::policy::NoticeKind;
use crate::store::{from_ms, Result, StoreError, StoredNotice};

/// The columns [`notice_from_row`] reads, in its order; a query may select more after them.
pub(super) const NOTICE_COLUMNS: &str =
    "id, key, school, record, event_id, student, recipient, role, channel, kind, due_at, \
                              state, attempts, last_error, reasons, message_id, message_key";

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
    let corrupt = |what: &str, value: &str| StoreError::Corrupt(format!("{what} {value:?}"));
    let (role, channel, kind) = (r.str(7)?, r.str(8)?, r.str(9)?);
    Ok(StoredNotice {
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
        reasons: crate::store::reasons::decode(r.str(14)?)?,
        message_id: r.opt_int(15)?,
        message_key: r.opt_str(16)?.map(str::to_owned),
    })
}
