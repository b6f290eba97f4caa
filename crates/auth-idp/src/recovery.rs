//! Password reset: `POST /auth/password-reset` mails a link (`<public URL>/reset-password?token=…`,
//! 256 random bits stored as SHA-256, single use, valid an hour; a new request voids the last
//! one), `POST /auth/password-reset/confirm` sets the new password.
//!
//! **No enumeration.** The request is answered before the account is even looked up: the lookup,
//! the token and the mail happen in a background task, so status, body and time are those of
//! the input check and the rate limits, the same for every address. The limits (per client
//! address and per address asked for) count unknown addresses too.
//!
//! **Confirm.** The new password meets the sign-up policy (checked before the token is spent, so
//! a refused password does not cost the link); then, in one transaction, the password is set, the
//! address marked verified (the link proved it), every session of the account revoked and every
//! reset link voided; a notice is mailed and the caller signed in with a fresh session. A link
//! issued before the password last changed is refused even if it was not voided.

use crate::Inner;
use crate::accounts::{Caller, EVENTS, Started};
use crate::body::{Format, valid_new_password};
use crate::error::{ApiError, IdpError};
use crate::mail::Message;
use crate::mail_request::MailFlow;
use crate::one_time::{INVALID_TOKEN, Purpose, void_one_time};
use crate::routes::{caller, form_error_with, read_post, session_response};
use crate::store::{Store, mark_email_verified, now, upsert_credential};
use auth_server::Auth;
use auth_types::contract::{PasswordResetConfirmRequest, paths};
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use http::{HeaderValue, StatusCode, header};
use std::sync::Arc;

/// This feature's routes, merged by `routes.rs`.
pub(crate) fn routes() -> axum::Router<Arc<Inner>> {
    axum::Router::new()
        .route(paths::PASSWORD_RESET, post(request_reset))
        .route(paths::PASSWORD_RESET_CONFIRM, post(confirm))
}

async fn request_reset(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    crate::mail_request::request(inner, req, MailFlow::PasswordReset).await
}

async fn confirm(State(inner): State<Arc<Inner>>, Auth(auth): Auth, req: Request) -> Response {
    let post = match read_post::<PasswordResetConfirmRequest>(&inner, req, false).await {
        Ok(post) => post,
        Err(refused) => return refused,
    };
    let session_id = auth.claims().and_then(|c| c.sid.as_deref());
    let outcome = inner
        .confirm_reset(&post.input, &caller(&inner, &post.parts, session_id))
        .await;
    let mut response = match outcome {
        // Back to the reset page with its token, so a refused password can be corrected.
        Err(e) if post.format == Format::Form => form_error_with(
            paths::RESET_PASSWORD_PAGE,
            &e,
            &post.redirect,
            &[("token", post.input.token.trim())],
        ),
        outcome => session_response(outcome, &post, StatusCode::OK, paths::RESET_PASSWORD_PAGE),
    };
    // The token was in the page's URL: nothing this answer leads to may see it as a referrer.
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

impl Inner {
    async fn confirm_reset(
        &self,
        input: &PasswordResetConfirmRequest,
        caller: &Caller<'_>,
    ) -> Result<Started, ApiError> {
        const PURPOSES: &[Purpose] = &[Purpose::PasswordReset];
        // Which account, without spending the token: the policy needs its address.
        let Some(peeked) = self.peek_token(PURPOSES, &input.token).await? else {
            return Err(INVALID_TOKEN);
        };
        let password = valid_new_password(&input.new_password, &peeked.email)?;
        if let Some(check) = &self.breach_check {
            check.refuse_breached(&password).await?;
        }
        let hash = self.passwords.hash(password).await?;
        let redeemed = self.redeem_token(PURPOSES, &input.token).await?;
        // Changed since the link was mailed (settings void the links too; this also covers a
        // change made through any other path).
        if self
            .store
            .credential(&redeemed.user_id)
            .await?
            .is_some_and(|c| c.updated_at > redeemed.created_at)
        {
            return Err(INVALID_TOKEN);
        }
        let revoked = self
            .store
            .complete_password_reset(&redeemed.user_id, &hash)
            .await?;
        let Some(user) = self
            .store
            .user_by_id(&redeemed.user_id)
            .await?
            .map(|r| r.user)
        else {
            return Err(INVALID_TOKEN);
        };
        tracing::info!(
            target: EVENTS,
            event = "password_reset",
            outcome = "success",
            user_id = %user.id,
            sessions_revoked = revoked,
            "password reset; every session of the account was revoked"
        );
        self.mailer.send(&user.email, Message::PasswordChanged);
        // The caller's own session (if any) was revoked above with the others.
        let fresh = Caller {
            address: caller.address,
            user_agent: caller.user_agent,
            session_id: None,
        };
        self.start_fresh_session(user, &fresh, "password_reset")
            .await
    }
}

impl Store {
    /// Sets the password, marks the address verified, revokes every session and voids every
    /// reset link, atomically. Returns how many sessions were revoked.
    async fn complete_password_reset(&self, user_id: &str, hash: &str) -> Result<u64, IdpError> {
        let now = now();
        let mut tx = self.pool.begin().await?;
        upsert_credential(&mut *tx, user_id, hash, now).await?;
        mark_email_verified(&mut *tx, user_id, now).await?;
        let revoked = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        void_one_time(&mut *tx, user_id, Purpose::PasswordReset, now).await?;
        tx.commit().await?;
        Ok(revoked)
    }
}
