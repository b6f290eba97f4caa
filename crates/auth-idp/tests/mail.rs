//! The mailer against a real SMTP server (maildev, `cargo xtask install-tools`): every mail has a
//! text and an HTML part, the app name and URL, escaped values and only its own secret; an
//! unreachable server delays no caller, is retried and logged without the secret; a full queue
//! drops (logged); the dev mailbox (debug builds without SMTP) keeps the last 50, escaped; bad
//! mail settings name their variable.

mod idp_support;

use auth_idp::{Idp, IdpConfig, IdpError, MailSettings};
use idp_support::mail_flows::smtp::Smtp;
use idp_support::{Jar, Kind, Server, TestDb, config};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const APP: &str = "Acme & <Sons> \"Mail\"";
const APP_HTML: &str = "Acme &amp; &lt;Sons&gt; &quot;Mail&quot;";
const WAIT: Duration = Duration::from_secs(20);

fn settings(smtp_url: Option<String>) -> MailSettings {
    MailSettings {
        smtp_url,
        from: "Acme Accounts <no-reply@acme.test>".into(),
        app_name: APP.into(),
    }
}

async fn idp_with(db: &TestDb, public_url: &str, mail: MailSettings) -> Idp {
    let mut config = config(db, public_url);
    config.mail = mail;
    Idp::connect(config).await.unwrap()
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Everything the provider logs at info and above in this test binary (tests run in parallel:
/// each looks for its own recipient domain).
fn logs() -> String {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    let buf = LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || Sink(sink.clone()))
            .try_init()
            .expect("the only subscriber of this test binary");
        buf
    });
    String::from_utf8_lossy(&buf.lock().unwrap()).into_owned()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log lines that mention `needle`.
fn lines_with(needle: &str) -> Vec<String> {
    logs()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// Waits until `count` log lines mention both `needle` and `text`.
async fn wait_for_log(needle: &str, text: &str, count: usize, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let found: Vec<String> = lines_with(needle)
            .into_iter()
            .filter(|l| l.contains(text))
            .collect();
        if found.len() >= count {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no {count} log lines with {needle:?} and {text:?} after {timeout:?}; lines with \
             {needle:?}: {:#?}",
            lines_with(needle)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_reaches_the_smtp_server_with_both_parts_and_only_its_secret() {
    logs();
    let smtp = Smtp::start().await;
    let db = TestDb::new(Kind::Sqlite).await;
    let idp = idp_with(&db, "http://app.test:8080", settings(Some(smtp.url()))).await;

    let to = "verify@example.test";
    assert!(idp.send_mail_for_tests(to, "VerifyEmail", "40817263"));
    let mail = smtp.wait_for_mail(to, WAIT).await;
    let link = "http://app.test:8080/verify-email?token=40817263";
    assert_eq!(mail.subject, format!("Verify your email for {APP}"));
    assert!(mail.from.contains("no-reply@acme.test"), "{}", mail.from);
    // multipart/alternative: maildev found both parts.
    for part in [&mail.text, &mail.html] {
        assert!(part.contains("40817263"), "{part}");
        assert!(part.contains(link), "{part}");
        assert!(part.contains("http://app.test:8080"), "{part}");
    }
    assert!(mail.text.contains(APP), "{}", mail.text);
    assert!(mail.html.contains(APP_HTML), "{}", mail.html);
    assert!(
        !mail.html.contains("<Sons>"),
        "unescaped app name: {}",
        mail.html
    );
    assert!(
        mail.html.contains(&format!("href=\"{link}\"")),
        "{}",
        mail.html
    );

    // Every kind arrives, names the app, and a notice carries no secret at all.
    let kinds = [
        ("SignUpAttempt", ""),
        (
            "PasswordReset",
            "http://app.test:8080/reset-password?token=r3s3t",
        ),
        ("PasswordChanged", ""),
        ("ChangeEmailVerify", "55667788"),
        ("EmailChangeRequested", "new@example.test"),
        ("SignInCode", "99001122"),
        ("AccountDeleted", ""),
    ];
    for (kind, value) in kinds {
        let to = format!("{}@example.test", kind.to_lowercase());
        assert!(idp.send_mail_for_tests(&to, kind, value));
        let mail = smtp.wait_for_mail(&to, WAIT).await;
        assert!(mail.subject.contains(APP), "{kind}: {}", mail.subject);
        assert!(
            mail.text.contains(APP) && mail.html.contains(APP_HTML),
            "{kind}"
        );
        assert!(!mail.text.is_empty() && !mail.html.is_empty(), "{kind}");
        if !value.is_empty() {
            assert!(mail.text.contains(value), "{kind}: {}", mail.text);
            assert!(
                !mail.subject.contains(value),
                "{kind}: secret in the subject"
            );
        }
        if matches!(kind, "SignUpAttempt" | "PasswordChanged" | "AccountDeleted") {
            for part in [&mail.text, &mail.html] {
                assert!(!part.contains("token="), "{kind}: {part}");
                let longest_digits = part
                    .split(|c: char| !c.is_ascii_digit())
                    .map(str::len)
                    .max()
                    .unwrap_or(0);
                // The port (4 digits) is the longest number in a mail without a code.
                assert!(longest_digits < 6, "{kind}: a code-like number in {part}");
            }
        }
        assert_eq!(smtp.count_for(&to), 1, "{kind}: exactly one mail");
    }
    assert!(!idp.send_mail_for_tests(to, "NoSuchMail", ""));

    // Sent mail is logged with the recipient's domain and subject, never the code or link.
    let sent = wait_for_log("example.test", "mail sent", 8, WAIT).await;
    assert!(sent.iter().all(|l| !l.contains("verify@")), "{sent:#?}");
    for secret in ["40817263", "r3s3t", "55667788", "99001122"] {
        assert!(!logs().contains(secret), "{secret} in the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_delays_nothing_is_retried_and_the_sender_lives_on() {
    logs();
    let port = closed_port();
    let db = TestDb::new(Kind::Sqlite).await;
    let idp = idp_with(
        &db,
        "http://app.test",
        settings(Some(format!("smtp://127.0.0.1:{port}"))),
    )
    .await;

    let started = Instant::now();
    assert!(idp.send_mail_for_tests("someone@unreachable.test", "SignInCode", "31415926"));
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "send waited {:?}",
        started.elapsed()
    );
    // Tries 1 and 2 fail and wait (1 s, 4 s); try 3 gives up. About 5 s in all.
    let retries = wait_for_log("unreachable.test", "retrying", 2, WAIT).await;
    assert!(retries[0].contains("retrying in 1 s"), "{retries:#?}");
    assert!(retries[1].contains("retrying in 4 s"), "{retries:#?}");
    let gave_up = wait_for_log("unreachable.test", "not sent after 3 tries", 1, WAIT).await;
    assert!(gave_up[0].contains("WARN"), "{gave_up:#?}");
    assert!(
        gave_up[0].contains("Your Acme"),
        "the subject is logged: {gave_up:#?}"
    );
    assert!(!logs().contains("31415926"), "the code was logged");
    assert!(!logs().contains("someone@"), "the address was logged");

    // The sender task is still there: once a server listens on that port, mail goes out.
    let smtp = Smtp::start_on_port(port).await;
    assert!(idp.send_mail_for_tests("later@unreachable.test", "PasswordChanged", ""));
    let mail = smtp.wait_for_mail("later@unreachable.test", WAIT).await;
    assert!(
        mail.subject.contains("password was changed"),
        "{}",
        mail.subject
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_and_logs_without_waiting() {
    logs();
    let db = TestDb::new(Kind::Sqlite).await;
    let idp = idp_with(
        &db,
        "http://app.test",
        settings(Some(format!("smtp://127.0.0.1:{}", closed_port()))),
    )
    .await;
    // The first mail is in the sender's hands (retrying for 5 s), 1024 wait, the rest are dropped.
    let started = Instant::now();
    for i in 0..1035 {
        idp.send_mail_for_tests(&format!("u{i}@full-queue.test"), "SignInCode", "27182818");
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "queueing took {:?}",
        started.elapsed()
    );
    let dropped = lines_with("full-queue.test")
        .into_iter()
        .filter(|l| l.contains("the mail queue is full"))
        .count();
    assert!((10..=11).contains(&dropped), "{dropped} dropped");
    assert!(!logs().contains("27182818"), "the code was logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_mailbox_keeps_the_last_50_escaped() {
    logs();
    let db = TestDb::new(Kind::Sqlite).await;
    // The test build is a debug build: no SMTP URL means the dev mailbox.
    let server = Server::start_with(&db, |mut c: IdpConfig| {
        c.mail = settings(None);
        c
    })
    .await;
    let mut jar = Jar::default();
    let empty = server.get("/auth/dev/mailbox?format=json", &mut jar).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body["mails"].as_array().unwrap().len(), 0);

    for i in 0..55 {
        server
            .idp
            .send_mail_for_tests("dev@mailbox.test", "VerifyEmail", &format!("code{i:02}"));
    }
    let json = server.get("/auth/dev/mailbox?format=json", &mut jar).await;
    assert_eq!(json.status, 200);
    assert_eq!(json.header("cache-control"), Some("no-store"));
    let mails = json.body["mails"].as_array().unwrap();
    assert_eq!(mails.len(), 50);
    // Newest first; the 5 oldest are gone.
    assert_eq!(mails[0]["code"], "code54");
    assert_eq!(mails[49]["code"], "code05");
    let link = server.url("/verify-email?token=code54");
    assert_eq!(mails[0]["link"], link.as_str());
    assert_eq!(mails[0]["to"], "dev@mailbox.test");
    assert_eq!(mails[0]["subject"], format!("Verify your email for {APP}"));
    assert!(mails[0]["text"].as_str().unwrap().contains("code54"));
    assert!(mails[0]["html"].as_str().unwrap().contains(APP_HTML));
    // In a debug build the log has the code: that is how a developer signs in.
    wait_for_log("dev@mailbox.test", "code54", 1, WAIT).await;

    // Accept: application/json asks for the same.
    let by_accept = server
        .http
        .get(server.url("/auth/dev/mailbox"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let by_accept: serde_json::Value = by_accept.json().await.unwrap();
    assert_eq!(by_accept["mails"].as_array().unwrap().len(), 50);

    // The page: newest first, links clickable, every value escaped.
    server.idp.send_mail_for_tests(
        "dev@mailbox.test",
        "EmailChangeRequested",
        "<script>alert(1)</script>@evil.test",
    );
    let page = server.get("/auth/dev/mailbox", &mut jar).await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        page.header("content-type")
    );
    assert!(!page.text.contains("<script>"), "{}", page.text);
    assert!(!page.text.contains("<Sons>"), "{}", page.text);
    assert!(
        page.text
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;@evil.test")
    );
    assert!(page.text.contains(APP_HTML));
    assert!(
        page.text.contains(&format!("<a href=\"{link}\">")),
        "{}",
        page.text
    );
    let newest = page.text.find("is being changed").unwrap();
    let older = page.text.find("code54").unwrap();
    assert!(newest < older, "newest first");
    assert!(!page.text.contains("code04"), "only the last 50");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_mailbox_is_closed_when_smtp_is_configured() {
    let smtp = Smtp::start().await;
    let db = TestDb::new(Kind::Sqlite).await;
    let url = smtp.url();
    let server = Server::start_with(&db, move |mut c: IdpConfig| {
        c.mail = settings(Some(url));
        c
    })
    .await;
    server
        .idp
        .send_mail_for_tests("smtp@mailbox.test", "SignInCode", "12121212");
    let mut jar = Jar::default();
    let closed = server.get("/auth/dev/mailbox?format=json", &mut jar).await;
    assert_eq!(closed.status, 404);
    assert!(closed.error().contains("AUTH_SMTP_URL"), "{}", closed.text);
    smtp.wait_for_mail("smtp@mailbox.test", WAIT).await;
}

#[tokio::test]
async fn bad_mail_settings_name_their_variable() {
    let lookup = |vars: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    for (vars, var) in [
        (
            &[("AUTH_SMTP_URL", "smtp://user:hunter2@mail.example.com")][..],
            "AUTH_SMTP_URL",
        ),
        (
            &[("AUTH_SMTP_URL", "ftp://mail.example.com")][..],
            "AUTH_SMTP_URL",
        ),
        (
            &[("AUTH_SMTP_URL", "smtps://u:hunter2@")][..],
            "AUTH_SMTP_URL",
        ),
        (&[("AUTH_EMAIL_FROM", "no address")][..], "AUTH_EMAIL_FROM"),
        (
            &[("AUTH_APP_NAME", "Acme\nBcc: x@y.test")][..],
            "AUTH_APP_NAME",
        ),
    ] {
        let err = IdpConfig::from_lookup(lookup(vars))
            .unwrap_err()
            .to_string();
        assert!(err.contains(var), "{vars:?}: {err}");
        assert!(!err.contains("hunter2"), "{vars:?}: the password in {err}");
    }
    let ok = IdpConfig::from_lookup(lookup(&[
        ("AUTH_SMTP_URL", "smtps://user:hunter2@mail.example.com:465"),
        ("AUTH_EMAIL_FROM", "Acme <no-reply@acme.test>"),
        ("AUTH_APP_NAME", "Acme"),
    ]))
    .unwrap();
    assert_eq!(ok.mail.app_name, "Acme");
    assert!(!format!("{ok:?}").contains("hunter2"));
    assert!(!format!("{:?}", ok.mail).contains("hunter2"));

    // Settings made in code are checked when the provider starts.
    let db = TestDb::new(Kind::Sqlite).await;
    let mut bad = settings(None);
    bad.from = "nobody".into();
    let mut config = config(&db, "http://app.test");
    config.mail = bad;
    match Idp::connect(config).await {
        Err(IdpError::Config(e)) => assert!(e.to_string().contains("AUTH_EMAIL_FROM"), "{e}"),
        other => panic!("expected a config error, got {other:?}"),
    }
}
