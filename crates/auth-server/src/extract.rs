//! What a request knows about its user ([`AuthContext`], [`get_auth`]) and the axum extractors
//! built on it: [`Auth`] (never fails), [`RequireAuth`] (401 when signed out) and [`Require`]
//! (401, or 403 without the [`Policy`]'s role or permission).
//!
//! The extractors implement `FromRequestParts<S>` for every `S: Send + Sync`, so they work in
//! plain axum handlers and in Dioxus server functions (`#[get("/api/me", auth: RequireAuth)]`).
//!
//! **Without the [`AuthLayer`](crate::AuthLayer)** the extractors see a signed-out request (so
//! `RequireAuth` answers 401: fail closed) and an `error` is logged once per process naming the
//! fix. They never answer 500 and never verify tokens themselves.

use crate::error::AuthRejection;
use auth_types::{AuthState, Check, SessionClaims, SessionId, SignedIn, UserId};
use axum::extract::FromRequestParts;
use http::Extensions;
use http::request::Parts;
use std::convert::Infallible;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The verified identity of a request, stored in its extensions by the
/// [`AuthLayer`](crate::AuthLayer): the [`AuthState`] and, when signed in, the token's claims.
///
/// ```
/// use auth_server::AuthContext;
/// let ctx = AuthContext::signed_out();
/// assert!(!ctx.state().is_signed_in());
/// assert!(ctx.claims().is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct AuthContext {
    /// `None` when signed out. Shared: the verifier builds it once per distinct token and every
    /// request carrying that token (and every extractor in it) clones the `Arc`, not the claims.
    session: Option<Arc<Session>>,
}

/// A verified token's claims and the signed-in state derived from them.
#[derive(Debug)]
struct Session {
    /// `AuthState::SignedIn(signed_in)`, kept whole so [`AuthContext::state`] can lend it.
    state: AuthState,
    signed_in: SignedIn,
    claims: SessionClaims,
    /// The verified token itself (`None` for contexts built from claims alone).
    token: Option<Box<str>>,
}

/// What [`AuthContext::state`] lends when signed out.
static SIGNED_OUT: AuthState = AuthState::SignedOut;

impl AuthContext {
    /// A signed-out context.
    ///
    /// ```
    /// assert!(!auth_server::AuthContext::signed_out().is_signed_in());
    /// ```
    pub fn signed_out() -> Self {
        Self::default()
    }

    /// A signed-in context from verified claims.
    ///
    /// ```
    /// let claims: auth_types::SessionClaims = serde_json::from_str(
    ///     r#"{"sub":"user_1","iss":"https://a.example","exp":1900000000}"#).unwrap();
    /// let ctx = auth_server::AuthContext::from_claims(claims);
    /// assert_eq!(ctx.state().user_id().unwrap().as_str(), "user_1");
    /// ```
    pub fn from_claims(claims: SessionClaims) -> Self {
        Self::build(claims, None)
    }

    /// A signed-in context from a verified (or freshly minted) token and its claims.
    pub(crate) fn from_token(token: &str, claims: SessionClaims) -> Self {
        Self::build(claims, Some(token.into()))
    }

    fn build(claims: SessionClaims, token: Option<Box<str>>) -> Self {
        let signed_in = SignedIn::from(&claims);
        Self {
            session: Some(Arc::new(Session {
                state: AuthState::SignedIn(signed_in.clone()),
                signed_in,
                claims,
                token,
            })),
        }
    }

    /// The session token this request was verified with, or the one the layer minted for it in
    /// this request (what `GET /auth/token` hands out). `None` when signed out.
    ///
    /// ```
    /// assert!(auth_server::AuthContext::signed_out().token().is_none());
    /// ```
    pub fn token(&self) -> Option<&str> {
        self.session.as_ref().and_then(|s| s.token.as_deref())
    }

    /// The auth state.
    ///
    /// ```
    /// assert_eq!(auth_server::AuthContext::signed_out().state(), &auth_types::AuthState::SignedOut);
    /// ```
    pub fn state(&self) -> &AuthState {
        self.session.as_ref().map_or(&SIGNED_OUT, |s| &s.state)
    }

    /// Whether the request is signed in.
    ///
    /// ```
    /// assert!(!auth_server::AuthContext::signed_out().is_signed_in());
    /// ```
    pub fn is_signed_in(&self) -> bool {
        self.session.is_some()
    }

    /// The verified claims, when signed in (custom claims are in
    /// [`extra`](SessionClaims::extra), e.g. Clerk's `org_id`).
    ///
    /// ```
    /// assert!(auth_server::AuthContext::signed_out().claims().is_none());
    /// ```
    pub fn claims(&self) -> Option<&SessionClaims> {
        self.session.as_ref().map(|s| &s.claims)
    }

    /// The context the [`AuthLayer`](crate::AuthLayer) stored in these extensions; signed out (and
    /// an error logged once) when the layer is missing.
    ///
    /// ```
    /// let ext = http::Extensions::new();
    /// assert!(!auth_server::AuthContext::from_extensions(&ext).is_signed_in());
    /// ```
    pub fn from_extensions(extensions: &Extensions) -> Self {
        match extensions.get::<AuthContext>() {
            Some(ctx) => ctx.clone(),
            None => {
                missing_layer();
                Self::signed_out()
            }
        }
    }

    /// Whether both are the same verification (not merely equal claims).
    #[cfg(test)]
    pub(crate) fn shares_session_with(&self, other: &Self) -> bool {
        matches!((&self.session, &other.session), (Some(a), Some(b)) if Arc::ptr_eq(a, b))
    }

    pub(crate) fn into_required(self) -> Option<RequireAuth> {
        self.session.map(|session| RequireAuth { session })
    }
}

/// Logs, once per process, that the [`AuthLayer`](crate::AuthLayer) is missing.
pub(crate) fn missing_layer() {
    static LOGGED: AtomicBool = AtomicBool::new(false);
    if !LOGGED.swap(true, Ordering::Relaxed) {
        tracing::error!(
            "auth-server: no AuthContext in the request: add `.layer(AuthLayer::new(verifier))` \
             to the router (outermost, so it also covers server functions and SSR); until then \
             every request is treated as signed out"
        );
    }
}

/// The request's [`AuthContext`]: the Rust twin of Clerk's `getAuth(req)`, for code that holds the
/// whole request (middleware, `tower` services).
///
/// ```
/// let req = http::Request::new(());
/// let auth = auth_server::get_auth(&req);
/// assert!(!auth.is_signed_in());
/// ```
pub fn get_auth<B>(req: &http::Request<B>) -> AuthContext {
    AuthContext::from_extensions(req.extensions())
}

/// Extractor that always succeeds: the request's auth state (the Rust twin of Clerk's `auth()`).
/// Derefs to [`AuthState`]; [`claims`](Self::claims) gives the verified claims.
///
/// ```
/// use auth_server::Auth;
///
/// async fn whoami(auth: Auth) -> String {
///     match auth.user_id() {
///         Some(id) => format!("signed in as {id}"),
///         None => "signed out".into(),
///     }
/// }
/// let app: axum::Router = axum::Router::new().route("/whoami", axum::routing::get(whoami));
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Auth(pub AuthContext);

impl Auth {
    /// The verified claims, when signed in.
    ///
    /// ```
    /// assert!(auth_server::Auth::default().claims().is_none());
    /// ```
    pub fn claims(&self) -> Option<&SessionClaims> {
        self.0.claims()
    }

    /// The whole context.
    ///
    /// ```
    /// let auth = auth_server::Auth::default();
    /// assert!(!auth.context().is_signed_in());
    /// ```
    pub fn context(&self) -> &AuthContext {
        &self.0
    }

    /// Turns this into a [`RequireAuth`], or a 401 rejection when signed out.
    ///
    /// ```
    /// let err = auth_server::Auth::default().require_auth().unwrap_err();
    /// assert_eq!(err, auth_server::AuthRejection::unauthorized());
    /// ```
    pub fn require_auth(self) -> Result<RequireAuth, AuthRejection> {
        self.0
            .into_required()
            .ok_or_else(AuthRejection::unauthorized)
    }
}

impl Deref for Auth {
    type Target = AuthState;

    fn deref(&self) -> &AuthState {
        self.0.state()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Self(AuthContext::from_extensions(&parts.extensions)))
    }
}

/// Extractor for signed-in requests: rejects signed-out ones with
/// `401 {"error":"Unauthorized"}` (`content-type: application/json`). Derefs to [`SignedIn`].
///
/// ```
/// use auth_server::{AuthRejection, RequireAuth};
/// use auth_types::Check;
///
/// async fn me(auth: RequireAuth) -> String {
///     auth.user_id().to_string()
/// }
///
/// async fn publish(auth: RequireAuth) -> Result<&'static str, AuthRejection> {
///     auth.require(&Check::permission("posts:publish"))?; // 403 otherwise
///     Ok("published")
/// }
/// let app: axum::Router = axum::Router::new()
///     .route("/api/me", axum::routing::get(me))
///     .route("/api/publish", axum::routing::post(publish));
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct RequireAuth {
    session: Arc<Session>,
}

impl RequireAuth {
    /// The user id (`sub`).
    ///
    /// ```
    /// # fn f(auth: auth_server::RequireAuth) {
    /// let id: &auth_types::UserId = auth.user_id();
    /// # }
    /// ```
    pub fn user_id(&self) -> &UserId {
        &self.session.signed_in.user_id
    }

    /// The session id (`sid`), when the issuer has sessions.
    ///
    /// ```
    /// # fn f(auth: auth_server::RequireAuth) {
    /// let sid = auth.session_id();
    /// # }
    /// ```
    pub fn session_id(&self) -> Option<&SessionId> {
        self.session.signed_in.session_id.as_ref()
    }

    /// The verified claims.
    ///
    /// ```
    /// # fn f(auth: auth_server::RequireAuth) {
    /// let org = auth.claims().extra.get("org_id");
    /// # }
    /// ```
    pub fn claims(&self) -> &SessionClaims {
        &self.session.claims
    }

    /// Whether the check holds (fails closed, see [`Check`]).
    ///
    /// ```
    /// # fn f(auth: auth_server::RequireAuth) {
    /// if auth.has(&auth_types::Check::role("admin")) { /* … */ }
    /// # }
    /// ```
    pub fn has(&self, check: &Check) -> bool {
        self.session.state.has(check)
    }

    /// `Ok` when the check holds, else a `403 {"error":"Forbidden"}` rejection.
    ///
    /// ```
    /// # fn f(auth: auth_server::RequireAuth) -> Result<(), auth_server::AuthRejection> {
    /// auth.require(&auth_types::Check::permission("posts:write"))?;
    /// # Ok(()) }
    /// ```
    pub fn require(&self, check: &Check) -> Result<(), AuthRejection> {
        if self.has(check) {
            Ok(())
        } else {
            Err(AuthRejection::forbidden())
        }
    }

    /// The auth state (always signed in).
    ///
    /// ```
    /// # fn f(auth: auth_server::RequireAuth) {
    /// assert!(auth.state().is_signed_in());
    /// # }
    /// ```
    pub fn state(&self) -> AuthState {
        self.session.state.clone()
    }
}

impl Deref for RequireAuth {
    type Target = SignedIn;

    fn deref(&self) -> &SignedIn {
        &self.session.signed_in
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequireAuth {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AuthRejection> {
        AuthContext::from_extensions(&parts.extensions)
            .into_required()
            .ok_or_else(AuthRejection::unauthorized)
    }
}

/// An authorization rule for the [`Require`] extractor.
///
/// ```
/// use auth_server::{Policy, Require};
/// use auth_types::Check;
///
/// struct Admin;
/// impl Policy for Admin {
///     fn check() -> Check {
///         Check::role("admin")
///     }
/// }
///
/// async fn admin_only(auth: Require<Admin>) -> String {
///     format!("hello admin {}", auth.user_id())
/// }
/// let app: axum::Router = axum::Router::new().route("/admin", axum::routing::get(admin_only));
/// # let _ = app;
/// ```
pub trait Policy: Send + Sync + 'static {
    /// The check the signed-in user must pass.
    fn check() -> Check;
}

/// Extractor for signed-in requests that pass the policy `P`: `401` when signed out, `403
/// {"error":"Forbidden"}` when the check fails. Derefs to [`RequireAuth`]. See [`Policy`].
///
/// ```
/// # use auth_server::{Policy, Require};
/// # struct Editor;
/// # impl Policy for Editor { fn check() -> auth_types::Check { auth_types::Check::role("editor") } }
/// async fn edit(auth: Require<Editor>) -> String {
///     auth.user_id().to_string()
/// }
/// ```
pub struct Require<P: Policy> {
    auth: RequireAuth,
    _policy: PhantomData<fn() -> P>,
}

impl<P: Policy> Require<P> {
    /// The underlying [`RequireAuth`].
    ///
    /// ```
    /// # use auth_server::{Policy, Require};
    /// # struct Editor;
    /// # impl Policy for Editor { fn check() -> auth_types::Check { auth_types::Check::role("editor") } }
    /// fn user(auth: Require<Editor>) -> auth_server::RequireAuth {
    ///     auth.into_inner()
    /// }
    /// ```
    pub fn into_inner(self) -> RequireAuth {
        self.auth
    }
}

impl<P: Policy> std::fmt::Debug for Require<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Require")
            .field("policy", &std::any::type_name::<P>())
            .field("auth", &self.auth)
            .finish()
    }
}

impl<P: Policy> Clone for Require<P> {
    fn clone(&self) -> Self {
        Self {
            auth: self.auth.clone(),
            _policy: PhantomData,
        }
    }
}

impl<P: Policy> Deref for Require<P> {
    type Target = RequireAuth;

    fn deref(&self) -> &RequireAuth {
        &self.auth
    }
}

impl<S: Send + Sync, P: Policy> FromRequestParts<S> for Require<P> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AuthRejection> {
        let auth = RequireAuth::from_request_parts(parts, state).await?;
        auth.require(&P::check())?;
        Ok(Self {
            auth,
            _policy: PhantomData,
        })
    }
}
