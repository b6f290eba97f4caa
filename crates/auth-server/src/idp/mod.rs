//! The embedded identity provider: accounts with email + password, sessions with short-lived
//! ES256 session JWTs and long-lived refresh cookies, a JWKS endpoint, and a users API.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use auth_server::idp::{Idp, IdpConfig};
//! let idp = Idp::connect(IdpConfig::from_env()?).await?;
//! let app = axum::Router::new()
//!     .merge(idp.router())                   // /auth/* and /.well-known/*
//!     .layer(idp.csrf_layer());              // origin check for every state-changing route
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! # Ok(()) }
//! ```
//!
//! See `docs/identity-provider.md` for endpoints, cookies, settings and security choices.

pub mod config;
pub mod cookies;
pub mod csrf;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
mod keys;
pub mod password;
pub mod rate_limit;
pub mod redirect;
pub mod refresh;
mod routes;
pub mod session;
pub mod store;
pub mod users;
pub mod validate;

pub use config::{IdpConfig, PasswordParams, RateLimitConfig};
pub use csrf::{AllowedOrigins, CsrfLayer};
pub use error::{ApiError, IdpError};
pub use refresh::IdpRefresher;
pub use session::{DEFAULT_ROLES, ROLE_PERMISSIONS, permissions_for_roles};
pub use store::{Backend, Store};
pub use users::{UserPage, UserRecord, UserUpdate, Users};

use crate::Refreshed;
use auth_types::SessionClaims;
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::jwk::JwkSet;
use keys::KeyStore;
use password::Passwords;
use rate_limit::RateLimiter;
use std::sync::Arc;

/// The identity provider (cheap to clone; everything is shared).
#[derive(Debug, Clone)]
pub struct Idp {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: IdpConfig,
    pub(crate) store: Store,
    pub(crate) passwords: Passwords,
    pub(crate) keys: KeyStore,
    pub(crate) limiter: RateLimiter,
    pub(crate) origins: AllowedOrigins,
}

/// The caller's live session, found from its cookies.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub token: String,
    pub claims: SessionClaims,
}

impl Idp {
    /// Connects to the database, runs migrations, loads (or creates) the signing keys.
    pub async fn connect(config: IdpConfig) -> Result<Self, IdpError> {
        let store = Store::connect(&config).await?;
        let passwords = Passwords::new(config.password, config.max_concurrent_hashes).await?;
        let keys = KeyStore::load(
            store.clone(),
            config.issuer.clone(),
            config.session_token_ttl,
            config.leeway,
        )
        .await?;
        let limiter = RateLimiter::new(config.rate_limit.max_failures, config.rate_limit.window);
        let origins = AllowedOrigins::new(config.public_origin());
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                store,
                passwords,
                keys,
                limiter,
                origins,
            }),
        })
    }

    /// The axum router with every endpoint (`/auth/*`, `/.well-known/*`), state included and
    /// the CSRF origin check applied to its state-changing routes.
    pub fn router(&self) -> axum::Router {
        routes::router(self.inner.clone())
    }

    /// The users API.
    pub fn users(&self) -> Users {
        Users {
            inner: self.inner.clone(),
        }
    }

    /// The same-request refresh hook for the token-verification layer.
    pub fn refresher(&self) -> IdpRefresher {
        IdpRefresher {
            inner: self.inner.clone(),
        }
    }

    /// Shorthand for `self.refresher().refresh(headers)`.
    pub async fn refresh(&self, headers: &HeaderMap) -> Option<Refreshed> {
        self.refresher().refresh(headers).await
    }

    /// The published public keys (JWK Set) — feed them to the token verifier.
    pub fn jwks(&self) -> JwkSet {
        self.inner.keys.jwks()
    }

    /// Re-reads the keys from the database (picks up rotations made by other instances).
    pub async fn reload_keys(&self) -> Result<JwkSet, IdpError> {
        self.inner.keys.refresh().await
    }

    /// Makes a new current signing key; the previous one stays published until tokens it signed
    /// have expired. Returns the new key id.
    pub async fn rotate_keys(&self) -> Result<String, IdpError> {
        self.inner.keys.rotate().await
    }

    /// Deletes sessions that expired or were revoked more than `grace` ago (run it from a daily
    /// task). Returns how many were deleted.
    pub async fn purge_sessions(&self, grace: std::time::Duration) -> Result<u64, IdpError> {
        let before = store::now() - grace.as_secs() as i64;
        self.inner.store.purge_sessions(before).await
    }

    /// Verifies a session JWT issued by this provider (signature, issuer, expiry). It does not
    /// consult the session table: revocation takes effect at the next refresh.
    pub async fn verify_token(&self, token: &str) -> Option<SessionClaims> {
        self.inner.keys.verify(token).await
    }

    /// A CSRF layer allowing this app's origin (for Dioxus server functions and other routes).
    pub fn csrf_layer(&self) -> CsrfLayer {
        CsrfLayer::new(self.inner.config.public_origin())
    }

    /// The settings in use.
    pub fn config(&self) -> &IdpConfig {
        &self.inner.config
    }

    /// The database handle.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Closes the database pool (graceful shutdown); later requests answer 503.
    pub async fn close(&self) {
        self.inner.store.close().await;
    }
}

impl Inner {
    /// How long before expiry `/auth/session` and `/auth/token` already hand out a renewed token
    /// (Clerk's 15 s stale-while-revalidate window; a quarter of shorter lifetimes), so a client
    /// polling them never holds an expired one.
    fn renew_window_secs(&self) -> i64 {
        let ttl = i64::try_from(self.config.session_token_ttl.as_secs()).unwrap_or(i64::MAX);
        (ttl / 4).min(15)
    }

    /// The caller's live session: a valid `__session` JWT, not about to expire, whose session is
    /// still active; or else a refresh through the `__refresh` cookie. Returns the session (if
    /// any) and the `Set-Cookie` headers to append.
    pub(crate) async fn current(
        &self,
        headers: &HeaderMap,
    ) -> Result<(Option<Current>, Vec<HeaderValue>), IdpError> {
        if let Some(token) = cookies::read_cookie(headers, cookies::SESSION_COOKIE)
            && let Some(claims) = self.keys.verify(&token).await
            && claims.exp > store::now() + self.renew_window_secs()
            && let Some(sid) = claims.sid.as_deref()
            && self
                .store
                .session_by_id(sid)
                .await?
                .is_some_and(|s| s.is_active())
        {
            return Ok((Some(Current { token, claims }), Vec::new()));
        }
        Ok(match self.refresh(headers).await? {
            Some(Refreshed::Session {
                token,
                claims,
                set_cookies,
            }) => (Some(Current { token, claims }), set_cookies),
            Some(Refreshed::SignedOut { set_cookies }) => (None, set_cookies),
            None => (None, Vec::new()),
        })
    }
}
