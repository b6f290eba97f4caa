//! Mailed one-time secrets: an 8-digit code and a link token per (user, purpose), stored hashed,
//! single use, expiring, dead after [`MAX_ATTEMPTS`] wrong codes.
//!
//! The token is 256 random bits (base64url), stored as its SHA-256 (hex): a database leak gives
//! no usable link. The code has only 8 digits, so its hash is salted with the row id (a leaked
//! table cannot be reversed with one precomputed table of 10^8 hashes), and guessing is bounded
//! by the attempt counter rather than by the hash.
//!
//! Every state change is one conditional `UPDATE` (`… WHERE used_at IS NULL AND attempts < 5 AND
//! expires_at > now`): two concurrent redeems of one secret cannot both win, and concurrent
//! wrong guesses cannot overshoot the counter.

use crate::Inner;
use crate::error::{ApiError, IdpError};
use crate::session::{new_id, random_token};
use crate::store::{Store, now};
use auth_types::contract::FormError;
use http::StatusCode;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use sqlx::Row;

/// Wrong codes a secret survives: the fifth kills it (odds of a guess: 5 in 10^8 per mail).
pub(crate) const MAX_ATTEMPTS: i64 = 5;

/// What a one-time secret is for (the `purpose` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    VerifyEmail,
    PasswordReset,
    ChangeEmail,
    SignInCode,
}

impl Purpose {
    const ALL: [Self; 4] = [
        Self::VerifyEmail,
        Self::PasswordReset,
        Self::ChangeEmail,
        Self::SignInCode,
    ];

    /// The `purpose` column's value.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
            Self::ChangeEmail => "change_email",
            Self::SignInCode => "sign_in_code",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// How long a secret of this purpose lives: a reset link an hour (it is opened from a mail,
    /// often later), every code a quarter of an hour.
    pub(crate) const fn lifetime_secs(self) -> i64 {
        match self {
            Self::PasswordReset => 60 * 60,
            _ => 15 * 60,
        }
    }
}

/// `purpose IN (…)` for a list of purposes: their fixed column values (never user input), so
/// they are written into the SQL rather than bound.
fn purpose_list(purposes: &[Purpose]) -> String {
    let quoted: Vec<String> = purposes
        .iter()
        .map(|p| format!("'{}'", p.as_str()))
        .collect();
    if quoted.is_empty() {
        // Matches nothing.
        "('')".to_owned()
    } else {
        format!("({})", quoted.join(", "))
    }
}

/// The secrets to mail.
#[derive(Debug)]
pub(crate) struct Issued {
    pub(crate) token: String,
    pub(crate) code: String,
}

/// A redeemed secret.
#[derive(Debug)]
pub(crate) struct Redeemed {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) email: String,
    pub(crate) purpose: Purpose,
    /// When the secret was issued (unix seconds): a reset link older than the last password
    /// change is refused.
    pub(crate) created_at: i64,
}

/// SHA-256, lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The stored hash of a code: salted with its row id.
fn code_hash(id: &str, code: &str) -> String {
    sha256_hex(format!("{id}{code}").as_bytes())
}

/// 8 uniformly random digits (rejection sampling: no modulo bias).
fn random_code() -> String {
    const RANGE: u32 = 100_000_000;
    // The largest multiple of RANGE that fits in a u32; draws at or above it are redrawn.
    const LIMIT: u32 = u32::MAX - u32::MAX % RANGE;
    loop {
        let n = OsRng.next_u32();
        if n < LIMIT {
            return format!("{:08}", n % RANGE);
        }
    }
}

/// A presented code, as typed: digits only once spaces and dashes are dropped ("1234 5678").
fn normalise_code(code: &str) -> Option<String> {
    let digits: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    (digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

pub(crate) const INVALID_TOKEN: ApiError = ApiError::new(
    StatusCode::BAD_REQUEST,
    FormError::InvalidToken,
    FormError::InvalidToken.message(),
);
pub(crate) const INVALID_CODE: ApiError = ApiError::new(
    StatusCode::BAD_REQUEST,
    FormError::InvalidCode,
    FormError::InvalidCode.message(),
);
pub(crate) const CODE_LOCKED: ApiError = ApiError::new(
    StatusCode::TOO_MANY_REQUESTS,
    FormError::CodeLocked,
    FormError::CodeLocked.message(),
);

impl Inner {
    /// Voids the live secrets of (user, purpose), stores the new hashes, returns the secrets.
    /// `email`: where the mail goes (the NEW address for ChangeEmail).
    pub(crate) async fn issue_one_time(
        &self,
        user_id: &str,
        email: &str,
        purpose: Purpose,
    ) -> Result<Issued, IdpError> {
        let id = new_id("otc");
        let issued = Issued {
            token: random_token(32),
            code: random_code(),
        };
        self.store
            .insert_one_time(
                &id,
                user_id,
                email,
                purpose,
                &sha256_hex(issued.token.as_bytes()),
                &code_hash(&id, &issued.code),
            )
            .await?;
        Ok(issued)
    }

    /// Voids every live secret of (user, purpose) without issuing one (a password change voids
    /// outstanding reset links).
    pub(crate) async fn void_one_time(
        &self,
        user_id: &str,
        purpose: Purpose,
    ) -> Result<(), IdpError> {
        self.store.void_one_time(user_id, purpose).await
    }

    /// The live secret a token names, without spending it (a form that checks more input
    /// before redeeming: the reset's password policy needs the account's address).
    pub(crate) async fn peek_token(
        &self,
        purposes: &[Purpose],
        token: &str,
    ) -> Result<Option<Redeemed>, IdpError> {
        let token = token.trim();
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        self.store
            .peek_one_time(&sha256_hex(token.as_bytes()), purposes)
            .await
    }

    /// Single use; wrong/expired/used → ApiError InvalidToken (400).
    pub(crate) async fn redeem_token(
        &self,
        purposes: &[Purpose],
        token: &str,
    ) -> Result<Redeemed, ApiError> {
        let token = token.trim();
        // A token is 43 base64url characters; anything else cannot match (and is not hashed).
        if token.is_empty() || token.len() > 128 {
            return Err(INVALID_TOKEN);
        }
        let hash = sha256_hex(token.as_bytes());
        self.store
            .redeem_one_time_where("token_hash = $2", &hash, purposes)
            .await?
            .ok_or(INVALID_TOKEN)
    }

    /// Wrong → InvalidCode (400) and counts a try; 5 wrong → CodeLocked (429, row dead).
    pub(crate) async fn redeem_code(
        &self,
        purposes: &[Purpose],
        email: &str,
        code: &str,
    ) -> Result<Redeemed, ApiError> {
        let Some(code) = normalise_code(code) else {
            // Not a code at all: not counted (it cannot be a guess), but no hint either.
            return Err(INVALID_CODE);
        };
        let live = self.store.live_codes(email, purposes).await?;
        if live.is_empty() {
            // A secret killed by wrong tries says so (the user must ask for a new code).
            return Err(if self.store.locked_code_exists(email, purposes).await? {
                CODE_LOCKED
            } else {
                INVALID_CODE
            });
        }
        for (id, hash) in &live {
            if constant_time_eq(hash.as_bytes(), code_hash(id, &code).as_bytes()) {
                // Lost a race (used or killed meanwhile) → the same answer as a wrong code.
                return self
                    .store
                    .redeem_one_time_where("id = $2", id, purposes)
                    .await?
                    .ok_or(INVALID_CODE);
            }
        }
        // Wrong: every live secret sent to this address counts the try.
        let mut locked = false;
        for (id, _) in &live {
            if let Some(attempts) = self.store.count_wrong_code(id).await?
                && attempts >= MAX_ATTEMPTS
            {
                locked = true;
            }
        }
        Err(if locked { CODE_LOCKED } else { INVALID_CODE })
    }
}

/// Marks the (user, purpose)'s live secrets used; on the pool or inside a transaction.
pub(crate) async fn void_one_time<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    user_id: &str,
    purpose: Purpose,
    now: i64,
) -> Result<(), IdpError> {
    sqlx::query(
        "UPDATE one_time_codes SET used_at = $1 \
         WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(purpose.as_str())
    .execute(db)
    .await?;
    Ok(())
}

/// Compares two digests in constant time (`subtle`; only a length difference exits early).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

impl Store {
    /// Stores a new secret: the (user, purpose)'s dead rows deleted, its live one voided, the
    /// new one inserted, in one transaction.
    async fn insert_one_time(
        &self,
        id: &str,
        user_id: &str,
        email: &str,
        purpose: Purpose,
        token_hash: &str,
        code_hash: &str,
    ) -> Result<(), IdpError> {
        let now = now();
        let mut tx = self.pool.begin().await?;
        // The table stays small without a purge job: the (user, purpose)'s dead rows (used,
        // voided or expired) go now, the live one is voided and goes at the next issue.
        sqlx::query(
            "DELETE FROM one_time_codes WHERE user_id = $1 AND purpose = $2 \
             AND (used_at IS NOT NULL OR expires_at <= $3)",
        )
        .bind(user_id)
        .bind(purpose.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        void_one_time(&mut *tx, user_id, purpose, now).await?;
        sqlx::query(
            "INSERT INTO one_time_codes (id, purpose, user_id, email, token_hash, code_hash, \
             attempts, created_at, expires_at, used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, NULL)",
        )
        .bind(id)
        .bind(purpose.as_str())
        .bind(user_id)
        .bind(email)
        .bind(token_hash)
        .bind(code_hash)
        .bind(now)
        .bind(now + purpose.lifetime_secs())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks the (user, purpose)'s live secrets used.
    async fn void_one_time(&self, user_id: &str, purpose: Purpose) -> Result<(), IdpError> {
        void_one_time(&self.pool, user_id, purpose, now()).await
    }

    /// Marks the live secret matching `cond` (on `$2`) used, and returns it; `None` when no live
    /// secret matches (wrong, used, expired, killed, or another purpose).
    async fn redeem_one_time_where(
        &self,
        cond: &str,
        arg: &str,
        purposes: &[Purpose],
    ) -> Result<Option<Redeemed>, IdpError> {
        let row = sqlx::query(&format!(
            "UPDATE one_time_codes SET used_at = $1 \
             WHERE {cond} AND purpose IN {} AND used_at IS NULL AND expires_at > $1 \
             AND attempts < {MAX_ATTEMPTS} \
             RETURNING id, user_id, email, purpose, created_at",
            purpose_list(purposes)
        ))
        .bind(now())
        .bind(arg)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(redeemed_from_row).transpose()
    }

    /// The live secret whose token hashes to `token_hash`, unchanged.
    async fn peek_one_time(
        &self,
        token_hash: &str,
        purposes: &[Purpose],
    ) -> Result<Option<Redeemed>, IdpError> {
        let row = sqlx::query(&format!(
            "SELECT id, user_id, email, purpose, created_at FROM one_time_codes \
             WHERE token_hash = $2 AND purpose IN {} AND used_at IS NULL AND expires_at > $1 \
             AND attempts < {MAX_ATTEMPTS}",
            purpose_list(purposes)
        ))
        .bind(now())
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(redeemed_from_row).transpose()
    }

    /// The live secrets mailed to `email` for these purposes: (id, code hash).
    async fn live_codes(
        &self,
        email: &str,
        purposes: &[Purpose],
    ) -> Result<Vec<(String, String)>, IdpError> {
        let rows = sqlx::query(&format!(
            "SELECT id, code_hash FROM one_time_codes \
             WHERE email = $1 AND purpose IN {} AND used_at IS NULL AND expires_at > $2 \
             AND attempts < {MAX_ATTEMPTS} AND code_hash IS NOT NULL",
            purpose_list(purposes)
        ))
        .bind(email)
        .bind(now())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Whether an unexpired, unused secret for `email` was killed by wrong codes.
    async fn locked_code_exists(
        &self,
        email: &str,
        purposes: &[Purpose],
    ) -> Result<bool, IdpError> {
        let row = sqlx::query(&format!(
            "SELECT id FROM one_time_codes \
             WHERE email = $1 AND purpose IN {} AND used_at IS NULL AND expires_at > $2 \
             AND attempts >= {MAX_ATTEMPTS} LIMIT 1",
            purpose_list(purposes)
        ))
        .bind(email)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Counts a wrong code against a live secret; its new count, `None` if it is no longer live.
    async fn count_wrong_code(&self, id: &str) -> Result<Option<i64>, IdpError> {
        let row = sqlx::query(&format!(
            "UPDATE one_time_codes SET attempts = attempts + 1 \
             WHERE id = $1 AND used_at IS NULL AND attempts < {MAX_ATTEMPTS} \
             RETURNING attempts"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
    }
}

/// `id, user_id, email, purpose, created_at` → [`Redeemed`].
fn redeemed_from_row(r: &sqlx::any::AnyRow) -> Result<Redeemed, IdpError> {
    let purpose: String = r.try_get(3)?;
    Ok(Redeemed {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        email: r.try_get(2)?,
        purpose: Purpose::parse(&purpose)
            .ok_or_else(|| IdpError::Internal(format!("unknown one-time purpose {purpose}")))?,
        created_at: r.try_get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_eight_digits() {
        for _ in 0..1000 {
            let code = random_code();
            assert_eq!(code.len(), 8);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
        assert_ne!(random_code(), random_code());
    }

    #[test]
    fn codes_are_normalised() {
        assert_eq!(normalise_code(" 1234 5678 ").as_deref(), Some("12345678"));
        assert_eq!(normalise_code("1234-5678").as_deref(), Some("12345678"));
        assert_eq!(normalise_code("1234567"), None);
        assert_eq!(normalise_code("123456789"), None);
        assert_eq!(normalise_code("1234567a"), None);
        assert_eq!(normalise_code("１２３４５６７８"), None);
    }

    #[test]
    fn hashes() {
        assert_eq!(sha256_hex(b"").len(), 64);
        assert_ne!(code_hash("a", "12345678"), code_hash("b", "12345678"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn purposes_round_trip() {
        for p in Purpose::ALL {
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
        }
        assert_eq!(
            purpose_list(&[Purpose::VerifyEmail, Purpose::ChangeEmail]),
            "('verify_email', 'change_email')"
        );
        assert_eq!(purpose_list(&[]), "('')");
    }
}
