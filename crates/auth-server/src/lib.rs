//! Server half of the auth template: verifies session tokens once per request, exposes the result
//! to axum handlers, Dioxus server functions and server-side rendering. It trusts any OIDC/JWKS
//! issuer (Clerk, Auth0, Keycloak, …) or the embedded identity provider of the `auth-idp` crate,
//! which plugs in through one trait, [`SessionBackend`]. No database, no password hashing here.
//!
//! The whole public API:
//!
//! | item | what |
//! | --- | --- |
//! | [`AuthConfig`], [`KeySource`], [`CacheConfig`], [`DEFAULT_ALGORITHMS`], [`DEFAULT_PUBLIC_URL`] | settings from the environment ([`AuthConfig::from_env`]) or code |
//! | [`KeyStore`] | public keys: a static set, a PEM key, a JWKS URL or OIDC discovery |
//! | [`Verifier`] | checks a token, returns its [`SessionClaims`](auth_types::SessionClaims) |
//! | [`AuthLayer`], [`AuthService`] | reads credentials, verifies and renews at most once per request, stores an [`AuthContext`]; never rejects |
//! | [`SessionBackend`], [`Renewed`], [`BackendError`], [`BoxFuture`], [`backend()`] | the seam to a user store (renew a session, look a user up, rename) |
//! | [`SessionCookies`] | the `Set-Cookie` values of a session |
//! | [`CsrfLayer`], [`CsrfService`] | origin check, before the auth layer |
//! | [`Auth`], [`RequireAuth`], [`Require`], [`Policy`], [`get_auth`], [`CurrentUser`] | extractors and `getAuth(req)`; rejections are [`AuthRejection`] (401/403/503 JSON) |
//! | [`PageGuard`] | 303 to the sign-in page for signed-out document requests of protected pages |
//! | [`AuthStack`] | origin check + layer (+ backend routes) around an app in one call |
//! | [`SecurityHeaders`], [`DEFAULT_CONTENT_SECURITY_POLICY`], [`InvalidPolicy`] | the security headers `AuthStack::apply` adds to every response |
//! | [`token_from_headers`], [`TokenSource`], [`SESSION_COOKIE`], [`MAX_TOKEN_BYTES`] | where a token comes from |
//! | [`VerifyError`], [`ConfigError`], [`KeyError`] | errors |
//! | `current_auth_state`, `current_auth`, `current_user`, `current_backend` (feature `dioxus`) | the request's state and user during SSR |
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
//! let config = AuthConfig::jwks("https://clerk.example.com")
//!     .with_authorized_parties(["https://app.example.com"]); // `azp`: this app's origin
//! let app: Router = Router::new()
//!     .route("/api/me", get(me))
//!     .route("/", get(home))
//!     .layer(AuthLayer::new(Verifier::from_config(&config).unwrap()));
//! # let _ = app;
//! ```

mod backend;
mod config;
mod cookies;
mod error;
mod extract;
mod guard;
mod headers;
mod keys;
mod layer;
mod origin;
#[cfg(feature = "dioxus")]
mod ssr;
mod stack;
mod token;
mod verify;

pub use backend::{BackendError, BoxFuture, Renewed, SessionBackend, backend};
pub use config::{AuthConfig, DEFAULT_ALGORITHMS, DEFAULT_PUBLIC_URL, KeySource};
pub use cookies::SessionCookies;
pub use error::{AuthRejection, ConfigError, KeyError, VerifyError};
pub use extract::{Auth, AuthContext, Policy, Require, RequireAuth, get_auth};
pub use guard::PageGuard;
pub use headers::{DEFAULT_CONTENT_SECURITY_POLICY, InvalidPolicy, SecurityHeaders};
pub use keys::{CacheConfig, KeyStore};
pub use layer::{AuthLayer, AuthService};
pub use origin::{CsrfLayer, CsrfService};
#[cfg(feature = "dioxus")]
pub use ssr::{current_auth, current_auth_state, current_backend, current_user};
pub use stack::{AuthStack, CurrentUser};
pub use token::{MAX_TOKEN_BYTES, SESSION_COOKIE, TokenSource, token_from_headers};
pub use verify::Verifier;
