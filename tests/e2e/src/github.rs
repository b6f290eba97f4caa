//! A stand-in for GitHub's OAuth app endpoints and REST API, in the shape GitHub documents
//! (<https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps>),
//! served by axum on a free loopback port. GitHub is not an OpenID provider, so there is no
//! certified server to run instead: this double keeps its quirks (errors as **200** JSON from the
//! token endpoint, 403 without `User-Agent`, emails only from `/user/emails`).
//!
//! Shared by the browser tests (`e2e::github`) and auth-idp's tests (`#[path]` include): it uses
//! only std, tokio, axum, serde_json, sha2, base64, rand_core and url.
#![allow(dead_code)] // each including test binary uses a part

use axum::{
    Router,
    extract::{Query, RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine as _;
use rand_core::RngCore as _;
use serde_json::json;
use sha2::Digest as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A GitHub account, as `/user` and `/user/emails` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubUser {
    /// GitHub's numeric user id (stable; the login can be renamed).
    pub id: u64,
    pub login: String,
    pub name: Option<String>,
    pub avatar_url: String,
    pub emails: Vec<GithubEmail>,
}

/// One entry of `GET /user/emails`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubEmail {
    pub email: String,
    pub primary: bool,
    pub verified: bool,
}

/// The GitHub double, serving; stopped on drop.
#[derive(Debug)]
pub struct GithubDouble {
    shared: Arc<Shared>,
    base_url: String,
    server: tokio::task::JoinHandle<()>,
}

/// How long an authorization code can be exchanged.
const CODE_TTL: Duration = Duration::from_secs(60);

const BAD_CODE_URI: &str = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code";
const BAD_CLIENT_URI: &str = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials";
const BAD_REDIRECT_URI: &str = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#redirect-uri-mismatch";

#[derive(Debug)]
struct Shared {
    client_id: String,
    client_secret: String,
    state: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    signed_in: Option<GithubUser>,
    deny_next: bool,
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, GithubUser>,
    hits: HashMap<String, usize>,
}

/// What an authorization code stands for until it is exchanged.
#[derive(Debug)]
struct Grant {
    user: GithubUser,
    code_challenge: Option<String>,
    redirect_uri: String,
    expires: Instant,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hit(&self, path: &str) {
        *self.lock().hits.entry(path.to_owned()).or_default() += 1;
    }
}

impl GithubDouble {
    /// Serves the double for one registered OAuth app (`client_id`, `client_secret`) on a free
    /// loopback port.
    pub async fn start(client_id: &str, client_secret: &str) -> Self {
        let shared = Arc::new(Shared {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            state: Mutex::default(),
        });
        let app = Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(access_token))
            .route("/user", get(user))
            .route("/user/emails", get(user_emails))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port for the GitHub double");
        let addr = listener.local_addr().expect("the GitHub double's address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            shared,
            base_url: format!("http://{addr}"),
            server,
        }
    }

    /// `http://127.0.0.1:PORT`: stands for both `https://github.com` (the OAuth pages) and
    /// `https://api.github.com` (the REST API).
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Makes `user` the one signed in at "github.com": they approve every authorization from
    /// now on (until another `sign_in_as`), like a browser session would.
    pub fn sign_in_as(&self, user: GithubUser) {
        self.shared.lock().signed_in = Some(user);
    }

    /// The next authorization is refused by the user (`error=access_denied`).
    pub fn deny_next(&self) {
        self.shared.lock().deny_next = true;
    }

    /// How many requests reached `path` (e.g. `/user/emails`), answered or refused.
    pub fn hits(&self, path: &str) -> usize {
        self.shared.lock().hits.get(path).copied().unwrap_or(0)
    }
}

impl Drop for GithubDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// `GET /login/oauth/authorize`: the user (already signed in) approves at once, or refuses after
/// [`GithubDouble::deny_next`]; either way a 302 back to `redirect_uri`.
async fn authorize(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    shared.hit("/login/oauth/authorize");
    let param = |k: &str| params.get(k).filter(|v| !v.is_empty()).cloned();
    if param("client_id").as_deref() != Some(shared.client_id.as_str()) {
        return (StatusCode::NOT_FOUND, "GitHub double: unknown client_id").into_response();
    }
    let Some(redirect_uri) = param("redirect_uri") else {
        return (
            StatusCode::BAD_REQUEST,
            "GitHub double: redirect_uri is missing",
        )
            .into_response();
    };
    let Ok(mut target) = url::Url::parse(&redirect_uri) else {
        return (
            StatusCode::BAD_REQUEST,
            "GitHub double: redirect_uri is not a URL",
        )
            .into_response();
    };
    let code_challenge = param("code_challenge");
    if code_challenge.is_some() && param("code_challenge_method").is_some_and(|m| m != "S256") {
        return (
            StatusCode::BAD_REQUEST,
            "GitHub double: only code_challenge_method=S256 is supported",
        )
            .into_response();
    }
    let state = param("state").unwrap_or_default();
    let mut inner = shared.lock();
    if std::mem::take(&mut inner.deny_next) {
        target
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair(
                "error_description",
                "The user has denied your application access.",
            )
            .append_pair(
                "error_uri",
                "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied",
            )
            .append_pair("state", &state);
        return found(&target);
    }
    let Some(user) = inner.signed_in.clone() else {
        return (
            StatusCode::UNAUTHORIZED,
            "GitHub double: nobody is signed in (call GithubDouble::sign_in_as first)",
        )
            .into_response();
    };
    let code = random_hex(10);
    inner.codes.insert(
        code.clone(),
        Grant {
            user,
            code_challenge,
            redirect_uri,
            expires: Instant::now() + CODE_TTL,
        },
    );
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &state);
    found(&target)
}

/// `POST /login/oauth/access_token`: parameters in the form body (or the query), the client's
/// credentials there or as HTTP Basic. Errors are **200** answers, as at GitHub.
async fn access_token(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: String,
) -> Response {
    shared.hit("/login/oauth/access_token");
    let mut params: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    params.extend(url::form_urlencoded::parse(body.as_bytes()).into_owned());
    if let Some((id, secret)) = basic_credentials(&headers) {
        params.entry("client_id".into()).or_insert(id);
        params.entry("client_secret".into()).or_insert(secret);
    }
    let json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let param = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();

    if param("client_id") != shared.client_id || param("client_secret") != shared.client_secret {
        return token_error(
            json,
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
            BAD_CLIENT_URI,
        );
    }
    let mut inner = shared.lock();
    // Single use: a code is gone after its first exchange, right or wrong.
    let grant = inner
        .codes
        .remove(param("code"))
        .filter(|g| g.expires > Instant::now());
    let Some(grant) = grant else {
        return bad_code(json);
    };
    if !param("redirect_uri").is_empty() && param("redirect_uri") != grant.redirect_uri {
        return token_error(
            json,
            "redirect_uri_mismatch",
            "The redirect_uri MUST match the registered callback URL for this application.",
            BAD_REDIRECT_URI,
        );
    }
    if let Some(challenge) = &grant.code_challenge {
        let verifier = param("code_verifier");
        let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        if verifier.is_empty() || computed != *challenge {
            return bad_code(json);
        }
    }
    let token = format!("gho_{}", random_alnum(36));
    inner.tokens.insert(token.clone(), grant.user);
    let scope = "read:user,user:email";
    if json {
        axum::Json(json!({ "access_token": token, "token_type": "bearer", "scope": scope }))
            .into_response()
    } else {
        form_response(&[
            ("access_token", &token),
            ("scope", scope),
            ("token_type", "bearer"),
        ])
    }
}

/// `GET /user`: the signed-in user's public profile.
async fn user(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    shared.hit("/user");
    match api_user(&shared, &headers) {
        Ok(user) => axum::Json(json!({
            "login": user.login,
            "id": user.id,
            "avatar_url": user.avatar_url,
            "html_url": format!("https://github.com/{}", user.login),
            "type": "User",
            "name": user.name,
            // The public profile email: null unless the user made one public.
            "email": null,
        }))
        .into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// `GET /user/emails`: every address of the user (scope `user:email`).
async fn user_emails(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    shared.hit("/user/emails");
    match api_user(&shared, &headers) {
        Ok(user) => axum::Json(
            user.emails
                .iter()
                .map(|e| {
                    json!({
                        "email": e.email,
                        "primary": e.primary,
                        "verified": e.verified,
                        "visibility": if e.primary { Some("private") } else { None },
                    })
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// Why the REST API refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// No `User-Agent` header: 403, before anything else is looked at.
    NoUserAgent,
    /// No token, another scheme or an unknown token: 401.
    BadCredentials,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::NoUserAgent => (
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "Request forbidden by administrative rules. Please make sure your request has a \
                 User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). \
                 Check https://developer.github.com for other possible causes.\n",
            )
                .into_response(),
            Self::BadCredentials => (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({
                    "message": "Bad credentials",
                    "documentation_url": "https://docs.github.com/rest",
                    "status": "401",
                })),
            )
                .into_response(),
        }
    }
}

/// GitHub's REST API rules: a `User-Agent` is required (403), then a valid token as `Bearer` or
/// `token` (401 "Bad credentials").
fn api_user(shared: &Shared, headers: &HeaderMap) -> Result<GithubUser, Refusal> {
    if headers.get(header::USER_AGENT).is_none() {
        return Err(Refusal::NoUserAgent);
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")
        })
        .map(|(_, token)| token.trim().to_owned());
    token
        .and_then(|t| shared.lock().tokens.get(&t).cloned())
        .ok_or(Refusal::BadCredentials)
}

/// A 302 to `target`, GitHub's status for the authorization redirect.
fn found(target: &url::Url) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, target.as_str())]).into_response()
}

/// `client_id:client_secret` from an `Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let (id, secret) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

fn bad_code(json: bool) -> Response {
    token_error(
        json,
        "bad_verification_code",
        "The code passed is incorrect or expired.",
        BAD_CODE_URI,
    )
}

/// A token endpoint error: status 200, like GitHub.
fn token_error(json: bool, error: &str, description: &str, uri: &str) -> Response {
    if json {
        axum::Json(json!({ "error": error, "error_description": description, "error_uri": uri }))
            .into_response()
    } else {
        form_response(&[
            ("error", error),
            ("error_description", description),
            ("error_uri", uri),
        ])
    }
}

/// GitHub's default answer format (no `Accept: application/json`).
fn form_response(pairs: &[(&str, &str)]) -> Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    (
        [(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand_core::OsRng.fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_alnum(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut raw = vec![0u8; len];
    rand_core::OsRng.fill_bytes(&mut raw);
    raw.iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}
