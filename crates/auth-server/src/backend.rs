//! The seam between token verification and a user store: [`SessionBackend`]. The embedded
//! identity provider (the `auth-idp` crate) implements it; so can an app over its own users.

use auth_types::contract::{ConnectionsResponse, SessionInfo, SocialProvider};
use auth_types::{SessionClaims, User, UserId};
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// A boxed, `Send` future (what [`SessionBackend`]'s methods return).
///
/// ```
/// let fut: auth_server::BoxFuture<'static, u8> = Box::pin(async { 1 });
/// # let _ = fut;
/// ```
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A session token freshly minted by [`SessionBackend::refresh`], and the session's new refresh
/// secret when the backend rotated it.
///
/// ```
/// let claims: auth_types::SessionClaims = serde_json::from_str(
///     r#"{"sub":"user_1","sid":"sess_1","iss":"https://a.example","exp":1900000000}"#).unwrap();
/// // Rotated: the layer sets the new token and the new refresh secret, kept for an hour.
/// let renewed = auth_server::Renewed::new("h.p.s", claims).with_refresh_secret("n3w-s3cret", 3600);
/// assert_eq!(renewed.refresh_secret.as_deref(), Some("n3w-s3cret"));
/// assert!(!format!("{renewed:?}").contains("n3w-s3cret"), "Debug hides secrets");
/// ```
#[derive(Clone)]
pub struct Renewed {
    /// The new session JWT; the layer sets it as the session cookie.
    pub token: String,
    /// Its claims, trusted as is: the backend is in-process code that just signed the token.
    pub claims: SessionClaims,
    /// The session's new refresh secret when the refresh rotated it; the layer sets it as the
    /// refresh cookie. `None` leaves the browser's refresh cookie as it is (no rotation, or a
    /// request that raced a rotation and must not overwrite the secret the winner set).
    pub refresh_secret: Option<String>,
    /// How long the browser keeps the new refresh cookie (seconds): never past the session's
    /// absolute end. Ignored without [`refresh_secret`](Self::refresh_secret).
    pub refresh_max_age_secs: i64,
}

impl Renewed {
    /// A new token, the refresh secret unchanged.
    pub fn new(token: impl Into<String>, claims: SessionClaims) -> Self {
        Self {
            token: token.into(),
            claims,
            refresh_secret: None,
            refresh_max_age_secs: 0,
        }
    }

    /// Adds the rotated refresh secret and its cookie's `Max-Age` in seconds.
    pub fn with_refresh_secret(mut self, secret: impl Into<String>, max_age_secs: i64) -> Self {
        self.refresh_secret = Some(secret.into());
        self.refresh_max_age_secs = max_age_secs;
        self
    }
}

impl fmt::Debug for Renewed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token and the secret are credentials: never in a log line.
        f.debug_struct("Renewed")
            .field("claims", &self.claims)
            .field("refresh_rotated", &self.refresh_secret.is_some())
            .field("refresh_max_age_secs", &self.refresh_max_age_secs)
            .finish_non_exhaustive()
    }
}

/// A user store failed (database down, …). Extractors answer 503 for it; the message is logged,
/// never sent to the client.
///
/// ```
/// let e = auth_server::BackendError::new(std::io::Error::other("connection refused"));
/// assert_eq!(e.to_string(), "connection refused");
/// ```
#[derive(Debug)]
pub struct BackendError(Box<dyn std::error::Error + Send + Sync>);

impl BackendError {
    /// Wraps the store's own error.
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(error.into())
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// What the auth layer, the extractors and the prebuilt UI need from a user store: renew a
/// session from its refresh secret, look a user up, and change a user's display name. The embedded identity provider (`auth_idp::Idp`)
/// implements it; an app with its own user table can too, and keeps every guard, the layer's
/// one-refresh-per-request rule and the SSR helpers.
///
/// The layer calls [`refresh`](Self::refresh) **at most once per request**, only for requests
/// that present cookies (never for a `Bearer` token) and need a user (never for static files:
/// see [`AuthLayer`](crate::AuthLayer)), and only when their session token is missing, refused
/// or expired, or about to expire on the paths that hand a token to the client.
/// The backend never reads a request: the layer passes it the `__refresh` cookie's value and sets
/// the cookies itself.
///
/// ```
/// use auth_server::{BackendError, BoxFuture, Renewed, SessionBackend};
/// use auth_types::{User, UserId};
///
/// /// An app's own store: sessions and users in its database.
/// struct MyUsers;
///
/// impl SessionBackend for MyUsers {
///     fn refresh<'a>(&'a self, refresh_secret: &'a str)
///         -> BoxFuture<'a, Result<Option<Renewed>, BackendError>> {
///         Box::pin(async move {
///             // Find the session whose refresh secret hashes to this one; `Ok(None)` when it is
///             // unknown, revoked or expired (the layer then clears the cookies). Otherwise sign
///             // a new short-lived token for it and rotate the secret: store the new secret's
///             // hash with `UPDATE … WHERE refresh_secret_hash = <old hash>` (so two concurrent
///             // refreshes cannot both rotate), and hand the new secret to the layer, which sets
///             // the refresh cookie.
///             let Some(claims) = find_session(refresh_secret) else {
///                 return Ok(None);
///             };
///             let token = sign(&claims);
///             Ok(Some(Renewed::new(token, claims).with_refresh_secret(new_secret(), 7 * 24 * 3600)))
///         })
///     }
///
///     fn user<'a>(&'a self, id: &'a UserId) -> BoxFuture<'a, Result<Option<User>, BackendError>> {
///         Box::pin(async move {
///             let _ = id; // SELECT … FROM users WHERE id = $1
///             Ok(None)
///         })
///     }
///
///     fn set_name<'a>(&'a self, id: &'a UserId, name: &'a str)
///         -> BoxFuture<'a, Result<Option<User>, BackendError>> {
///         Box::pin(async move {
///             let _ = (id, name); // UPDATE users SET name = $2 WHERE id = $1 RETURNING …
///             Ok(None)
///         })
///     }
/// }
///
/// # fn find_session(_: &str) -> Option<auth_types::SessionClaims> { None }
/// # fn sign(_: &auth_types::SessionClaims) -> String { String::new() }
/// # fn new_secret() -> String { String::new() }
/// # fn wire(verifier: auth_server::Verifier) {
/// let layer = auth_server::AuthLayer::new(verifier)
///     .with_backend(std::sync::Arc::new(MyUsers), auth_server::SessionCookies::new(true));
/// # let _ = layer;
/// # }
/// ```
pub trait SessionBackend: Any + Send + Sync {
    /// Renews the session behind `refresh_secret`: `Ok(Some(_))` with a new token, `Ok(None)` when
    /// the secret is unknown, revoked or expired (the request is signed out and its cookies
    /// cleared), `Err` when the store cannot answer (the request continues with what it had and
    /// the cookies are left alone).
    fn refresh<'a>(
        &'a self,
        refresh_secret: &'a str,
    ) -> BoxFuture<'a, Result<Option<Renewed>, BackendError>>;

    /// The public profile of a user, `None` when there is no such user (any more).
    fn user<'a>(&'a self, id: &'a UserId) -> BoxFuture<'a, Result<Option<User>, BackendError>>;

    /// Sets a user's display name (already trimmed and checked against
    /// [`MAX_NAME_CHARS`](auth_types::contract::MAX_NAME_CHARS)); the updated user, `None` when
    /// there is no such user. Behind the prebuilt `UserProfile`'s name form.
    fn set_name<'a>(
        &'a self,
        id: &'a UserId,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<User>, BackendError>>;

    /// The user's active sessions, newest activity first, with `current_session` marked: what the
    /// prebuilt `UserProfile` server-renders, so its revoke forms work before the wasm loads.
    /// The default is an empty list (a backend without a session list).
    fn sessions<'a>(
        &'a self,
        id: &'a UserId,
        current_session: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<SessionInfo>, BackendError>> {
        let _ = (id, current_session);
        Box::pin(async { Ok(Vec::new()) })
    }

    /// The sign-in providers the backend offers ("Continue with Google"): the buttons the
    /// prebuilt `SignIn` and `SignUp` server-render. The default is none.
    fn social_providers(&self) -> Vec<SocialProvider> {
        Vec::new()
    }

    /// The user's connected provider accounts, the enabled providers and whether the account
    /// has a password: the profile's "Connected accounts", server-rendered so its forms work
    /// before the wasm loads. The default is nothing connected, no provider, a password.
    fn connections<'a>(
        &'a self,
        id: &'a UserId,
    ) -> BoxFuture<'a, Result<ConnectionsResponse, BackendError>> {
        let _ = id;
        Box::pin(async {
            Ok(ConnectionsResponse {
                has_password: true,
                ..ConnectionsResponse::default()
            })
        })
    }
}

/// The layer's [`SessionBackend`], in the request extensions for the extractors and SSR
/// ([`CurrentUser`](crate::CurrentUser), `current_user()`).
#[derive(Clone)]
pub(crate) struct SharedBackend(pub(crate) std::sync::Arc<dyn SessionBackend>);

/// The request's [`SessionBackend`] as its concrete type `B` (for example `auth_idp::Idp`), when
/// the [`AuthLayer`](crate::AuthLayer) has one of that type: how a backend's own extractors
/// (the users API) reach it. `None` otherwise.
///
/// ```
/// # struct Store;
/// # impl auth_server::SessionBackend for Store {
/// #     fn refresh<'a>(&'a self, _: &'a str) -> auth_server::BoxFuture<'a, Result<Option<auth_server::Renewed>, auth_server::BackendError>> { Box::pin(async { Ok(None) }) }
/// #     fn user<'a>(&'a self, _: &'a auth_types::UserId) -> auth_server::BoxFuture<'a, Result<Option<auth_types::User>, auth_server::BackendError>> { Box::pin(async { Ok(None) }) }
/// #     fn set_name<'a>(&'a self, _: &'a auth_types::UserId, _: &'a str) -> auth_server::BoxFuture<'a, Result<Option<auth_types::User>, auth_server::BackendError>> { Box::pin(async { Ok(None) }) }
/// # }
/// let extensions = http::Extensions::new();
/// assert!(auth_server::backend::<Store>(&extensions).is_none());
/// ```
pub fn backend<B: SessionBackend>(extensions: &http::Extensions) -> Option<&B> {
    let SharedBackend(shared) = extensions.get::<SharedBackend>()?;
    let any: &dyn Any = shared.as_ref();
    any.downcast_ref::<B>()
}

/// The request's [`SessionBackend`], whatever its type.
pub(crate) fn shared(extensions: &http::Extensions) -> Option<&dyn SessionBackend> {
    extensions
        .get::<SharedBackend>()
        .map(|SharedBackend(shared)| shared.as_ref())
}
