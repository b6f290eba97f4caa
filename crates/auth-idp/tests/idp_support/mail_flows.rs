//! Helpers shared by the tests of the mailed flows (email verification, password reset,
//! email-code sign-in, account settings): a provider that mails to a real SMTP server
//! (maildev), the secrets read back from its mails, the error assertion, and the check that a
//! "mail me" endpoint does not tell a known address from an unknown one.

#[path = "../../../../tests/e2e/src/smtp.rs"]
pub mod smtp;

use super::{Jar, Resp, Server, TestDb, listener};
use auth_idp::{EmailVerification, Idp, IdpConfig};
use auth_types::contract::FormError;
use serde_json::json;
use smtp::{Mail, Smtp};
use std::time::{Duration, Instant};

pub const PW: &str = "correct horse battery";
pub const NEW_PW: &str = "a brand new passphrase";
/// How long a test waits for a mail to arrive.
pub const WAIT: Duration = Duration::from_secs(20);

/// A provider whose mail goes to `smtp` (none: mail is not configured), with `make` applied to
/// its config, and the bound listener and public URL to serve it on. Unless `make` turns it on,
/// no verification mail is sent at sign-up: each mailbox then holds only what the flow under
/// test sends.
pub async fn connect(
    db: &TestDb,
    smtp: Option<&Smtp>,
    make: impl FnOnce(IdpConfig) -> IdpConfig,
) -> (Idp, tokio::net::TcpListener, String) {
    let (listener, base) = listener().await;
    let mut config = super::config(db, &base);
    config.email_verification = EmailVerification::Off;
    config.mail.smtp_url = smtp.map(Smtp::url);
    let idp = Idp::connect(make(config)).await.unwrap();
    (idp, listener, base)
}

/// [`connect`] to `smtp`, served with the provider's whole stack.
pub async fn start(db: &TestDb, smtp: &Smtp, make: impl FnOnce(IdpConfig) -> IdpConfig) -> Server {
    let (idp, listener, base) = connect(db, Some(smtp), make).await;
    Server::serve(idp, listener, base)
}

/// A fresh address tagged `tag`.
pub fn email(tag: &str) -> String {
    format!("{tag}-{}@mail.test", super::random_suffix())
}

/// The 8-digit code of a mail.
pub fn code_in(mail: &Mail) -> String {
    mail.text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 8)
        .unwrap_or_else(|| panic!("no 8-digit code in: {}", mail.text))
        .to_owned()
}

/// An 8-digit code that is not `code` (for `n` in 1..100 000 000).
pub fn other_code(code: &str, n: u32) -> String {
    format!("{:08}", (code.parse::<u32>().unwrap() + n) % 100_000_000)
}

/// The token of the mail's `<base><page>?token=` link.
pub fn token_in(mail: &Mail, base: &str, page: &str) -> String {
    let prefix = format!("{base}{page}?token=");
    let at = mail
        .text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in: {}", mail.text));
    mail.text[at + prefix.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// A refusal: `status`, the message of the [`FormError`] `code`, and no cookie.
pub fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    let said = r.body["error"].as_str().and_then(FormError::from_message);
    assert_eq!(said.map(FormError::code), Some(code), "{}", r.text);
    assert!(
        r.set_cookies().is_empty(),
        "no cookie on an error: {:?}",
        r.set_cookies()
    );
}

/// A form post sent elsewhere: 303 to a location starting with `prefix`, which it returns.
pub fn assert_see_other<'r>(r: &'r Resp, prefix: &str) -> &'r str {
    assert_eq!(r.status, 303, "{}", r.text);
    let location = r.header("location").unwrap_or("<no location>");
    assert!(location.starts_with(prefix), "{location}");
    location
}

/// `POST /auth/password` (the settings' password change) with the jar's session.
pub async fn password_change(s: &Server, current: &str, new: &str, jar: &mut Jar) -> Resp {
    s.post_json(
        "/auth/password",
        json!({"current_password": current, "new_password": new}),
        jar,
    )
    .await
}

/// Unix seconds now (to move a stored time).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Generous: within 3× of each other plus 25 ms (loopback noise on a busy machine).
pub fn assert_similar(a: Duration, b: Duration, what: &str) {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    assert!(
        hi <= lo * 3 + Duration::from_millis(25),
        "{what}: medians {a:?} vs {b:?}"
    );
}

/// Checks that `ask` (a request about an address that mails the account a secret) does not
/// tell a known address from an unknown one. Two accounts and two free addresses, asked in
/// turns 10 times per side (5 per address: an address's budget): every answer the same 200 and
/// body, the timing medians of the two sides [similar](assert_similar); the accounts get their
/// 5 mails each, the free addresses none; and the sixth request for an address is refused alike
/// (429 `rate_limited`). The server's per-address failure limit must be out of the way.
pub async fn assert_answers_alike(
    s: &Server,
    smtp: &Smtp,
    what: &str,
    ask: impl AsyncFn(&Server, &str) -> Resp,
) {
    let known: Vec<String> = (0..2).map(|n| email(&format!("known{n}"))).collect();
    for k in &known {
        assert_eq!(s.sign_up(k, PW, &mut Jar::default()).await.status, 201);
    }
    let unknown: Vec<String> = (0..2).map(|n| email(&format!("unknown{n}"))).collect();

    let (mut t_known, mut t_unknown) = (Vec::new(), Vec::new());
    let mut reference: Option<(u16, String)> = None;
    for i in 0..10 {
        for (addr, times) in [
            (&known[i % 2], &mut t_known),
            (&unknown[i % 2], &mut t_unknown),
        ] {
            let at = Instant::now();
            let r = ask(s, addr).await;
            times.push(at.elapsed());
            let answer = (r.status, r.text.clone());
            assert_eq!(answer.0, 200, "{}", answer.1);
            match &reference {
                None => reference = Some(answer),
                Some(first) => assert_eq!(&answer, first, "the same answer for {addr}"),
            }
        }
    }
    assert_similar(
        median(t_known),
        median(t_unknown),
        &format!("{what} timing, known vs unknown"),
    );
    for k in &known {
        smtp.wait_for_mails(k, 5, WAIT).await;
    }
    for u in &unknown {
        assert_eq!(smtp.count_for(u), 0);
    }
    let a = ask(s, &known[0]).await;
    let b = ask(s, &unknown[0]).await;
    assert_error(&a, 429, "rate_limited");
    assert_eq!((a.status, &a.text), (b.status, &b.text));
}
