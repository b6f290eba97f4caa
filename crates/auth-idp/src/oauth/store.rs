//! Social sign-in's tables: `identities` (provider accounts connected to users) and
//! `oauth_flows` (sign-ins under way, single use).

use crate::error::IdpError;
use crate::store::{Backend, Store};
use sqlx::Row;

/// A provider account to connect.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewIdentity<'a> {
    pub(crate) provider: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) email: Option<&'a str>,
}

/// A sign-in under way, from its start to its callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Flow {
    pub(crate) provider: String,
    pub(crate) pkce_verifier: String,
    pub(crate) nonce: String,
    pub(crate) redirect_url: String,
    /// The user a "connect" flow adds the account to (none: sign in or sign up).
    pub(crate) link_user_id: Option<String>,
    pub(crate) expires_at: i64,
}

/// A connected account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdentityRow {
    pub(crate) provider: String,
    pub(crate) email: Option<String>,
    pub(crate) created_at: i64,
}

/// What disconnecting did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unlinked {
    Done,
    NotFound,
    /// Refused: no password and no other connected account would be left.
    LastMethod,
}

/// Inserts an identity; on the pool or inside a transaction (`&mut *tx`: sign-up by a provider
/// creates user, identity and session together).
pub(crate) async fn insert_identity<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    user_id: &str,
    identity: &NewIdentity<'_>,
    now: i64,
) -> Result<(), IdpError> {
    sqlx::query(
        "INSERT INTO identities (provider, subject, user_id, email, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(identity.provider)
    .bind(identity.subject)
    .bind(user_id)
    .bind(identity.email)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

impl Store {
    /// Records a started sign-in under the hash of its `state`.
    pub(crate) async fn insert_flow(
        &self,
        state_hash: &str,
        flow: &Flow,
        now: i64,
    ) -> Result<(), IdpError> {
        sqlx::query(
            "INSERT INTO oauth_flows (id, provider, pkce_verifier, nonce, redirect_url, \
             link_user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(state_hash)
        .bind(&flow.provider)
        .bind(&flow.pkce_verifier)
        .bind(&flow.nonce)
        .bind(&flow.redirect_url)
        .bind(flow.link_user_id.as_deref())
        .bind(now)
        .bind(flow.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes (deletes and returns) the flow of a `state` hash: a second callback with the same
    /// `state` finds nothing, even when both race.
    pub(crate) async fn take_flow(&self, state_hash: &str) -> Result<Option<Flow>, IdpError> {
        let row = sqlx::query(
            "DELETE FROM oauth_flows WHERE id = $1 RETURNING provider, pkce_verifier, nonce, \
             redirect_url, link_user_id, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some(Flow {
                provider: r.try_get(0)?,
                pkce_verifier: r.try_get(1)?,
                nonce: r.try_get(2)?,
                redirect_url: r.try_get(3)?,
                link_user_id: r.try_get(4)?,
                expires_at: r.try_get(5)?,
            }),
            None => None,
        })
    }

    /// Deletes flows that expired before `before` (abandoned sign-ins).
    pub(crate) async fn purge_flows(&self, before: i64) -> Result<u64, IdpError> {
        let done = sqlx::query("DELETE FROM oauth_flows WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// The user a provider account is connected to.
    pub(crate) async fn identity_owner(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<String>, IdpError> {
        let row =
            sqlx::query("SELECT user_id FROM identities WHERE provider = $1 AND subject = $2")
                .bind(provider)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some(r) => Some(r.try_get(0)?),
            None => None,
        })
    }

    /// The user's connected accounts, oldest first.
    pub(crate) async fn identities_of(&self, user_id: &str) -> Result<Vec<IdentityRow>, IdpError> {
        let rows = sqlx::query(
            "SELECT provider, email, created_at FROM identities WHERE user_id = $1 \
             ORDER BY created_at, provider",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(IdentityRow {
                    provider: r.try_get(0)?,
                    email: r.try_get(1)?,
                    created_at: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Connects a provider account to a user; a unique violation when the account is connected
    /// to someone (or the user already has one at this provider).
    pub(crate) async fn link_identity(
        &self,
        user_id: &str,
        identity: &NewIdentity<'_>,
        now: i64,
    ) -> Result<(), IdpError> {
        insert_identity(&self.pool, user_id, identity, now).await
    }

    /// Disconnects the user's account at `provider`, unless it is their last way in (no
    /// password, no other account). The check and the delete are one transaction, with the
    /// user's row locked on PostgreSQL, so two concurrent disconnects cannot both pass it
    /// (SQLite has one writer at a time).
    pub(crate) async fn unlink_identity(
        &self,
        user_id: &str,
        provider: &str,
    ) -> Result<Unlinked, IdpError> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        } else {
            // Take SQLite's write lock before reading (a no-op write), so the read below
            // cannot go stale.
            sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM identities WHERE user_id = $1 AND provider = $2), \
               (SELECT COUNT(*) FROM identities WHERE user_id = $1), \
               (SELECT COUNT(*) FROM credentials WHERE user_id = $1)",
        )
        .bind(user_id)
        .bind(provider)
        .fetch_one(&mut *tx)
        .await?;
        let (this, all, passwords): (i64, i64, i64) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if this == 0 {
            return Ok(Unlinked::NotFound);
        }
        if all <= 1 && passwords == 0 {
            return Ok(Unlinked::LastMethod);
        }
        sqlx::query("DELETE FROM identities WHERE user_id = $1 AND provider = $2")
            .bind(user_id)
            .bind(provider)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Unlinked::Done)
    }

    /// Connects a provider account trusted for linking to a local account whose address was
    /// never verified, as one transaction: the address becomes verified, and whatever else
    /// could get in goes — the password (perhaps set by whoever registered the address before
    /// its owner), live sessions and mailed codes. Otherwise a squatter's password would keep
    /// working in the owner's account (pre-account takeover).
    pub(crate) async fn claim_unverified_account(
        &self,
        user_id: &str,
        identity: &NewIdentity<'_>,
        now: i64,
    ) -> Result<(), IdpError> {
        let mut tx = self.pool.begin().await?;
        insert_identity(&mut *tx, user_id, identity, now).await?;
        sqlx::query("DELETE FROM credentials WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM one_time_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        crate::store::mark_email_verified(&mut *tx, user_id, now).await?;
        tx.commit().await?;
        Ok(())
    }
}
