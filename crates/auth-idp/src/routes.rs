//! The `/auth/*` and `/.well-known/*` handlers: parse the body (`body.rs`), call the accounts
//! service (`accounts.rs`), answer in the caller's format — a form post with a 303 redirect, JSON
//! with JSON. The caller's session is the auth layer's verified result ([`Auth`]); nothing here
//! reads a cookie or verifies a token.

use crate::Inner;
use crate::accounts::{Caller, Started};
use crate::body::{self, Format, Redirecting};
use crate::error::{ApiError, IdpError};
use crate::redirect::safe_redirect;
use auth_server::Auth;
use auth_types::contract::{
    AcceptedResponse, SessionResponse, SignInRequest, SignOutRequest, SignUpRequest, TokenResponse,
    paths,
};
use auth_types::{AuthState, SignedIn};
use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub(crate) type AppState = Arc<Inner>;

pub(crate) fn router(inner: AppState) -> axum::Router {
    axum::Router::new()
        .route(paths::SIGN_UP, post(sign_up))
        .route(paths::SIGN_IN, post(sign_in))
        .route(paths::SIGN_OUT, post(sign_out))
        .route(paths::SIGN_OUT_ALL, post(sign_out_all))
        .route(paths::SESSION, get(session))
        .route(paths::TOKEN, get(token))
        .route(paths::JWKS, get(jwks))
        .route(paths::OPENID_CONFIGURATION, get(openid_configuration))
        // Each account feature owns its routes (and storage) in its own module.
        .merge(crate::verification::routes())
        .merge(crate::recovery::routes())
        .merge(crate::email_code::routes())
        .merge(crate::settings::routes())
        .merge(crate::oauth::routes())
        .merge(crate::mail::routes())
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(inner)
}

async fn method_not_allowed() -> Response {
    ApiError::METHOD_NOT_ALLOWED.into_response()
}

// ---- handlers -------------------------------------------------------------------------------

/// A posted form or JSON body, read and parsed, with its sanitised `redirect_url`.
pub(crate) struct Post<T> {
    pub(crate) parts: Parts,
    pub(crate) input: T,
    pub(crate) format: Format,
    pub(crate) redirect: String,
}

/// Reads a post's body (`empty_ok`: a missing body counts as `{}`); the error answer otherwise.
pub(crate) async fn read_post<T: DeserializeOwned + Redirecting>(
    inner: &Inner,
    req: Request,
    empty_ok: bool,
) -> Result<Post<T>, Response> {
    let (parts, body) = req.into_parts();
    let (input, format) = body::read::<T>(inner.config.max_body_bytes, &parts, body, empty_ok)
        .await
        .map_err(IntoResponse::into_response)?;
    let redirect = safe_redirect(input.redirect_url());
    Ok(Post {
        parts,
        input,
        format,
        redirect,
    })
}

async fn sign_up(State(inner): State<AppState>, Auth(auth): Auth, req: Request) -> Response {
    let post = match read_post::<SignUpRequest>(&inner, req, false).await {
        Ok(post) => post,
        Err(refused) => return refused,
    };
    let session_id = auth.claims().and_then(|c| c.sid.as_deref());
    let outcome = inner
        .sign_up(&post.input, &caller(&inner, &post.parts, session_id))
        .await;
    session_response(
        outcome,
        &post,
        StatusCode::CREATED,
        &inner.config.sign_up_path,
    )
}

async fn sign_in(State(inner): State<AppState>, Auth(auth): Auth, req: Request) -> Response {
    let post = match read_post::<SignInRequest>(&inner, req, false).await {
        Ok(post) => post,
        Err(refused) => return refused,
    };
    let session_id = auth.claims().and_then(|c| c.sid.as_deref());
    let outcome = inner
        .sign_in(&post.input, &caller(&inner, &post.parts, session_id))
        .await;
    session_response(outcome, &post, StatusCode::OK, &inner.config.sign_in_path)
}

async fn sign_out(State(inner): State<AppState>, Auth(auth): Auth, req: Request) -> Response {
    let post = match read_post::<SignOutRequest>(&inner, req, true).await {
        Ok(post) => post,
        Err(refused) => return refused,
    };
    match inner
        .sign_out(auth.claims().and_then(|c| c.sid.as_deref()))
        .await
    {
        Ok(()) => signed_out_response(&inner, &post),
        // The session could not be revoked (database down): say so, but sign the browser out
        // all the same. Its refresh secret stays valid until it expires or the database is back
        // and the user signs out again (or everywhere).
        Err(e) => {
            let mut response = ApiError::from(e).into_response();
            append_cookies(&mut response, inner.clear_cookies());
            response
        }
    }
}

async fn sign_out_all(State(inner): State<AppState>, Auth(auth): Auth, req: Request) -> Response {
    let post = match read_post::<SignOutRequest>(&inner, req, true).await {
        Ok(post) => post,
        Err(refused) => return refused,
    };
    match inner
        .sign_out_all(auth.claims().and_then(|c| c.sid.as_deref()))
        .await
    {
        Ok(true) => signed_out_response(&inner, &post),
        Ok(false) => {
            let mut response = ApiError::UNAUTHORIZED.into_response();
            append_cookies(&mut response, inner.clear_cookies());
            response
        }
        // As for sign-out: the browser is signed out even when the store cannot answer.
        Err(e) => {
            let mut response = ApiError::from(e).into_response();
            append_cookies(&mut response, inner.clear_cookies());
            response
        }
    }
}

/// The caller's verified state and public user. A token whose session was revoked since it was
/// signed answers signed out and clears the cookies.
async fn session(State(inner): State<AppState>, Auth(auth): Auth) -> Response {
    let found = async {
        let Some(claims) = auth.claims() else {
            return Ok::<_, IdpError>(None);
        };
        if !inner.is_live(claims).await? {
            return Ok(None);
        }
        let user = inner.store.user_by_id(&claims.sub).await?.map(|r| r.user);
        Ok(user.map(|user| (auth_state(claims), user)))
    }
    .await;
    match found {
        Ok(found) => {
            let signed_in = auth.is_signed_in();
            let (state, user) = match found {
                Some((state, user)) => (state, Some(user)),
                None => (AuthState::SignedOut, None),
            };
            let revoked = signed_in && user.is_none();
            let mut response = Json(SessionResponse {
                auth: state,
                user,
                redirect_url: None,
            })
            .into_response();
            no_store(&mut response);
            if revoked {
                append_cookies(&mut response, inner.clear_cookies());
            }
            response
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// A session token for the caller's own scripts (same origin only: the origin check refuses
/// other readers before the auth layer runs).
async fn token(State(inner): State<AppState>, Auth(auth): Auth) -> Response {
    let (Some(claims), Some(token)) = (auth.claims(), auth.token()) else {
        return ApiError::UNAUTHORIZED.into_response();
    };
    match inner.is_live(claims).await {
        Ok(true) => {
            let mut response = Json(TokenResponse {
                token: token.to_owned(),
                expires_at: claims.exp,
            })
            .into_response();
            no_store(&mut response);
            response
        }
        Ok(false) => {
            let mut response = ApiError::UNAUTHORIZED.into_response();
            append_cookies(&mut response, inner.clear_cookies());
            response
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn jwks(State(inner): State<AppState>) -> Response {
    let mut response = Json(inner.keys.jwks()).into_response();
    // A rotation waits this long before the new key signs (`IdpConfig::key_activation_delay`).
    let max_age = format!("public, max-age={}", inner.config.jwks_max_age.as_secs());
    if let Ok(value) = HeaderValue::from_str(&max_age) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

async fn openid_configuration(State(inner): State<AppState>) -> Response {
    let config = &inner.config;
    Json(json!({
        "issuer": config.issuer,
        "jwks_uri": config.public_url_for(paths::JWKS),
        "id_token_signing_alg_values_supported": ["ES256"],
        "subject_types_supported": ["public"],
        "response_types_supported": ["id_token"],
        "claims_supported": ["iss", "sub", "sid", "iat", "nbf", "exp", "roles", "permissions"],
    }))
    .into_response()
}

// ---- responses ------------------------------------------------------------------------------

/// What the accounts service needs to know of the request.
pub(crate) fn caller<'a>(
    inner: &Inner,
    parts: &'a Parts,
    session_id: Option<&'a str>,
) -> Caller<'a> {
    Caller {
        address: client_address(inner, parts),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| prefix(v, 512)),
        session_id,
    }
}

/// The client's address for the per-address rate limits (`client_ip.rs`: the socket peer, or
/// read from the trusted proxies' headers), or `None` when it cannot be known (no proxy
/// configured and no `ConnectInfo`, as under `dioxus::serve`): one shared "unknown" bucket would
/// let a single attacker lock every user out.
pub(crate) fn client_address(inner: &Inner, parts: &Parts) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    crate::client_ip::client_address(
        &inner.config.trusted_proxies,
        inner.config.trusted_ip_header.as_ref(),
        &parts.headers,
        peer,
    )
}

/// At most the first `max_chars` characters of `s`.
fn prefix(s: &str, max_chars: usize) -> &str {
    s.char_indices()
        .nth(max_chars)
        .map_or(s, |(at, _)| &s[..at])
}

pub(crate) fn append_cookies(response: &mut Response, set_cookies: Vec<HeaderValue>) {
    for value in set_cookies {
        // append, never insert: every Set-Cookie must reach the browser.
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

pub(crate) fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A form error: back to the form page with `?error=<code>&redirect_url=…` (and `&email=` when
/// the form should ask for a mailed code).
pub(crate) fn form_error(page: &str, error: &ApiError, redirect_url: &str) -> Response {
    form_error_with(page, error, redirect_url, &[])
}

/// A form error with extra query pairs (the address of a code form, the token of a reset form),
/// so the page can show the same form again: `page?error=<code>&redirect_url=…&<extra>`.
pub(crate) fn form_error_with(
    page: &str,
    error: &ApiError,
    redirect_url: &str,
    extra: &[(&str, &str)],
) -> Response {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("error", error.code.code())
        .append_pair("redirect_url", redirect_url);
    for (name, value) in extra {
        query.append_pair(name, value);
    }
    // "Enter the code we mailed": the form opens its code step for this address.
    if let Some(email) = &error.pending_email {
        query.append_pair("email", email);
    }
    let mut response = see_other(&format!("{page}?{}", query.finish()));
    if let Some(secs) = error.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The answer to a "we mail you if …" post: JSON [`AcceptedResponse`] or a 303 to the post's
/// `redirect_url`; errors as JSON or a 303 back to `form_page` with `?error=`.
pub(crate) fn accepted<T: Redirecting>(
    post: &Post<T>,
    outcome: Result<&str, ApiError>,
    form_page: &str,
) -> Response {
    match (outcome, post.format) {
        (Ok(_), Format::Form) => see_other(&post.redirect),
        (Ok(message), Format::Json) => Json(AcceptedResponse {
            ok: true,
            message: message.to_owned(),
            redirect_url: Some(post.redirect.clone()),
        })
        .into_response(),
        (Err(e), Format::Form) => form_error_with(form_page, &e, &post.redirect, &[]),
        (Err(e), Format::Json) => e.into_response(),
    }
}

pub(crate) fn auth_state(claims: &auth_types::SessionClaims) -> AuthState {
    AuthState::SignedIn(SignedIn::from(claims))
}

/// The answer to a sign-up or sign-in, in the caller's format: a form post is redirected (303)
/// to `redirect` or back to its form with `?error=`; a JSON post gets the new auth state.
pub(crate) fn session_response<T>(
    outcome: Result<Started, ApiError>,
    post: &Post<T>,
    success: StatusCode,
    form_path: &str,
) -> Response {
    let redirect = post.redirect.as_str();
    match outcome {
        Ok((user, claims, set_cookies)) => {
            let mut response = match post.format {
                Format::Form => see_other(redirect),
                Format::Json => {
                    let body = SessionResponse {
                        auth: auth_state(&claims),
                        user: Some(user),
                        redirect_url: Some(redirect.to_owned()),
                    };
                    (success, Json(body)).into_response()
                }
            };
            append_cookies(&mut response, set_cookies);
            response
        }
        Err(e) => match post.format {
            Format::Form => form_error(form_path, &e, redirect),
            Format::Json => e.into_response(),
        },
    }
}

pub(crate) fn signed_out_response<T>(inner: &Inner, post: &Post<T>) -> Response {
    let mut response = match post.format {
        Format::Form => see_other(&post.redirect),
        Format::Json => Json(json!({ "auth": AuthState::SignedOut })).into_response(),
    };
    append_cookies(&mut response, inner.clear_cookies());
    response
}

pub(crate) fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}
