//! Social sign-in: "Continue with Google / GitHub / Microsoft / any OpenID Connect provider",
//! and the connected accounts of the profile. This feature owns its routes (here), its settings
//! (`providers.rs`), the protocol (`protocol.rs`, on the `openidconnect` and `oauth2` crates) and
//! its tables (`store.rs`); it reaches the core through the session start of `accounts.rs`.
//!
//! The flow: `GET /auth/oauth/<id>` stores a flow row under SHA-256 of a fresh `state` (256
//! random bits) with the PKCE verifier, the `nonce` and the `redirect_url`, sets the `state` in a
//! 10-minute HttpOnly cookie, and 303s to the provider. The callback needs the same `state` in
//! the query and the cookie (a callback opened in another browser has no cookie), takes the flow
//! row (single use), exchanges the code and validates the ID token, then signs in: the
//! connected account's user; or, for an account not yet connected, the local account with the
//! same address when both sides have verified it (or the provider is trusted for linking); or a
//! new account, created only from an address the provider vouches for. Every failure lands
//! back on the sign-in page with `?error=<code>` — never a 500, never half an account.

mod protocol;
mod providers;
mod store;

pub use providers::{OAuthEndpoints, OAuthProvider};
pub(crate) use store::{NewIdentity, insert_identity};

use crate::Inner;
use crate::accounts::{Caller, EVENTS, Started};
use crate::body::Format;
use crate::error::{ApiError, IdpError};
use crate::redirect::safe_redirect;
use crate::routes::{
    AppState, append_cookies, caller, client_address, no_store, read_post, see_other,
};
use crate::session::{DEFAULT_ROLES, hash_secret, new_id, random_token};
use crate::store::{NewAccount, now};
use crate::validate::{is_valid_email, normalise_email};
use auth_server::{Auth, AuthContext};
use auth_types::User;
use auth_types::contract::{
    ConnectionsResponse, FormError, LinkedIdentity, MAX_NAME_CHARS, RedirectRequest,
    SocialProvider, paths,
};
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use protocol::{FlowError, Profile, ProviderClient};
use std::sync::Arc;
use std::time::Duration;
use store::{Flow, Unlinked};
use subtle::ConstantTimeEq;

/// How long a started sign-in may take at the provider.
const FLOW_TTL_SECS: i64 = 600;
/// The provider's answers are awaited at most this long (a slow provider is "unavailable").
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

const DENIED: ApiError = ApiError::coded(StatusCode::UNAUTHORIZED, FormError::OAuthDenied);
const BAD_STATE: ApiError = ApiError::coded(StatusCode::BAD_REQUEST, FormError::OAuthState);
const FAILED: ApiError = ApiError::coded(StatusCode::BAD_GATEWAY, FormError::OAuthFailed);
const UNREACHABLE: ApiError =
    ApiError::coded(StatusCode::SERVICE_UNAVAILABLE, FormError::OAuthUnavailable);
const UNVERIFIED_EMAIL: ApiError =
    ApiError::coded(StatusCode::FORBIDDEN, FormError::OAuthUnverifiedEmail);
const ACCOUNT_EXISTS: ApiError = ApiError::coded(StatusCode::CONFLICT, FormError::AccountExists);
const IDENTITY_TAKEN: ApiError = ApiError::coded(StatusCode::CONFLICT, FormError::IdentityTaken);
const LAST_METHOD: ApiError = ApiError::coded(StatusCode::CONFLICT, FormError::LastSignInMethod);
const NOT_FOUND: ApiError = ApiError::coded(StatusCode::NOT_FOUND, FormError::NotFound);

/// The enabled providers and the HTTP client that speaks to them.
#[derive(Debug)]
pub(crate) struct SocialSignIn {
    http: reqwest::Client,
    providers: Vec<ProviderClient>,
}

impl SocialSignIn {
    pub(crate) fn new(providers: &[OAuthProvider], app_name: &str) -> Result<Self, IdpError> {
        let http = reqwest::Client::builder()
            // Discovery and token answers are never followed elsewhere (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            // GitHub's API refuses requests without one.
            .user_agent(format!("{app_name} (auth-idp)"))
            .build()
            .map_err(|e| IdpError::Internal(format!("HTTP client for sign-in providers: {e}")))?;
        Ok(Self {
            http,
            providers: providers.iter().cloned().map(ProviderClient::new).collect(),
        })
    }

    fn provider(&self, id: &str) -> Option<&ProviderClient> {
        self.providers.iter().find(|p| p.config.id == id)
    }

    /// The buttons: every enabled provider's id and label.
    pub(crate) fn list(&self) -> Vec<SocialProvider> {
        self.providers
            .iter()
            .map(|p| SocialProvider {
                id: p.config.id.clone(),
                name: p.config.name.clone(),
            })
            .collect()
    }

    fn label(&self, id: &str) -> String {
        self.provider(id)
            .map_or_else(|| id.to_owned(), |p| p.config.name.clone())
    }
}

/// The routes, merged by `routes.rs`.
pub(crate) fn routes() -> axum::Router<Arc<Inner>> {
    axum::Router::new()
        .route(paths::OAUTH_START, get(start))
        .route(paths::OAUTH_LINK, post(start_link))
        .route(paths::OAUTH_CALLBACK, get(callback))
        .route(paths::IDENTITIES, get(identities))
        .route(paths::IDENTITY_UNLINK, post(unlink))
}

// ---- the state cookie -------------------------------------------------------------------------

fn state_cookie_name(inner: &Inner) -> &'static str {
    if inner.config.secure_cookies() {
        "__Secure-oauth_state"
    } else {
        "__oauth_state"
    }
}

/// `Set-Cookie` for the flow's `state` (`None`: clear it). Lax, so the provider's top-level
/// redirect back carries it; scoped to the OAuth paths.
fn state_cookie(inner: &Inner, state: Option<&str>) -> HeaderValue {
    let max_age = if state.is_some() { FLOW_TTL_SECS } else { 0 };
    let cookie = cookie::Cookie::build((state_cookie_name(inner), state.unwrap_or_default()))
        .path("/auth/oauth")
        .max_age(cookie::time::Duration::seconds(max_age))
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(inner.config.secure_cookies())
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The request's `state` cookie; none when missing or sent twice (ambiguous).
fn read_state_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|c| c.name() == name)
        .map(|c| c.value().to_owned());
    let first = found.next().filter(|v| !v.is_empty())?;
    found.next().is_none().then_some(first)
}

// ---- starting ---------------------------------------------------------------------------------

#[derive(Debug, serde::Deserialize)]
struct StartQuery {
    redirect_url: Option<String>,
}

/// `GET /auth/oauth/<id>?redirect_url=`: off to the provider.
async fn start(
    State(inner): State<AppState>,
    Path(provider): Path<String>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let query: Option<StartQuery> = parts
        .uri
        .query()
        .and_then(|q| serde_urlencoded::from_str(q).ok());
    let redirect = safe_redirect(query.as_ref().and_then(|q| q.redirect_url.as_deref()));
    match inner.begin(&provider, &redirect, None, &parts).await {
        Ok(response) => response,
        Err(e) => land(&inner, &e, &redirect, false),
    }
}

/// `POST /auth/oauth/<id>/link`: connect another account to the signed-in user.
async fn start_link(
    State(inner): State<AppState>,
    Path(provider): Path<String>,
    Auth(auth): Auth,
    req: Request,
) -> Response {
    let (post, redirect) = match read_profile_post(&inner, req).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let me = match inner.me(&auth).await {
        Ok(me) => me,
        Err(e) => return land(&inner, &e, &redirect, true),
    };
    match inner
        .begin(&provider, &redirect, Some(me.user.id.as_str()), &post.parts)
        .await
    {
        Ok(response) => leave_by_page(response),
        Err(e) => land(&inner, &e, &redirect, true),
    }
}

/// The 303 to the provider as a page that goes there: a redirect answering a form post is
/// checked against the page's CSP `form-action 'self'` (and refused) by browsers; a page's
/// refresh is an ordinary navigation. The cookies and headers stay.
fn leave_by_page(mut redirect: Response) -> Response {
    let Some(location) = redirect
        .headers_mut()
        .remove(header::LOCATION)
        .and_then(|v| v.to_str().ok().map(str::to_owned))
    else {
        return redirect;
    };
    let escaped = crate::mail::escape(&location);
    let html = format!(
        "<!doctype html><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url={escaped}\">\
         <title>Redirecting…</title><p><a href=\"{escaped}\">Continue to the provider</a></p>"
    );
    *redirect.status_mut() = StatusCode::OK;
    redirect.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    *redirect.body_mut() = axum::body::Body::from(html);
    redirect
}

/// A profile action's post (body optional) and where it returns: its `redirect_url`, the
/// profile page by default.
async fn read_profile_post(
    inner: &Inner,
    req: Request,
) -> Result<(crate::routes::Post<RedirectRequest>, String), Response> {
    let post = read_post::<RedirectRequest>(inner, req, true).await?;
    let redirect = match post.input.redirect_url.as_deref() {
        Some(raw) => safe_redirect(Some(raw)),
        None => paths::PROFILE_PAGE.to_owned(),
    };
    Ok((post, redirect))
}

impl Inner {
    /// Records the flow and answers the 303 to the provider with the `state` cookie.
    async fn begin(
        &self,
        provider_id: &str,
        redirect: &str,
        link_user_id: Option<&str>,
        parts: &Parts,
    ) -> Result<Response, ApiError> {
        let Some(provider) = self.oauth.provider(provider_id) else {
            return Err(NOT_FOUND);
        };
        // Each start writes a row: bounded per client address.
        self.limits
            .oauth_start(client_address(self, parts))
            .await
            .map_err(|refused| ApiError::rate_limited(refused.retry_after_secs()))?;
        let state = random_token(32);
        let nonce = random_token(32);
        let authorization = provider
            .authorize(
                &self.oauth.http,
                &self.callback_uri(provider_id),
                &state,
                &nonce,
            )
            .await
            .map_err(|e| self.flow_failed(provider_id, "start", &e))?;
        let now = now();
        let flow = Flow {
            provider: provider_id.to_owned(),
            pkce_verifier: authorization.pkce_verifier,
            nonce,
            redirect_url: redirect.to_owned(),
            link_user_id: link_user_id.map(str::to_owned),
            expires_at: now + FLOW_TTL_SECS,
        };
        self.store
            .insert_flow(&hash_secret(&state), &flow, now)
            .await?;
        let mut response = see_other(authorization.url.as_str());
        append_cookies(&mut response, vec![state_cookie(self, Some(&state))]);
        no_store(&mut response);
        Ok(response)
    }

    /// `<AUTH_PUBLIC_URL>/auth/oauth/<id>/callback`: what to register at the provider.
    fn callback_uri(&self, provider_id: &str) -> String {
        self.config
            .public_url_for(&paths::with_provider(paths::OAUTH_CALLBACK, provider_id))
    }

    /// Logs a protocol failure and picks the user's message.
    fn flow_failed(&self, provider_id: &str, step: &'static str, e: &FlowError) -> ApiError {
        let (error, reason) = match e {
            FlowError::Unavailable(reason) => (UNREACHABLE, reason),
            FlowError::Failed(reason) => (FAILED, reason),
        };
        tracing::warn!(
            target: EVENTS,
            event = "oauth",
            outcome = error.code.code(),
            provider = provider_id,
            step,
            reason = %reason,
            "sign-in with a provider failed"
        );
        error
    }
}

// ---- the callback -----------------------------------------------------------------------------

#[derive(Debug, Default, serde::Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    /// The authorization response's issuer (RFC 9207), when the provider sends one.
    iss: Option<String>,
}

/// What a completed flow did.
enum Completed {
    SignedIn(Box<Started>),
    Linked,
}

/// `GET /auth/oauth/<id>/callback?code=&state=` (or `?error=`).
async fn callback(
    State(inner): State<AppState>,
    Path(provider): Path<String>,
    Auth(auth): Auth,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    // A malformed query is treated as an empty one: no state, refused below.
    let query = parts
        .uri
        .query()
        .and_then(|q| serde_urlencoded::from_str::<CallbackQuery>(q).ok())
        .unwrap_or_default();
    let session_id = auth.claims().and_then(|c| c.sid.as_deref());
    let caller = caller(&inner, &parts, session_id);
    let flow = inner
        .take_checked_flow(&provider, &query, &parts.headers)
        .await;
    let mut response = match flow {
        Err(e) => land(&inner, &e, &safe_redirect(None), false),
        Ok(flow) => {
            let linking = flow.link_user_id.is_some();
            match inner
                .complete(&provider, &flow, &query, &caller, &auth)
                .await
            {
                Ok(Completed::SignedIn(started)) => {
                    let (_, _, cookies) = *started;
                    let mut response = see_other(&flow.redirect_url);
                    append_cookies(&mut response, cookies);
                    response
                }
                Ok(Completed::Linked) => see_other(&flow.redirect_url),
                Err(e) => land(&inner, &e, &flow.redirect_url, linking),
            }
        }
    };
    // The state is spent whatever happened; the URL held a code: no cache, no referrer.
    append_cookies(&mut response, vec![state_cookie(&inner, None)]);
    no_store(&mut response);
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

impl Inner {
    /// The flow of this callback: its `state` must be in the query and, identically, in this
    /// browser's cookie, and its row must exist (unused, unexpired) for this provider. The row
    /// is taken either way once the cookie matches.
    async fn take_checked_flow(
        &self,
        provider_id: &str,
        query: &CallbackQuery,
        headers: &HeaderMap,
    ) -> Result<Flow, ApiError> {
        let refuse = |why: &'static str| {
            tracing::warn!(
                target: EVENTS,
                event = "oauth",
                outcome = "oauth_state",
                provider = provider_id,
                reason = why,
                "provider callback refused"
            );
            BAD_STATE
        };
        let Some(state) = query.state.as_deref().filter(|s| !s.is_empty()) else {
            return Err(refuse("no state in the callback"));
        };
        let Some(cookie) = read_state_cookie(headers, state_cookie_name(self)) else {
            return Err(refuse("no state cookie (another browser, or expired)"));
        };
        if !bool::from(cookie.as_bytes().ct_eq(state.as_bytes())) {
            return Err(refuse("the state does not match this browser's"));
        }
        let Some(flow) = self.store.take_flow(&hash_secret(state)).await? else {
            return Err(refuse("unknown or already used state"));
        };
        if flow.provider != provider_id {
            return Err(refuse("the state belongs to another provider"));
        }
        if flow.expires_at < now() {
            return Err(refuse("the sign-in expired"));
        }
        Ok(flow)
    }

    /// Exchanges the code and signs in, signs up or connects.
    async fn complete(
        &self,
        provider_id: &str,
        flow: &Flow,
        query: &CallbackQuery,
        caller: &Caller<'_>,
        auth: &AuthContext,
    ) -> Result<Completed, ApiError> {
        let Some(provider) = self.oauth.provider(provider_id) else {
            return Err(NOT_FOUND);
        };
        if let Some(error) = &query.error {
            tracing::info!(
                target: EVENTS,
                event = "oauth",
                outcome = "oauth_denied",
                provider = provider_id,
                error = %error.chars().take(64).collect::<String>(),
                "the provider sent the user back without a sign-in"
            );
            return Err(if error == "access_denied" {
                DENIED
            } else {
                FAILED
            });
        }
        // Mix-up defence (RFC 9207): a response that names its issuer must name this one.
        if let (Some(iss), OAuthEndpoints::Discovery { issuer }) =
            (&query.iss, &provider.config.endpoints)
            && iss != issuer
        {
            return Err(self.flow_failed(
                provider_id,
                "callback",
                &FlowError::Failed(format!("the response names another issuer: {iss}")),
            ));
        }
        let Some(code) = query.code.as_deref().filter(|c| !c.is_empty()) else {
            return Err(self.flow_failed(
                provider_id,
                "callback",
                &FlowError::Failed("no code in the callback".into()),
            ));
        };
        let profile = provider
            .finish(
                &self.oauth.http,
                &self.callback_uri(provider_id),
                code,
                &flow.pkce_verifier,
                &flow.nonce,
            )
            .await
            .map_err(|e| self.flow_failed(provider_id, "callback", &e))?;
        let trusted = provider.config.trusted_for_linking;
        match &flow.link_user_id {
            Some(user_id) => self.connect(provider_id, &profile, user_id, auth).await,
            None => self
                .sign_in_with(provider_id, &profile, trusted, caller)
                .await
                .map(|started| Completed::SignedIn(Box::new(started))),
        }
    }

    /// A "connect" flow: adds the provider account to the user who started it, who must still
    /// be the one signed in.
    async fn connect(
        &self,
        provider_id: &str,
        profile: &Profile,
        user_id: &str,
        auth: &AuthContext,
    ) -> Result<Completed, ApiError> {
        let me = self.me(auth).await?;
        if me.user.id.as_str() != user_id {
            return Err(BAD_STATE);
        }
        if let Some(owner) = self
            .store
            .identity_owner(provider_id, &profile.subject)
            .await?
        {
            return if owner == user_id {
                Ok(Completed::Linked)
            } else {
                Err(IDENTITY_TAKEN)
            };
        }
        let identity = NewIdentity {
            provider: provider_id,
            subject: &profile.subject,
            email: profile.email.as_deref(),
        };
        match self.store.link_identity(user_id, &identity, now()).await {
            Ok(()) => {}
            Err(e) if e.is_unique_violation() => return Err(IDENTITY_TAKEN),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(
            target: EVENTS,
            event = "oauth_link",
            outcome = "success",
            provider = provider_id,
            user_id = %user_id,
            "provider account connected"
        );
        Ok(Completed::Linked)
    }

    /// Signs in the user behind the provider account: the connected one, the local account with
    /// the same (verified) address, or a new account.
    async fn sign_in_with(
        &self,
        provider_id: &str,
        profile: &Profile,
        trusted: bool,
        caller: &Caller<'_>,
    ) -> Result<Started, ApiError> {
        if let Some(owner) = self
            .store
            .identity_owner(provider_id, &profile.subject)
            .await?
        {
            let Some(record) = self.store.user_by_id(&owner).await? else {
                return Err(ApiError::UNAVAILABLE);
            };
            return self
                .start_fresh_session(record.user, caller, "oauth_sign_in")
                .await;
        }
        // Never an account, nor a link, on an address the provider does not vouch for.
        let email = profile
            .email
            .as_deref()
            .map(normalise_email)
            .filter(|e| is_valid_email(e));
        let Some(email) = email.filter(|_| profile.email_verified || trusted) else {
            tracing::info!(
                target: EVENTS,
                event = "oauth_sign_in",
                outcome = "oauth_unverified_email",
                provider = provider_id,
                address = caller.address.map(|a| a.to_string()).unwrap_or_default(),
                "provider sign-in refused: no verified address"
            );
            return Err(UNVERIFIED_EMAIL);
        };
        let identity = NewIdentity {
            provider: provider_id,
            subject: &profile.subject,
            email: Some(&email),
        };
        if let Some(existing) = self.store.user_by_email(&email).await? {
            let user = existing.user;
            if !(user.email_verified || trusted) {
                tracing::info!(
                    target: EVENTS,
                    event = "oauth_sign_in",
                    outcome = "account_exists",
                    provider = provider_id,
                    user_id = %user.id,
                    "provider sign-in not linked: the local address is unverified"
                );
                return Err(ACCOUNT_EXISTS);
            }
            let now = now();
            let linked = if user.email_verified {
                self.store
                    .link_identity(user.id.as_str(), &identity, now)
                    .await
            } else {
                // A provider trusted for linking vouched for the address: it is the owner's
                // now, and nothing set up before that proof keeps working.
                self.store
                    .claim_unverified_account(user.id.as_str(), &identity, now)
                    .await
            };
            match linked {
                Ok(()) => {}
                Err(e) if e.is_unique_violation() => return Err(IDENTITY_TAKEN),
                Err(e) => return Err(e.into()),
            }
            tracing::info!(
                target: EVENTS,
                event = "oauth_link",
                outcome = "success",
                provider = provider_id,
                user_id = %user.id,
                "provider account connected by its verified address"
            );
            let user = match self.store.user_by_id(user.id.as_str()).await? {
                Some(record) => record.user,
                None => return Err(ApiError::UNAVAILABLE),
            };
            return self
                .start_fresh_session(user, caller, "oauth_sign_in")
                .await;
        }
        let user = self
            .create_from_provider(profile, &email, &identity, caller)
            .await?;
        self.start_fresh_session(user, caller, "oauth_sign_up")
            .await
    }

    /// A new account from the provider's profile (no password), under the sign-up limits. User
    /// and identity are written in one transaction.
    async fn create_from_provider(
        &self,
        profile: &Profile,
        email: &str,
        identity: &NewIdentity<'_>,
        caller: &Caller<'_>,
    ) -> Result<User, ApiError> {
        let attempt = self
            .limits
            .sign_up(caller.address)
            .await
            .map_err(|refused| ApiError::rate_limited(refused.retry_after_secs()))?;
        let user_id = new_id("user");
        let roles: Vec<String> = DEFAULT_ROLES.iter().map(|r| (*r).to_owned()).collect();
        let name = display_name(profile.name.as_deref());
        let picture = profile
            .picture
            .as_deref()
            .filter(|p| p.len() <= 2048 && p.starts_with("https://"));
        let created = self
            .store
            .create_account(&NewAccount {
                user_id: &user_id,
                email,
                name: &name,
                roles: &roles,
                email_verified: true,
                image_url: picture,
                identity: Some(*identity),
                ..NewAccount::default()
            })
            .await;
        match created {
            Ok(()) => {}
            // Created by a concurrent sign-up a moment ago: the user signs in again and is
            // linked (or told to) then.
            Err(IdpError::EmailTaken) => return Err(ACCOUNT_EXISTS),
            Err(e) if e.is_unique_violation() => return Err(IDENTITY_TAKEN),
            Err(e) => {
                attempt.refund().await;
                return Err(e.into());
            }
        }
        tracing::info!(
            target: EVENTS,
            event = "oauth_sign_up",
            outcome = "success",
            provider = identity.provider,
            user_id = %user_id,
            "account created by a sign-in provider"
        );
        match self.store.user_by_id(&user_id).await? {
            Some(record) => Ok(record.user),
            None => Err(ApiError::UNAVAILABLE),
        }
    }

    /// The profile's "Connected accounts".
    pub(crate) async fn connections(&self, user_id: &str) -> Result<ConnectionsResponse, IdpError> {
        let identities = self
            .store
            .identities_of(user_id)
            .await?
            .into_iter()
            .map(|row| LinkedIdentity {
                provider_name: self.oauth.label(&row.provider),
                provider: row.provider,
                email: row.email,
                created_at: row.created_at,
            })
            .collect();
        Ok(ConnectionsResponse {
            identities,
            providers: self.oauth.list(),
            has_password: self.store.credential(user_id).await?.is_some(),
        })
    }
}

/// A provider's name as a display name: trimmed, no control characters, at most
/// [`MAX_NAME_CHARS`].
fn display_name(name: Option<&str>) -> String {
    name.unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

// ---- connected accounts -----------------------------------------------------------------------

/// `GET /auth/identities`.
async fn identities(State(inner): State<AppState>, Auth(auth): Auth) -> Response {
    let outcome = async {
        let me = inner.me(&auth).await?;
        Ok::<_, ApiError>(inner.connections(me.user.id.as_str()).await?)
    }
    .await;
    match outcome {
        Ok(connections) => {
            let mut response = Json(connections).into_response();
            no_store(&mut response);
            response
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /auth/identities/<id>/unlink`.
async fn unlink(
    State(inner): State<AppState>,
    Path(provider): Path<String>,
    Auth(auth): Auth,
    req: Request,
) -> Response {
    let (post, redirect) = match read_profile_post(&inner, req).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let outcome = async {
        let me = inner.me(&auth).await?;
        let user_id = me.user.id.as_str();
        match inner.store.unlink_identity(user_id, &provider).await? {
            Unlinked::Done => {}
            Unlinked::NotFound => return Err(NOT_FOUND),
            Unlinked::LastMethod => return Err(LAST_METHOD),
        }
        tracing::info!(
            target: EVENTS,
            event = "oauth_unlink",
            outcome = "success",
            provider = %provider,
            user_id = %user_id,
            "provider account disconnected"
        );
        Ok::<_, ApiError>(inner.connections(user_id).await?)
    }
    .await;
    match (outcome, post.format) {
        (Ok(_), Format::Form) => see_other(&redirect),
        (Ok(connections), Format::Json) => Json(connections).into_response(),
        (Err(e), Format::Form) => see_other(&with_error(&redirect, &e)),
        (Err(e), Format::Json) => e.into_response(),
    }
}

// ---- answers ----------------------------------------------------------------------------------

/// Where a failed flow lands: the sign-in page with `?error=` (and the `redirect_url` the user
/// was going to), or for a "connect" flow the page it started on with `error=` added.
fn land(inner: &Inner, error: &ApiError, redirect: &str, linking: bool) -> Response {
    if linking {
        return see_other(&with_error(redirect, error));
    }
    crate::routes::form_error(&inner.config.sign_in_path, error, redirect)
}

/// `path` with `error=<code>` added to its query.
fn with_error(path: &str, error: &ApiError) -> String {
    let (path, fragment) = path.split_once('#').unwrap_or((path, ""));
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut out = format!("{path}{separator}error={}", error.code.code());
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_start_leaves_by_a_page() {
        let mut redirect = see_other("https://op.example/auth?a=1&b=\"2\"");
        redirect
            .headers_mut()
            .insert(header::SET_COOKIE, HeaderValue::from_static("s=1"));
        let page = leave_by_page(redirect);
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.headers().get(header::LOCATION).is_none());
        assert_eq!(page.headers()[header::SET_COOKIE], "s=1");
    }

    #[test]
    fn errors_are_added_to_the_query() {
        assert_eq!(
            with_error("/profile", &LAST_METHOD),
            "/profile?error=last_sign_in_method"
        );
        assert_eq!(
            with_error("/profile?tab=a#x", &IDENTITY_TAKEN),
            "/profile?tab=a&error=identity_taken#x"
        );
    }

    #[test]
    fn the_state_cookie_must_be_there_once() {
        let mut headers = HeaderMap::new();
        assert_eq!(read_state_cookie(&headers, "__oauth_state"), None);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __oauth_state=xyz"),
        );
        assert_eq!(
            read_state_cookie(&headers, "__oauth_state").as_deref(),
            Some("xyz")
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("__oauth_state=other"),
        );
        assert_eq!(
            read_state_cookie(&headers, "__oauth_state"),
            None,
            "ambiguous"
        );
        let mut empty = HeaderMap::new();
        empty.insert(header::COOKIE, HeaderValue::from_static("__oauth_state="));
        assert_eq!(read_state_cookie(&empty, "__oauth_state"), None);
    }

    #[test]
    fn display_names_are_cleaned() {
        assert_eq!(display_name(Some("  Ada\u{7} Lovelace ")), "Ada Lovelace");
        assert_eq!(display_name(None), "");
        assert_eq!(
            display_name(Some(&"x".repeat(500))).chars().count(),
            MAX_NAME_CHARS
        );
    }
}
