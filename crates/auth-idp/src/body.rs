//! Request bodies of the `/auth` endpoints: JSON or `application/x-www-form-urlencoded` into the
//! contract types of `auth_types::contract`, then normalised and validated. No I/O but reading the
//! body.

use crate::error::ApiError;
use crate::password::MAX_PASSWORD_CHARS;
use crate::password_policy;
use crate::validate::{is_valid_email, normalise_email};
use auth_types::contract::{
    ChangeEmailRequest, ChangePasswordRequest, EmailCodeConfirmRequest, EmailRequest,
    MAX_NAME_CHARS, PasswordRequest, PasswordResetConfirmRequest, RedirectRequest, SignInRequest,
    SignOutRequest, SignUpRequest, VerifyEmailRequest,
};
use axum::body::Body;
use http::header;
use http::request::Parts;
use serde::de::DeserializeOwned;

/// How the client posted, and so how it is answered: a form post with 303 redirects, JSON with
/// JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Form,
}

/// A posted body that may name where to go afterwards.
pub(crate) trait Redirecting {
    /// The `redirect_url` field as sent (sanitised by the caller).
    fn redirect_url(&self) -> Option<&str>;
}

macro_rules! redirecting {
    ($($body:ty),*) => {$(
        impl Redirecting for $body {
            fn redirect_url(&self) -> Option<&str> {
                self.redirect_url.as_deref()
            }
        }
    )*};
}
redirecting!(
    SignUpRequest,
    SignInRequest,
    SignOutRequest,
    EmailRequest,
    VerifyEmailRequest,
    PasswordResetConfirmRequest,
    EmailCodeConfirmRequest,
    ChangePasswordRequest,
    ChangeEmailRequest,
    PasswordRequest,
    RedirectRequest
);

/// Reads and parses the body: 413 when larger than `limit`, 415 for other content types, 400 for
/// malformed JSON, 422 for missing or mistyped fields. An empty body with no content type counts
/// as `{}` when `empty_ok`.
pub(crate) async fn read<T: DeserializeOwned>(
    limit: usize,
    parts: &Parts,
    body: Body,
    empty_ok: bool,
) -> Result<(T, Format), ApiError> {
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TOO_LARGE);
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::TOO_LARGE)?;
    parse(content_type, &bytes, empty_ok)
}

/// The pure half of [`read`]: picks the format from the `Content-Type` value and parses the
/// bytes (no I/O, no size check: the caller bounds the bytes).
pub(crate) fn parse<T: DeserializeOwned>(
    content_type: Option<&str>,
    bytes: &[u8],
    empty_ok: bool,
) -> Result<(T, Format), ApiError> {
    let content_type = content_type.map(|v| {
        v.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    let format = match content_type.as_deref() {
        Some("application/json") => Some(Format::Json),
        Some(t) if t.starts_with("application/") && t.ends_with("+json") => Some(Format::Json),
        Some("application/x-www-form-urlencoded") => Some(Format::Form),
        _ => None,
    };
    let format = match format {
        Some(f) => f,
        None if empty_ok && bytes.is_empty() => Format::Json,
        None => return Err(ApiError::UNSUPPORTED_MEDIA),
    };
    let value = match format {
        Format::Json if bytes.is_empty() && empty_ok => serde_json::from_slice(b"{}"),
        Format::Json => serde_json::from_slice(bytes),
        Format::Form => {
            return serde_urlencoded::from_bytes(bytes)
                .map(|v| (v, format))
                .map_err(|_| ApiError::UNPROCESSABLE);
        }
    };
    match value {
        Ok(v) => Ok((v, format)),
        Err(e) if e.classify() == serde_json::error::Category::Data => Err(ApiError::UNPROCESSABLE),
        Err(_) => Err(ApiError::BAD_REQUEST),
    }
}

/// The sign-up fields after normalisation and validation: the email (trimmed, lowercased,
/// checked), the name (trimmed, at most [`MAX_NAME_CHARS`], no control characters) and the
/// password to hash: NFKC-normalised and checked against the local rules of the password policy
/// (length, not the email, not common; see [`password_policy`]).
pub(crate) fn validate_sign_up(
    input: &SignUpRequest,
) -> Result<(String, String, String), ApiError> {
    let email = normalise_email(&input.email);
    if !is_valid_email(&email) {
        return Err(ApiError::INVALID_EMAIL);
    }
    let password = password_policy::normalise(&input.password);
    password_policy::check(&password, &email)?;
    let name = input.name.trim().to_owned();
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::INVALID_NAME);
    }
    Ok((email, name, password))
}

/// A posted address, normalised (trimmed, lowercased) and checked: 422 `invalid_email` otherwise.
pub(crate) fn valid_email(email: &str) -> Result<String, ApiError> {
    let email = normalise_email(email);
    if is_valid_email(&email) {
        Ok(email)
    } else {
        Err(ApiError::INVALID_EMAIL)
    }
}

/// A new password (reset), NFKC-normalised and checked against the sign-up policy for the
/// account's `email`.
pub(crate) fn valid_new_password(password: &str, email: &str) -> Result<String, ApiError> {
    let password = password_policy::normalise(password);
    password_policy::check(&password, email)?;
    Ok(password)
}

/// The sign-in lookup key and the password actually checked: the normalised email, whether the
/// input is plausible enough to look the account up at all, and the password in the form it was
/// hashed in at sign-up (NFKC), cut to [`MAX_PASSWORD_CHARS`] characters: normalising and hashing
/// work are bounded whatever was sent, and a longer password cannot be any account's.
pub(crate) fn sign_in_key(input: &SignInRequest) -> (String, bool, String) {
    let email = normalise_email(&input.email);
    let mut password = password_policy::normalise(&input.password);
    let plausible = is_valid_email(&email) && password.chars().count() <= MAX_PASSWORD_CHARS;
    if let Some((cut, _)) = password.char_indices().nth(MAX_PASSWORD_CHARS) {
        password.truncate(cut);
    }
    (email, plausible, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign_up(password: &str) -> Result<(String, String, String), ApiError> {
        validate_sign_up(&SignUpRequest {
            email: " Ada@Example.com ".into(),
            password: password.into(),
            name: " Ada ".into(),
            redirect_url: None,
        })
    }

    fn sign_in(password: &str) -> (String, bool, String) {
        sign_in_key(&SignInRequest {
            email: "ada@example.com".into(),
            password: password.into(),
            redirect_url: None,
        })
    }

    #[test]
    fn sign_up_hashes_the_nfkc_form() {
        let (email, name, password) = sign_up("\u{FB01}ne tuned pass").unwrap();
        assert_eq!((email.as_str(), name.as_str()), ("ada@example.com", "Ada"));
        assert_eq!(password, "fine tuned pass");
        assert_eq!(sign_in("\u{FB01}ne tuned pass").2, password);
        assert_eq!(sign_in("fine tuned pass").2, password);
    }

    #[test]
    fn sign_up_applies_the_policy() {
        assert!(sign_up(&"k".repeat(MAX_PASSWORD_CHARS)).is_ok());
        let too_long = sign_up(&"k".repeat(MAX_PASSWORD_CHARS + 1)).unwrap_err();
        assert_eq!(too_long.status, http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(too_long.message.contains("128"), "{}", too_long.message);
        let common = sign_up("Password123").unwrap_err();
        assert_eq!(common.code, auth_types::contract::FormError::CommonPassword);
        assert!(sign_up("ada@example.com").is_err());
    }

    #[test]
    fn sign_in_bounds_what_is_hashed() {
        let (_, plausible, password) = sign_in(&"k".repeat(MAX_PASSWORD_CHARS));
        assert!(plausible);
        assert_eq!(password.chars().count(), MAX_PASSWORD_CHARS);
        let (_, plausible, password) = sign_in(&"\u{FDFA}".repeat(50_000));
        assert!(!plausible);
        assert_eq!(password.chars().count(), MAX_PASSWORD_CHARS);
        // Decomposed input that normalises to the limit is still plausible.
        let (_, plausible, _) = sign_in(&"e\u{301}".repeat(MAX_PASSWORD_CHARS));
        assert!(plausible);
    }
}
