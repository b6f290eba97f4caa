//! One call from settings to a working auth stack: the security headers, the origin (CSRF)
//! check, then the auth layer (with a [`SessionBackend`] when there is one), around the app and
//! the backend's own routes.

use crate::backend::SessionBackend;
use crate::cookies::SessionCookies;
use crate::headers::{SecurityHeaders, mark_signed_in, private_responses};
use crate::origin::CsrfLayer;
use crate::{AuthConfig, AuthLayer, AuthRejection, ConfigError, KeySource, Verifier};
use axum::{Router, extract::FromRequestParts};
use http::request::Parts;
use std::sync::Arc;

/// The configured auth stack of an app: [`SecurityHeaders`] and the private-cache rule
/// outermost, then [`CsrfLayer`], then [`AuthLayer`], then the app (and the identity provider's
/// routes, when there is one).
///
/// For an external issuer (`AUTH_PROVIDER=jwks`):
///
/// ```no_run
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use auth_server::{AuthStack, RequireAuth};
/// use axum::{Router, routing::get};
///
/// let auth = AuthStack::from_env()?;
/// let app: Router = auth.apply(
///     Router::new().route("/api/me", get(|a: RequireAuth| async move { a.user_id().to_string() })),
/// );
/// # let _ = app; Ok(()) }
/// ```
///
/// With the embedded identity provider, `auth_idp::stack_from_env()` builds it.
#[derive(Debug, Clone)]
pub struct AuthStack {
    layer: AuthLayer,
    csrf: CsrfLayer,
    routes: Option<Router>,
    headers: SecurityHeaders,
}

impl AuthStack {
    /// Reads the settings (see [`AuthConfig::from_env`]) for an external issuer. With
    /// `AUTH_PROVIDER=embedded` (the default) it answers an error that names the `auth-idp` crate,
    /// which builds the embedded stack.
    pub fn from_env() -> Result<Self, ConfigError> {
        let config = AuthConfig::from_env()?;
        if config.key_source == KeySource::Embedded {
            return Err(ConfigError::Invalid {
                var: "AUTH_PROVIDER",
                reason: "`embedded` needs the auth-idp crate (`auth_idp::stack_from_env()`); \
                         set AUTH_PROVIDER=jwks to trust an external issuer"
                    .into(),
            });
        }
        Self::external(&config)
    }

    /// An external OIDC/JWKS issuer; `config.public_url` is this app's own origin (for the CSRF
    /// check).
    ///
    /// ```
    /// let config = auth_server::AuthConfig::jwks("https://clerk.example.com")
    ///     .with_authorized_parties(["https://app.example.com"]);
    /// let stack = auth_server::AuthStack::external(&config).unwrap();
    /// # let _ = stack;
    /// ```
    pub fn external(config: &AuthConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            layer: AuthLayer::new(Verifier::from_config(config)?),
            csrf: CsrfLayer::new(config.public_origin()),
            routes: None,
            headers: SecurityHeaders::default(),
        })
    }

    /// A stack whose sessions live in `backend` (the embedded identity provider, or an app's own
    /// store): `routes` (its `/auth/*` endpoints) are merged into the app, and the backend is
    /// reachable from the extractors and SSR.
    pub fn with_backend(
        verifier: Verifier,
        public_url: &str,
        backend: Arc<dyn SessionBackend>,
        routes: Router,
    ) -> Self {
        let origin = crate::config::origin_of(public_url).unwrap_or_else(|| public_url.to_owned());
        Self {
            layer: AuthLayer::new(verifier)
                .with_backend(backend, SessionCookies::for_url(public_url)),
            csrf: CsrfLayer::new(origin),
            routes: Some(routes),
            headers: SecurityHeaders::default(),
        }
    }

    /// Replaces the security headers (by default [`SecurityHeaders::default`]), e.g. to widen the
    /// `Content-Security-Policy` for a third-party script or image host.
    ///
    /// ```
    /// # fn f(auth: auth_server::AuthStack) -> Result<(), auth_server::InvalidPolicy> {
    /// use auth_server::{DEFAULT_CONTENT_SECURITY_POLICY, SecurityHeaders};
    /// let policy = DEFAULT_CONTENT_SECURITY_POLICY.replace("img-src 'self'", "img-src 'self' https://img.example.com");
    /// let auth = auth.with_security_headers(SecurityHeaders::default().with_content_security_policy(&policy)?);
    /// # let _ = auth; Ok(()) }
    /// ```
    pub fn with_security_headers(mut self, headers: SecurityHeaders) -> Self {
        self.headers = headers;
        self
    }

    /// Wraps an app: adds the backend's routes, then the auth layer (verifies every request
    /// once, renews at most once), then the origin check outside it (a refused cross-origin
    /// request never reaches the auth layer: no refresh, no write, no `Set-Cookie`), then
    /// `Cache-Control: private, no-store` on answers that set an auth cookie or were produced
    /// for a signed-in user (documents, `/auth/*`, `/api/*`), and the [`SecurityHeaders`] on
    /// every answer, refusals included.
    pub fn apply<S: Clone + Send + Sync + 'static>(&self, app: Router<S>) -> Router<S> {
        let app = match &self.routes {
            Some(routes) => app.merge(routes.clone().with_state(())),
            None => app,
        };
        let app = app
            .layer(axum::middleware::map_response(malformed_input_is_400))
            .layer(axum::middleware::map_request(oversized_json_is_413))
            .layer(axum::middleware::from_fn(mark_signed_in))
            .layer(self.layer.clone())
            .layer(self.csrf.clone())
            .layer(axum::middleware::from_fn(private_responses));
        self.headers.apply(app)
    }

    /// The auth layer (its verifier holds the key store).
    pub fn layer(&self) -> &AuthLayer {
        &self.layer
    }
}

/// Dioxus 0.7 answers a server-function request whose body does not deserialise (not JSON, a
/// number where a string is expected, a missing argument) with `500` and the parser's message
/// (`{"error":"error deserializing server function results: invalid type: …"}`). That is the
/// client's fault, not the server's, and the message echoes the request: answer what the
/// identity provider answers for a malformed body, `400 {"error":"Malformed request body"}`.
/// Only such bodies are rewritten (other 500s pass untouched); they are read up to 64 KiB.
async fn malformed_input_is_400(response: axum::response::Response) -> axum::response::Response {
    use axum::response::IntoResponse;
    const DIOXUS_DECODE_ERROR: &[u8] = br#"{"error":"error deserializing server function"#;
    let is_json = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if response.status() != http::StatusCode::INTERNAL_SERVER_ERROR || !is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(bytes) if bytes.starts_with(DIOXUS_DECODE_ERROR) => (
            http::StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({ "error": "Malformed request body" })),
        )
            .into_response(),
        Ok(bytes) => axum::response::Response::from_parts(parts, axum::body::Body::from(bytes)),
        Err(_) => axum::response::Response::from_parts(parts, axum::body::Body::empty()),
    }
}

/// Axum's default body limit (2 MiB), which Dioxus server functions read their JSON under.
const MAX_JSON_BODY: u64 = 2 * 1024 * 1024;

/// A JSON body declared larger than axum's default limit is refused with `413` up front: Dioxus
/// 0.7's server-function extractor `unwrap()`s the failed read and panics (a 500 per request).
/// Everything else (other content types, undeclared lengths) passes untouched.
async fn oversized_json_is_413(
    request: axum::extract::Request,
) -> Result<axum::extract::Request, axum::response::Response> {
    use axum::response::IntoResponse;
    let headers = request.headers();
    let json = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if json && declared.is_some_and(|n| n > MAX_JSON_BODY) {
        return Err((
            http::StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(serde_json::json!({ "error": "Request body too large" })),
        )
            .into_response());
    }
    Ok(request)
}

/// The signed-in user's public profile (`auth()` + `users.getUser(userId)` in one extractor, the
/// twin of Clerk's `currentUser()`), for axum handlers and Dioxus server functions.
///
/// Signed out, or the user was deleted since the token was issued → `401 {"error":"Unauthorized"}`;
/// no [`SessionBackend`] (an external issuer), or its store is down → `503 {"error":"Service unavailable"}`.
///
/// ```
/// use auth_server::CurrentUser;
///
/// async fn greeting(CurrentUser(user): CurrentUser) -> String {
///     format!("Hello, {}!", user.name)
/// }
/// let app: axum::Router = axum::Router::new().route("/api/greeting", axum::routing::get(greeting));
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct CurrentUser(pub auth_types::User);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = crate::RequireAuth::from_request_parts(parts, state).await?;
        let Some(backend) = crate::backend::shared(&parts.extensions) else {
            return Err(AuthRejection(auth_types::AuthError::Unavailable));
        };
        lookup(backend, auth.user_id()).await.map(Self)
    }
}

/// The user behind a verified token: deleted → 401, store failure → 503 (logged).
pub(crate) async fn lookup(
    backend: &dyn SessionBackend,
    id: &auth_types::UserId,
) -> Result<auth_types::User, AuthRejection> {
    match backend.user(id).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(AuthRejection(auth_types::AuthError::Unauthorized)),
        Err(e) => {
            tracing::error!(error = %e, "loading the current user failed");
            Err(AuthRejection(auth_types::AuthError::Unavailable))
        }
    }
}
