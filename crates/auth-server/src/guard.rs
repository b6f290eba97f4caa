//! Page protection on the HTTP level: a signed-out document request for a protected path gets a
//! `303 See Other` to the sign-in page before any rendering happens. This is the security
//! boundary for pages; client-side components (`auth_ui::Protect`, `RedirectToSignIn`) are UX.

use crate::extract::get_auth;
use axum::{
    Router,
    extract::Request,
    http::{HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use std::sync::Arc;

/// Redirects signed-out `GET`/`HEAD` requests for the given path prefixes to
/// `<sign_in_path>?redirect_url=<path and query>` (303). Apply it to the app router *inside*
/// [`AuthStack::apply`](crate::AuthStack::apply) (or an [`AuthLayer`](crate::AuthLayer)), which
/// verifies the session first. Other methods pass through: server functions and APIs check
/// with their own extractors.
///
/// Signed-in responses of protected paths get `Cache-Control: private, no-store` unless the page
/// set its own.
///
/// A prefix matches the path itself and everything below it: `/dashboard` protects
/// `/dashboard` and `/dashboard/settings`, not `/dashboards`.
///
/// ```
/// use auth_server::PageGuard;
/// use axum::{Router, routing::get};
///
/// let pages: Router = Router::new().route("/dashboard", get(|| async { "secret" }));
/// let guarded = PageGuard::new(["/dashboard", "/profile"]).apply(pages);
/// // then: auth.apply(guarded), with `auth` from `auth_idp::stack_from_env().await?` or
/// // `auth_server::AuthStack::from_env()?` (the auth layer must run first)
/// # let _ = guarded;
/// ```
#[derive(Debug, Clone)]
pub struct PageGuard {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    prefixes: Vec<String>,
    sign_in_path: String,
}

impl PageGuard {
    /// Protects these path prefixes; signed-out visitors go to `/sign-in`.
    pub fn new(prefixes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                prefixes: prefixes
                    .into_iter()
                    .map(|p| p.into().trim_end_matches('/').to_owned())
                    .collect(),
                sign_in_path: "/sign-in".to_owned(),
            }),
        }
    }

    /// Sends signed-out visitors to `path` instead of `/sign-in`.
    pub fn sign_in_path(self, path: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                prefixes: self.inner.prefixes.clone(),
                sign_in_path: path.into(),
            }),
        }
    }

    /// Whether `path` is protected.
    pub fn protects(&self, path: &str) -> bool {
        self.inner.prefixes.iter().any(|prefix| {
            prefix.is_empty()
                || path == prefix
                || path
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }

    /// Wraps `router` with the guard.
    pub fn apply<S: Clone + Send + Sync + 'static>(&self, router: Router<S>) -> Router<S> {
        let guard = self.clone();
        router.layer(middleware::from_fn(move |req: Request, next: Next| {
            let guard = guard.clone();
            async move { guard.check(req, next).await }
        }))
    }

    async fn check(&self, req: Request, next: Next) -> Response {
        let is_read = req.method() == Method::GET || req.method() == Method::HEAD;
        if !is_read || !self.protects(req.uri().path()) {
            return next.run(req).await;
        }
        if get_auth(&req).is_signed_in() {
            // A protected page carries one user's data: never store it in a shared cache.
            let mut response = next.run(req).await;
            response
                .headers_mut()
                .entry(header::CACHE_CONTROL)
                .or_insert(HeaderValue::from_static("private, no-store"));
            return response;
        }
        let return_to = req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/");
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("redirect_url", return_to)
            .finish();
        let location = format!("{}?{query}", self.inner.sign_in_path);
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthContext;
    use axum::{body::Body, routing::get};
    use tower::ServiceExt;

    fn app() -> Router {
        let pages = Router::new()
            .route("/", get(|| async { "home" }))
            .route("/dashboard", get(|| async { "secret" }))
            .route("/dashboard/a", get(|| async { "secret a" }))
            .route("/dashboards", get(|| async { "public" }));
        PageGuard::new(["/dashboard"]).apply(pages)
    }

    fn signed_in() -> AuthContext {
        let claims: auth_types::SessionClaims = serde_json::from_value(serde_json::json!({
            "sub": "user_1", "sid": "sess_1", "iss": "https://issuer", "exp": 4_000_000_000i64
        }))
        .unwrap();
        AuthContext::from_claims(claims)
    }

    async fn send(path: &str, auth: Option<AuthContext>) -> Response {
        let mut req = Request::builder().uri(path).body(Body::empty()).unwrap();
        req.extensions_mut()
            .insert(auth.unwrap_or_else(AuthContext::signed_out));
        app().oneshot(req).await.unwrap()
    }

    #[tokio::test]
    async fn signed_out_visitors_are_redirected_with_the_path() {
        let res = send("/dashboard?tab=1", None).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            res.headers()[header::LOCATION],
            "/sign-in?redirect_url=%2Fdashboard%3Ftab%3D1"
        );
        assert_eq!(
            send("/dashboard/a", None).await.status(),
            StatusCode::SEE_OTHER
        );
    }

    #[tokio::test]
    async fn signed_in_and_unprotected_requests_pass() {
        let res = send("/dashboard", Some(signed_in())).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()[header::CACHE_CONTROL], "private, no-store");
        assert!(
            send("/", None)
                .await
                .headers()
                .get(header::CACHE_CONTROL)
                .is_none()
        );
        assert_eq!(send("/", None).await.status(), 200);
        assert_eq!(send("/dashboards", None).await.status(), 200);
    }
}
