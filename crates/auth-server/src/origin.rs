//! Cross-site request forgery protection by origin checking, as a tower layer ([`CsrfLayer`]) that
//! runs **before** the auth layer: a refused request causes no token verification, no session
//! refresh, no database write and no `Set-Cookie`.
//!
//! A state-changing request (any method but GET, HEAD, OPTIONS, TRACE) passes only when its
//! `Origin` is the app's own origin (from the public URL) — or, for loopback development, the
//! origin derived from its own `Host` header when that host is `localhost`/`127.0.0.1`/`[::1]`.
//! Without `Origin`, it is refused when `Sec-Fetch-Site: cross-site`/`same-site` or when a
//! `Referer` names another origin. A token read (`GET /auth/token`) must be same-origin.
//! Refusals answer 403 `{"error":"Forbidden"}`.

use crate::error::AuthRejection;
use auth_types::AuthError;
use auth_types::contract::paths;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, Request};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The origins allowed to make state-changing requests.
#[derive(Debug, Clone)]
pub(crate) struct AllowedOrigins {
    own: String,
}

impl AllowedOrigins {
    /// Allows the given origin (`scheme://host[:port]`, as browsers send it).
    pub(crate) fn new(origin: impl Into<String>) -> Self {
        Self {
            own: origin.into().trim_end_matches('/').to_ascii_lowercase(),
        }
    }

    fn origin_ok(&self, origin: &str, headers: &HeaderMap) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        if origin == self.own {
            return true;
        }
        // Loopback development: the page was served from this very host.
        let Some(host) = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_ascii_lowercase)
        else {
            return false;
        };
        let hostname = host
            .rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(host.as_str(), |(h, _)| h);
        let loopback = matches!(hostname, "localhost" | "127.0.0.1" | "[::1]");
        loopback && (origin == format!("http://{host}") || origin == format!("https://{host}"))
    }

    /// Whether a state-changing request with these headers may proceed.
    pub(crate) fn allows(&self, headers: &HeaderMap) -> bool {
        match headers.get(http::header::ORIGIN) {
            Some(origin) => origin
                .to_str()
                .is_ok_and(|origin| self.origin_ok(origin, headers)),
            None => {
                let fetch_site_ok = !matches!(
                    headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
                    Some("cross-site" | "same-site")
                );
                // No `Origin` (older browsers, some privacy extensions) but a `Referer`: a
                // browser only sends one naming the page the request came from, so a foreign
                // one reveals a cross-site request (OWASP's fallback check). Requests with
                // neither header — non-browser clients — still pass.
                let referer_ok = headers.get(http::header::REFERER).is_none_or(|referer| {
                    referer
                        .to_str()
                        .is_ok_and(|r| self.origin_ok(referer_origin(r), headers))
                });
                fetch_site_ok && referer_ok
            }
        }
    }

    /// Stricter check for reading a token (`GET /auth/token`): same-origin only.
    pub(crate) fn allows_read(&self, headers: &HeaderMap) -> bool {
        let fetch_site_ok = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| matches!(v, "same-origin" | "none"));
        let origin_ok = headers
            .get(http::header::ORIGIN)
            .is_none_or(|o| o.to_str().is_ok_and(|o| self.origin_ok(o, headers)));
        fetch_site_ok && origin_ok
    }
}

/// The `scheme://host[:port]` prefix of a URL (the whole text when it has no `://`, which then
/// matches no origin).
fn referer_origin(url: &str) -> &str {
    let url = url.trim();
    match url.find("://") {
        Some(at) => {
            let after = at + 3;
            let end = url[after..]
                .find(['/', '?', '#'])
                .map_or(url.len(), |i| after + i);
            &url[..end]
        }
        None => url,
    }
}

/// Whether a method changes state (and so needs the origin check).
fn is_state_changing(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Tower layer refusing cross-origin state-changing requests (and cross-origin reads of
/// `GET /auth/token`) with 403 `{"error":"Forbidden"}`. [`AuthStack`](crate::AuthStack) puts it
/// outside the auth layer; an app wiring the layers by hand should too.
///
/// ```
/// use axum::{Router, routing::post};
///
/// let app: Router = Router::new()
///     .route("/api/posts", post(|| async { "created" }))
///     .layer(auth_server::CsrfLayer::new("https://app.example.com"));
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct CsrfLayer {
    allowed: Arc<AllowedOrigins>,
}

impl CsrfLayer {
    /// A layer allowing `origin` (`scheme://host[:port]`, the app's public origin).
    pub fn new(origin: impl Into<String>) -> Self {
        Self {
            allowed: Arc::new(AllowedOrigins::new(origin)),
        }
    }

    /// Whether a request with this method, path and headers passes the check.
    fn allows(&self, method: &Method, path: &str, headers: &HeaderMap) -> bool {
        if is_state_changing(method) {
            self.allowed.allows(headers)
        } else if path == paths::TOKEN {
            self.allowed.allows_read(headers)
        } else {
            true
        }
    }
}

impl<S> tower::Layer<S> for CsrfLayer {
    type Service = CsrfService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CsrfService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`CsrfLayer`].
#[derive(Debug, Clone)]
pub struct CsrfService<S> {
    inner: S,
    layer: CsrfLayer,
}

impl<S, B> tower::Service<Request<B>> for CsrfService<S>
where
    S: tower::Service<Request<B>, Response = Response>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if !self
            .layer
            .allows(req.method(), req.uri().path(), req.headers())
        {
            let refused = AuthRejection(AuthError::Forbidden).into_response();
            return Box::pin(std::future::ready(Ok(refused)));
        }
        Box::pin(self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origin_rules() {
        let a = AllowedOrigins::new("https://app.example.com");
        assert!(a.allows(&headers(&[("origin", "https://app.example.com")])));
        assert!(!a.allows(&headers(&[("origin", "https://evil.example")])));
        assert!(!a.allows(&headers(&[("origin", "null")])));
        assert!(!a.allows(&headers(&[("origin", "http://app.example.com")])));
        assert!(a.allows(&headers(&[])));
        assert!(a.allows(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!a.allows(&headers(&[("sec-fetch-site", "cross-site")])));
        // Without Origin, a Referer must be ours too.
        assert!(a.allows(&headers(&[(
            "referer",
            "https://app.example.com/sign-in?x=1"
        )])));
        assert!(a.allows(&headers(&[("referer", "https://app.example.com")])));
        assert!(!a.allows(&headers(&[("referer", "https://evil.example/page")])));
        assert!(!a.allows(&headers(&[(
            "referer",
            "https://app.example.com.evil.example/"
        )])));
        assert!(!a.allows(&headers(&[("referer", "not a url")])));
        // Origin, when present, decides (a browser sends both; Origin is the precise one).
        assert!(a.allows(&headers(&[
            ("origin", "https://app.example.com"),
            ("referer", "https://app.example.com/x")
        ])));
        // Host-derived origin only for loopback hosts.
        assert!(a.allows(&headers(&[
            ("origin", "http://127.0.0.1:3000"),
            ("host", "127.0.0.1:3000")
        ])));
        assert!(a.allows(&headers(&[
            ("origin", "http://localhost"),
            ("host", "localhost")
        ])));
        assert!(!a.allows(&headers(&[
            ("origin", "http://evil.example"),
            ("host", "evil.example")
        ])));
        assert!(!a.allows(&headers(&[
            ("origin", "http://127.0.0.1:3001"),
            ("host", "127.0.0.1:3000")
        ])));
        assert!(a.allows_read(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!a.allows_read(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(!a.allows_read(&headers(&[("origin", "https://evil.example")])));
    }
}
