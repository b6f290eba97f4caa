//! SMTP delivery: `AUTH_SMTP_URL` → a lettre transport (rustls), a bounded queue and one sender
//! task. A mail is tried up to 3 times (1 s, then 4 s apart); a 5xx answer is final at once. The
//! logs name the recipient's domain and the subject, never the address, code or link.

use super::templates::Rendered;
use crate::config::{is_loopback_host, redact_url};
use crate::error::IdpError;
use auth_server::ConfigError;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;
use tokio::sync::mpsc;

/// Mails waiting for the sender task; past it a mail is dropped (and logged).
const QUEUE: usize = 1024;
/// Waits between tries: 3 tries in all.
const BACKOFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(4)];
/// Bound on connecting and on each SMTP command (lettre's default is 60 s).
const TIMEOUT: Duration = Duration::from_secs(10);

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// The transport builder for `url`, or a [`ConfigError`] naming `AUTH_SMTP_URL` (its password
/// replaced by `***`).
pub(super) fn builder(url: &str) -> Result<AsyncSmtpTransportBuilder, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        var: "AUTH_SMTP_URL",
        reason,
    };
    let parsed = url::Url::parse(url).map_err(|e| {
        invalid(format!(
            "{e}: use smtp://host:port, smtp://user:pass@host:587?tls=required or \
             smtps://user:pass@host:465"
        ))
    })?;
    let shown = redact_url(&parsed);
    // Plain `smtp://` is for a server on this machine or a trusted network; a password would
    // cross it in clear text.
    let loopback = is_loopback_host(&parsed);
    let tls = parsed
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v);
    if parsed.scheme() == "smtp" && tls.is_none() && parsed.password().is_some() && !loopback {
        return Err(invalid(format!(
            "{shown}: a password over plain SMTP to another host would travel unencrypted: use \
             ?tls=required (STARTTLS) or smtps://"
        )));
    }
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| {
        invalid(format!(
            "{shown}: {e} (use smtp://host:port, smtp://…?tls=required or smtps://…)"
        ))
    })
}

/// [`redact_url`] for a URL in a string ("(not a URL)" when it does not parse).
pub(super) fn redacted_str(url: &str) -> String {
    url::Url::parse(url).map_or_else(|_| "(not a URL)".to_owned(), |u| redact_url(&u))
}

/// The sender task's queue (the task ends when the last [`Queue`] is dropped, after the mails
/// already queued).
#[derive(Debug)]
pub(super) struct Queue {
    tx: mpsc::Sender<Outgoing>,
}

#[derive(Debug)]
struct Outgoing {
    to: String,
    mail: Rendered,
}

/// Starts the sender task for `url`; must run inside a tokio runtime.
pub(super) fn start(url: &str, from: Mailbox) -> Result<Queue, IdpError> {
    let builder = builder(url)?;
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| IdpError::Startup("the mailer must start inside a tokio runtime".into()))?;
    // Building the pooled transport spawns its clean-up task: inside the runtime.
    let transport = builder.timeout(Some(TIMEOUT)).build();
    let (tx, rx) = mpsc::channel(QUEUE);
    runtime.spawn(run(transport, from, rx));
    Ok(Queue { tx })
}

impl Queue {
    /// Queues a mail; never waits. A full queue drops the mail (logged): the secret it carries
    /// is in the database and the user can ask again.
    pub(super) fn push(&self, to: &str, mail: Rendered) {
        let outgoing = Outgoing {
            to: to.to_owned(),
            mail,
        };
        if let Err(e) = self.tx.try_send(outgoing) {
            let (why, Outgoing { to, mail }) = match e {
                mpsc::error::TrySendError::Full(o) => ("the mail queue is full", o),
                mpsc::error::TrySendError::Closed(o) => ("the mail sender stopped", o),
            };
            tracing::warn!(
                domain = super::domain(&to),
                subject = %mail.subject,
                "mail not sent: {why}"
            );
        }
    }
}

async fn run(transport: Transport, from: Mailbox, mut rx: mpsc::Receiver<Outgoing>) {
    while let Some(Outgoing { to, mail }) = rx.recv().await {
        deliver(&transport, &from, &to, &mail).await;
    }
}

/// Sends one mail, with retries; logs the outcome.
async fn deliver(transport: &Transport, from: &Mailbox, to: &str, mail: &Rendered) {
    let domain = super::domain(to);
    let message = match build(from, to, mail) {
        Ok(message) => message,
        Err(reason) => {
            tracing::warn!(domain, subject = %mail.subject, "mail not sent: {reason}");
            return;
        }
    };
    let tries = BACKOFF.len() + 1;
    for attempt in 1..=tries {
        match transport.send(message.clone()).await {
            Ok(_) => {
                tracing::info!(domain, subject = %mail.subject, attempt, "mail sent");
                return;
            }
            Err(e) if e.is_permanent() => {
                tracing::warn!(
                    domain,
                    subject = %mail.subject,
                    attempt,
                    "mail not sent, refused by the SMTP server: {e}"
                );
                return;
            }
            Err(e) if attempt < tries => {
                let wait = BACKOFF[attempt - 1];
                tracing::warn!(
                    domain,
                    subject = %mail.subject,
                    attempt,
                    "mail send failed, retrying in {} s: {e}",
                    wait.as_secs()
                );
                tokio::time::sleep(wait).await;
            }
            Err(e) => tracing::warn!(
                domain,
                subject = %mail.subject,
                attempt,
                "mail not sent after {tries} tries: {e}"
            ),
        }
    }
}

/// The MIME message: `multipart/alternative` with the text part first (the fallback).
fn build(from: &Mailbox, to: &str, mail: &Rendered) -> Result<lettre::Message, String> {
    let to: Mailbox = to
        .parse()
        .map_err(|_| "the recipient is not a valid address".to_owned())?;
    lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| format!("the message could not be built: {e}"))
}
