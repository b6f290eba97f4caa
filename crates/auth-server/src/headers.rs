//! Response headers every app gets from [`AuthStack::apply`](crate::AuthStack::apply):
//!
//! * security headers on every response ([`SecurityHeaders`], with tower-http's
//!   `SetResponseHeaderLayer::if_not_present`, so a route that sets its own wins);
//! * `Cache-Control: private, no-store` on every response that sets an auth cookie (forced: a
//!   shared cache must never replay a session) or was produced for a signed-in user — documents,
//!   `/auth/*` and `/api/*` (unless the route already chose a private or no-store policy). Static
//!   assets fetched with cookies keep their own caching.

use crate::cookies::{SessionCookies, is_auth_cookie, set_cookie_name};
use crate::extract::get_auth;
use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, HeaderName, HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

/// The default `Content-Security-Policy`: what a Dioxus 0.7 fullstack app needs and nothing more.
///
/// * `script-src 'self' 'wasm-unsafe-eval' 'unsafe-inline'`: the app's own JS glue and wasm
///   (`WebAssembly.instantiateStreaming` needs `'wasm-unsafe-eval'`), and the inline scripts
///   Dioxus SSR writes into every page (its streaming initialiser and the hydration data, which
///   differs per request, so it cannot be hashed; Dioxus 0.7 has no nonce support). No
///   `'unsafe-eval'`: Dioxus's `document::eval` runs a string through `new Function`, so an app
///   that uses it must add `'unsafe-eval'` with
///   [`with_content_security_policy`](SecurityHeaders::with_content_security_policy) (auth-ui
///   does not). See docs/security.md for the residual risk.
/// * `style-src 'self' 'unsafe-inline'`: the stylesheets, plus `style` attributes that
///   components render.
/// * `connect-src 'self'`: server functions, `/auth/*` and the dev server's websocket.
/// * `object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`.
///
/// ```
/// assert!(auth_server::DEFAULT_CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
/// ```
pub const DEFAULT_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
     script-src 'self' 'wasm-unsafe-eval' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The security headers [`AuthStack::apply`](crate::AuthStack::apply) puts on every response,
/// unless the response already has that header:
///
/// | header | value |
/// | --- | --- |
/// | `X-Content-Type-Options` | `nosniff` |
/// | `Referrer-Policy` | `strict-origin-when-cross-origin` |
/// | `X-Frame-Options` | `DENY` |
/// | `Content-Security-Policy` | [`DEFAULT_CONTENT_SECURITY_POLICY`], or yours |
///
/// A request whose query has a `token` parameter (a mailed link: password reset, email
/// verification) is answered with `Referrer-Policy: no-referrer` and `Cache-Control: private,
/// no-store` instead.
///
/// Replace the policy for the whole app with
/// [`with_content_security_policy`](Self::with_content_security_policy) (and
/// [`AuthStack::with_security_headers`](crate::AuthStack::with_security_headers)); one route can
/// answer its own `Content-Security-Policy` header instead.
///
/// ```
/// use auth_server::SecurityHeaders;
/// let headers = SecurityHeaders::default()
///     .with_content_security_policy("default-src 'self'; img-src https:; frame-ancestors 'none'")
///     .unwrap();
/// assert!(SecurityHeaders::default().with_content_security_policy("bad\npolicy").is_err());
/// let app: axum::Router = headers.apply(axum::Router::new());
/// # let _ = app;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityHeaders {
    csp: Option<HeaderValue>,
}

impl Default for SecurityHeaders {
    fn default() -> Self {
        Self {
            csp: Some(HeaderValue::from_static(DEFAULT_CONTENT_SECURITY_POLICY)),
        }
    }
}

/// A `Content-Security-Policy` that is not a valid header value (a control character).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Content-Security-Policy is not a valid header value")]
pub struct InvalidPolicy;

impl SecurityHeaders {
    /// Uses `policy` as the `Content-Security-Policy`. Keep `frame-ancestors 'none'` (or a list of
    /// the origins that may frame the app) in it: `X-Frame-Options: DENY` stays either way.
    pub fn with_content_security_policy(mut self, policy: &str) -> Result<Self, InvalidPolicy> {
        self.csp = Some(HeaderValue::from_str(policy.trim()).map_err(|_| InvalidPolicy)?);
        Ok(self)
    }

    /// Sends no `Content-Security-Policy` (for an app whose reverse proxy sets it).
    ///
    /// ```
    /// let headers = auth_server::SecurityHeaders::default().without_content_security_policy();
    /// assert_eq!(headers.content_security_policy(), None);
    /// ```
    pub fn without_content_security_policy(mut self) -> Self {
        self.csp = None;
        self
    }

    /// The policy sent, if any.
    ///
    /// ```
    /// assert_eq!(
    ///     auth_server::SecurityHeaders::default().content_security_policy(),
    ///     Some(auth_server::DEFAULT_CONTENT_SECURITY_POLICY)
    /// );
    /// ```
    pub fn content_security_policy(&self) -> Option<&str> {
        self.csp.as_ref().and_then(|v| v.to_str().ok())
    }

    /// Wraps `router`: every response gets the headers it does not already have.
    pub fn apply<S: Clone + Send + Sync + 'static>(&self, router: Router<S>) -> Router<S> {
        let fixed: [(HeaderName, &'static str); 3] = [
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ];
        // Innermost, so the fixed `Referrer-Policy` below sees it and stays out of the way.
        let mut router = router.layer(axum::middleware::from_fn(secret_in_url));
        if let Some(csp) = &self.csp {
            router = router.layer(SetResponseHeaderLayer::if_not_present(
                header::CONTENT_SECURITY_POLICY,
                csp.clone(),
            ));
        }
        for (name, value) in fixed {
            router = router.layer(SetResponseHeaderLayer::if_not_present(
                name,
                HeaderValue::from_static(value),
            ));
        }
        router
    }
}

/// A page opened from a mailed link carries its secret in the URL (`?token=…`: the password
/// reset and email verification pages). Its answer gets `Referrer-Policy: no-referrer`, so no
/// link or resource on the page can leak the URL to another site, and `private, no-store`, so
/// no cache keeps it.
async fn secret_in_url(req: Request, next: Next) -> Response {
    let has_token = req.uri().query().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(name, _)| name == "token")
    });
    let mut res = next.run(req).await;
    if has_token {
        let headers = res.headers_mut();
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::CACHE_CONTROL, PRIVATE);
    }
    res
}

/// `private, no-store`: neither a shared cache nor the browser keeps the response.
const PRIVATE: HeaderValue = HeaderValue::from_static("private, no-store");

/// Marks, in the response extensions, an answer produced for a signed-in user.
#[derive(Debug, Clone, Copy)]
struct ForSignedInUser;

/// Inside the auth layer: whether this answer was produced for a signed-in user — a document,
/// or anything under `/auth` or `/api` (server functions included). The outer half
/// ([`private_responses`]) sets the header, after the auth layer has added its cookies.
pub(crate) async fn mark_signed_in(req: Request, next: Next) -> Response {
    let signed_in = get_auth(&req).is_signed_in();
    let path = req.uri().path();
    let user_path = ["/auth", "/api"].iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|r| r.is_empty() || r.starts_with('/'))
    });
    let mut res = next.run(req).await;
    if signed_in && (user_path || is_html(res.headers())) {
        res.extensions_mut().insert(ForSignedInUser);
    }
    res
}

fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"))
}

/// Whether a `Cache-Control` value already keeps the response out of shared caches.
fn already_private(value: &HeaderValue) -> bool {
    value.to_str().is_ok_and(|v| {
        v.split(',')
            .map(|d| d.trim().to_ascii_lowercase())
            .any(|d| d == "private" || d == "no-store")
    })
}

/// Outside the auth layer (it sees the layer's `Set-Cookie`s): `Cache-Control: private, no-store`
/// on answers that set an auth cookie (always) or were marked by [`mark_signed_in`] (unless the
/// route chose a private policy itself); and, when an answer sets a `__Host-` cookie, the
/// removal of its plain-named predecessor the request still carried.
pub(crate) async fn private_responses(req: Request, next: Next) -> Response {
    let mut carried = HeaderMap::new();
    for value in req.headers().get_all(header::COOKIE) {
        carried.append(header::COOKIE, value.clone());
    }
    let mut res = next.run(req).await;
    let sets_auth_cookie = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(set_cookie_name)
        .any(is_auth_cookie);
    if sets_auth_cookie {
        for removal in SessionCookies::superseded(&carried, res.headers()) {
            res.headers_mut().append(header::SET_COOKIE, removal);
        }
        res.headers_mut().insert(header::CACHE_CONTROL, PRIVATE);
    } else if res.extensions().get::<ForSignedInUser>().is_some()
        && !res
            .headers()
            .get(header::CACHE_CONTROL)
            .is_some_and(already_private)
    {
        res.headers_mut().insert(header::CACHE_CONTROL, PRIVATE);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_token_in_the_url_gets_no_referrer_and_no_store() {
        use tower::ServiceExt;
        let app: Router = SecurityHeaders::default()
            .apply(Router::new().route("/reset-password", axum::routing::get(|| async { "page" })));
        let call = |uri: &'static str| {
            let app = app.clone();
            async move {
                let req = Request::builder()
                    .uri(uri)
                    .body(axum::body::Body::empty())
                    .unwrap();
                app.oneshot(req).await.unwrap()
            }
        };
        let with = call("/reset-password?token=abc").await;
        assert_eq!(with.headers()[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(with.headers()[header::CACHE_CONTROL], "private, no-store");
        let without = call("/reset-password?tokens=abc").await;
        assert_eq!(
            without.headers()[header::REFERRER_POLICY],
            "strict-origin-when-cross-origin"
        );
        assert!(without.headers().get(header::CACHE_CONTROL).is_none());
    }

    #[test]
    fn private_policies_are_recognised() {
        for v in [
            "private, no-store",
            "no-store",
            "Private, max-age=30",
            "no-cache, no-store",
        ] {
            assert!(already_private(&HeaderValue::from_static(v)), "{v}");
        }
        for v in [
            "public, max-age=3600",
            "no-cache",
            "max-age=60",
            "privately",
        ] {
            assert!(!already_private(&HeaderValue::from_static(v)), "{v}");
        }
    }

    #[test]
    fn policies_must_be_header_values() {
        let h = SecurityHeaders::default();
        assert_eq!(
            h.clone()
                .with_content_security_policy(" default-src 'none' ")
                .unwrap()
                .content_security_policy(),
            Some("default-src 'none'")
        );
        assert_eq!(
            h.with_content_security_policy("a\r\nSet-Cookie: x=1"),
            Err(InvalidPolicy)
        );
    }
}
