//! Server half of the auth template: verifies session tokens once per request, exposes the result
//! to axum handlers, Dioxus server functions and server-side rendering, and runs the embedded
//! identity provider.
//!
//! * [`AuthConfig`]: settings from the environment ([`AuthConfig::from_env`]) or code.
//! * [`KeyStore`]: public keys — a static set from the embedded identity provider
//!   ([`KeyStore::static_set`], [`KeyStore::replace`]), a PEM key, a JWKS URL or OIDC discovery.
//! * [`Verifier`]: checks a token and returns its [`SessionClaims`](auth_types::SessionClaims).
//! * [`AuthLayer`]: verifies once per request, stores an [`AuthContext`]; never rejects. An
//!   optional [`SessionRefresher`] renews sessions in the same request.
//! * Extractors: [`Auth`] (always succeeds), [`RequireAuth`] (401), [`Require`] (401/403).
//! * [`PageGuard`]: 303 to the sign-in page for signed-out document requests of protected pages.
//! * [`AuthStack`]: all of the above (and the embedded provider) from the environment in one call.
//! * [`CurrentUser`]: the signed-in user's profile (401 signed out), Clerk's `currentUser()`.
//! * Feature `dioxus`: `current_auth_state()` and `current_user()` for SSR.
//!
//! ```
//! use auth_server::{Auth, AuthConfig, AuthLayer, RequireAuth, Verifier};
//! use axum::{Router, routing::get};
//!
//! async fn me(auth: RequireAuth) -> String {
//!     auth.user_id().to_string()
//! }
//!
//! async fn home(auth: Auth) -> &'static str {
//!     if auth.is_signed_in() { "welcome back" } else { "hello" }
//! }
//!
//! let config = AuthConfig::jwks("https://clerk.example.com");
//! let app: Router = Router::new()
//!     .route("/api/me", get(me))
//!     .route("/", get(home))
//!     .layer(AuthLayer::new(Verifier::from_config(&config).unwrap()));
//! # let _ = app;
//! ```

pub mod cli;
mod config;
mod error;
mod extract;
mod guard;
mod keys;
mod layer;
mod setup;
#[cfg(feature = "dioxus")]
mod ssr;
mod token;
mod verify;

pub mod idp;

pub use config::{AuthConfig, CacheConfig, DEFAULT_ALGORITHMS, KeySource};
pub use error::{AuthRejection, ConfigError, KeyError, VerifyError};
pub use extract::{Auth, AuthContext, Policy, Require, RequireAuth, get_auth};
pub use guard::PageGuard;
pub use keys::KeyStore;
pub use layer::{AuthLayer, AuthService, BoxFuture, Refreshed, SessionRefresher};
pub use setup::{AuthStack, CurrentUser, SetupError, UsersApi};
#[cfg(feature = "dioxus")]
pub use ssr::{current_auth, current_auth_state, current_user};
pub use token::{MAX_TOKEN_BYTES, SESSION_COOKIE, TokenSource, token_from_headers};
pub use verify::Verifier;
