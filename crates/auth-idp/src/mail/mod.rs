//! Mail: the messages the provider sends (verification, reset, notices, sign-in codes) and how
//! they leave — SMTP through lettre when `AUTH_SMTP_URL` is set, else (debug builds) the server
//! log and the dev mailbox page. Sending never blocks a request: [`Mailer::send`] renders the mail
//! and queues it for one sender task; a mail that cannot be sent is logged, never an error of the
//! request that asked for it (the secret it carries is in the database: the user can ask again).
//!
//! - `templates.rs`: subjects and bodies (plain text + HTML, escaped).
//! - `smtp.rs`: `AUTH_SMTP_URL`, the queue and the sender task (3 tries, backoff).
//! - `dev.rs`: the dev mailbox (`GET /auth/dev/mailbox`, debug builds without SMTP).

mod dev;
mod smtp;
mod templates;

pub(crate) use templates::escape;

use crate::error::IdpError;
use auth_server::ConfigError;
use lettre::message::Mailbox;
use std::sync::Arc;

/// `AUTH_EMAIL_FROM` when unset: fine for a local test server, refused by most mail services.
const DEFAULT_FROM: &str = "no-reply@localhost";
/// `AUTH_APP_NAME` when unset.
const DEFAULT_APP_NAME: &str = "Your app";

/// Mail settings: `AUTH_SMTP_URL`, `AUTH_EMAIL_FROM`, `AUTH_APP_NAME`. `Debug` shows the SMTP
/// URL without its password.
#[derive(Clone)]
pub struct MailSettings {
    /// `AUTH_SMTP_URL`: `smtp://host:port` (plain: loopback or a trusted network),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://user:pass@host:465`
    /// (implicit TLS). `None`: no SMTP (debug builds keep mails in the dev mailbox; release
    /// builds log that a mail was not sent).
    pub smtp_url: Option<String>,
    /// `AUTH_EMAIL_FROM`: the sender mailbox, `App <no-reply@example.com>` or a bare address
    /// (default `no-reply@localhost`).
    pub from: String,
    /// `AUTH_APP_NAME`: the app's name in every mail's subject and body (default "Your app").
    pub app_name: String,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: DEFAULT_FROM.to_owned(),
            app_name: DEFAULT_APP_NAME.to_owned(),
        }
    }
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSettings")
            .field(
                "smtp_url",
                &self.smtp_url.as_deref().map(smtp::redacted_str),
            )
            .field("from", &self.from)
            .field("app_name", &self.app_name)
            .finish()
    }
}

impl MailSettings {
    /// Reads the mail variables through `get` (empty values already count as unset) and
    /// validates them: a bad value is a [`ConfigError`] naming its variable (an SMTP URL's
    /// password is never repeated in it).
    pub(crate) fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let settings = Self {
            smtp_url: get("AUTH_SMTP_URL").map(|v| v.trim().to_owned()),
            from: get("AUTH_EMAIL_FROM").map_or(defaults.from, |v| v.trim().to_owned()),
            app_name: get("AUTH_APP_NAME").map_or(defaults.app_name, |v| v.trim().to_owned()),
        };
        settings.sender()?;
        settings.app_name()?;
        if let Some(url) = &settings.smtp_url {
            smtp::builder(url)?;
        }
        Ok(settings)
    }

    /// `from`, parsed (the fields are public: a value set in code is checked here too).
    fn sender(&self) -> Result<Mailbox, ConfigError> {
        self.from.trim().parse().map_err(|_| ConfigError::Invalid {
            var: "AUTH_EMAIL_FROM",
            reason: "must be an email address, or a name and an address: \
                     `App <no-reply@example.com>`"
                .into(),
        })
    }

    fn app_name(&self) -> Result<&str, ConfigError> {
        let name = self.app_name.trim();
        if name.is_empty() {
            return Ok(DEFAULT_APP_NAME);
        }
        // It goes into every subject line: a line break would forge headers.
        if name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(ConfigError::Invalid {
                var: "AUTH_APP_NAME",
                reason: "must be at most 100 characters, without control characters".into(),
            });
        }
        Ok(name)
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

impl<'a> Message<'a> {
    /// The one-time code the mail carries, if any.
    pub(crate) fn code(&self) -> Option<&'a str> {
        match *self {
            Self::VerifyEmail { code, .. }
            | Self::ChangeEmailVerify { code, .. }
            | Self::SignInCode { code } => Some(code),
            _ => None,
        }
    }

    /// The one-time link the mail carries, if any.
    pub(crate) fn link(&self) -> Option<&'a str> {
        match *self {
            Self::VerifyEmail { link, .. }
            | Self::ChangeEmailVerify { link, .. }
            | Self::PasswordReset { link } => Some(link),
            _ => None,
        }
    }
}

/// Sends mail off the request path (cheap to clone).
#[derive(Debug, Clone)]
pub(crate) struct Mailer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    app_name: String,
    /// The public URL without its trailing slash.
    public_url: String,
    route: Route,
}

/// Where mail goes.
#[derive(Debug)]
enum Route {
    /// The SMTP sender task's queue.
    Smtp(smtp::Queue),
    /// Debug build without SMTP: the log and the dev mailbox.
    DevMailbox(dev::Mailbox),
    /// Release build without SMTP: nowhere (logged without the secret).
    Unsent,
}

impl Mailer {
    /// The mailer for these settings; with SMTP it starts the sender task, so it must be called
    /// inside a tokio runtime.
    pub(crate) fn new(settings: &MailSettings, public_url: &str) -> Result<Self, IdpError> {
        let from = settings.sender()?;
        let app_name = settings.app_name()?.to_owned();
        let route = match &settings.smtp_url {
            Some(url) => {
                if settings.from.trim() == DEFAULT_FROM {
                    tracing::warn!(
                        "AUTH_EMAIL_FROM is not set: mail goes out from {DEFAULT_FROM}, which most \
                         mail services refuse"
                    );
                }
                Route::Smtp(smtp::start(url, from)?)
            }
            None if cfg!(debug_assertions) => {
                tracing::info!(
                    "AUTH_SMTP_URL is not set: mails are logged and kept at {} (debug build)",
                    auth_types::contract::paths::DEV_MAILBOX
                );
                Route::DevMailbox(dev::Mailbox::default())
            }
            None => {
                tracing::warn!(
                    "AUTH_SMTP_URL is not set: no mail is sent (email verification, password \
                     reset, sign-in codes and notices)"
                );
                Route::Unsent
            }
        };
        Ok(Self {
            shared: Arc::new(Shared {
                app_name,
                public_url: public_url.trim_end_matches('/').to_owned(),
                route,
            }),
        })
    }

    /// Queues `message` for `to`; returns at once. A failed send is logged, never an error here.
    pub(crate) fn send(&self, to: &str, message: Message<'_>) {
        let shared = &*self.shared;
        let mail = templates::render(&message, &shared.app_name, &shared.public_url);
        match &shared.route {
            Route::Smtp(queue) => queue.push(to, mail),
            Route::DevMailbox(mailbox) => {
                // A debug build: the secret is logged on purpose, this is how a developer signs in.
                tracing::info!(
                    to,
                    subject = %mail.subject,
                    code = message.code().unwrap_or("-"),
                    link = message.link().unwrap_or("-"),
                    "mail not sent (no AUTH_SMTP_URL), kept at {}",
                    auth_types::contract::paths::DEV_MAILBOX
                );
                mailbox.keep(to, mail, &message);
            }
            Route::Unsent => tracing::warn!(
                domain = domain(to),
                subject = %mail.subject,
                "mail not sent (no AUTH_SMTP_URL)"
            ),
        }
    }

    /// The dev mailbox, when mail goes there.
    fn dev_mailbox(&self) -> Option<&dev::Mailbox> {
        match &self.shared.route {
            Route::DevMailbox(mailbox) => Some(mailbox),
            _ => None,
        }
    }
}

/// The part of an address after its last `@`: what the logs say of a recipient.
fn domain(address: &str) -> &str {
    address.rsplit_once('@').map_or("?", |(_, d)| d)
}

/// The dev mailbox page (debug builds only; it answers 404 when SMTP is configured). A release
/// build has no such route.
pub(crate) fn routes() -> axum::Router<Arc<crate::Inner>> {
    if cfg!(debug_assertions) {
        dev::routes()
    } else {
        axum::Router::new()
    }
}

impl crate::Idp {
    /// Test hook (integration tests of the mail module): sends one of the provider's mails as its
    /// flows do. `kind` is a [`Message`] variant name; `value` is its code, link or new address
    /// (the variants with a code and a link get `value` as the code and
    /// `<public URL>/verify-email?token=<value>` as the link). Returns false for an unknown kind.
    #[doc(hidden)]
    pub fn send_mail_for_tests(&self, to: &str, kind: &str, value: &str) -> bool {
        let link = format!(
            "{}{}?token={value}",
            self.inner.mailer.shared.public_url,
            auth_types::contract::paths::VERIFY_EMAIL_PAGE
        );
        let message = match kind {
            "VerifyEmail" => Message::VerifyEmail {
                code: value,
                link: &link,
            },
            "SignUpAttempt" => Message::SignUpAttempt,
            "PasswordReset" => Message::PasswordReset { link: value },
            "PasswordChanged" => Message::PasswordChanged,
            "ChangeEmailVerify" => Message::ChangeEmailVerify {
                code: value,
                link: &link,
            },
            "EmailChangeRequested" => Message::EmailChangeRequested { new_email: value },
            "SignInCode" => Message::SignInCode { code: value },
            "AccountDeleted" => Message::AccountDeleted,
            _ => return false,
        };
        self.inner.mailer.send(to, message);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> Result<MailSettings, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        MailSettings::from_lookup(&|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    fn invalid_var(result: Result<MailSettings, ConfigError>) -> (&'static str, String) {
        match result {
            Err(ConfigError::Invalid { var, reason }) => (var, reason),
            other => panic!("expected an invalid setting, got {other:?}"),
        }
    }

    #[test]
    fn defaults_without_variables() {
        let s = lookup(&[]).unwrap();
        assert_eq!(s.smtp_url, None);
        assert_eq!(s.from, DEFAULT_FROM);
        assert_eq!(s.app_name, DEFAULT_APP_NAME);
    }

    #[test]
    fn accepted_urls_and_mailboxes() {
        for url in [
            "smtp://127.0.0.1:1025",
            "smtp://localhost",
            "smtp://user:pass@127.0.0.1:2525",
            "smtp://user:pass@[::1]:2525",
            "smtp://user:pass@localhost:2525",
            "smtp://user:pass@mail.example.com:587?tls=required",
            "smtp://mail.example.com:587?tls=opportunistic",
            "smtps://user:p%40ss@mail.example.com:465",
            "smtps://mail.example.com",
        ] {
            let s = lookup(&[("AUTH_SMTP_URL", url)]).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(s.smtp_url.as_deref(), Some(url));
        }
        for from in [
            "no-reply@example.com",
            "Acme <no-reply@example.com>",
            "\"Acme, Inc.\" <no-reply@example.com>",
        ] {
            assert_eq!(lookup(&[("AUTH_EMAIL_FROM", from)]).unwrap().from, from);
        }
    }

    #[test]
    fn bad_urls_name_the_variable_and_hide_the_password() {
        for url in [
            "http://mail.example.com",
            "smtp://",
            "not a url",
            "smtp://mail.example.com?tls=sometimes",
            // Credentials in clear text over a network: refused.
            "smtp://user:hunter2@mail.example.com:25",
            "smtp://user:hunter2@10.0.0.1:25",
        ] {
            let (var, reason) = invalid_var(lookup(&[("AUTH_SMTP_URL", url)]));
            assert_eq!(var, "AUTH_SMTP_URL", "{url}");
            assert!(!reason.contains("hunter2"), "{url}: {reason}");
        }
    }

    #[test]
    fn bad_from_and_app_name_name_their_variable() {
        for from in ["nobody", "a@b@c", "App <>", "<no-reply@example.com"] {
            let (var, _) = invalid_var(lookup(&[("AUTH_EMAIL_FROM", from)]));
            assert_eq!(var, "AUTH_EMAIL_FROM", "{from}");
        }
        let (var, _) = invalid_var(lookup(&[("AUTH_APP_NAME", "Acme\r\nBcc: x@y.test")]));
        assert_eq!(var, "AUTH_APP_NAME");
    }

    #[test]
    fn debug_hides_the_smtp_password() {
        let s = lookup(&[("AUTH_SMTP_URL", "smtps://me:hunter2@mail.example.com")]).unwrap();
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("me:***@"),
            "{shown}"
        );
    }

    #[test]
    fn domain_of_an_address() {
        assert_eq!(domain("a@example.com"), "example.com");
        assert_eq!(domain("\"a@b\"@example.com"), "example.com");
        assert_eq!(domain("nobody"), "?");
    }
}
