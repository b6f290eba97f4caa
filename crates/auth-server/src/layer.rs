//! The tower layer: verifies the session token once per request and stores the result in the
//! request extensions, optionally refreshing the session through a [`SessionRefresher`].

use crate::extract::AuthContext;
use crate::token::token_from_headers;
use crate::verify::Verifier;
use auth_types::{AuthState, SessionClaims};
use http::{HeaderMap, HeaderValue, Request, Response, header};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// A boxed, `Send` future (what [`SessionRefresher::refresh`] returns).
///
/// ```
/// let fut: auth_server::BoxFuture<'static, u8> = Box::pin(async { 1 });
/// # let _ = fut;
/// ```
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The outcome of a [`SessionRefresher`].
///
/// ```
/// use auth_server::Refreshed;
/// use http::HeaderValue;
/// let out = Refreshed::SignedOut {
///     set_cookies: vec![HeaderValue::from_static("__session=; Max-Age=0; Path=/")],
/// };
/// # let _ = out;
/// ```
// Built once per refreshed request: boxing the claims would only make the API clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Refreshed {
    /// A new session token was minted: the request continues signed in with `claims`.
    Session {
        /// The new session token (the refresher usually also sets it as the `__session` cookie
        /// in `set_cookies`).
        token: String,
        /// The claims of `token`. Trusted as is: the refresher is in-process code that just
        /// issued the token.
        claims: SessionClaims,
        /// `Set-Cookie` values appended to the response, in order; every one is kept.
        set_cookies: Vec<HeaderValue>,
    },
    /// The session is over (revoked, refresh token expired): the request continues signed out
    /// and these `Set-Cookie` values (typically clearing the cookies) are appended to the response.
    SignedOut {
        /// `Set-Cookie` values appended to the response.
        set_cookies: Vec<HeaderValue>,
    },
}

/// A hook that renews a session within the request that found it missing or expired: how the
/// embedded identity provider keeps short-lived session tokens fresh without a client round trip.
///
/// The [`AuthLayer`] calls [`refresh`](Self::refresh) **only** when the request has no valid
/// session token (none, expired, or otherwise refused) and a refresher is configured. It is
/// called at most once per request, before the handler runs.
///
/// * Return `None` when there is nothing to do (no refresh cookie): the request is signed out and
///   the response is untouched.
/// * Return [`Refreshed::Session`] to sign the request in with the new claims; the handler, the
///   extractors and SSR all see them, and every `Set-Cookie` is appended to the response.
/// * Return [`Refreshed::SignedOut`] to clear cookies; the request is signed out.
///
/// Implementations must not panic and should be fast for requests without a refresh cookie (they
/// run on every signed-out request). To also verify future requests with rotated keys, call
/// [`KeyStore::replace`](crate::KeyStore::replace) when the signing key changes.
///
/// ```
/// use auth_server::{BoxFuture, Refreshed, SessionRefresher};
/// use http::HeaderMap;
///
/// struct MyIdp;
///
/// impl SessionRefresher for MyIdp {
///     fn refresh<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Option<Refreshed>> {
///         Box::pin(async move {
///             let _refresh_cookie = headers.get(http::header::COOKIE)?;
///             // look the refresh token up, mint a new session token, build the cookies…
///             None
///         })
///     }
/// }
/// ```
pub trait SessionRefresher: Send + Sync + 'static {
    /// Tries to renew the session of a request without a valid session token. `headers` are the
    /// request headers (cookies included).
    fn refresh<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Option<Refreshed>>;
}

/// The tower layer: once per request it finds the token (Bearer, then `__session` cookie),
/// verifies it, and inserts an [`AuthContext`] and its [`AuthState`] into the request extensions.
/// It **never rejects**: guards are the extractors' job ([`RequireAuth`](crate::RequireAuth),
/// [`Require`](crate::Require)).
///
/// Put it outermost (after the routes, so it wraps them all, including Dioxus server functions
/// and SSR).
///
/// ```
/// use auth_server::{Auth, AuthConfig, AuthLayer, Verifier};
/// use axum::{Router, routing::get};
///
/// let config = AuthConfig::jwks("https://clerk.example.com");
/// let verifier = Verifier::from_config(&config).unwrap();
/// let app: Router = Router::new()
///     .route("/", get(|auth: Auth| async move { format!("{:?}", *auth) }))
///     .layer(AuthLayer::new(verifier));
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct AuthLayer {
    verifier: Verifier,
    refresher: Option<Arc<dyn SessionRefresher>>,
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("verifier", &self.verifier)
            .field("refresher", &self.refresher.is_some())
            .finish()
    }
}

impl AuthLayer {
    /// A layer without a refresher (external issuers: the client refreshes its own tokens).
    ///
    /// ```
    /// # fn f(verifier: auth_server::Verifier) {
    /// let layer = auth_server::AuthLayer::new(verifier);
    /// # }
    /// ```
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            refresher: None,
        }
    }

    /// Adds a [`SessionRefresher`] (the embedded identity provider).
    ///
    /// ```
    /// # use auth_server::{BoxFuture, Refreshed, SessionRefresher};
    /// # struct Idp;
    /// # impl SessionRefresher for Idp {
    /// #     fn refresh<'a>(&'a self, _: &'a http::HeaderMap) -> BoxFuture<'a, Option<Refreshed>> {
    /// #         Box::pin(async { None })
    /// #     }
    /// # }
    /// # fn f(verifier: auth_server::Verifier) {
    /// let layer = auth_server::AuthLayer::new(verifier).with_refresher(Idp);
    /// # }
    /// ```
    pub fn with_refresher(mut self, refresher: impl SessionRefresher) -> Self {
        self.refresher = Some(Arc::new(refresher));
        self
    }

    /// Like [`with_refresher`](Self::with_refresher), sharing an existing `Arc`.
    ///
    /// ```
    /// # use auth_server::{BoxFuture, Refreshed, SessionRefresher};
    /// # struct Idp;
    /// # impl SessionRefresher for Idp {
    /// #     fn refresh<'a>(&'a self, _: &'a http::HeaderMap) -> BoxFuture<'a, Option<Refreshed>> {
    /// #         Box::pin(async { None })
    /// #     }
    /// # }
    /// # fn f(verifier: auth_server::Verifier) {
    /// let idp = std::sync::Arc::new(Idp);
    /// let layer = auth_server::AuthLayer::new(verifier).with_shared_refresher(idp);
    /// # }
    /// ```
    pub fn with_shared_refresher(mut self, refresher: Arc<dyn SessionRefresher>) -> Self {
        self.refresher = Some(refresher);
        self
    }

    /// The verifier.
    ///
    /// ```
    /// # fn f(layer: auth_server::AuthLayer) {
    /// let keys = layer.verifier().key_store().clone();
    /// # }
    /// ```
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// What the layer does for one request: the context and the `Set-Cookie` values to append.
    async fn resolve(&self, headers: &HeaderMap) -> (AuthContext, Vec<HeaderValue>) {
        if let Some((token, source)) = token_from_headers(headers) {
            match self.verifier.verify_context(token).await {
                Ok(context) => return (context, Vec::new()),
                Err(reason) => tracing::debug!(%reason, ?source, "session token refused"),
            }
        }
        let Some(refresher) = &self.refresher else {
            return (AuthContext::signed_out(), Vec::new());
        };
        match refresher.refresh(headers).await {
            Some(Refreshed::Session {
                claims,
                set_cookies,
                ..
            }) => (AuthContext::from_claims(claims), set_cookies),
            Some(Refreshed::SignedOut { set_cookies }) => (AuthContext::signed_out(), set_cookies),
            None => (AuthContext::signed_out(), Vec::new()),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`AuthLayer`].
///
/// ```
/// use tower::Layer;
/// # fn f(layer: auth_server::AuthLayer) {
/// let svc = layer.layer(tower::service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
/// }));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S, B, ResBody> Service<Request<B>> for AuthService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The clone is not ready; the ready one is taken (the usual tower pattern).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let (ctx, set_cookies) = layer.resolve(req.headers()).await;
            req.extensions_mut()
                .insert::<AuthState>(ctx.state().clone());
            req.extensions_mut().insert(ctx);
            let mut res = inner.call(req).await?;
            // A response that sets a cookie itself (sign-in, sign-up, sign-out, the provider's
            // own refresh) is authoritative for it: browsers apply `Set-Cookie` in order, so
            // appending the layer's value after it would undo it — e.g. a stale `__refresh`
            // cookie sent with a sign-in would clear (revoked) or replace (still live: another
            // account's session) the cookies the sign-in just issued.
            let own: Vec<String> = res
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .filter_map(cookie_name)
                .collect();
            for cookie in set_cookies {
                if cookie_name(&cookie).is_none_or(|name| !own.contains(&name)) {
                    res.headers_mut().append(header::SET_COOKIE, cookie);
                }
            }
            Ok(res)
        })
    }
}

/// The name of the cookie a `Set-Cookie` value sets.
fn cookie_name(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let (name, _) = text.split_once('=')?;
    Some(name.trim().to_owned())
}
