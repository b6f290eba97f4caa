//! Email verification: `POST /auth/verify-email` (the mailed link's `token`, or the `email` and
//! its 8-digit `code`) and `POST /auth/verify-email/resend`.
//!
//! Redeeming a verification secret marks the address verified; redeeming an email-change secret
//! (mailed to the new address by `settings.rs`) replaces the account's address with the verified
//! one. Either way the caller ends up signed in with a token that says `email_verified: true`:
//! - signed in as that user already: the same session gets a fresh session token (its refresh
//!   secret is kept). A new session would be no safer (the session was already the user's) and
//!   would show the device twice in the sessions list and sign other tabs out;
//! - otherwise (the `required` mode's held-back sign-up, or a link opened in another browser):
//!   a new session replaces the caller's, as a sign-in does. The mailed secret proves the
//!   address, which is what an email-code sign-in proves too.

use crate::Inner;
use crate::accounts::{Caller, EVENTS, Started};
use crate::body::{Format, valid_email};
use crate::error::{ApiError, IdpError};
use crate::mail::Message;
use crate::mail_request::MailFlow;
use crate::one_time::{INVALID_CODE, INVALID_TOKEN, Purpose};
use crate::routes::{caller, form_error_with, read_post, session_response};
use crate::store::{Store, mark_email_verified, now};
use auth_server::Auth;
use auth_types::SessionClaims;
use auth_types::User;
use auth_types::contract::{VerifyEmailRequest, paths};
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use http::StatusCode;
use std::sync::Arc;

/// This feature's routes, merged by `routes.rs`.
pub(crate) fn routes() -> axum::Router<Arc<Inner>> {
    axum::Router::new()
        .route(paths::VERIFY_EMAIL, post(verify_email))
        .route(paths::VERIFY_EMAIL_RESEND, post(resend))
}

async fn verify_email(State(inner): State<Arc<Inner>>, Auth(auth): Auth, req: Request) -> Response {
    let post = match read_post::<VerifyEmailRequest>(&inner, req, false).await {
        Ok(post) => post,
        Err(refused) => return refused,
    };
    let session_id = auth.claims().and_then(|c| c.sid.as_deref());
    let outcome = inner
        .verify_email(
            &post.input,
            &caller(&inner, &post.parts, session_id),
            auth.claims(),
        )
        .await;
    match outcome {
        Err(e) if post.format == Format::Form => {
            let email = post.input.email.trim();
            let extra: &[(&str, &str)] = if email.is_empty() {
                &[]
            } else {
                &[("email", email)]
            };
            form_error_with(paths::VERIFY_EMAIL_PAGE, &e, &post.redirect, extra)
        }
        outcome => session_response(outcome, &post, StatusCode::OK, paths::VERIFY_EMAIL_PAGE),
    }
}

async fn resend(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    crate::mail_request::request(inner, req, MailFlow::VerifyEmail).await
}

impl Inner {
    /// Issues a verification code and link for `email` and mails them. A failure is logged,
    /// never the caller's: the user can ask again.
    pub(crate) async fn send_verification(&self, user_id: &str, email: &str) {
        match self
            .issue_one_time(user_id, email, Purpose::VerifyEmail)
            .await
        {
            Ok(issued) => {
                let link = self.link(paths::VERIFY_EMAIL_PAGE, &issued.token);
                self.mailer.send(
                    email,
                    Message::VerifyEmail {
                        code: &issued.code,
                        link: &link,
                    },
                );
            }
            Err(e) => tracing::warn!(error = %e, user_id, "could not issue a verification code"),
        }
    }

    /// `<public URL><page>?token=<token>` (the token is base64url: nothing to escape).
    pub(crate) fn link(&self, page: &str, token: &str) -> String {
        format!("{}?token={token}", self.config.public_url_for(page))
    }

    /// Redeems the posted token or code, applies it, and signs the caller in (see the module).
    async fn verify_email(
        &self,
        input: &VerifyEmailRequest,
        caller: &Caller<'_>,
        claims: Option<&SessionClaims>,
    ) -> Result<Started, ApiError> {
        const PURPOSES: &[Purpose] = &[Purpose::VerifyEmail, Purpose::ChangeEmail];
        let redeemed = if !input.token.trim().is_empty() {
            self.redeem_token(PURPOSES, &input.token).await?
        } else if !input.code.trim().is_empty() {
            let email = valid_email(&input.email)?;
            self.redeem_code(PURPOSES, &email, &input.code).await?
        } else {
            return Err(ApiError::UNPROCESSABLE);
        };
        let invalid = || {
            if input.token.trim().is_empty() {
                INVALID_CODE
            } else {
                INVALID_TOKEN
            }
        };
        let Some(mut user) = self
            .store
            .user_by_id(&redeemed.user_id)
            .await?
            .map(|r| r.user)
        else {
            return Err(invalid());
        };
        match redeemed.purpose {
            Purpose::ChangeEmail => {
                self.store
                    .replace_verified_email(&redeemed.user_id, &redeemed.email)
                    .await?;
                tracing::info!(
                    target: EVENTS,
                    event = "email_changed",
                    user_id = %redeemed.user_id,
                    secret_id = %redeemed.id,
                    "the account's address was replaced by the verified new one"
                );
            }
            _ => {
                // A code for an address the account no longer has proves nothing about it.
                if user.email != redeemed.email {
                    return Err(invalid());
                }
                mark_email_verified(&self.store.pool, &redeemed.user_id, now()).await?;
                tracing::info!(
                    target: EVENTS,
                    event = "email_verified",
                    user_id = %redeemed.user_id,
                    secret_id = %redeemed.id,
                    "the address was verified"
                );
            }
        }
        // What the store now holds, without reading it back.
        user.email = redeemed.email;
        user.email_verified = true;
        if let Some(started) = self.refresh_current_session(&user, claims).await? {
            return Ok(started);
        }
        self.start_fresh_session(user, caller, "verify_email").await
    }

    /// A fresh token for the caller's live session of `user` (its claims changed), or `None`
    /// when the caller is not signed in as `user`.
    async fn refresh_current_session(
        &self,
        user: &User,
        claims: Option<&SessionClaims>,
    ) -> Result<Option<Started>, IdpError> {
        let Some(claims) = claims.filter(|c| c.sub == user.id.as_str()) else {
            return Ok(None);
        };
        let Some(sid) = claims.sid.as_deref() else {
            return Ok(None);
        };
        match self.store.session_by_id(sid).await? {
            Some(session) if session.is_active(&self.config) => {
                let minted = self
                    .mint(user.id.as_str(), sid, &session.roles, user.email_verified)
                    .await?;
                let cookie = self.cookies().session(&minted.token);
                Ok(Some((user.clone(), minted.claims, vec![cookie])))
            }
            _ => Ok(None),
        }
    }
}

impl Store {
    /// Replaces the account's address with a verified new one and voids every secret still
    /// live for the account (links mailed to the old address must not outlive it); `EmailTaken`
    /// when another account took the address meanwhile.
    async fn replace_verified_email(&self, user_id: &str, email: &str) -> Result<(), IdpError> {
        let now = now();
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE users SET email = $1, email_verified = 1, updated_at = $2 WHERE id = $3",
        )
        .bind(email)
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(IdpError::from);
        match updated {
            Err(e) if e.is_unique_violation() => return Err(IdpError::EmailTaken),
            other => other?,
        };
        sqlx::query(
            "UPDATE one_time_codes SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
