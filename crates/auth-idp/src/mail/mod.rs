//! Mail: the messages the provider sends (verification, reset, notices, sign-in codes) and how
//! they leave — SMTP through lettre when `AUTH_SMTP_URL` is set, else (debug builds) the server
//! log and the dev mailbox page. Sending never blocks a request: [`Mailer::send`] queues.
//!
//! SEAM (stub to be replaced by the mail module's owner; the signatures below are the contract
//! the account flows call).

use crate::error::IdpError;
use auth_server::ConfigError;

/// Mail settings: `AUTH_SMTP_URL`, `AUTH_EMAIL_FROM`, `AUTH_APP_NAME`.
#[derive(Debug, Clone, Default)]
pub struct MailSettings {
    /// `AUTH_SMTP_URL` (`smtp://host:port`, `smtps://user:pass@host:465`); `None`: no SMTP.
    pub smtp_url: Option<String>,
    /// `AUTH_EMAIL_FROM` (`App <no-reply@example.com>`).
    pub from: String,
    /// `AUTH_APP_NAME`: the app's name in every mail.
    pub app_name: String,
}

impl MailSettings {
    /// Reads the mail variables through `get` (empty values already count as unset).
    pub(crate) fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            smtp_url: get("AUTH_SMTP_URL"),
            from: get("AUTH_EMAIL_FROM").unwrap_or_else(|| "no-reply@localhost".to_owned()),
            app_name: get("AUTH_APP_NAME").unwrap_or_else(|| "Your app".to_owned()),
        })
    }
}

/// What a mail says; the mailer renders it (text and HTML parts, app name and URL).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Message<'a> {
    /// Confirm your address: an 8-digit code and a link.
    VerifyEmail { code: &'a str, link: &'a str },
    /// Someone tried to sign up with your address (no secret inside).
    SignUpAttempt,
    /// Reset your password: a link valid one hour.
    PasswordReset { link: &'a str },
    /// Your password was changed (notice).
    PasswordChanged,
    /// Confirm your new address: code and link, sent to the new address.
    ChangeEmailVerify { code: &'a str, link: &'a str },
    /// Your address is being changed to `new_email` (notice to the old address).
    EmailChangeRequested { new_email: &'a str },
    /// Your sign-in code.
    SignInCode { code: &'a str },
    /// Your account was deleted (notice).
    AccountDeleted,
}

/// Sends mail off the request path (cheap to clone).
#[derive(Debug, Clone)]
pub(crate) struct Mailer {
    settings: MailSettings,
}

impl Mailer {
    /// The mailer for these settings (starts the sending task).
    pub(crate) fn new(settings: &MailSettings, _public_url: &str) -> Result<Self, IdpError> {
        Ok(Self {
            settings: settings.clone(),
        })
    }

    /// Queues `message` for `to`; returns at once. A failed send is logged, never an error here.
    pub(crate) fn send(&self, to: &str, message: Message<'_>) {
        tracing::info!(to, ?message, app = %self.settings.app_name, "mail (stub)");
    }
}

/// The dev mailbox page (debug builds without SMTP); empty otherwise.
pub(crate) fn routes() -> axum::Router<std::sync::Arc<crate::Inner>> {
    axum::Router::new()
}
