//! Mailed one-time secrets (SEAM stub; owned by the flows helper): an 8-digit code and a link
//! token per (user, purpose), stored hashed, single use, expiring, dead after 5 wrong codes.

/// What a one-time secret is for (the `purpose` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    VerifyEmail,
    PasswordReset,
    ChangeEmail,
    SignInCode,
}
