//! The embedded provider inside the app's auth stack: [`stack_from_env`], the background task
//! (key reloads, session purges), and the [`UsersApi`] extractor.

use crate::Idp;
use crate::error::IdpError;
use crate::users::Users;
use auth_server::{AuthConfig, AuthRejection, AuthStack, ConfigError, KeyStore, Verifier};
use axum::extract::FromRequestParts;
use http::request::Parts;
use std::sync::Arc;
use std::time::Duration;

/// How often an instance deletes old sessions, and how long after expiry or revocation they are
/// kept (for support questions). Several instances purging at once is harmless.
const SESSION_PURGE_INTERVAL: Duration = Duration::from_secs(3600);
const SESSION_PURGE_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why the auth stack could not start. Each message names the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A setting (`AUTH_*`, `DATABASE_URL`) is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The embedded identity provider could not start (database, keys).
    #[error(transparent)]
    Idp(#[from] IdpError),
}

/// The app's auth stack from the environment: with `AUTH_PROVIDER=embedded` (the default) it
/// connects to `DATABASE_URL` (a SQLite file under `data/` unless set), runs migrations, loads the
/// signing keys and serves `/auth/*`; with `AUTH_PROVIDER=jwks` it trusts an external issuer and
/// touches no database.
///
/// ```no_run
/// # async fn run() -> Result<(), auth_idp::SetupError> {
/// let auth = auth_idp::stack_from_env().await?;
/// let app: axum::Router = auth.apply(axum::Router::new());
/// # let _ = app; Ok(()) }
/// ```
pub async fn stack_from_env() -> Result<AuthStack, SetupError> {
    Ok(crate::stack_and_idp_from_env().await?.0)
}

/// See [`Idp::stack`].
pub(crate) fn embedded(idp: Idp, config: AuthConfig) -> Result<AuthStack, SetupError> {
    let keys = KeyStore::static_set(idp.jwks());
    let public_url = idp.config().public_url.to_string();
    let config = config
        .with_issuer(idp.config().issuer.clone())
        .with_public_url(public_url.clone());
    let verifier = Verifier::new(&config, keys.clone())?;
    idp.inner
        .verifiers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(keys);
    spawn_maintenance(idp.clone());
    let routes = crate::routes::router(idp.inner.clone());
    Ok(AuthStack::with_backend(
        verifier,
        &public_url,
        Arc::new(idp),
        routes,
    ))
}

/// The embedded provider's background work: re-reading the signing keys into the verifier, and
/// deleting sessions that ended more than [`SESSION_PURGE_GRACE`] ago (the table would otherwise
/// grow forever).
fn spawn_maintenance(idp: Idp) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(
            "auth-idp: the stack was built outside a tokio runtime: keys rotated by other \
             instances are not picked up and old sessions are not purged"
        );
        return;
    };
    runtime.spawn(async move {
        // Re-reading the keys (`IdpConfig::key_reload_interval`) picks up a key rotated in by
        // another instance or the CLI; a rotation waits for it before the new key signs.
        let mut tick = tokio::time::interval(idp.config().effective_key_reload_interval());
        tick.tick().await;
        let mut last_purge: Option<tokio::time::Instant> = None;
        loop {
            tick.tick().await;
            // Reloading hands the keys to the verifiers (`Idp::reload_keys`).
            if let Err(e) = idp.reload_keys().await {
                tracing::warn!(error = %e, "reloading signing keys failed; keeping the current ones");
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
/// functions. Answers 503 `{"error":"Service unavailable"}` when the app does not run the embedded
/// provider (an external issuer has no local user store).
///
/// ```
/// use auth_idp::UsersApi;
/// use auth_server::RequireAuth;
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
        auth_server::backend::<Idp>(&parts.extensions)
            .map(|idp| Self(idp.users()))
            .ok_or(AuthRejection(auth_types::AuthError::Unavailable))
    }
}
