//! Passwordless sign-in by email code over real HTTP, the real store (SQLite and PostgreSQL) and
//! a real SMTP server (maildev): turned off (404 `disabled`), the code flow (a session, the
//! address verified, single use), 5 wrong codes, expiry, a code of another account, and the
//! enumeration equalities (status, body, timing; the limits).

mod idp_support;

use auth_idp::IdpConfig;
use idp_support::mail_flows::smtp::{Mail, Smtp};
use idp_support::mail_flows::{
    PW, WAIT, assert_answers_alike, assert_error, assert_see_other, code_in, email, now, other_code,
};
use idp_support::{Jar, Kind, Resp, Server, TestDb};
use serde_json::json;

both_backends!(
    turned_off_is_404,
    code_signs_in,
    wrong_codes_expiry_and_other_accounts,
    answers_do_not_tell_known_from_unknown,
    a_plain_form_goes_on_to_the_code_step,
);

/// A provider with email-code sign-in `on`.
async fn start(
    db: &TestDb,
    smtp: &Smtp,
    on: bool,
    make: impl FnOnce(IdpConfig) -> IdpConfig,
) -> Server {
    idp_support::mail_flows::start(db, smtp, |c| IdpConfig {
        email_code_sign_in: on,
        ..make(c)
    })
    .await
}

/// The code of a sign-in code mail.
fn sign_in_code(mail: &Mail) -> String {
    assert!(mail.subject.contains("sign-in code"), "{}", mail.subject);
    code_in(mail)
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
        assert_eq!(r.text, r#"{"error":"This feature is turned off"}"#);
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
    let code = sign_in_code(&smtp.wait_for_mail(&addr, WAIT).await);

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
    let code = sign_in_code(&smtp.wait_for_mails(&addr, 2, WAIT).await[1]);
    let r = s
        .post_form(
            "/auth/email-code/confirm",
            &[
                ("email", &addr),
                ("code", &other_code(&code, 1)),
                ("redirect_url", "/dashboard"),
            ],
            &mut Jar::default(),
        )
        .await;
    let location = assert_see_other(&r, "/sign-in?error=invalid_code");
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
    let code_a = sign_in_code(&smtp.wait_for_mail(&a, WAIT).await);
    let code_b = sign_in_code(&smtp.wait_for_mail(&b, WAIT).await);

    // A's code on B's address: wrong (and counted against B's code).
    if code_a != code_b {
        let r = confirm(&s, &b, &code_a, &mut Jar::default()).await;
        assert_error(&r, 400, "invalid_code");
    }
    // Four more wrong codes on B: dead, the right one too.
    for n in 1..=3 {
        let r = confirm(&s, &b, &other_code(&code_b, n), &mut Jar::default()).await;
        assert_error(&r, 400, "invalid_code");
    }
    let last = confirm(&s, &b, &other_code(&code_b, 4), &mut Jar::default()).await;
    if code_a != code_b {
        assert_error(&last, 429, "code_locked");
    }
    let r = confirm(&s, &b, &code_b, &mut Jar::default()).await;
    assert_error(&r, 429, "code_locked");

    // A's code, expired.
    db.exec(&format!(
        "UPDATE one_time_codes SET expires_at = {} WHERE email = '{a}'",
        now() - 1
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
    assert_answers_alike(&s, &smtp, "email-code", ask).await;
}

/// Before the wasm loads, "Email me a code" is a plain form post: it is sent on to the sign-in
/// page's code step for that address (the same for an unknown address), and the code it mails
/// signs in through the code step's own plain form.
async fn a_plain_form_goes_on_to_the_code_step(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, true, |c| c).await;
    let addr = email("form");
    assert_eq!(s.sign_up(&addr, PW, &mut Jar::default()).await.status, 201);
    for (to, tag) in [(addr.as_str(), "known"), ("nobody@mail.test", "unknown")] {
        let r = s
            .post_form(
                "/auth/email-code",
                &[("email", to), ("redirect_url", "/dashboard")],
                &mut Jar::default(),
            )
            .await;
        let location = assert_see_other(&r, "/sign-in?");
        let query: Vec<(String, String)> =
            url::form_urlencoded::parse(location.split_once('?').map_or("", |(_, q)| q).as_bytes())
                .into_owned()
                .collect();
        for pair in [
            ("email", to),
            ("redirect_url", "/dashboard"),
            ("code_sent", "1"),
        ] {
            assert!(
                query.contains(&(pair.0.to_owned(), pair.1.to_owned())),
                "{tag}: {location}"
            );
        }
    }
    let code = sign_in_code(&smtp.wait_for_mail(&addr, WAIT).await);
    let mut jar = Jar::default();
    let r = s
        .post_form(
            "/auth/email-code/confirm",
            &[
                ("email", &addr),
                ("code", &code),
                ("redirect_url", "/dashboard"),
            ],
            &mut jar,
        )
        .await;
    assert_eq!(assert_see_other(&r, "/dashboard"), "/dashboard");
    assert!(jar.header().is_some(), "signed in: {:?}", r.set_cookies());
}
