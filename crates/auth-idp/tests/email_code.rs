//! Passwordless sign-in by email code over real HTTP, the real store (SQLite and PostgreSQL) and
//! a real SMTP server (maildev): turned off (404 `disabled`), the code flow (a session, the
//! address verified, single use), 5 wrong codes, expiry, a code of another account, and the
//! enumeration equalities (status, body, timing; the limits).

mod idp_support;
#[path = "../../../tests/e2e/src/smtp.rs"]
mod smtp;

use auth_types::contract::FormError;
use auth_idp::{EmailVerification, IdpConfig};
use idp_support::{Jar, Kind, Resp, Server, TestDb, listener};
use serde_json::json;
use smtp::{Mail, Smtp};
use std::time::{Duration, Instant};

const PW: &str = "correct horse battery";
const WAIT: Duration = Duration::from_secs(20);

both_backends!(
    turned_off_is_404,
    code_signs_in,
    wrong_codes_expiry_and_other_accounts,
    answers_do_not_tell_known_from_unknown,
);

async fn start(
    db: &TestDb,
    smtp: &Smtp,
    on: bool,
    make: impl FnOnce(IdpConfig) -> IdpConfig,
) -> Server {
    let (listener, base) = listener().await;
    let mut config = make(idp_support::config(db, &base));
    config.email_verification = EmailVerification::Off;
    config.email_code_sign_in = on;
    config.mail.smtp_url = Some(smtp.url());
    let idp = auth_idp::Idp::connect(config).await.unwrap();
    Server::serve(idp, listener, base)
}

fn email(tag: &str) -> String {
    format!("{tag}-{}@code.test", idp_support::random_suffix())
}

fn code_in(mail: &Mail) -> String {
    assert!(mail.subject.contains("sign-in code"), "{}", mail.subject);
    mail.text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 8)
        .unwrap_or_else(|| panic!("no 8-digit code in: {}", mail.text))
        .to_owned()
}

async fn ask(s: &Server, email: &str) -> Resp {
    s.post_json(
        "/auth/email-code",
        json!({"email": email}),
        &mut Jar::default(),
    )
    .await
}

async fn confirm(s: &Server, email: &str, code: &str, jar: &mut Jar) -> Resp {
    s.post_json(
        "/auth/email-code/confirm",
        json!({"email": email, "code": code}),
        jar,
    )
    .await
}

fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    let said = r.body["error"].as_str().and_then(FormError::from_message);
    assert_eq!(said.map(FormError::code), Some(code), "{}", r.text);
    assert!(r.set_cookies().is_empty(), "{:?}", r.set_cookies());
}

/// A code that is not `code`.
fn other_than(code: &str, n: u32) -> String {
    format!("{:08}", (code.parse::<u32>().unwrap() + n) % 100_000_000)
}

async fn turned_off_is_404(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, false, |c| c).await;
    let addr = email("off");
    assert_eq!(s.sign_up(&addr, PW, &mut Jar::default()).await.status, 201);
    for r in [
        ask(&s, &addr).await,
        confirm(&s, &addr, "12345678", &mut Jar::default()).await,
    ] {
        assert_eq!(r.status, 404);
        assert_eq!(
            r.text,
            r#"{"error":"This feature is turned off"}"#
        );
    }
    assert_eq!(db.scalar("SELECT COUNT(*) FROM one_time_codes").await, 0);
}

async fn code_signs_in(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, true, |c| c).await;
    let addr = email("in");
    let mut old = Jar::default();
    assert_eq!(s.sign_up(&addr, PW, &mut old).await.status, 201);
    let r = ask(&s, &addr.to_uppercase()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["ok"], true);
    let code = code_in(&smtp.wait_for_mail(&addr, WAIT).await);

    let mut jar = Jar::default();
    let r = confirm(&s, &addr, &code, &mut jar).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user"]["email"], addr.as_str());
    assert_eq!(
        r.body["user"]["email_verified"], true,
        "the code proved the address"
    );
    let token = jar.cookies.get("__session").expect("a session").clone();
    let claims = idp_support::verify(&s.idp, &token).await.unwrap();
    assert_eq!(claims.email_verified, Some(true));
    // Single use.
    let r = confirm(&s, &addr, &code, &mut Jar::default()).await;
    assert_error(&r, 400, "invalid_code");
    // The password still works; the other session lives.
    assert_eq!(s.sign_in(&addr, PW, &mut Jar::default()).await.status, 200);
    assert!(matches!(
        idp_support::renew(&s.idp, &old).await,
        idp_support::Renewal::Renewed(_)
    ));

    // A form post: 303 to its redirect with the cookies; a wrong code back to the sign-in page
    // with the address.
    assert_eq!(ask(&s, &addr).await.status, 200);
    let code = code_in(&smtp.wait_for_mails(&addr, 2, WAIT).await[1]);
    let r = s
        .post_form(
            "/auth/email-code/confirm",
            &[
                ("email", &addr),
                ("code", &other_than(&code, 1)),
                ("redirect_url", "/dashboard"),
            ],
            &mut Jar::default(),
        )
        .await;
    assert_eq!(r.status, 303);
    let location = r.header("location").unwrap();
    assert!(
        location.starts_with("/sign-in?error=invalid_code"),
        "{location}"
    );
    assert!(location.contains("email="), "{location}");
    let mut form = Jar::default();
    let r = s
        .post_form(
            "/auth/email-code/confirm",
            &[
                ("email", &addr),
                ("code", &code),
                ("redirect_url", "/dashboard"),
            ],
            &mut form,
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/dashboard"));
    assert!(form.cookies.contains_key("__session"));
}

async fn wrong_codes_expiry_and_other_accounts(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, true, |c| c).await;
    let (a, b) = (email("a"), email("b"));
    assert_eq!(s.sign_up(&a, PW, &mut Jar::default()).await.status, 201);
    assert_eq!(s.sign_up(&b, PW, &mut Jar::default()).await.status, 201);
    assert_eq!(ask(&s, &a).await.status, 200);
    assert_eq!(ask(&s, &b).await.status, 200);
    let code_a = code_in(&smtp.wait_for_mail(&a, WAIT).await);
    let code_b = code_in(&smtp.wait_for_mail(&b, WAIT).await);

    // A's code on B's address: wrong (and counted against B's code).
    if code_a != code_b {
        let r = confirm(&s, &b, &code_a, &mut Jar::default()).await;
        assert_error(&r, 400, "invalid_code");
    }
    // Four more wrong codes on B: dead, the right one too.
    for n in 1..=3 {
        let r = confirm(&s, &b, &other_than(&code_b, n), &mut Jar::default()).await;
        assert_error(&r, 400, "invalid_code");
    }
    let last = confirm(&s, &b, &other_than(&code_b, 4), &mut Jar::default()).await;
    if code_a != code_b {
        assert_error(&last, 429, "code_locked");
    }
    let r = confirm(&s, &b, &code_b, &mut Jar::default()).await;
    assert_error(&r, 429, "code_locked");

    // A's code, expired.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    db.exec(&format!(
        "UPDATE one_time_codes SET expires_at = {} WHERE email = '{a}'",
        now - 1
    ))
    .await;
    let r = confirm(&s, &a, &code_a, &mut Jar::default()).await;
    assert_error(&r, 400, "invalid_code");
    // A verification code is no sign-in code.
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM one_time_codes WHERE purpose = 'sign_in_code'")
            .await,
        2
    );
    let r = confirm(&s, &a, "not a code", &mut Jar::default()).await;
    assert_error(&r, 400, "invalid_code");
    let r = confirm(&s, "nope", &code_a, &mut Jar::default()).await;
    assert_error(&r, 422, "invalid_email");
}

async fn answers_do_not_tell_known_from_unknown(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, true, |mut c| {
        c.rate_limit.address_max_failures = 1000;
        c
    })
    .await;
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
            let r = ask(&s, addr).await;
            times.push(at.elapsed());
            let answer = (r.status, r.text.clone());
            assert_eq!(answer.0, 200, "{}", answer.1);
            match &reference {
                None => reference = Some(answer),
                Some(first) => assert_eq!(&answer, first, "the same answer for {addr}"),
            }
        }
    }
    t_known.sort();
    t_unknown.sort();
    let (a, b) = (t_known[5], t_unknown[5]);
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    assert!(
        hi <= lo * 3 + Duration::from_millis(25),
        "email-code timing medians: known {a:?} vs unknown {b:?}"
    );
    for k in &known {
        smtp.wait_for_mails(k, 5, WAIT).await;
    }
    for u in &unknown {
        assert_eq!(smtp.count_for(u), 0);
    }
    let a = ask(&s, &known[0]).await;
    let b = ask(&s, &unknown[0]).await;
    assert_error(&a, 429, "rate_limited");
    assert_eq!((a.status, &a.text), (b.status, &b.text));
}
