//! Errors: why a token was refused ([`VerifyError`], for logs and tests only), why the
//! configuration is unusable ([`ConfigError`]), why keys could not be loaded ([`KeyError`]), and
//! the HTTP rejection of the guards ([`AuthRejection`]).

use auth_types::{AuthError, ErrorBody};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// Why a session token was refused.
///
/// The reasons are enumerated for logs (at `debug` level) and tests. They are **never** sent to the
/// client: every variant becomes the same `401 {"error":"Unauthorized"}`. The `Display` text is a
/// fixed string per variant and never contains the token, a key id or any other input.
///
/// ```
/// use auth_server::VerifyError;
/// assert_eq!(VerifyError::Expired.to_string(), "token expired");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// No token came with the request (no usable `Authorization: Bearer` header nor `__session`
    /// cookie).
    #[error("no session token")]
    MissingToken,
    /// The token is longer than [`MAX_TOKEN_BYTES`](crate::MAX_TOKEN_BYTES); it was not decoded.
    #[error("token too large")]
    TooLarge,
    /// Not three dot-separated segments, or a segment is not base64url / JSON.
    #[error("malformed token")]
    Malformed,
    /// The header names an algorithm that is unknown (including `none`), not in the allow-list,
    /// or not usable with the key's type (for example HS256 against a public key).
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    /// The token has no `kid` and the key set has more than one key.
    #[error("token has no key id")]
    MissingKeyId,
    /// No key with the token's `kid` (after at most one refetch per cool-down).
    #[error("unknown key id")]
    UnknownKey,
    /// The key set could not be loaded (fetch failed and no usable cached keys).
    #[error("signing keys unavailable")]
    KeysUnavailable,
    /// The signature does not match.
    #[error("invalid signature")]
    InvalidSignature,
    /// `exp` is in the past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `iss` is not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` does not contain a configured audience.
    #[error("wrong audience")]
    WrongAudience,
    /// `azp` is not one of the configured authorized parties.
    #[error("unauthorized party")]
    WrongAuthorizedParty,
    /// A required claim (`exp`, `iss`, `sub`, or `aud` when audiences are configured) is missing
    /// or has the wrong type.
    #[error("missing or invalid required claim `{0}`")]
    MissingClaim(&'static str),
    /// A claim has the wrong type (for example a non-numeric `iat`).
    #[error("invalid claim `{0}`")]
    InvalidClaim(&'static str),
}

impl VerifyError {
    /// Maps a `jsonwebtoken` error to a reason, without keeping any of its text.
    pub(crate) fn from_jwt(e: &jsonwebtoken::errors::Error) -> Self {
        use jsonwebtoken::errors::ErrorKind as K;
        match e.kind() {
            K::InvalidSignature => Self::InvalidSignature,
            K::ExpiredSignature => Self::Expired,
            K::ImmatureSignature => Self::NotYetValid,
            K::InvalidIssuer => Self::WrongIssuer,
            K::InvalidAudience => Self::WrongAudience,
            K::InvalidAlgorithm
            | K::InvalidAlgorithmName
            | K::MissingAlgorithm
            | K::InvalidKeyFormat => Self::AlgorithmNotAllowed,
            K::MissingRequiredClaim(c) | K::InvalidClaimFormat(c) => {
                Self::MissingClaim(static_claim(c))
            }
            _ => Self::Malformed,
        }
    }
}

fn static_claim(c: &str) -> &'static str {
    match c {
        "exp" => "exp",
        "nbf" => "nbf",
        "iss" => "iss",
        "aud" => "aud",
        "sub" => "sub",
        _ => "claim",
    }
}

/// The configuration is unusable. The message names the environment variable (or builder
/// setting) and what is wrong with it, so start-up can fail with a clear message.
///
/// ```
/// use auth_server::{AuthConfig, ConfigError};
/// let err = AuthConfig::from_lookup(|name| (name == "AUTH_PROVIDER").then(|| "ldap".to_string()))
///     .unwrap_err();
/// assert!(matches!(err, ConfigError::Invalid { var: "AUTH_PROVIDER", .. }));
/// assert!(err.to_string().contains("AUTH_PROVIDER"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required variable is not set (or is empty).
    #[error("{var} is required{context}")]
    Missing {
        /// The environment variable.
        var: &'static str,
        /// Why it is required (starts with a separator, may be empty).
        context: &'static str,
    },
    /// A variable is set to an unusable value.
    #[error("{var} is invalid: {reason}")]
    Invalid {
        /// The environment variable.
        var: &'static str,
        /// What is wrong with it (never contains secret material).
        reason: String,
    },
}

/// Keys could not be loaded (a PEM that does not parse, a JWKS without a usable key, a fetch that
/// failed).
///
/// ```
/// use auth_server::{KeyError, KeyStore};
/// assert!(matches!(KeyStore::from_pem("not a pem"), Err(KeyError::InvalidPem)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The PEM is not an RSA, EC (P-256/P-384) or Ed25519 public key.
    #[error("not a PEM-encoded RSA, EC or Ed25519 public key")]
    InvalidPem,
    /// Fetching the JWKS or discovery document failed (network, status, timeout).
    #[error("fetching {what} failed: {reason}")]
    Fetch {
        /// `"JWKS"` or `"OpenID discovery document"`.
        what: &'static str,
        /// The failure.
        reason: String,
    },
    /// The response is larger than the configured limit.
    #[error("{what} response exceeds {limit} bytes")]
    TooLarge {
        /// `"JWKS"` or `"OpenID discovery document"`.
        what: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// The response is not the expected JSON.
    #[error("{what} is not valid: {reason}")]
    Invalid {
        /// `"JWKS"` or `"OpenID discovery document"`.
        what: &'static str,
        /// The failure.
        reason: String,
    },
}

/// The rejection of [`RequireAuth`](crate::RequireAuth) and [`Require`](crate::Require): a `401`
/// or `403` with `content-type: application/json` and a body of exactly `{"error":"Unauthorized"}`
/// or `{"error":"Forbidden"}`.
///
/// ```
/// use auth_server::AuthRejection;
/// use axum::response::IntoResponse;
/// let res = AuthRejection::unauthorized().into_response();
/// assert_eq!(res.status(), 401);
/// assert_eq!(res.headers()["content-type"], "application/json");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuthRejection(pub AuthError);

impl AuthRejection {
    /// `401 {"error":"Unauthorized"}`.
    pub fn unauthorized() -> Self {
        Self(AuthError::Unauthorized)
    }

    /// `403 {"error":"Forbidden"}`.
    pub fn forbidden() -> Self {
        Self(AuthError::Forbidden)
    }

    /// The underlying [`AuthError`].
    ///
    /// ```
    /// # use auth_server::AuthRejection;
    /// assert_eq!(AuthRejection::forbidden().error(), auth_types::AuthError::Forbidden);
    /// ```
    pub fn error(self) -> AuthError {
        self.0
    }
}

impl From<AuthError> for AuthRejection {
    fn from(e: AuthError) -> Self {
        Self(e)
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // Serialising a struct with one string field cannot fail.
        let body = serde_json::to_vec(&ErrorBody::from(self.0)).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        res
    }
}
