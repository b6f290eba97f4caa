//! HTTP endpoints. JSON and `application/x-www-form-urlencoded` bodies are both accepted; form
//! posts answer with 303 redirects, JSON posts with JSON.

use super::cookies;
use super::csrf::CsrfLayer;
use super::error::{ApiError, IdpError};
use super::password::password_acceptable;
use super::rate_limit::LimitKind;
use super::redirect::safe_redirect;
use super::session::{DEFAULT_ROLES, IssuedSession, hash_secret, new_id};
use super::store::NewAccount;
use super::validate::{MAX_NAME_CHARS, is_valid_email, normalise_email};
use super::{Current, Inner};
use auth_types::{AuthState, SignedIn, User};
use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

type AppState = Arc<Inner>;

pub(crate) fn router(inner: AppState) -> axum::Router {
    let csrf = CsrfLayer::new(inner.config.public_origin());
    axum::Router::new()
        .route("/auth/sign-up", post(sign_up))
        .route("/auth/sign-in", post(sign_in))
        .route("/auth/sign-out", post(sign_out))
        .route("/auth/sign-out-all", post(sign_out_all))
        .route("/auth/session", get(session))
        .route("/auth/token", get(token))
        .route("/.well-known/jwks.json", get(jwks))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .layer(csrf)
        .with_state(inner)
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "bad_request",
        "Method not allowed",
    )
    .into_response()
}

// ---- request bodies -------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Form,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignUpInput {
    pub(crate) email: String,
    pub(crate) password: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) redirect_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignInInput {
    pub(crate) email: String,
    pub(crate) password: String,
    #[serde(default)]
    pub(crate) redirect_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignOutInput {
    #[serde(default)]
    pub(crate) redirect_url: Option<String>,
}

/// Reads and parses the body: 413 when too large, 415 for other content types, 400 for malformed
/// JSON, 422 for missing or mistyped fields. An empty body with no content type counts as `{}`
/// when `empty_ok`.
async fn read_body<T: DeserializeOwned>(
    inner: &Inner,
    parts: &Parts,
    body: Body,
    empty_ok: bool,
) -> Result<(T, Format), ApiError> {
    let limit = inner.config.max_body_bytes;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TOO_LARGE);
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::TOO_LARGE)?;
    parse_body(content_type, &bytes, empty_ok)
}

/// The pure half of [`read_body`]: picks the format from the `Content-Type` value and parses
/// the bytes (no I/O, no size check: the caller bounds the bytes).
pub(crate) fn parse_body<T: DeserializeOwned>(
    content_type: Option<&str>,
    bytes: &[u8],
    empty_ok: bool,
) -> Result<(T, Format), ApiError> {
    let content_type = content_type.map(|v| {
        v.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    let format = match content_type.as_deref() {
        Some("application/json") => Some(Format::Json),
        Some(t) if t.starts_with("application/") && t.ends_with("+json") => Some(Format::Json),
        Some("application/x-www-form-urlencoded") => Some(Format::Form),
        _ => None,
    };
    let format = match format {
        Some(f) => f,
        None if empty_ok && bytes.is_empty() => Format::Json,
        None => return Err(ApiError::UNSUPPORTED_MEDIA),
    };
    let value = match format {
        Format::Json if bytes.is_empty() && empty_ok => serde_json::from_slice(b"{}"),
        Format::Json => serde_json::from_slice(bytes),
        Format::Form => {
            return serde_urlencoded::from_bytes(bytes)
                .map(|v| (v, format))
                .map_err(|_| ApiError::UNPROCESSABLE);
        }
    };
    match value {
        Ok(v) => Ok((v, format)),
        Err(e) if e.classify() == serde_json::error::Category::Data => Err(ApiError::UNPROCESSABLE),
        Err(_) => Err(ApiError::BAD_REQUEST),
    }
}

/// The sign-up fields after normalisation and validation: the email (trimmed, lowercased,
/// checked) and the name (trimmed, at most [`MAX_NAME_CHARS`], no control characters). The
/// password is checked against the policy and left as typed.
pub(crate) fn validate_sign_up(input: &SignUpInput) -> Result<(String, String), ApiError> {
    let email = normalise_email(&input.email);
    if !is_valid_email(&email) {
        return Err(ApiError::INVALID_EMAIL);
    }
    if !password_acceptable(&input.password, &email) {
        return Err(ApiError::INVALID_PASSWORD);
    }
    let name = input.name.trim().to_owned();
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::INVALID_NAME);
    }
    Ok((email, name))
}

/// The sign-in lookup key and the password actually checked: the normalised email, whether the
/// input is plausible enough to look the account up at all, and the password cut to
/// [`MAX_PASSWORD_CHARS`](super::password::MAX_PASSWORD_CHARS) characters (hashing work is
/// bounded whatever was sent).
pub(crate) fn sign_in_key(input: &SignInInput) -> (String, bool, String) {
    let email = normalise_email(&input.email);
    let plausible = is_valid_email(&email)
        && input.password.chars().count() <= super::password::MAX_PASSWORD_CHARS;
    let password = input
        .password
        .chars()
        .take(super::password::MAX_PASSWORD_CHARS)
        .collect();
    (email, plausible, password)
}

// ---- responses ------------------------------------------------------------------------------

fn append_cookies(response: &mut Response, set_cookies: Vec<HeaderValue>) {
    for value in set_cookies {
        // append, never insert: every Set-Cookie must reach the browser.
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A form error: back to the form page with `?error=<code>&redirect_url=…`.
fn form_error(page: &str, error: &ApiError, redirect_url: &str) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("error", error.code)
        .append_pair("redirect_url", redirect_url)
        .finish();
    let mut response = see_other(&format!("{page}?{query}"));
    if let Some(secs) = error.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn auth_state(claims: &auth_types::SessionClaims) -> AuthState {
    AuthState::SignedIn(SignedIn::from(claims))
}

fn signed_in_body(user: &User, claims: &auth_types::SessionClaims, redirect: &str) -> Response {
    Json(json!({ "auth": auth_state(claims), "user": user, "redirect_url": redirect }))
        .into_response()
}

/// The client's address for the per-address rate limit, or `None` when it cannot be known (no
/// trusted header configured and no `ConnectInfo`, as under `dioxus::serve`): one shared
/// "unknown" bucket would let a single attacker lock every user out.
fn client_address(inner: &Inner, parts: &Parts) -> Option<String> {
    if let Some(name) = &inner.config.trusted_ip_header
        && let Some(value) = parts.headers.get(name).and_then(|v| v.to_str().ok())
        && let Some(first) = value.split(',').next().map(str::trim)
        && !first.is_empty()
    {
        return Some(first.chars().take(64).collect());
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

fn user_agent(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(512).collect())
}

/// A new session for a user: cookies + signed token.
async fn start_session(
    inner: &Inner,
    user: &User,
    issued: &IssuedSession,
) -> Result<(auth_types::SessionClaims, Vec<HeaderValue>), IdpError> {
    let minted = inner
        .mint(user.id.as_str(), &issued.id, &user.roles)
        .await?;
    let secure = inner.config.secure_cookies();
    let cookies = vec![
        cookies::session_cookie(&minted.token, secure),
        cookies::refresh_cookie(
            &issued.refresh_secret,
            inner.config.session_ttl.as_secs() as i64,
            secure,
        ),
    ];
    Ok((minted.claims, cookies))
}

// ---- handlers -------------------------------------------------------------------------------

async fn sign_up(State(inner): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let (input, format) = match read_body::<SignUpInput>(&inner, &parts, body, false).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let redirect = safe_redirect(input.redirect_url.as_deref());
    let outcome = do_sign_up(&inner, &parts, input).await;
    session_response(
        outcome,
        format,
        StatusCode::CREATED,
        &inner.config.sign_up_path,
        &redirect,
    )
}

/// The answer to a sign-up or sign-in, in the caller's format: a form post is redirected (303)
/// to `redirect` or back to its form with `?error=`; a JSON post gets the new auth state.
fn session_response(
    outcome: Result<(User, auth_types::SessionClaims, Vec<HeaderValue>), ApiError>,
    format: Format,
    success: StatusCode,
    form_path: &str,
    redirect: &str,
) -> Response {
    match outcome {
        Ok((user, claims, set_cookies)) => {
            let mut response = match format {
                Format::Form => see_other(redirect),
                Format::Json => {
                    let mut r = signed_in_body(&user, &claims, redirect);
                    *r.status_mut() = success;
                    r
                }
            };
            append_cookies(&mut response, set_cookies);
            response
        }
        Err(e) => match format {
            Format::Form => form_error(form_path, &e, redirect),
            Format::Json => e.into_response(),
        },
    }
}

async fn do_sign_up(
    inner: &Inner,
    parts: &Parts,
    input: SignUpInput,
) -> Result<(User, auth_types::SessionClaims, Vec<HeaderValue>), ApiError> {
    let (email, name) = validate_sign_up(&input)?;
    // Cheap pre-check so a taken email does not cost a hash; the unique constraint still decides.
    if inner.store.user_by_email(&email).await?.is_some() {
        return Err(ApiError::EMAIL_TAKEN);
    }
    let password_hash = inner.passwords.hash(input.password).await?;
    let user_id = new_id("user");
    let roles: Vec<String> = DEFAULT_ROLES.iter().map(|r| (*r).to_owned()).collect();
    let issued = IssuedSession::new(inner.config.session_ttl.as_secs());
    let agent = user_agent(parts);
    inner
        .store
        .create_account(&NewAccount {
            user_id: &user_id,
            email: &email,
            name: &name,
            roles: &roles,
            password_hash: &password_hash,
            session: issued.row(agent.as_deref()),
        })
        .await?;
    let Some(record) = inner.store.user_by_id(&user_id).await? else {
        // The store acknowledged the insert but cannot show the row: it is failing (seen with a
        // SQLite file that became read-only under the server). Not acknowledged: the client
        // retries, and finds the account either created or free.
        tracing::warn!("a new account is not readable right after its creation; answering 503");
        return Err(ApiError::UNAVAILABLE);
    };
    let user = record.user;
    let (claims, cookies) = start_session(inner, &user, &issued).await?;
    Ok((user, claims, cookies))
}

async fn sign_in(State(inner): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let (input, format) = match read_body::<SignInInput>(&inner, &parts, body, false).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let redirect = safe_redirect(input.redirect_url.as_deref());
    let outcome = do_sign_in(&inner, &parts, input).await;
    session_response(
        outcome,
        format,
        StatusCode::OK,
        &inner.config.sign_in_path,
        &redirect,
    )
}

async fn do_sign_in(
    inner: &Inner,
    parts: &Parts,
    input: SignInInput,
) -> Result<(User, auth_types::SessionClaims, Vec<HeaderValue>), ApiError> {
    let (email, plausible, password) = sign_in_key(&input);
    let address = client_address(inner, parts);
    let keys = [
        (LimitKind::Address, address.as_ref()),
        (LimitKind::Account, Some(&email)),
    ];
    // Every attempt is counted before the (slow) password check, so concurrent guesses cannot
    // overshoot the budget; a success, or a failure that is ours (store down), is given back.
    let mut counted: Vec<(LimitKind, &str)> = Vec::new();
    for (kind, key) in keys
        .into_iter()
        .filter_map(|(kind, key)| Some((kind, key?)))
    {
        if let Err(wait) = inner.limiter.try_acquire(kind, key) {
            for (kind, key) in counted {
                inner.limiter.refund(kind, key);
            }
            return Err(ApiError::rate_limited(wait.as_secs() + 1));
        }
        counted.push((kind, key));
    }
    let checked = check_credentials(inner, &email, plausible, password).await;
    let user = match checked {
        Ok(Some(user)) => user,
        Ok(None) => return Err(ApiError::INVALID_CREDENTIALS),
        Err(e) => {
            for (kind, key) in counted {
                inner.limiter.refund(kind, key);
            }
            return Err(e);
        }
    };
    if let Some(address) = &address {
        inner.limiter.refund(LimitKind::Address, address);
    }
    inner.limiter.reset(LimitKind::Account, &email);
    // The session these cookies pointed at (if any) is replaced: revoke it rather than leave it
    // orphaned.
    if let Some(previous) = cookie_session(inner, parts).await? {
        inner.store.revoke_session(&previous.id).await?;
    }
    // Always a brand-new session id (no session fixation).
    let issued = IssuedSession::new(inner.config.session_ttl.as_secs());
    let agent = user_agent(parts);
    inner
        .store
        .create_session(user.id.as_str(), &issued.row(agent.as_deref()))
        .await?;
    let (claims, cookies) = start_session(inner, &user, &issued).await?;
    Ok((user, claims, cookies))
}

/// The session the request's cookies point at (JWT `sid`, else the refresh secret), active or not.
async fn cookie_session(
    inner: &Inner,
    parts: &Parts,
) -> Result<Option<super::store::SessionRow>, IdpError> {
    if let Some(token) = cookies::read_cookie(&parts.headers, cookies::SESSION_COOKIE)
        && let Some(claims) = inner.keys.verify(&token).await
        && let Some(sid) = claims.sid
        && let Some(row) = inner.store.session_by_id(&sid).await?
    {
        return Ok(Some(row));
    }
    if let Some(secret) = cookies::read_cookie(&parts.headers, cookies::REFRESH_COOKIE)
        && secret.len() <= 128
    {
        return inner
            .store
            .session_by_refresh_hash(&hash_secret(&secret))
            .await;
    }
    Ok(None)
}

fn signed_out_response(inner: &Inner, format: Format, redirect: &str) -> Response {
    let mut response = match format {
        Format::Form => see_other(redirect),
        Format::Json => Json(json!({ "auth": AuthState::SignedOut })).into_response(),
    };
    append_cookies(
        &mut response,
        cookies::clear_cookies(inner.config.secure_cookies()),
    );
    response
}

async fn sign_out(State(inner): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let (input, format) = match read_body::<SignOutInput>(&inner, &parts, body, true).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let redirect = safe_redirect(input.redirect_url.as_deref());
    let revoked = async {
        if let Some(session) = cookie_session(&inner, &parts).await? {
            inner.store.revoke_session(&session.id).await?;
        }
        Ok::<_, IdpError>(())
    }
    .await;
    match revoked {
        Ok(()) => signed_out_response(&inner, format, &redirect),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn sign_out_all(State(inner): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let (input, format) = match read_body::<SignOutInput>(&inner, &parts, body, true).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let redirect = safe_redirect(input.redirect_url.as_deref());
    let revoked = async {
        match cookie_session(&inner, &parts).await? {
            Some(session) if session.is_active() => {
                inner.store.revoke_user_sessions(&session.user_id).await?;
                Ok(true)
            }
            _ => Ok::<_, IdpError>(false),
        }
    }
    .await;
    match revoked {
        Ok(true) => signed_out_response(&inner, format, &redirect),
        Ok(false) => {
            let mut response = ApiError::UNAUTHORIZED.into_response();
            append_cookies(
                &mut response,
                cookies::clear_cookies(inner.config.secure_cookies()),
            );
            response
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn session(State(inner): State<AppState>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let found = async {
        let (current, set_cookies) = inner.current(&parts.headers).await?;
        let user = match &current {
            Some(c) => inner.store.user_by_id(&c.claims.sub).await?.map(|r| r.user),
            None => None,
        };
        Ok::<_, IdpError>((current, user, set_cookies))
    }
    .await;
    match found {
        Ok((current, user, set_cookies)) => {
            let auth = match (&current, &user) {
                (Some(Current { claims, .. }), Some(_)) => auth_state(claims),
                _ => AuthState::SignedOut,
            };
            let mut response = Json(json!({ "auth": auth, "user": user })).into_response();
            no_store(&mut response);
            append_cookies(&mut response, set_cookies);
            response
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn token(State(inner): State<AppState>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    if !inner.origins.allows_read(&parts.headers) {
        return ApiError::FORBIDDEN.into_response();
    }
    match inner.current(&parts.headers).await {
        Ok((Some(current), set_cookies)) => {
            let mut response = Json(json!({
                "token": current.token,
                "expires_at": current.claims.exp,
            }))
            .into_response();
            no_store(&mut response);
            append_cookies(&mut response, set_cookies);
            response
        }
        Ok((None, set_cookies)) => {
            let mut response = ApiError::UNAUTHORIZED.into_response();
            append_cookies(&mut response, set_cookies);
            response
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

async fn jwks(State(inner): State<AppState>) -> Response {
    let mut response = Json(inner.keys.jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

async fn openid_configuration(State(inner): State<AppState>) -> Response {
    let config = &inner.config;
    Json(json!({
        "issuer": config.issuer,
        "jwks_uri": config.public_url_for("/.well-known/jwks.json"),
        "id_token_signing_alg_values_supported": ["ES256"],
        "subject_types_supported": ["public"],
        "response_types_supported": ["id_token"],
        "claims_supported": ["iss", "sub", "sid", "iat", "nbf", "exp", "roles", "permissions"],
    }))
    .into_response()
}

/// The account behind an email and password, or `None` (unknown email and wrong password take
/// the same time: unknown accounts are verified against a dummy hash).
async fn check_credentials(
    inner: &Inner,
    email: &str,
    plausible: bool,
    password: String,
) -> Result<Option<User>, ApiError> {
    let credential = if plausible {
        inner.store.credential_by_email(email).await?
    } else {
        None
    };
    let (user_id, hash) = match credential {
        Some((id, hash)) => (Some(id), Some(hash)),
        None => (None, None),
    };
    let ok = inner.passwords.verify(password, hash).await?;
    Ok(match (ok, user_id) {
        (true, Some(id)) => inner.store.user_by_id(&id).await?.map(|r| r.user),
        _ => None,
    })
}
