//! "Mail me a secret" requests — a password-reset link, a sign-in code, a new verification code —
//! share one front half, so none of them tells a known address from an unknown one.
//!
//! The request is answered before the account is looked up: the address is checked, the mail
//! limits applied (per client address, and per flow and address asked for; unknown addresses
//! count too), and the rest — the lookup, the secret, the mail — runs in a background task. The
//! status, the body and the time are those of the input check and the limits, whatever the
//! address. A database outage in the background part is logged, not answered: the answer never
//! depended on it.

use crate::Inner;
use crate::accounts::{EVENTS, account_tag};
use crate::body::Format;
use crate::body::valid_email;
use crate::config::EmailVerification;
use crate::error::ApiError;
use crate::mail::Message;
use crate::one_time::Purpose;
use crate::routes::{accepted, client_address, read_post, see_other};
use auth_types::contract::{EmailRequest, paths};
use axum::extract::Request;
use axum::response::Response;
use std::sync::Arc;

/// Which secret a request asks to be mailed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MailFlow {
    /// A password-reset link (`POST /auth/password-reset`).
    PasswordReset,
    /// A sign-in code (`POST /auth/email-code`).
    SignInCode,
    /// A new verification code and link (`POST /auth/verify-email/resend`).
    VerifyEmail,
}

impl MailFlow {
    /// The rate-limit kind and the log event.
    fn name(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::SignInCode => "email_code",
            Self::VerifyEmail => "verify_email",
        }
    }

    /// What the request answers, whatever the address.
    fn answer(self) -> &'static str {
        match self {
            Self::PasswordReset => {
                "If an account exists for that address, we sent it a link to reset the password. \
                 The link works once, for one hour."
            }
            Self::SignInCode => {
                "If an account exists for that address, we sent it a sign-in code. It works once, \
                 for 15 minutes."
            }
            Self::VerifyEmail => {
                "If this address is waiting to be verified, a new code is on its way."
            }
        }
    }

    /// The page whose form posts the request (form errors go back there).
    fn form_page(self) -> &'static str {
        match self {
            Self::PasswordReset => paths::FORGOT_PASSWORD_PAGE,
            Self::SignInCode => paths::SIGN_IN_PAGE,
            Self::VerifyEmail => paths::VERIFY_EMAIL_PAGE,
        }
    }
}

/// Answers a request for `flow`'s secret (see the module): 200 / 303 for every valid address,
/// 422 for an invalid one, 429 past the limits. A form post asking for a code is sent on to the
/// page that takes it (`/sign-in?email=…&code_sent=1`, `/verify-email?email=…`), so the code can
/// be entered before the wasm loads; a reset request goes to its `redirect_url`.
pub(crate) async fn request(inner: Arc<Inner>, req: Request, flow: MailFlow) -> Response {
    let post = match read_post::<EmailRequest>(&inner, req, false).await {
        Ok(post) => post,
        Err(refused) => return refused,
    };
    let address = client_address(&inner, &post.parts);
    let outcome = match valid_email(&post.input.email) {
        Ok(email) => limit_and_send(&inner, flow, email, address).await,
        Err(invalid) => Err(invalid),
    };
    match (outcome, post.format) {
        // A form without wasm goes on to the page that takes the code, for this address.
        (Ok(email), Format::Form) if flow != MailFlow::PasswordReset => {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query
                .append_pair("email", &email)
                .append_pair("redirect_url", &post.redirect);
            if flow == MailFlow::SignInCode {
                query.append_pair("code_sent", "1");
            }
            see_other(&format!("{}?{}", flow.form_page(), query.finish()))
        }
        (outcome, _) => accepted(&post, outcome.map(|_| flow.answer()), flow.form_page()),
    }
}

/// Counts the request under the mail limits and, when admitted, sends the secret in the
/// background.
async fn limit_and_send(
    inner: &Arc<Inner>,
    flow: MailFlow,
    email: String,
    address: Option<std::net::IpAddr>,
) -> Result<String, ApiError> {
    inner
        .limits
        .mail(flow.name(), &email, address)
        .await
        .map_err(|refused| {
            tracing::warn!(
                target: EVENTS,
                event = flow.name(),
                outcome = "rate_limited",
                limit = refused.limit,
                account = %account_tag(&email),
                "mail request refused: too many requests"
            );
            ApiError::rate_limited(refused.retry_after_secs())
        })?;
    let (background, to) = (inner.clone(), email.clone());
    tokio::spawn(async move { background.mail_secret(flow, &to).await });
    Ok(email)
}

impl Inner {
    /// The background half: mails `flow`'s secret if `email` has an account that wants it (a
    /// verification code only to an unverified account, and not with verification off).
    async fn mail_secret(&self, flow: MailFlow, email: &str) {
        let user = match self.store.user_by_email(email).await {
            Ok(Some(record)) => record.user,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, event = flow.name(), "mail request: the account lookup failed");
                return;
            }
        };
        let purpose = match flow {
            MailFlow::VerifyEmail => {
                if self.config.email_verification != EmailVerification::Off && !user.email_verified
                {
                    self.send_verification(user.id.as_str(), email).await;
                }
                return;
            }
            MailFlow::PasswordReset => Purpose::PasswordReset,
            MailFlow::SignInCode => Purpose::SignInCode,
        };
        let issued = match self.issue_one_time(user.id.as_str(), email, purpose).await {
            Ok(issued) => issued,
            Err(e) => {
                tracing::warn!(error = %e, event = flow.name(), "mail request: could not issue a secret");
                return;
            }
        };
        let link;
        let message = match flow {
            MailFlow::PasswordReset => {
                link = self.link(paths::RESET_PASSWORD_PAGE, &issued.token);
                Message::PasswordReset { link: &link }
            }
            _ => Message::SignInCode { code: &issued.code },
        };
        self.mailer.send(email, message);
        tracing::info!(
            target: EVENTS,
            event = flow.name(),
            outcome = "mailed",
            user_id = %user.id,
            "secret mailed"
        );
    }
}
