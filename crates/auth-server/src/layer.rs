//! The tower layer: the one place that reads a request's credentials, verifies its token and
//! renews its session (at most once), storing the result in the request extensions.

use crate::backend::{BoxFuture, SessionBackend, SharedBackend};
use crate::cookies::{SessionCookies, set_cookie_name};
use crate::extract::AuthContext;
use crate::token::{Credentials, credentials};
use crate::verify::Verifier;
use auth_types::AuthState;
use auth_types::contract::paths;
use http::{HeaderMap, HeaderValue, Request, Response, header};
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// The longest a token handed to a client (`/auth/session`, `/auth/token`) may have left before
/// the layer renews it first (Clerk's 15 s window; a quarter of shorter lifetimes), so a client
/// polling them never holds an expired one.
const RENEW_WINDOW_SECS: i64 = 15;

/// The tower layer: once per request it reads the credentials, verifies the token, and inserts
/// an [`AuthContext`] and its [`AuthState`] into the request extensions. It **never rejects**:
/// guards are the extractors' job ([`RequireAuth`](crate::RequireAuth), [`Require`](crate::Require)).
///
/// The rules, the same for every route:
/// * an `Authorization: Bearer` header decides alone: a refused or malformed one is signed out,
///   never the cookies' session and never a refresh;
/// * otherwise the `__session` cookie is verified; when it is missing, refused or expired (or,
///   on `/auth/session` and `/auth/token`, within its last 15 s) and a [`SessionBackend`] is
///   configured, the `__refresh` cookie renews the session — **at most once per request** — and
///   the new `Set-Cookie` values (the token, and the refresh secret when the backend rotated it)
///   are appended to the response;
/// * requests for static files never renew: paths under `/assets/` and `/wasm/` (what a Dioxus
///   release bundle serves) and any other path whose last segment has a static file extension
///   (`favicon.ico`, `robots.txt`, `*.css`, `*.js`, `*.wasm`, images, fonts), except under `/api/`
///   and `/auth/`. Their token is still verified (a cache hit after the first request), so a
///   static route can read the context, but an expired page load costs one refresh — the
///   document's — not one per asset, and an asset response never sets a cookie.
///
/// Put it outermost but for the origin check (after the routes, so it wraps them all, including
/// Dioxus server functions and SSR); [`AuthStack`](crate::AuthStack) does.
///
/// ```
/// use auth_server::{Auth, AuthConfig, AuthLayer, Verifier};
/// use axum::{Router, routing::get};
///
/// let config = AuthConfig::jwks("https://clerk.example.com").with_authorized_parties(["https://app.example.com"]);
/// let verifier = Verifier::from_config(&config).unwrap();
/// let app: Router = Router::new()
///     .route("/", get(|auth: Auth| async move { format!("{:?}", *auth) }))
///     .layer(AuthLayer::new(verifier));
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct AuthLayer {
    verifier: Verifier,
    backend: Option<Backend>,
}

#[derive(Clone)]
struct Backend {
    store: Arc<dyn SessionBackend>,
    cookies: SessionCookies,
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("verifier", &self.verifier)
            .field("backend", &self.backend.is_some())
            .finish()
    }
}

impl AuthLayer {
    /// A layer without a backend (external issuers: the client refreshes its own tokens).
    ///
    /// ```
    /// # fn f(verifier: auth_server::Verifier) {
    /// let layer = auth_server::AuthLayer::new(verifier);
    /// # }
    /// ```
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            backend: None,
        }
    }

    /// Adds a [`SessionBackend`] (the embedded identity provider, or the app's own store):
    /// sessions are renewed through it and `cookies` says how to set them.
    ///
    /// See [`SessionBackend`] for an example.
    pub fn with_backend(
        mut self,
        backend: Arc<dyn SessionBackend>,
        cookies: SessionCookies,
    ) -> Self {
        self.backend = Some(Backend {
            store: backend,
            cookies,
        });
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

    /// A token's signed-in context, or `None` (missing or refused; the reason is logged at debug).
    async fn verified(&self, token: Option<&str>) -> Option<AuthContext> {
        match self.verifier.verify_context(token?).await {
            Ok(context) => Some(context),
            Err(reason) => {
                tracing::debug!(%reason, "session token refused");
                None
            }
        }
    }

    /// What the layer does for one request: the context and the `Set-Cookie` values to append.
    async fn resolve(&self, headers: &HeaderMap, path: &str) -> (AuthContext, Vec<HeaderValue>) {
        let (session, refresh) = match credentials(headers) {
            Credentials::Bearer(token) => {
                return (self.verified(token).await.unwrap_or_default(), Vec::new());
            }
            Credentials::Cookies { session, refresh } => (session, refresh),
        };
        let verified = self.verified(session).await;
        let good_enough = is_static_asset(path)
            || verified
                .as_ref()
                .is_some_and(|context| !hands_out_tokens(path) || !expires_soon(context));
        let (Some(backend), Some(secret), false) = (&self.backend, refresh, good_enough) else {
            return (verified.unwrap_or_default(), Vec::new());
        };
        match backend.store.refresh(secret).await {
            Ok(Some(renewed)) => {
                let mut set = vec![backend.cookies.session(&renewed.token)];
                if let Some(secret) = &renewed.refresh_secret {
                    set.push(
                        backend
                            .cookies
                            .refresh(secret, renewed.refresh_max_age_secs),
                    );
                }
                (AuthContext::from_token(&renewed.token, renewed.claims), set)
            }
            Ok(None) => (AuthContext::signed_out(), backend.cookies.clear()),
            Err(e) => {
                // The store is down: keep what the request had, leave its cookies alone.
                tracing::warn!(error = %e, "session refresh failed");
                (verified.unwrap_or_default(), Vec::new())
            }
        }
    }
}

/// The paths whose answer hands the session token to a client, which will hold it a while.
fn hands_out_tokens(path: &str) -> bool {
    path == paths::SESSION || path == paths::TOKEN
}

/// Paths a Dioxus release bundle serves from its `public` folder.
const STATIC_PREFIXES: [&str; 2] = ["/assets/", "/wasm/"];

/// Extensions of files that never need a user (lowercase).
const STATIC_EXTENSIONS: [&str; 19] = [
    "css",
    "js",
    "mjs",
    "wasm",
    "map",
    "ico",
    "png",
    "jpg",
    "jpeg",
    "gif",
    "webp",
    "avif",
    "svg",
    "woff",
    "woff2",
    "ttf",
    "otf",
    "txt",
    "webmanifest",
];

/// Whether a request is for a static file, which never triggers a refresh (see [`AuthLayer`]).
/// `/api/` and `/auth/` always need a user, whatever their last segment looks like.
fn is_static_asset(path: &str) -> bool {
    if STATIC_PREFIXES
        .iter()
        .any(|prefix| path.starts_with(prefix))
    {
        return true;
    }
    if path.starts_with("/api/") || path.starts_with("/auth/") {
        return false;
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    last.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty()
            && STATIC_EXTENSIONS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(ext))
    })
}

/// Whether a token has less than its renewal window left (a quarter of its lifetime, at most
/// [`RENEW_WINDOW_SECS`]).
fn expires_soon(context: &AuthContext) -> bool {
    let Some(claims) = context.claims() else {
        return true;
    };
    let lifetime = claims
        .iat
        .map_or(i64::MAX, |iat| claims.exp.saturating_sub(iat));
    let window = (lifetime / 4).clamp(0, RENEW_WINDOW_SECS);
    claims.exp.saturating_sub(crate::verify::unix_now()) <= window
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
            let (ctx, set_cookies) = layer.resolve(req.headers(), req.uri().path()).await;
            req.extensions_mut()
                .insert::<AuthState>(ctx.state().clone());
            req.extensions_mut().insert(ctx);
            if let Some(backend) = &layer.backend {
                req.extensions_mut()
                    .insert(SharedBackend(backend.store.clone()));
            }
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
                .filter_map(set_cookie_name)
                .map(str::to_owned)
                .collect();
            for cookie in set_cookies {
                if set_cookie_name(&cookie).is_none_or(|name| !own.iter().any(|o| o == name)) {
                    res.headers_mut().append(header::SET_COOKIE, cookie);
                }
            }
            Ok(res)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::is_static_asset;

    #[test]
    fn static_assets_are_recognised() {
        for path in [
            "/assets/main-dxh1a2b3c.css",
            "/assets/favicon-dxh9f.svg",
            "/wasm/app_bg-dxh77.wasm",
            "/wasm/app.js",
            "/assets/anything",
            "/favicon.ico",
            "/robots.txt",
            "/img/Logo.PNG",
        ] {
            assert!(is_static_asset(path), "{path}");
        }
        for path in [
            "/",
            "/dashboard",
            "/sign-in",
            "/api/me",
            "/api/report.csv",
            "/api/logo.png",
            "/auth/session",
            "/auth/ui/profile/name",
            "/users/ada.lovelace",
            "/.well-known/jwks.json",
            "/.hidden",
            "/assets",
        ] {
            assert!(!is_static_asset(path), "{path}");
        }
    }
}
