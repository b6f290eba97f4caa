//! Account settings of the signed-in user: change the password (`POST /auth/password`), change
//! the email address (`POST /auth/email`), the sessions list and its revocations (`sessions.rs`),
//! and deleting the account (`POST /auth/account/delete`).
//!
//! Every endpoint takes its caller from the auth layer and then checks that the session is
//! still live in the store: a token outlives a revocation by up to its lifetime, and these
//! endpoints must not be reachable with a revoked session. The actions that need more than a
//! session (password, email, delete) take the password again, verified on the same hashing
//! queue as sign-in and counted against the same failure limits (per account, pair and address),
//! so a stolen session cannot guess the password faster than a sign-in form could.
//!
//! Answers follow `/auth/sign-in`: JSON callers get JSON ([`AcceptedResponse`] or
//! [`SessionsResponse`](auth_types::contract::SessionsResponse), errors as `{"error": …}`), form
//! posts a 303 to `redirect_url` (default: the profile page) or back to the profile page with
//! `?error=<code>`. A wrong password is 403 `wrong_password` everywhere.

mod device;
mod sessions;

use crate::Inner;
use crate::accounts::{EVENTS, account_tag};
use crate::body::{Format, Redirecting, sign_in_key};
use crate::error::{ApiError, IdpError};
use crate::mail::Message;
use crate::one_time::Purpose;
use crate::password_policy;
use crate::routes::{AppState, Post, append_cookies, form_error, read_post, see_other};
use crate::store::{SessionRow, now, upsert_credential};
use crate::validate::{is_valid_email, normalise_email};
use auth_server::{Auth, AuthContext};
use auth_types::User;
use auth_types::contract::{
    AcceptedResponse, ChangeEmailRequest, ChangePasswordRequest, FormError, PasswordRequest,
    SignInRequest, paths,
};
use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use http::StatusCode;
use std::net::IpAddr;
use std::sync::Arc;

/// 403: the password re-entered for a settings action is wrong (403 rather than 401: the caller
/// is signed in, and a 401 would read as "signed out" to clients).
const WRONG_PASSWORD: ApiError = ApiError::new(
    StatusCode::FORBIDDEN,
    FormError::WrongPassword,
    FormError::WrongPassword.message(),
);

/// 422: the new address is the one in use.
const SAME_EMAIL: ApiError = ApiError::new(
    StatusCode::UNPROCESSABLE_ENTITY,
    FormError::InvalidEmail,
    "The new address is the one in use",
);

/// The settings routes, merged by `routes.rs`.
pub(crate) fn routes() -> axum::Router<Arc<Inner>> {
    axum::Router::new()
        .route(
            paths::PASSWORD,
            post(settings_post::<ChangePasswordRequest>),
        )
        .route(paths::EMAIL, post(settings_post::<ChangeEmailRequest>))
        .route(
            paths::ACCOUNT_DELETE,
            post(settings_post::<PasswordRequest>),
        )
        .route(paths::SESSIONS, get(sessions::list))
        .route(paths::SESSION_BY_ID, delete(sessions::revoke))
        .route(paths::SESSION_REVOKE, post(sessions::revoke))
        .route(paths::SESSIONS_REVOKE_OTHERS, post(sessions::revoke_others))
}

// ---- the caller -----------------------------------------------------------------------------

/// The signed-in caller: their live session and their user.
#[derive(Debug)]
pub(crate) struct Me {
    pub(crate) session: SessionRow,
    pub(crate) user: User,
}

impl Inner {
    /// The caller behind the layer's verified claims, if their session is still live in the
    /// store (not revoked, expired or idle) and their user exists; 401 otherwise.
    pub(crate) async fn me(&self, auth: &AuthContext) -> Result<Me, ApiError> {
        let Some(claims) = auth.claims() else {
            return Err(ApiError::UNAUTHORIZED);
        };
        let Some(sid) = claims.sid.as_deref() else {
            return Err(ApiError::UNAUTHORIZED);
        };
        let session = match self.store.session_by_id(sid).await? {
            Some(s) if s.user_id == claims.sub && s.is_active(&self.config) => s,
            _ => return Err(ApiError::UNAUTHORIZED),
        };
        let Some(record) = self.store.user_by_id(&session.user_id).await? else {
            return Err(ApiError::UNAUTHORIZED);
        };
        Ok(Me {
            session,
            user: record.user,
        })
    }

    /// Checks the password the user re-entered, on the sign-in path: the same normalisation,
    /// the same hashing queue, the same failure limits (a wrong password is a failed sign-in of
    /// the account; a right one settles the attempt as sign-in does). An account without a
    /// password (none was ever set) confirms with an empty one: its session is all it has.
    async fn confirm_password(
        &self,
        user: &User,
        password: &str,
        address: Option<IpAddr>,
        action: &'static str,
    ) -> Result<(), ApiError> {
        let (email, plausible, password) = sign_in_key(&SignInRequest {
            email: user.email.clone(),
            password: password.to_owned(),
            redirect_url: None,
        });
        let attempt = self
            .limits
            .sign_in(&email, address)
            .await
            .map_err(|refused| {
                tracing::warn!(
                    target: EVENTS,
                    event = action,
                    outcome = "rate_limited",
                    limit = refused.limit,
                    user_id = %user.id,
                    retry_after_secs = refused.retry_after_secs(),
                    "settings action refused: too many failed password checks"
                );
                ApiError::rate_limited(refused.retry_after_secs())
            })?;
        let checked = async {
            let hash = self
                .store
                .credential(user.id.as_str())
                .await?
                .map(|c| c.hash);
            if hash.is_none() && password.is_empty() {
                return Ok(true);
            }
            // An implausible password (too long) is checked against no hash: `false`, in the
            // time a real check takes.
            let hash = hash.filter(|_| plausible);
            self.passwords.verify(password, hash).await
        }
        .await;
        match checked {
            Ok(true) => {
                attempt.succeeded().await;
                Ok(())
            }
            Ok(false) => {
                // Stays counted: a failure.
                drop(attempt);
                tracing::warn!(
                    target: EVENTS,
                    event = action,
                    outcome = "wrong_password",
                    user_id = %user.id,
                    account = %account_tag(&email),
                    "settings action refused: wrong password"
                );
                Err(WRONG_PASSWORD)
            }
            Err(e) => {
                attempt.refund().await;
                Err(e.into())
            }
        }
    }

    /// Changes the password (the current one is checked first), revokes every other session of
    /// the user, voids outstanding reset links and pending email changes, and mails a notice.
    async fn change_password(
        &self,
        input: &ChangePasswordRequest,
        me: &Me,
        address: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        // The cheap policy checks come before the (slow, counted) password check.
        let new_password = password_policy::normalise(&input.new_password);
        password_policy::check(&new_password, &normalise_email(&me.user.email))?;
        self.confirm_password(
            &me.user,
            &input.current_password,
            address,
            "change_password",
        )
        .await?;
        if let Some(check) = &self.breach_check {
            check.refuse_breached(&new_password).await?;
        }
        let hash = self.passwords.hash(new_password).await?;
        let user_id = me.user.id.as_str();
        upsert_credential(&self.store.pool, user_id, &hash, now()).await?;
        let ended = self
            .store
            .revoke_other_sessions(user_id, &me.session.id)
            .await?;
        // A reset link or an email change requested before the change (perhaps by whoever knew
        // the old password) must not outlive it.
        self.void_one_time(user_id, Purpose::PasswordReset).await?;
        self.void_one_time(user_id, Purpose::ChangeEmail).await?;
        tracing::info!(
            target: EVENTS,
            event = "change_password",
            outcome = "success",
            user_id = %user_id,
            session_id = %me.session.id,
            revoked_sessions = ended,
            "password changed; other sessions revoked"
        );
        self.mailer.send(&me.user.email, Message::PasswordChanged);
        Ok(())
    }

    /// Starts an email change: mails a code and link to the new address and a notice to the
    /// old one. A new address that belongs to another account gets nothing, and the caller sees
    /// exactly what they would see otherwise (no enumeration).
    async fn change_email(
        &self,
        input: &ChangeEmailRequest,
        me: &Me,
        address: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        let new_email = normalise_email(&input.email);
        if !is_valid_email(&new_email) {
            return Err(ApiError::INVALID_EMAIL);
        }
        if new_email == me.user.email {
            return Err(SAME_EMAIL);
        }
        self.confirm_password(&me.user, &input.password, address, "change_email")
            .await?;
        let user_id = me.user.id.as_str();
        let taken = self.store.user_by_email(&new_email).await?.is_some();
        if taken {
            tracing::info!(
                target: EVENTS,
                event = "change_email",
                outcome = "email_taken",
                user_id = %user_id,
                account = %account_tag(&new_email),
                "email change requested to a taken address; nothing sent to it"
            );
        } else {
            let issued = self
                .issue_one_time(user_id, &new_email, Purpose::ChangeEmail)
                .await?;
            let link = format!(
                "{}?token={}",
                self.config.public_url_for(paths::VERIFY_EMAIL_PAGE),
                issued.token
            );
            self.mailer.send(
                &new_email,
                Message::ChangeEmailVerify {
                    code: &issued.code,
                    link: &link,
                },
            );
            tracing::info!(
                target: EVENTS,
                event = "change_email",
                outcome = "requested",
                user_id = %user_id,
                "email change requested; code sent to the new address"
            );
        }
        // The old address hears of the request either way: what it sees cannot tell the two
        // cases apart either.
        self.mailer.send(
            &me.user.email,
            Message::EmailChangeRequested {
                new_email: &new_email,
            },
        );
        Ok(())
    }

    /// Deletes the caller's account after checking the password: its sessions, credential and
    /// mailed secrets go with it, so every refresh fails at once and the address is free again.
    async fn delete_account(
        &self,
        input: &PasswordRequest,
        me: &Me,
        address: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        self.confirm_password(&me.user, &input.password, address, "delete_account")
            .await?;
        let user_id = me.user.id.as_str();
        self.store.delete_one_time_of(user_id).await?;
        // Its sessions are deleted with it (one transaction): every refresh fails from now on.
        self.store.delete_user(user_id).await?;
        tracing::info!(
            target: EVENTS,
            event = "delete_account",
            outcome = "success",
            user_id = %user_id,
            session_id = %me.session.id,
            "account deleted"
        );
        self.mailer.send(&me.user.email, Message::AccountDeleted);
        Ok(())
    }
}

// ---- handlers -------------------------------------------------------------------------------

/// A settings post that acts on the signed-in caller: its body, what it does, what it says.
trait SettingsPost: serde::de::DeserializeOwned + Redirecting + Send + Sync {
    /// The success message.
    const DONE: &'static str;
    /// Whether success signs this browser out (the form then goes to `/`).
    const SIGNS_OUT: bool;
    /// Does it, for the caller `me` from `address`.
    fn act(
        &self,
        inner: &Inner,
        me: &Me,
        address: Option<IpAddr>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}

impl SettingsPost for ChangePasswordRequest {
    const DONE: &'static str = "Your password was changed";
    const SIGNS_OUT: bool = false;
    fn act(
        &self,
        inner: &Inner,
        me: &Me,
        address: Option<IpAddr>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send {
        inner.change_password(self, me, address)
    }
}

impl SettingsPost for ChangeEmailRequest {
    const DONE: &'static str =
        "Check your new address: we sent it a code and a link to confirm the change";
    const SIGNS_OUT: bool = false;
    fn act(
        &self,
        inner: &Inner,
        me: &Me,
        address: Option<IpAddr>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send {
        inner.change_email(self, me, address)
    }
}

impl SettingsPost for PasswordRequest {
    const DONE: &'static str = "Your account was deleted";
    const SIGNS_OUT: bool = true;
    fn act(
        &self,
        inner: &Inner,
        me: &Me,
        address: Option<IpAddr>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send {
        inner.delete_account(self, me, address)
    }
}

/// `POST /auth/password`, `/auth/email`, `/auth/account/delete`: read the body, find the
/// caller's live session, act, answer in the caller's format.
async fn settings_post<T: SettingsPost>(
    State(inner): State<AppState>,
    Auth(auth): Auth,
    req: Request,
) -> Response {
    let post = match read_post::<T>(&inner, req, false).await {
        Ok(post) => post,
        Err(refused) => return refused,
    };
    let outcome = async {
        let me = inner.me(&auth).await?;
        let address = crate::routes::client_address(&inner, &post.parts);
        post.input.act(&inner, &me, address).await
    }
    .await;
    answer(&inner, &auth, &post, outcome, T::DONE, T::SIGNS_OUT)
}

// ---- answers --------------------------------------------------------------------------------

/// Whether the post named where to go (else a settings form goes back to the profile page).
fn chosen_redirect<T: Redirecting>(post: &Post<T>) -> Option<&str> {
    post.input
        .redirect_url()
        .is_some()
        .then_some(post.redirect.as_str())
}

/// The answer to a settings post. Success: JSON [`AcceptedResponse`], or a 303 to the post's
/// `redirect_url` (default: the profile page; `/` when `signed_out`, whose cookies are
/// cleared). Failure: the error as JSON, or a 303 back to the profile page with `?error=`; a
/// 401 for a request whose token names a dead session also clears the cookies.
pub(crate) fn answer<T: Redirecting>(
    inner: &Inner,
    auth: &AuthContext,
    post: &Post<T>,
    outcome: Result<(), ApiError>,
    message: &str,
    signed_out: bool,
) -> Response {
    let default = if signed_out { "/" } else { paths::PROFILE_PAGE };
    let redirect = chosen_redirect(post).unwrap_or(default);
    match outcome {
        Ok(()) => {
            let mut response = match post.format {
                Format::Form => see_other(redirect),
                Format::Json => Json(AcceptedResponse {
                    ok: true,
                    message: message.to_owned(),
                    redirect_url: Some(redirect.to_owned()),
                })
                .into_response(),
            };
            if signed_out {
                append_cookies(&mut response, inner.clear_cookies());
            }
            response
        }
        Err(e) => failure(inner, auth, post.format, redirect, &e),
    }
}

/// An error answer in the caller's format (see [`answer`]).
pub(crate) fn failure(
    inner: &Inner,
    auth: &AuthContext,
    format: Format,
    redirect: &str,
    error: &ApiError,
) -> Response {
    let mut response = match format {
        Format::Form => form_error(paths::PROFILE_PAGE, error, redirect),
        Format::Json => error.clone().into_response(),
    };
    if error.status == StatusCode::UNAUTHORIZED && auth.is_signed_in() {
        append_cookies(&mut response, inner.clear_cookies());
    }
    response
}

// ---- storage --------------------------------------------------------------------------------

impl crate::store::Store {
    /// Deletes the user's mailed secrets (the foreign key cascades too, where it is enforced).
    pub(crate) async fn delete_one_time_of(&self, user_id: &str) -> Result<(), IdpError> {
        sqlx::query("DELETE FROM one_time_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
