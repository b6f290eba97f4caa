//! Errors: [`IdpError`] for the Rust API, [`ApiError`] for HTTP answers (`{"error": "…"}`; a
//! coded error's message is its [`FormError::message`], so clients tell errors apart with
//! [`FormError::from_message`]).

use auth_types::ErrorBody;
use auth_types::contract::FormError;
use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};

/// An error of the identity provider's Rust API.
#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    /// A setting is missing or invalid (the message names the variable; the same error shape as
    /// the verification settings).
    #[error(transparent)]
    Config(#[from] auth_server::ConfigError),
    /// The provider could not start (a folder it cannot create, a thread it cannot spawn).
    #[error("the identity provider could not start: {0}")]
    Startup(String),
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A signing key could not be created, loaded or used.
    #[error("signing key error: {0}")]
    Key(String),
    /// The email is already taken.
    #[error("email already registered")]
    EmailTaken,
    /// Invalid input (message is safe to show).
    #[error("{0}")]
    Invalid(&'static str),
    /// Something that should not happen.
    #[error("internal error: {0}")]
    Internal(String),
    /// Too many password hashes are waiting already (`AUTH_MAX_QUEUED_HASHES`): try again in a
    /// moment (HTTP 503 with `Retry-After`).
    #[error("too many password hashes are waiting")]
    Busy,
}

impl IdpError {
    /// Whether the error means the database is unreachable or overloaded (HTTP 503).
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Database(e) => {
                matches!(
                    e,
                    sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::Io(_)
                        | sqlx::Error::Tls(_)
                        | sqlx::Error::WorkerCrashed
                        | sqlx::Error::Protocol(_)
                ) || matches!(e, sqlx::Error::Database(d) if is_unavailable_db_error(d.as_ref()))
            }
            _ => false,
        }
    }

    /// Whether the error is a unique-constraint violation.
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Database(sqlx::Error::Database(d)) if d.is_unique_violation())
    }
}

/// Whether a database error means "try again later" rather than "bug".
fn is_unavailable_db_error(e: &(dyn sqlx::error::DatabaseError + 'static)) -> bool {
    let code = e.code();
    if e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // SQLite reports extended result codes (`SQLITE_IOERR_WRITE` is 778, `SQLITE_BUSY_SNAPSHOT`
        // 517, …); the primary code is the low byte.
        return code
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| is_unavailable_sqlite_code(c & 0xff));
    }
    is_unavailable_sqlstate(code.as_deref())
}

/// SQLite primary result codes: BUSY, LOCKED, READONLY (the file or its folder cannot be
/// written), IOERR, FULL, CANTOPEN.
fn is_unavailable_sqlite_code(primary: i32) -> bool {
    matches!(primary, 5 | 6 | 8 | 10 | 13 | 14)
}

/// PostgreSQL SQLSTATEs: connection exceptions, insufficient resources, operator intervention,
/// and a missing database (it was dropped under us).
fn is_unavailable_sqlstate(code: Option<&str>) -> bool {
    code == Some("3D000")
        || code.is_some_and(|c| c.starts_with("08") || c.starts_with("53") || c.starts_with("57"))
}

/// An HTTP error answer: a status and a fixed message, plus a form error code for redirects.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Fixed, safe message.
    pub message: &'static str,
    /// The code for `?error=` on form redirects.
    pub code: FormError,
    /// Seconds for `Retry-After` (429, and 503 when the hashing queue is full).
    pub retry_after: Option<u64>,
    /// The address waiting for its mailed code ([`ApiError::verification_required`]: not an
    /// error but "enter the code", answered 202 `{"verification_required":true,"email":…}`).
    pub pending_email: Option<String>,
}

impl ApiError {
    pub(crate) const fn new(status: StatusCode, code: FormError, message: &'static str) -> Self {
        Self {
            status,
            message,
            code,
            retry_after: None,
            pending_email: None,
        }
    }

    /// An error whose message is its code's, as the prebuilt forms show it.
    pub(crate) const fn coded(status: StatusCode, code: FormError) -> Self {
        Self::new(status, code, code.message())
    }

    pub(crate) const BAD_REQUEST: Self =
        Self::coded(StatusCode::BAD_REQUEST, FormError::BadRequest);
    pub(crate) const UNPROCESSABLE: Self = Self::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        FormError::BadRequest,
        "Missing or invalid fields",
    );
    pub(crate) const TOO_LARGE: Self = Self::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        FormError::BadRequest,
        "Request body too large",
    );
    pub(crate) const UNSUPPORTED_MEDIA: Self = Self::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        FormError::BadRequest,
        "Content-Type must be application/json or application/x-www-form-urlencoded",
    );
    pub(crate) const INVALID_EMAIL: Self =
        Self::coded(StatusCode::UNPROCESSABLE_ENTITY, FormError::InvalidEmail);
    pub(crate) const INVALID_PASSWORD: Self =
        Self::coded(StatusCode::UNPROCESSABLE_ENTITY, FormError::InvalidPassword);
    pub(crate) const INVALID_NAME: Self =
        Self::coded(StatusCode::UNPROCESSABLE_ENTITY, FormError::InvalidName);
    pub(crate) const EMAIL_TAKEN: Self = Self::coded(StatusCode::CONFLICT, FormError::EmailTaken);
    pub(crate) const INVALID_CREDENTIALS: Self =
        Self::coded(StatusCode::UNAUTHORIZED, FormError::InvalidCredentials);
    pub(crate) const UNAUTHORIZED: Self =
        Self::coded(StatusCode::UNAUTHORIZED, FormError::Unauthorized);
    pub(crate) const METHOD_NOT_ALLOWED: Self = Self::new(
        StatusCode::METHOD_NOT_ALLOWED,
        FormError::BadRequest,
        "Method not allowed",
    );
    pub(crate) const UNAVAILABLE: Self =
        Self::coded(StatusCode::SERVICE_UNAVAILABLE, FormError::Unavailable);
    pub(crate) const INTERNAL: Self =
        Self::coded(StatusCode::INTERNAL_SERVER_ERROR, FormError::Internal);

    /// 503 with `Retry-After`: the hashing queue is full (the wait for a slot is well under a
    /// second, so one second).
    pub(crate) fn busy() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::UNAVAILABLE
        }
    }

    /// "Enter the code we mailed to `email`": a sign-up or sign-in held back until the address is
    /// verified (`AUTH_EMAIL_VERIFICATION=required`). The same answer whether the account is new,
    /// already existed, or signed in with the right password.
    pub(crate) fn verification_required(email: &str) -> Self {
        Self {
            pending_email: Some(email.to_owned()),
            ..Self::coded(StatusCode::ACCEPTED, FormError::VerificationRequired)
        }
    }

    /// 404 `This feature is turned off` (a flow its setting disables).
    pub(crate) const DISABLED: Self = Self::coded(StatusCode::NOT_FOUND, FormError::Disabled);

    pub(crate) fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::coded(StatusCode::TOO_MANY_REQUESTS, FormError::RateLimited)
        }
    }
}

impl From<IdpError> for ApiError {
    fn from(e: IdpError) -> Self {
        match e {
            IdpError::EmailTaken => Self::EMAIL_TAKEN,
            IdpError::Busy => {
                tracing::warn!(
                    "identity provider: the password hashing queue is full; answering 503"
                );
                Self::busy()
            }
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "identity provider: database unavailable");
                Self::UNAVAILABLE
            }
            e => {
                tracing::error!(error = %e, "identity provider: internal error");
                Self::INTERNAL
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = match self.pending_email {
            Some(email) => (
                self.status,
                Json(VerificationRequiredBody {
                    verification_required: true,
                    email,
                }),
            )
                .into_response(),
            None => (
                self.status,
                Json(ErrorBody {
                    error: self.message.to_owned(),
                }),
            )
                .into_response(),
        };
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The JSON of [`ApiError::verification_required`].
#[derive(serde::Serialize)]
struct VerificationRequiredBody {
    verification_required: bool,
    email: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_extended_codes_map_to_their_primary_code() {
        // IOERR_WRITE, BUSY_SNAPSHOT, READONLY_DBMOVED, CANTOPEN_ISDIR, LOCKED_SHAREDCACHE.
        for extended in [778, 517, 1032, 526, 262, 5, 8, 10, 13] {
            assert!(is_unavailable_sqlite_code(extended & 0xff), "{extended}");
        }
        // CONSTRAINT_UNIQUE, ERROR, MISUSE: bugs, not outages.
        for other in [2067, 1, 21, 19] {
            assert!(!is_unavailable_sqlite_code(other & 0xff), "{other}");
        }
    }

    #[test]
    fn postgres_sqlstates() {
        for code in ["08006", "08001", "53300", "57P01", "3D000"] {
            assert!(is_unavailable_sqlstate(Some(code)), "{code}");
        }
        for code in ["23505", "42P01", "22001"] {
            assert!(!is_unavailable_sqlstate(Some(code)), "{code}");
        }
        assert!(!is_unavailable_sqlstate(None));
    }

    #[tokio::test]
    async fn bodies_keep_the_error_shape() {
        async fn body(e: ApiError) -> (StatusCode, String) {
            let r = e.into_response();
            let status = r.status();
            let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
            (status, String::from_utf8(bytes.to_vec()).unwrap())
        }
        assert_eq!(
            body(ApiError::INVALID_CREDENTIALS).await,
            (
                StatusCode::UNAUTHORIZED,
                r#"{"error":"Invalid email or password"}"#.to_owned()
            )
        );
        assert_eq!(
            body(ApiError::verification_required("a@example.com")).await,
            (
                StatusCode::ACCEPTED,
                r#"{"verification_required":true,"email":"a@example.com"}"#.to_owned()
            )
        );
        assert_eq!(
            body(ApiError::DISABLED).await,
            (
                StatusCode::NOT_FOUND,
                r#"{"error":"This feature is turned off"}"#.to_owned()
            )
        );
    }
}
