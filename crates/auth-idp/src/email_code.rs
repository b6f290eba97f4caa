//! Passwordless sign-in by email code (`AUTH_EMAIL_CODE_SIGN_IN=on`): `POST /auth/email-code`
//! mails an 8-digit code (15 minutes, single use, dead after 5 wrong tries) to the address if it
//! has an account, and `POST /auth/email-code/confirm` trades the address and code for a session.
//!
//! The request answers the same for every address, before the account is looked up (the lookup,
//! the code and the mail run in a background task, as for a password reset), and is limited per
//! client address and per address asked for. A redeemed code also marks the address verified:
//! it was just proven. Turned off, both endpoints answer 404 `disabled`.

use crate::Inner;
use crate::accounts::{Caller, Started};
use crate::body::{Format, valid_email};
use crate::error::ApiError;
use crate::mail_request::MailFlow;
use crate::one_time::{INVALID_CODE, Purpose};
use crate::routes::{caller, form_error_with, read_post, session_response};
use crate::store::{mark_email_verified, now};
use auth_server::Auth;
use auth_types::contract::{EmailCodeConfirmRequest, paths};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::StatusCode;
use std::sync::Arc;

/// This feature's routes, merged by `routes.rs`.
pub(crate) fn routes() -> axum::Router<Arc<Inner>> {
    axum::Router::new()
        .route(paths::EMAIL_CODE, post(request_code))
        .route(paths::EMAIL_CODE_CONFIRM, post(confirm))
}

async fn request_code(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    if !inner.config.email_code_sign_in {
        return ApiError::DISABLED.into_response();
    }
    crate::mail_request::request(inner, req, MailFlow::SignInCode).await
}

async fn confirm(State(inner): State<Arc<Inner>>, Auth(auth): Auth, req: Request) -> Response {
    if !inner.config.email_code_sign_in {
        return ApiError::DISABLED.into_response();
    }
    let post = match read_post::<EmailCodeConfirmRequest>(&inner, req, false).await {
        Ok(post) => post,
        Err(refused) => return refused,
    };
    let session_id = auth.claims().and_then(|c| c.sid.as_deref());
    let outcome = inner
        .confirm_sign_in_code(&post.input, &caller(&inner, &post.parts, session_id))
        .await;
    match outcome {
        // Back to the sign-in page on its code step (the address is what it needs).
        Err(e) if post.format == Format::Form => form_error_with(
            paths::SIGN_IN_PAGE,
            &e,
            &post.redirect,
            &[("email", post.input.email.trim()), ("method", "email_code")],
        ),
        outcome => session_response(outcome, &post, StatusCode::OK, paths::SIGN_IN_PAGE),
    }
}

impl Inner {
    async fn confirm_sign_in_code(
        &self,
        input: &EmailCodeConfirmRequest,
        caller: &Caller<'_>,
    ) -> Result<Started, ApiError> {
        let email = valid_email(&input.email)?;
        let redeemed = self
            .redeem_code(&[Purpose::SignInCode], &email, &input.code)
            .await?;
        let user = match self.store.user_by_id(&redeemed.user_id).await? {
            // The account's address changed since the code was mailed: it proves nothing now.
            Some(record) if record.user.email == redeemed.email => record.user,
            _ => return Err(INVALID_CODE),
        };
        let mut user = user;
        if !user.email_verified {
            mark_email_verified(&self.store.pool, user.id.as_str(), now()).await?;
            user.email_verified = true;
        }
        self.start_fresh_session(user, caller, "email_code").await
    }
}
