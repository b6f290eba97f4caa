//! Mailed one-time secrets (SEAM stub; owned by the flows helper, who replaces the bodies): an
//! 8-digit code and a link token per (user, purpose), stored hashed, single use, expiring, dead
//! after 5 wrong codes.

use crate::Inner;
use crate::error::{ApiError, IdpError};

/// What a one-time secret is for (the `purpose` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    VerifyEmail,
    PasswordReset,
    ChangeEmail,
    SignInCode,
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
}

impl Inner {
    /// Voids the live secrets of (user, purpose), stores the new hashes, returns the secrets.
    pub(crate) async fn issue_one_time(
        &self,
        _user_id: &str,
        _email: &str,
        _purpose: Purpose,
    ) -> Result<Issued, IdpError> {
        Err(IdpError::Internal("one-time secrets are not built yet".into()))
    }

    /// Redeems a link token (single use).
    pub(crate) async fn redeem_token(
        &self,
        _purposes: &[Purpose],
        _token: &str,
    ) -> Result<Redeemed, ApiError> {
        Err(ApiError::BAD_REQUEST)
    }

    /// Redeems a code sent to `email`.
    pub(crate) async fn redeem_code(
        &self,
        _purposes: &[Purpose],
        _email: &str,
        _code: &str,
    ) -> Result<Redeemed, ApiError> {
        Err(ApiError::BAD_REQUEST)
    }
}
