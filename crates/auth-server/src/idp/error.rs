//! Errors: [`IdpError`] for the Rust API, [`ApiError`] for HTTP answers (`{"error": "…"}`).

use auth_types::ErrorBody;
use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};

/// An error of the identity provider's Rust API.
#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    /// A setting is missing or invalid.
    #[error("invalid identity provider configuration: {0}")]
    Config(String),
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
                ) || matches!(e, sqlx::Error::Database(d) if is_unavailable_code(d.code().as_deref()))
            }
            _ => false,
        }
    }

    /// Whether the error is a unique-constraint violation.
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Database(sqlx::Error::Database(d)) if d.is_unique_violation())
    }
}

/// SQLSTATE / SQLite codes that mean "try again later" rather than "bug".
fn is_unavailable_code(code: Option<&str>) -> bool {
    matches!(
        code,
        // SQLite: SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN
        Some("5" | "6" | "10" | "13" | "14")
            // PostgreSQL: connection exceptions, insufficient resources, operator intervention,
            // and a missing database (it was dropped under us).
            | Some("3D000")
    ) || code.is_some_and(|c| c.starts_with("08") || c.starts_with("53") || c.starts_with("57"))
}

/// An HTTP error answer: a status and a fixed message, plus a form error code for redirects.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Fixed, safe message.
    pub message: &'static str,
    /// Short code for `?error=` on form redirects.
    pub code: &'static str,
    /// Seconds for `Retry-After` (429 only).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) const fn new(status: StatusCode, code: &'static str, message: &'static str) -> Self {
        Self {
            status,
            message,
            code,
            retry_after: None,
        }
    }

    pub(crate) const BAD_REQUEST: Self = Self::new(
        StatusCode::BAD_REQUEST,
        "bad_request",
        "Malformed request body",
    );
    pub(crate) const UNPROCESSABLE: Self = Self::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "bad_request",
        "Missing or invalid fields",
    );
    pub(crate) const TOO_LARGE: Self = Self::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "bad_request",
        "Request body too large",
    );
    pub(crate) const UNSUPPORTED_MEDIA: Self = Self::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "bad_request",
        "Content-Type must be application/json or application/x-www-form-urlencoded",
    );
    pub(crate) const INVALID_EMAIL: Self = Self::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_email",
        "Invalid email address",
    );
    pub(crate) const INVALID_PASSWORD: Self = Self::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_password",
        "Password must be 8 to 256 characters and differ from the email",
    );
    pub(crate) const INVALID_NAME: Self = Self::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_name",
        "Name must be at most 200 characters",
    );
    pub(crate) const EMAIL_TAKEN: Self = Self::new(
        StatusCode::CONFLICT,
        "email_taken",
        "This email cannot be used to sign up",
    );
    pub(crate) const INVALID_CREDENTIALS: Self = Self::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "Invalid email or password",
    );
    pub(crate) const UNAUTHORIZED: Self =
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized");
    pub(crate) const FORBIDDEN: Self = Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden");
    pub(crate) const UNAVAILABLE: Self = Self::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Service unavailable",
    );
    pub(crate) const INTERNAL: Self = Self::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal server error",
    );

    pub(crate) fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many attempts, try again later",
            )
        }
    }
}

impl From<IdpError> for ApiError {
    fn from(e: IdpError) -> Self {
        match e {
            IdpError::EmailTaken => Self::EMAIL_TAKEN,
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
        let mut response = (
            self.status,
            Json(ErrorBody {
                error: self.message.to_owned(),
            }),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
