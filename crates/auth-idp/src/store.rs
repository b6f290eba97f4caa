//! Persistence on SQLite or PostgreSQL through `sqlx::Any`: one set of queries (`$1` placeholders,
//! `TEXT`/`BIGINT` columns, JSON as text) runs on both; migrations are embedded, one folder per
//! backend (`migrations/sqlite`, `migrations/postgres`).

use super::config::IdpConfig;
use super::error::IdpError;
use super::users::UserRecord;
use auth_types::{User, UserId};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::time::Duration;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (a file).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The database handle (cheap to clone).
#[derive(Debug, Clone)]
pub struct Store {
    /// The pool; feature modules (`verification.rs`, `settings.rs`, …) keep their queries in
    /// their own `impl Store` blocks.
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
}

pub(crate) const USER_COLUMNS: &str = "u.id, u.email, u.name, u.image_url, u.created_at, \
     u.public_metadata, u.private_metadata, u.roles, u.email_verified";

/// A password credential: its argon2 PHC string and when it was set (Unix seconds).
#[derive(Debug, Clone)]
pub(crate) struct Credential {
    pub hash: String,
    pub updated_at: i64,
}

/// A session row joined with its user's roles.
#[derive(Debug, Clone)]
pub(crate) struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_active_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub roles: Vec<String>,
    /// SHA-256 of the current refresh secret.
    pub refresh_secret_hash: String,
    /// SHA-256 of the secret the last rotation replaced, and when (the grace runs from then).
    pub previous_secret_hash: Option<String>,
    pub rotated_at: Option<i64>,
    /// The user's `email_verified`, for the token's claim.
    pub email_verified: bool,
}

/// One refresh-secret rotation: the session, the secret it replaces, and its successor.
#[derive(Debug)]
pub(crate) struct Rotation<'a> {
    pub session_id: &'a str,
    pub old_hash: &'a str,
    pub new_hash: &'a str,
    pub family_hash: &'a str,
    pub now: i64,
}

/// `last_active_at` is written at most this often (seconds): a refresh within a minute of the
/// last recorded activity leaves it alone. The idle timeout is at least a minute.
pub(crate) const ACTIVITY_RESOLUTION_SECS: i64 = 60;

/// A signing key row.
#[derive(Debug, Clone)]
pub(crate) struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub private_key_pem: String,
    pub public_jwk: String,
    /// Signs now (`current_marker`).
    pub current: bool,
    /// Published, waiting for `activates_at` to sign (`next_marker`).
    pub next: bool,
    /// Unix seconds from which the key signs (its creation time for keys made current at once).
    pub activates_at: i64,
}

/// Everything sign-up writes, in one transaction.
#[derive(Debug, Default)]
pub(crate) struct NewAccount<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub roles: &'a [String],
    /// None for an account created by a sign-in provider (it can set one later).
    pub password_hash: Option<&'a str>,
    /// Already verified (an address a sign-in provider vouched for).
    pub email_verified: bool,
    pub image_url: Option<&'a str>,
    /// The provider account that created it (`oauth.rs`).
    pub identity: Option<crate::oauth::NewIdentity<'a>>,
    /// The first session; none when the address must be verified first.
    pub session: Option<NewSession<'a>>,
}

/// A session to insert.
#[derive(Debug)]
pub(crate) struct NewSession<'a> {
    pub id: &'a str,
    pub refresh_secret_hash: &'a str,
    pub family_hash: &'a str,
    pub expires_at: i64,
    pub user_agent: Option<&'a str>,
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Store {
    /// Connects, creating the SQLite file's folder if needed, and runs the migrations.
    pub async fn connect(config: &IdpConfig) -> Result<Self, IdpError> {
        sqlx::any::install_default_drivers();
        let url = config.database_url.as_str();
        let backend = if url.starts_with("sqlite:") {
            create_sqlite_folder(url)?;
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        let store = Self { pool, backend };
        match backend {
            Backend::Sqlite => store.prepare_sqlite().await?,
            // PostgreSQL migrations take an advisory lock: concurrent starts are serialised.
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&store.pool).await?,
        }
        Ok(store)
    }

    /// Switches the file to WAL (readers and one writer at once; the setting persists in the
    /// file) and migrates it. SQLite has no advisory lock, so two processes starting at once on
    /// a new file race: switching to WAL needs an exclusive lock and answers `SQLITE_BUSY` at once
    /// (without waiting for the busy timeout) while the other holds the file, and both may try to
    /// apply a migration, whose loser rolls back. Re-running then finds WAL on and the migration
    /// applied, and skips them.
    async fn prepare_sqlite(&self) -> Result<(), IdpError> {
        let mut attempt = 0;
        loop {
            let prepared = async {
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&self.pool)
                    .await?;
                SQLITE_MIGRATIONS.run(&self.pool).await?;
                Ok::<_, IdpError>(())
            };
            match prepared.await {
                Ok(()) => return Ok(()),
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "SQLite migration raced; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection; later calls fail with "Service unavailable".
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A trivial query (`SELECT 1`) through the pool: a connection can be had and the database
    /// answers (readiness checks). Bounded by the pool's acquire timeout.
    pub(crate) async fn ping(&self) -> Result<(), IdpError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    // ---- accounts -------------------------------------------------------------------------

    /// Creates user, credential (or provider identity) and (unless the address must be verified first) the first
    /// session, atomically.
    pub(crate) async fn create_account(&self, a: &NewAccount<'_>) -> Result<(), IdpError> {
        let now = now();
        let roles =
            serde_json::to_string(a.roles).map_err(|e| IdpError::Internal(e.to_string()))?;
        let mut conn = self.pool.acquire().await?;
        let result = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            let inserted = sqlx::query(
                "INSERT INTO users (id, email, name, image_url, created_at, updated_at, \
                 public_metadata, private_metadata, roles, email_verified) \
                 VALUES ($1, $2, $3, $6, $4, $4, '{}', '{}', $5, $7)",
            )
            .bind(a.user_id)
            .bind(a.email)
            .bind(a.name)
            .bind(now)
            .bind(roles)
            .bind(a.image_url)
            .bind(i64::from(a.email_verified))
            .execute(&mut *tx)
            .await
            .map_err(IdpError::from);
            match inserted {
                Err(e) if e.is_unique_violation() => return Err(IdpError::EmailTaken),
                other => other?,
            };
            if let Some(hash) = a.password_hash {
                upsert_credential(&mut *tx, a.user_id, hash, now).await?;
            }
            if let Some(identity) = &a.identity {
                crate::oauth::insert_identity(&mut *tx, a.user_id, identity, now).await?;
            }
            if let Some(session) = &a.session {
                insert_session(&mut tx, a.user_id, session, now).await?;
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        release(conn, &result).await;
        result
    }

    /// The user's password credential; `None` when the account has no password.
    pub(crate) async fn credential(&self, user_id: &str) -> Result<Option<Credential>, IdpError> {
        let row =
            sqlx::query("SELECT password_hash, updated_at FROM credentials WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some(r) => Some(Credential {
                hash: r.try_get(0)?,
                updated_at: r.try_get(1)?,
            }),
            None => None,
        })
    }

    /// The user id and password hash for an email, if the account exists.
    pub(crate) async fn credential_by_email(
        &self,
        email: &str,
    ) -> Result<Option<(String, String)>, IdpError> {
        let row = sqlx::query(
            "SELECT u.id, c.password_hash FROM users u \
             JOIN credentials c ON c.user_id = u.id WHERE u.email = $1",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
            None => None,
        })
    }

    // ---- users ----------------------------------------------------------------------------

    pub(crate) async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, IdpError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    pub(crate) async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, IdpError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    pub(crate) async fn list_users(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<UserRecord>, i64), IdpError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u ORDER BY u.created_at, u.id LIMIT $1 OFFSET $2"
        ))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let users = rows.iter().map(user_from_row).collect::<Result<_, _>>()?;
        Ok((users, total))
    }

    pub(crate) async fn update_user(
        &self,
        id: &str,
        name: &str,
        image_url: Option<&str>,
        public_metadata: &str,
        private_metadata: &str,
    ) -> Result<bool, IdpError> {
        let done = sqlx::query(
            "UPDATE users SET name = $1, image_url = $2, public_metadata = $3, \
             private_metadata = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(name)
        .bind(image_url)
        .bind(public_metadata)
        .bind(private_metadata)
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn set_roles(&self, id: &str, roles: &[String]) -> Result<bool, IdpError> {
        let roles = serde_json::to_string(roles).map_err(|e| IdpError::Internal(e.to_string()))?;
        let done = sqlx::query("UPDATE users SET roles = $1, updated_at = $2 WHERE id = $3")
            .bind(roles)
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes the user with its credential and sessions (so every refresh fails at once).
    pub(crate) async fn delete_user(&self, id: &str) -> Result<bool, IdpError> {
        let mut conn = self.pool.acquire().await?;
        let result = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM credentials WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        }
        .await;
        release(conn, &result).await;
        result
    }

    // ---- sessions -------------------------------------------------------------------------

    pub(crate) async fn create_session(
        &self,
        user_id: &str,
        session: &NewSession<'_>,
    ) -> Result<(), IdpError> {
        let mut conn = self.pool.acquire().await?;
        let result = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            insert_session(&mut tx, user_id, session, now()).await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        release(conn, &result).await;
        result
    }

    /// The session whose current or previous refresh secret hashes to `hash` (secrets issued
    /// before rotation existed carry no family tag).
    pub(crate) async fn session_by_secret_hash(
        &self,
        hash: &str,
    ) -> Result<Option<SessionRow>, IdpError> {
        match self
            .session_where("s.refresh_secret_hash = $1", hash)
            .await?
        {
            Some(row) => Ok(Some(row)),
            None => {
                self.session_where("s.previous_secret_hash = $1", hash)
                    .await
            }
        }
    }

    /// The session whose refresh secrets share the family tag hashing to `family_hash`.
    pub(crate) async fn session_by_family(
        &self,
        family_hash: &str,
    ) -> Result<Option<SessionRow>, IdpError> {
        self.session_where("s.family_hash = $1", family_hash).await
    }

    pub(crate) async fn session_by_id(&self, id: &str) -> Result<Option<SessionRow>, IdpError> {
        self.session_where("s.id = $1", id).await
    }

    async fn session_where(&self, cond: &str, arg: &str) -> Result<Option<SessionRow>, IdpError> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id WHERE {cond}"
        ))
        .bind(arg)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| session_from_row(&r)).transpose()
    }

    /// Replaces a live session's refresh secret, keeping the old one as its previous secret;
    /// `last_active_at` moves only when it is at least [`ACTIVITY_RESOLUTION_SECS`] old.
    /// Conditional on the old secret still being current: `false` when another request (or
    /// instance) rotated it first, or the session was revoked, so two concurrent refreshes
    /// cannot fork a session into two live secrets.
    pub(crate) async fn rotate_session(&self, r: &Rotation<'_>) -> Result<bool, IdpError> {
        let done = sqlx::query(
            "UPDATE sessions SET refresh_secret_hash = $1, previous_secret_hash = $2, \
             rotated_at = $3, family_hash = $4, last_active_at = CASE WHEN last_active_at <= $5 \
             THEN $3 ELSE last_active_at END \
             WHERE id = $6 AND refresh_secret_hash = $2 AND revoked_at IS NULL",
        )
        .bind(r.new_hash)
        .bind(r.old_hash)
        .bind(r.now)
        .bind(r.family_hash)
        .bind(r.now - ACTIVITY_RESOLUTION_SECS)
        .bind(r.session_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn revoke_session(&self, id: &str) -> Result<(), IdpError> {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn revoke_user_sessions(&self, user_id: &str) -> Result<u64, IdpError> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Deletes sessions that expired or were revoked before `before` (Unix seconds).
    pub(crate) async fn purge_sessions(&self, before: i64) -> Result<u64, IdpError> {
        let done = sqlx::query(
            "DELETE FROM sessions WHERE expires_at < $1 OR (revoked_at IS NOT NULL AND revoked_at < $1)",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    // ---- signing keys ---------------------------------------------------------------------

    /// The current key, the next key, and every key retired after `retired_after`.
    pub(crate) async fn load_keys(&self, retired_after: i64) -> Result<Vec<KeyRow>, IdpError> {
        let rows = sqlx::query(
            "SELECT kid, alg, private_key_pem, public_jwk, current_marker, next_marker, \
             COALESCE(activates_at, created_at) \
             FROM signing_keys WHERE retired_at IS NULL OR retired_at > $1 \
             ORDER BY created_at DESC, kid",
        )
        .bind(retired_after)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let current: Option<i64> = r.try_get(4)?;
                let next: Option<i64> = r.try_get(5)?;
                Ok(KeyRow {
                    kid: r.try_get(0)?,
                    alg: r.try_get(1)?,
                    private_key_pem: r.try_get(2)?,
                    public_jwk: r.try_get(3)?,
                    current: current == Some(1),
                    next: next == Some(1),
                    activates_at: r.try_get(6)?,
                })
            })
            .collect()
    }

    /// Inserts a new current key that signs at once. With `retire` (an immediate rotation) the
    /// previous current key and a next key waiting to sign are retired first (both stay published
    /// for the retirement window: an instance may have just started signing with the next one).
    /// Fails with a unique violation when another instance made a current key concurrently.
    pub(crate) async fn insert_current_key(
        &self,
        kid: &str,
        alg: &str,
        private_key: &str,
        public_jwk: &str,
        retire: bool,
    ) -> Result<(), IdpError> {
        let now = now();
        let mut conn = self.pool.acquire().await?;
        let result = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            if retire {
                sqlx::query(
                    "UPDATE signing_keys SET current_marker = NULL, next_marker = NULL, \
                     retired_at = $1 WHERE current_marker = 1 OR next_marker = 1",
                )
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "INSERT INTO signing_keys (kid, alg, private_key_pem, public_jwk, created_at, \
                 retired_at, current_marker, next_marker, activates_at) \
                 VALUES ($1, $2, $3, $4, $5, NULL, 1, NULL, $5)",
            )
            .bind(kid)
            .bind(alg)
            .bind(private_key)
            .bind(public_jwk)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        release(conn, &result).await;
        result
    }

    /// Inserts the next key: published now, signing from `activates_at`. Fails with a unique
    /// violation when a next key already exists (a rotation under way).
    pub(crate) async fn insert_next_key(
        &self,
        kid: &str,
        alg: &str,
        private_key: &str,
        public_jwk: &str,
        activates_at: i64,
    ) -> Result<(), IdpError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_key_pem, public_jwk, created_at, \
             retired_at, current_marker, next_marker, activates_at) \
             VALUES ($1, $2, $3, $4, $5, NULL, NULL, 1, $6)",
        )
        .bind(kid)
        .bind(alg)
        .bind(private_key)
        .bind(public_jwk)
        .bind(now())
        .bind(activates_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records that the next key `kid` signs since `activates_at`: it becomes current and the
    /// previous current key is retired as of that time. Idempotent under concurrency: the first
    /// statement claims the next key's row, so of instances doing this at once one moves the
    /// markers and the others find nothing to claim.
    pub(crate) async fn activate_next_key(
        &self,
        kid: &str,
        activates_at: i64,
    ) -> Result<(), IdpError> {
        let mut conn = self.pool.acquire().await?;
        let result = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            let claimed = sqlx::query(
                "UPDATE signing_keys SET next_marker = NULL WHERE kid = $1 AND next_marker = 1",
            )
            .bind(kid)
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() == 1 {
                sqlx::query(
                    "UPDATE signing_keys SET current_marker = NULL, retired_at = $1 \
                     WHERE current_marker = 1 AND kid <> $2",
                )
                .bind(activates_at)
                .bind(kid)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE signing_keys SET current_marker = 1 WHERE kid = $1")
                    .bind(kid)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        release(conn, &result).await;
        result
    }

    /// `(kid, PEM)` of every private key stored as plaintext PEM.
    pub(crate) async fn plaintext_private_keys(&self) -> Result<Vec<(String, String)>, IdpError> {
        let rows = sqlx::query(
            "SELECT kid, private_key_pem FROM signing_keys \
             WHERE private_key_pem LIKE '-----BEGIN%'",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Replaces a stored private key if it still holds `old` (compare-and-set).
    pub(crate) async fn replace_private_key(
        &self,
        kid: &str,
        old: &str,
        new: &str,
    ) -> Result<(), IdpError> {
        sqlx::query(
            "UPDATE signing_keys SET private_key_pem = $1 WHERE kid = $2 AND private_key_pem = $3",
        )
        .bind(new)
        .bind(kid)
        .bind(old)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Hands a transaction's connection back to the pool, or closes it when the transaction failed
/// for another reason than a constraint. After a failed `COMMIT` (SQLite rolls back by itself on
/// an I/O error, e.g. a file that became read-only) sqlx still counts the transaction as open on
/// that connection; reused, its next "transaction" would be a savepoint whose rollback leaves a
/// real transaction open for good (stale reads, `SQLITE_BUSY_SNAPSHOT` on every write). A fresh
/// connection has none of that.
async fn release<T>(conn: sqlx::pool::PoolConnection<sqlx::Any>, result: &Result<T, IdpError>) {
    if let Err(e) = result
        && !matches!(e, IdpError::EmailTaken)
        && !e.is_unique_violation()
    {
        tracing::warn!(error = %e, "closing a database connection after a failed transaction");
        let _ = conn.close().await;
    }
}

async fn insert_session(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: &str,
    s: &NewSession<'_>,
    now: i64,
) -> Result<(), IdpError> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, refresh_secret_hash, created_at, last_active_at, \
         expires_at, revoked_at, user_agent, family_hash) \
         VALUES ($1, $2, $3, $4, $4, $5, NULL, $6, $7)",
    )
    .bind(s.id)
    .bind(user_id)
    .bind(s.refresh_secret_hash)
    .bind(now)
    .bind(s.expires_at)
    .bind(s.user_agent)
    .bind(s.family_hash)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets a user's password hash, creating the credential of an account that had none; on the
/// pool or inside a transaction (`&mut *tx`).
pub(crate) async fn upsert_credential<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    user_id: &str,
    hash: &str,
    now: i64,
) -> Result<(), IdpError> {
    sqlx::query(
        "INSERT INTO credentials (user_id, password_hash, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, \
         updated_at = excluded.updated_at",
    )
    .bind(user_id)
    .bind(hash)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// `email_verified = 1`; on the pool or inside a transaction.
pub(crate) async fn mark_email_verified<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    user_id: &str,
    now: i64,
) -> Result<(), IdpError> {
    sqlx::query("UPDATE users SET email_verified = 1, updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// The columns [`session_from_row`] reads, in its order (`s`: sessions, `u`: users).
pub(crate) const SESSION_COLUMNS: &str = "s.id, s.user_id, s.created_at, s.last_active_at, \
     s.expires_at, s.revoked_at, u.roles, s.refresh_secret_hash, s.previous_secret_hash, \
     s.rotated_at, u.email_verified";

/// A [`SessionRow`] from a row that starts with [`SESSION_COLUMNS`].
pub(crate) fn session_from_row(r: &AnyRow) -> Result<SessionRow, IdpError> {
    let roles: String = r.try_get(6)?;
    Ok(SessionRow {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        created_at: r.try_get(2)?,
        last_active_at: r.try_get(3)?,
        expires_at: r.try_get(4)?,
        revoked_at: r.try_get(5)?,
        roles: serde_json::from_str(&roles).unwrap_or_default(),
        refresh_secret_hash: r.try_get(7)?,
        previous_secret_hash: r.try_get(8)?,
        rotated_at: r.try_get(9)?,
        email_verified: r.try_get::<i64, _>(10)? != 0,
    })
}

pub(crate) fn user_from_row(r: &AnyRow) -> Result<UserRecord, IdpError> {
    let public: String = r.try_get(5)?;
    let private: String = r.try_get(6)?;
    let roles: String = r.try_get(7)?;
    Ok(UserRecord {
        user: User {
            email_verified: r.try_get::<i64, _>(8)? != 0,
            id: UserId::new(r.try_get::<String, _>(0)?),
            email: r.try_get(1)?,
            name: r.try_get(2)?,
            image_url: r.try_get(3)?,
            created_at: r.try_get(4)?,
            public_metadata: serde_json::from_str(&public).unwrap_or_default(),
            roles: serde_json::from_str(&roles).unwrap_or_default(),
        },
        private_metadata: serde_json::from_str(&private).unwrap_or_default(),
    })
}

/// Creates the folder of a `sqlite://path?…` / `sqlite:path` database file, owner-only (0700),
/// and, with `mode=rwc`, the file itself owner-only (0600) before SQLite would create it with
/// the umask's mode (0644 as a rule): it holds password hashes and signing keys. SQLite gives
/// the `-wal` and `-shm` files it creates the database file's mode. An existing file (or
/// `-wal`/`-shm`) readable by others is narrowed to 0600; existing folders are left alone.
fn create_sqlite_folder(url: &str) -> Result<(), IdpError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path.starts_with(':') {
        return Ok(()); // in-memory
    }
    let path = std::path::Path::new(path);
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        let mut folder = std::fs::DirBuilder::new();
        folder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
        folder.create(parent).map_err(|e| {
            IdpError::Startup(format!(
                "cannot create the folder of the SQLite database ({}): {e}",
                parent.display()
            ))
        })?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if query.split('&').any(|p| p == "mode=rwc") {
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path);
            match created {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(IdpError::Startup(format!(
                        "cannot create the SQLite database ({}): {e}",
                        path.display()
                    )));
                }
            }
        }
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let mut shm = path.as_os_str().to_owned();
        shm.push("-shm");
        for file in [path.as_os_str(), &wal, &shm] {
            let Ok(meta) = std::fs::metadata(file) else {
                continue;
            };
            if meta.is_file()
                && meta.permissions().mode() & 0o077 != 0
                && let Err(e) =
                    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
            {
                tracing::warn!(
                    file = %std::path::Path::new(file).display(),
                    error = %e,
                    "the SQLite database is open to other users and could not be narrowed to 0600"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = query;
    Ok(())
}
