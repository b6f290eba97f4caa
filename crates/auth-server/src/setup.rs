//! One call from the environment to a working auth stack: the embedded identity provider (or an
//! external issuer), the verifier fed with the right keys, the CSRF check and the auth layer.

use crate::idp::{CsrfLayer, Idp, IdpConfig, IdpError, Users};
use crate::{AuthConfig, AuthLayer, AuthRejection, ConfigError, KeySource, KeyStore, Verifier};
use axum::{Extension, Router, extract::FromRequestParts};
use http::request::Parts;
use std::time::Duration;

/// How often an embedded-provider instance re-reads the signing keys from the database, so a
/// rotation made by another instance (or the CLI) is picked up without a restart. Shorter than
/// the provider's signing-key cache (`idp::keys::KEY_CACHE_MAX_AGE`, 30 s): every instance's
/// verifier knows a new key before any instance signs with it.
const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(10);
/// How often an instance deletes old sessions, and how long after expiry or revocation they are
/// kept (for support questions). Several instances purging at once is harmless.
const SESSION_PURGE_INTERVAL: Duration = Duration::from_secs(3600);
const SESSION_PURGE_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why the auth stack could not start. Each message names the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Verification settings (`AUTH_*`) are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The embedded identity provider could not start (settings or database).
    #[error(transparent)]
    Idp(#[from] IdpError),
}

/// The configured auth stack of an app.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use auth_server::{AuthStack, RequireAuth};
/// use axum::{Router, routing::get};
///
/// let auth = AuthStack::from_env().await?;
/// let app: Router = auth.apply(
///     Router::new().route("/api/me", get(|a: RequireAuth| async move { a.user_id().to_string() })),
/// );
/// # let _ = app; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AuthStack {
    layer: AuthLayer,
    csrf: CsrfLayer,
    idp: Option<Idp>,
}

impl AuthStack {
    /// Reads `AUTH_PROVIDER` and the settings it needs. `embedded` (the default) connects to
    /// `DATABASE_URL` (a SQLite file under `data/` unless set), runs migrations and loads the
    /// signing keys; `jwks` trusts an external issuer.
    pub async fn from_env() -> Result<Self, SetupError> {
        let config = AuthConfig::from_env()?;
        if config.key_source == KeySource::Embedded {
            let idp = Idp::connect(IdpConfig::from_env()?).await?;
            Self::embedded(config, idp)
        } else {
            let origin = IdpConfig::public_url_from_env()?;
            Ok(Self::external(&config, &origin)?)
        }
    }

    /// The embedded provider: tokens are verified with its own keys and sessions renewed in the
    /// same request through its refresh cookie.
    pub fn embedded(config: AuthConfig, idp: Idp) -> Result<Self, SetupError> {
        let keys = KeyStore::static_set(idp.jwks());
        let config = config.with_issuer(idp.config().issuer.clone());
        let verifier = Verifier::new(&config, keys.clone())?;
        spawn_maintenance(idp.clone(), keys);
        Ok(Self {
            layer: AuthLayer::new(verifier).with_refresher(idp.refresher()),
            csrf: idp.csrf_layer(),
            idp: Some(idp),
        })
    }

    /// An external OIDC/JWKS issuer; `app_origin` is this app's own origin (for the CSRF check).
    pub fn external(config: &AuthConfig, app_origin: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            layer: AuthLayer::new(Verifier::from_config(config)?),
            csrf: CsrfLayer::new(app_origin),
            idp: None,
        })
    }

    /// Wraps an app: adds the provider's routes (`/auth/*`, `/.well-known/*`) when embedded,
    /// rejects cross-origin state-changing requests (403), verifies every request once, and
    /// makes the provider reachable from handlers, server functions and SSR (see [`UsersApi`]).
    pub fn apply<S: Clone + Send + Sync + 'static>(&self, app: Router<S>) -> Router<S> {
        let app = match &self.idp {
            Some(idp) => app
                .merge(idp.router().with_state(()))
                .layer(Extension(idp.clone())),
            None => app,
        };
        app.layer(axum::middleware::map_response(malformed_input_is_400))
            .layer(axum::middleware::map_request(oversized_json_is_413))
            .layer(self.csrf.clone())
            .layer(self.layer.clone())
    }

    /// The embedded identity provider, when `AUTH_PROVIDER=embedded`.
    pub fn idp(&self) -> Option<&Idp> {
        self.idp.as_ref()
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

/// The embedded provider's background work: re-reading the signing keys into the verifier, and
/// deleting sessions that ended more than [`SESSION_PURGE_GRACE`] ago (the table would otherwise
/// grow forever).
fn spawn_maintenance(idp: Idp, keys: KeyStore) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(KEY_RELOAD_INTERVAL);
        tick.tick().await;
        let mut last_purge: Option<tokio::time::Instant> = None;
        loop {
            tick.tick().await;
            match idp.reload_keys().await {
                Ok(jwks) => keys.replace(jwks),
                Err(e) => tracing::warn!(error = %e, "reloading signing keys failed; keeping the current ones"),
            }
            if last_purge.is_none_or(|at| at.elapsed() >= SESSION_PURGE_INTERVAL) {
                last_purge = Some(tokio::time::Instant::now());
                match idp.purge_sessions(SESSION_PURGE_GRACE).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "purged old sessions"),
                    Err(e) => tracing::warn!(error = %e, "purging old sessions failed; will retry"),
                }
            }
        }
    });
}

/// The users API (`clerkClient.users` twin) as an extractor for axum handlers and Dioxus server
/// functions. Answers 503 `{"error":"Service unavailable"}` when the app runs against an
/// external issuer (there is no local user store then).
///
/// ```
/// use auth_server::{RequireAuth, UsersApi};
/// use axum::Json;
///
/// async fn me(auth: RequireAuth, UsersApi(users): UsersApi) -> Json<Option<auth_types::User>> {
///     Json(users.get(auth.user_id()).await.ok().flatten())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct UsersApi(pub Users);

impl<S: Send + Sync> FromRequestParts<S> for UsersApi {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Idp>()
            .map(|idp| Self(idp.users()))
            .ok_or(AuthRejection(auth_types::AuthError::Unavailable))
    }
}

/// The signed-in user's public profile (`auth()` + `users.getUser(userId)` in one extractor, the
/// twin of Clerk's `currentUser()`), for axum handlers and Dioxus server functions.
///
/// Signed out, or the user was deleted since the token was issued → `401 {"error":"Unauthorized"}`;
/// no embedded identity provider, or its database is down → `503 {"error":"Service unavailable"}`.
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
        let UsersApi(users) = UsersApi::from_request_parts(parts, state).await?;
        lookup(&users, auth.user_id()).await.map(Self)
    }
}

/// The user behind a verified token: deleted → 401, store failure → 503 (logged).
pub(crate) async fn lookup(
    users: &Users,
    id: &auth_types::UserId,
) -> Result<auth_types::User, AuthRejection> {
    match users.get(id).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(AuthRejection(auth_types::AuthError::Unauthorized)),
        Err(e) => {
            tracing::error!(error = %e, "loading the current user failed");
            Err(AuthRejection(auth_types::AuthError::Unavailable))
        }
    }
}
