use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a request was refused. Messages are fixed strings: they never echo a token, a key id or
/// anything else the client sent.
///
/// ```
/// use auth_types::{AuthError, ErrorBody};
/// assert_eq!(AuthError::Unauthorized.status(), 401);
/// assert_eq!(
///     serde_json::to_string(&ErrorBody::from(AuthError::Unauthorized)).unwrap(),
///     r#"{"error":"Unauthorized"}"#
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthError {
    /// Signed out, or the session token is invalid: HTTP 401.
    Unauthorized,
    /// Signed in without the required role or permission: HTTP 403.
    Forbidden,
    /// The auth backend (database, user store) cannot answer right now: HTTP 503.
    Unavailable,
}

impl AuthError {
    /// The HTTP status code for this error.
    pub fn status(self) -> u16 {
        match self {
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::Unavailable => 503,
        }
    }

    /// The fixed message sent to the client.
    pub fn message(self) -> &'static str {
        match self {
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::Unavailable => "Service unavailable",
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for AuthError {}

/// The JSON body of every error response: `{"error":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A short, fixed, human-readable message.
    pub error: String,
}

impl From<AuthError> for ErrorBody {
    fn from(e: AuthError) -> Self {
        Self {
            error: e.message().to_owned(),
        }
    }
}
