//! The wire contract between the prebuilt UI, the auth layer and the identity provider: cookie
//! names, `/auth` paths, form error codes and the JSON bodies the forms post. Both sides use these
//! constants, so a path or a code cannot drift between them.
//!
//! ```
//! use auth_types::contract::{FormError, cookies, paths};
//! assert_eq!(cookies::SESSION, "__session");
//! assert_eq!(paths::SIGN_IN, "/auth/sign-in");
//! assert_eq!(FormError::from_code("rate_limited"), Some(FormError::RateLimited));
//! ```

use crate::{AuthState, User};
use serde::{Deserialize, Serialize};

/// Cookie names.
pub mod cookies {
    /// The short-lived session JWT (the same name as Clerk's).
    pub const SESSION: &str = "__session";
    /// The opaque refresh secret of the embedded identity provider.
    pub const REFRESH: &str = "__refresh";
    /// [`SESSION`]'s name when the app is served over https. The `__Host-` prefix makes browsers
    /// accept the cookie only with `Secure`, `Path=/` and no `Domain`, so no sibling subdomain
    /// and no plain-http page can set it. The server still reads [`SESSION`], which loses to it.
    pub const HOST_SESSION: &str = "__Host-session";
    /// [`REFRESH`]'s name when the app is served over https (see [`HOST_SESSION`]).
    pub const HOST_REFRESH: &str = "__Host-refresh";
}

/// The identity provider's HTTP paths.
pub mod paths {
    /// `POST`: create an account and sign in.
    pub const SIGN_UP: &str = "/auth/sign-up";
    /// `POST`: sign in with email and password.
    pub const SIGN_IN: &str = "/auth/sign-in";
    /// `POST`: end this session.
    pub const SIGN_OUT: &str = "/auth/sign-out";
    /// `POST`: end every session of the signed-in user.
    pub const SIGN_OUT_ALL: &str = "/auth/sign-out-all";
    /// `GET`: the [`SessionResponse`](super::SessionResponse) of the caller.
    pub const SESSION: &str = "/auth/session";
    /// `GET`: a fresh session token ([`TokenResponse`](super::TokenResponse)), same origin only.
    pub const TOKEN: &str = "/auth/token";
    /// `GET`: the public signing keys.
    pub const JWKS: &str = "/.well-known/jwks.json";
    /// `GET`: OpenID discovery document.
    pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
    /// The server function behind the profile's name form.
    pub const PROFILE_NAME: &str = "/auth/ui/profile/name";
    /// The app page with the sign-in form (form errors redirect back here).
    pub const SIGN_IN_PAGE: &str = "/sign-in";
    /// The app page with the sign-up form.
    pub const SIGN_UP_PAGE: &str = "/sign-up";
}

/// The longest display name accepted, in characters (names also may not hold control characters).
pub const MAX_NAME_CHARS: usize = 200;

/// Why a form post failed: the `?error=<code>` a form redirect carries back to its page, and the
/// message the form shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FormError {
    /// The body could not be read.
    BadRequest,
    /// Not a valid email address.
    InvalidEmail,
    /// The password does not meet the policy.
    InvalidPassword,
    /// The display name is too long or has control characters.
    InvalidName,
    /// Sign-up with an address that cannot be used.
    EmailTaken,
    /// Wrong email or password.
    InvalidCredentials,
    /// Too many attempts.
    RateLimited,
    /// Signed out.
    Unauthorized,
    /// Refused (cross-origin).
    Forbidden,
    /// The store is down.
    Unavailable,
    /// A bug on the server.
    Internal,
    /// Sign-up with a password from the common-password list.
    CommonPassword,
    /// Sign-up with a password the breached-password service lists.
    BreachedPassword,
}

impl FormError {
    /// Every code, in a fixed order.
    pub const ALL: [Self; 13] = [
        Self::BadRequest,
        Self::InvalidEmail,
        Self::InvalidPassword,
        Self::InvalidName,
        Self::EmailTaken,
        Self::InvalidCredentials,
        Self::RateLimited,
        Self::Unauthorized,
        Self::Forbidden,
        Self::Unavailable,
        Self::Internal,
        Self::CommonPassword,
        Self::BreachedPassword,
    ];

    /// The short code used in `?error=`.
    ///
    /// ```
    /// assert_eq!(auth_types::contract::FormError::EmailTaken.code(), "email_taken");
    /// ```
    pub const fn code(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidEmail => "invalid_email",
            Self::InvalidPassword => "invalid_password",
            Self::InvalidName => "invalid_name",
            Self::EmailTaken => "email_taken",
            Self::InvalidCredentials => "invalid_credentials",
            Self::RateLimited => "rate_limited",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::CommonPassword => "common_password",
            Self::BreachedPassword => "breached_password",
        }
    }

    /// The code's error, `None` for an unknown code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }

    /// The fixed, human-readable message (also the JSON `error` of field errors).
    ///
    /// ```
    /// use auth_types::contract::FormError;
    /// assert_eq!(FormError::InvalidCredentials.message(), "Invalid email or password");
    /// ```
    pub const fn message(self) -> &'static str {
        match self {
            Self::BadRequest => "Malformed request body",
            Self::InvalidEmail => "Invalid email address",
            Self::InvalidPassword => {
                "Password must be 8 to 128 characters and differ from the email"
            }
            Self::InvalidName => "Name must be at most 200 characters",
            Self::EmailTaken => "This email cannot be used to sign up",
            Self::InvalidCredentials => "Invalid email or password",
            Self::RateLimited => "Too many attempts, try again later",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::Unavailable => "Service unavailable",
            Self::Internal => "Internal server error",
            Self::CommonPassword => "This password is too common, choose a less predictable one",
            Self::BreachedPassword => {
                "This password has appeared in a data breach, choose another one"
            }
        }
    }
}

/// The body of `POST /auth/sign-up` (JSON or form fields of the same names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignUpRequest {
    /// The address to sign up with.
    pub email: String,
    /// The password, as typed.
    pub password: String,
    /// Display name (optional).
    #[serde(default)]
    pub name: String,
    /// Same-origin path to go to afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The body of `POST /auth/sign-in`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInRequest {
    /// The account's address.
    pub email: String,
    /// The password, as typed.
    pub password: String,
    /// Same-origin path to go to afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The body of `POST /auth/sign-out` and `/auth/sign-out-all` (may be empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignOutRequest {
    /// Same-origin path to go to afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The JSON answer of `GET /auth/session`, and of a JSON sign-in or sign-up (which also carries
/// `redirect_url`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionResponse {
    /// The verified session state.
    pub auth: AuthState,
    /// The public user, when signed in.
    #[serde(default)]
    pub user: Option<User>,
    /// Where a signed-in form should go next (sign-in and sign-up only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The JSON answer of `GET /auth/token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// A session JWT valid for at least a few more seconds.
    pub token: String,
    /// Its `exp` (seconds since the epoch).
    pub expires_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_is_unique() {
        for e in FormError::ALL {
            assert_eq!(FormError::from_code(e.code()), Some(e));
        }
        let mut codes: Vec<_> = FormError::ALL.iter().map(|e| e.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), FormError::ALL.len());
        assert_eq!(FormError::from_code("nope"), None);
    }

    #[test]
    fn sign_in_body_accepts_a_missing_redirect() {
        let r: SignInRequest = serde_json::from_str(r#"{"email":"a@b.c","password":"p"}"#).unwrap();
        assert_eq!(r.redirect_url, None);
    }
}
