//! The counters of a [`Limiter`] kept in the shared PostgreSQL database, so that N instances of
//! one app give an attacker one budget, not N (table `rate_limits`, migration 0006).
//!
//! Each key's window is one row, read and written in one transaction that holds the row's lock
//! from the first statement: an `INSERT … ON CONFLICT DO UPDATE … RETURNING` creates the row or
//! locks the one there and returns it, the check-and-count runs here on the same [`Window`] the
//! in-memory table uses, and an `UPDATE` stores it. Concurrent attempts on one key, from any
//! instance, queue on that lock, so a burst can never pass a check made before the others were
//! counted. Attempts on different keys do not wait for each other.
//!
//! Four round trips per counted key (≈ 1 ms on a local network), next to a password hash that
//! takes tens of milliseconds. When the database cannot be reached the limiter counts in this
//! instance's table instead ([`unavailable`]), so a database outage weakens the limit to one
//! budget per instance for its duration rather than lifting it or refusing everyone.

use super::{Key, Limiter, SLOTS, Window};
use crate::error::IdpError;
use crate::store::Store;
use sqlx::Row;
use std::fmt::Write as _;

impl Store {
    /// Runs `update` on `key`'s window of `limiter` (an empty one for a new key) under the row's
    /// lock, and stores the window when `update` says it changed.
    pub(super) async fn update_window<T>(
        &self,
        limiter: &Limiter,
        key: Key,
        update: impl FnOnce(&mut Window) -> (T, bool),
    ) -> Result<T, IdpError> {
        let row_key = row_key(limiter, key);
        let fresh = Window::empty(super::now_ms() / limiter.slot_ms);
        let mut tx = self.pool.begin().await?;
        // The no-op update takes the row's lock when it exists; RETURNING reads it (or the row
        // just inserted) under that lock.
        let row = sqlx::query(
            "INSERT INTO rate_limits (key, newest, counts, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key RETURNING newest, counts",
        )
        .bind(&row_key)
        .bind(to_i64(fresh.newest))
        .bind(encode(&fresh.counts))
        .bind(to_i64(expires_at(&fresh, limiter.slot_ms)))
        .fetch_one(&mut *tx)
        .await?;
        let mut window = Window {
            newest: u64::try_from(row.try_get::<i64, _>("newest")?).unwrap_or(0),
            counts: decode(&row.try_get::<String, _>("counts")?),
        };
        let (outcome, changed) = update(&mut window);
        if changed {
            sqlx::query(
                "UPDATE rate_limits SET newest = $2, counts = $3, expires_at = $4 WHERE key = $1",
            )
            .bind(&row_key)
            .bind(to_i64(window.newest))
            .bind(encode(&window.counts))
            .bind(to_i64(expires_at(&window, limiter.slot_ms)))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// Forgets `key`'s counts of `limiter`.
    pub(super) async fn delete_window(&self, limiter: &Limiter, key: Key) -> Result<(), IdpError> {
        sqlx::query("DELETE FROM rate_limits WHERE key = $1")
            .bind(row_key(limiter, key))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes the windows whose counts have all left their window (PostgreSQL only; the
    /// stack's background task runs it with the session purge). Returns how many went.
    pub(crate) async fn purge_rate_limits(&self) -> Result<u64, IdpError> {
        if self.backend != crate::store::Backend::Postgres {
            return Ok(0);
        }
        let done = sqlx::query("DELETE FROM rate_limits WHERE expires_at < $1")
            .bind(to_i64(super::now_ms()))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

/// Logs that the shared counters could not be used (the caller counts in memory instead).
pub(super) fn unavailable(limit: &str, error: &IdpError) {
    tracing::warn!(
        limit,
        %error,
        "rate-limit counters unreachable in the database: counting in this instance for now"
    );
}

/// The row's key: the limit's name and the key's digest in hex (never the counted value).
fn row_key(limiter: &Limiter, key: Key) -> String {
    let mut out = String::with_capacity(limiter.name.len() + 33);
    out.push_str(limiter.name);
    out.push(':');
    for byte in key.0 {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// When every count of `window` has left it (Unix ms).
fn expires_at(window: &Window, slot_ms: u64) -> u64 {
    (window.newest + SLOTS as u64).saturating_mul(slot_ms)
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn encode(counts: &[u16; SLOTS]) -> String {
    let mut out = String::with_capacity(SLOTS * 2);
    for (i, count) in counts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{count}");
    }
    out
}

/// The counts of a stored row; anything unreadable counts as zero (the table is ours, written
/// only by [`encode`]).
fn decode(text: &str) -> [u16; SLOTS] {
    let mut counts = [0; SLOTS];
    for (slot, part) in counts.iter_mut().zip(text.split(',')) {
        *slot = part.parse().unwrap_or(0);
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_round_trip_through_their_text_form() {
        let mut counts = [0u16; SLOTS];
        counts[0] = 3;
        counts[7] = u16::MAX;
        counts[SLOTS - 1] = 1;
        assert_eq!(decode(&encode(&counts)), counts);
        assert_eq!(decode("garbage"), [0; SLOTS]);
    }
}
