//! Email verification over real HTTP, the real store (SQLite and PostgreSQL) and a real SMTP
//! server (maildev): the mail at sign-up, verifying by code and by link (in the same browser: the
//! session gets a fresh token; in another: a new session), `required` mode (no session until the
//! code, the same answer for a taken address, a fresh code at sign-in), single use, expiry,
//! another account's code, 5 wrong codes, resend, and `off`.

mod idp_support;

use auth_idp::{EmailVerification, IdpConfig};
use idp_support::mail_flows::smtp::Smtp;
use idp_support::mail_flows::{
    PW, WAIT, assert_error, assert_see_other, assert_similar, code_in, email, median, now,
    other_code, token_in,
};
use idp_support::{Jar, Kind, Resp, Server, TestDb};
use serde_json::{Value, json};
use std::time::Instant;

both_backends!(
    optional_sign_up_verifies_by_code_in_the_same_session,
    link_in_another_browser_signs_in,
    required_mode_holds_the_session_back,
    required_mode_taken_address_answers_the_same,
    five_wrong_codes_kill_the_secret,
    expired_secrets_are_refused,
    another_accounts_code_is_refused,
    resend_answers_the_same_and_is_limited,
    off_mode_sends_nothing,
);

// ---- harness ----------------------------------------------------------------------------------

/// A provider in verification `mode`.
async fn start(
    db: &TestDb,
    smtp: &Smtp,
    mode: EmailVerification,
    make: impl FnOnce(IdpConfig) -> IdpConfig,
) -> Server {
    idp_support::mail_flows::start(db, smtp, |c| IdpConfig {
        email_verification: mode,
        ..make(c)
    })
    .await
}

async fn session(s: &Server, jar: &mut Jar) -> Value {
    s.get("/auth/session", jar).await.body
}

/// The claims of the jar's session token.
async fn claims(s: &Server, jar: &Jar) -> auth_types::SessionClaims {
    let token = jar.cookies.get("__session").expect("a session cookie");
    idp_support::verify(&s.idp, token)
        .await
        .expect("a valid token")
}

async fn verify(s: &Server, body: Value, jar: &mut Jar) -> Resp {
    s.post_json("/auth/verify-email", body, jar).await
}

async fn resend(s: &Server, email: &str, jar: &mut Jar) -> Resp {
    s.post_json("/auth/verify-email/resend", json!({"email": email}), jar)
        .await
}

// ---- tests ------------------------------------------------------------------------------------

async fn optional_sign_up_verifies_by_code_in_the_same_session(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, EmailVerification::Optional, |c| c).await;
    let addr = email("opt");
    let mut jar = Jar::default();
    let up = s.sign_up(&addr, PW, &mut jar).await;
    assert_eq!(up.status, 201, "{}", up.text);
    assert_eq!(up.body["user"]["email_verified"], false);
    let before = claims(&s, &jar).await;
    assert_eq!(before.email_verified, Some(false));

    let mail = smtp.wait_for_mail(&addr, WAIT).await;
    assert!(
        mail.subject.contains("Verify your email"),
        "{}",
        mail.subject
    );
    let code = code_in(&mail);
    token_in(&mail, &s.base, "/verify-email");

    // A wrong code first: 400 invalid_code, counted, nothing changes.
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    let r = verify(&s, json!({"email": addr, "code": wrong}), &mut jar).await;
    assert_error(&r, 400, "invalid_code");

    // The code, typed with a space and the address in capitals: verified, same session.
    let spaced = format!("{} {}", &code[..4], &code[4..]);
    let r = verify(
        &s,
        json!({"email": addr.to_uppercase(), "code": spaced}),
        &mut jar,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user"]["email_verified"], true);
    assert_eq!(r.body["auth"]["email_verified"], true, "{}", r.text);
    let cookies = r.set_cookies();
    assert_eq!(cookies.len(), 1, "only a fresh session token: {cookies:?}");
    assert!(cookies[0].starts_with("__session="), "{cookies:?}");
    let after = claims(&s, &jar).await;
    assert_eq!(after.email_verified, Some(true));
    assert_eq!(after.sid, before.sid, "the same session");
    assert_eq!(session(&s, &mut jar).await["user"]["email_verified"], true);
    // The refresh secret still renews, with the claim.
    match idp_support::renew(&s.idp, &jar).await {
        idp_support::Renewal::Renewed(r) => assert_eq!(r.claims.email_verified, Some(true)),
        other => panic!("{other:?}"),
    }

    // Single use: the code and the link are spent.
    let r = verify(&s, json!({"email": addr, "code": code}), &mut jar).await;
    assert_error(&r, 400, "invalid_code");
    let token = token_in(&mail, &s.base, "/verify-email");
    let r = verify(&s, json!({"token": token}), &mut jar).await;
    assert_error(&r, 400, "invalid_token");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM one_time_codes WHERE used_at IS NULL")
            .await,
        0
    );
    // Nothing but hashes in the table.
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM one_time_codes WHERE token_hash = '{token}' OR code_hash = '{code}'"
        ))
        .await,
        0
    );

    // Missing fields: 422; a form post goes back to the page with the code and address.
    let r = verify(&s, json!({}), &mut jar).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["error"], "Missing or invalid fields", "{}", r.text);
    let r = s
        .post_form(
            "/auth/verify-email",
            &[
                ("email", &addr),
                ("code", "12345678"),
                ("redirect_url", "/dashboard"),
            ],
            &mut Jar::default(),
        )
        .await;
    assert_see_other(
        &r,
        "/verify-email?error=invalid_code&redirect_url=%2Fdashboard&email=",
    );
}

async fn link_in_another_browser_signs_in(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, EmailVerification::Optional, |c| c).await;
    let addr = email("link");
    let mut first = Jar::default();
    assert_eq!(s.sign_up(&addr, PW, &mut first).await.status, 201);
    let first_sid = claims(&s, &first).await.sid;
    let mail = smtp.wait_for_mail(&addr, WAIT).await;
    let token = token_in(&mail, &s.base, "/verify-email");

    // Another browser, signed in as someone else: the link signs it in as the owner, and its
    // previous session ends.
    let mut other = Jar::default();
    assert_eq!(s.sign_up(&email("other"), PW, &mut other).await.status, 201);
    let other_before = other.clone();
    let r = s
        .post_form(
            "/auth/verify-email",
            &[("token", &token), ("redirect_url", "/dashboard")],
            &mut other,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location"), Some("/dashboard"));
    let c = claims(&s, &other).await;
    assert_eq!(c.email_verified, Some(true));
    assert_ne!(c.sid, first_sid, "a new session");
    assert_eq!(
        session(&s, &mut other).await["user"]["email"],
        addr.as_str()
    );
    assert!(matches!(
        idp_support::renew(&s.idp, &other_before).await,
        idp_support::Renewal::Ended
    ));
    // The first browser's session lives on (its token says unverified until it renews).
    match idp_support::renew(&s.idp, &first).await {
        idp_support::Renewal::Renewed(r) => assert_eq!(r.claims.email_verified, Some(true)),
        other => panic!("{other:?}"),
    }
    // Reused: refused, and a form goes back to the page with the code.
    let r = s
        .post_form(
            "/auth/verify-email",
            &[("token", &token)],
            &mut Jar::default(),
        )
        .await;
    assert_see_other(&r, "/verify-email?error=invalid_token");
    assert!(r.set_cookies().is_empty());
    // Garbage tokens: the same 400.
    for bad in ["x", &"A".repeat(43), &"é".repeat(300)] {
        let r = verify(&s, json!({"token": bad}), &mut Jar::default()).await;
        assert_error(&r, 400, "invalid_token");
    }
}

async fn required_mode_holds_the_session_back(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, EmailVerification::Required, |c| c).await;
    let addr = email("req");
    let mut jar = Jar::default();
    let up = s.sign_up(&addr, PW, &mut jar).await;
    assert_eq!(up.status, 202, "{}", up.text);
    assert_eq!(
        up.body,
        json!({"verification_required": true, "email": addr})
    );
    assert!(up.set_cookies().is_empty(), "no session yet");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM sessions").await, 0);
    let first = smtp.wait_for_mail(&addr, WAIT).await;
    let first_code = code_in(&first);

    // The form post: back to the sign-up page, asking for the code.
    let form = s
        .post_form(
            "/auth/sign-up",
            &[("email", &email("form")), ("password", PW)],
            &mut Jar::default(),
        )
        .await;
    assert_see_other(&form, "/sign-up?error=verification_required");
    assert!(form.set_cookies().is_empty());

    // Sign-in: a wrong password is still a wrong password; the right one mails a fresh code and
    // answers the same "verification required", without a session.
    let r = s.sign_in(&addr, "not the password", &mut jar).await;
    assert_error(&r, 401, "invalid_credentials");
    let r = s.sign_in(&addr, PW, &mut jar).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"verification_required": true, "email": addr})
    );
    assert!(r.set_cookies().is_empty());
    assert!(jar.cookies.is_empty());
    let mails = smtp.wait_for_mails(&addr, 2, WAIT).await;
    let code = code_in(&mails[1]);
    // The first code was replaced.
    let r = verify(&s, json!({"email": addr, "code": first_code}), &mut jar).await;
    if first_code != code {
        assert_error(&r, 400, "invalid_code");
    }
    assert_eq!(db.scalar("SELECT COUNT(*) FROM sessions").await, 0);

    // The code: verified and signed in.
    let r = verify(&s, json!({"email": addr, "code": code}), &mut jar).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user"]["email_verified"], true);
    assert_eq!(claims(&s, &jar).await.email_verified, Some(true));
    assert_eq!(session(&s, &mut jar).await["user"]["email"], addr.as_str());
    // From now on a plain sign-in.
    let mut again = Jar::default();
    let r = s.sign_in(&addr, PW, &mut again).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(claims(&s, &again).await.email_verified, Some(true));
}

async fn required_mode_taken_address_answers_the_same(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, EmailVerification::Required, |mut c| {
        c.rate_limit.sign_up_per_address = 1000;
        c
    })
    .await;
    // A verified owner.
    let owner = email("owner");
    assert_eq!(s.sign_up(&owner, PW, &mut Jar::default()).await.status, 202);
    let code = code_in(&smtp.wait_for_mail(&owner, WAIT).await);
    let r = verify(
        &s,
        json!({"email": owner, "code": code}),
        &mut Jar::default(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Taken and new addresses: the same status, body (but for the echoed address) and cookies.
    let taken = s
        .sign_up(&owner, "another good passphrase", &mut Jar::default())
        .await;
    let fresh_addr = email("fresh");
    let fresh = s.sign_up(&fresh_addr, PW, &mut Jar::default()).await;
    assert_eq!(taken.status, 202, "{}", taken.text);
    assert_eq!(fresh.status, taken.status);
    assert_eq!(
        taken.body,
        json!({"verification_required": true, "email": owner})
    );
    assert_eq!(
        fresh.body,
        json!({"verification_required": true, "email": fresh_addr})
    );
    assert_eq!(taken.set_cookies(), fresh.set_cookies());
    // A weak password is refused alike.
    let weak_taken = s.sign_up(&owner, "password", &mut Jar::default()).await;
    let weak_fresh = s
        .sign_up(&email("weak"), "password", &mut Jar::default())
        .await;
    assert_eq!(weak_taken.status, weak_fresh.status);
    assert_eq!(weak_taken.text, weak_fresh.text);

    // The owner is told, with no secret; the account and its password are unchanged.
    let mails = smtp.wait_for_mails(&owner, 2, WAIT).await;
    assert!(
        mails[1].subject.contains("Sign-up attempt"),
        "{}",
        mails[1].subject
    );
    assert!(!mails[1].text.contains("token="), "{}", mails[1].text);
    assert_eq!(s.sign_in(&owner, PW, &mut Jar::default()).await.status, 200);

    // Timing: medians of 9 sign-ups each, taken vs new.
    let (mut t_taken, mut t_fresh) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        let at = Instant::now();
        let r = s.sign_up(&owner, PW, &mut Jar::default()).await;
        t_taken.push(at.elapsed());
        assert_eq!(r.status, 202);
        let at = Instant::now();
        let r = s.sign_up(&email("t"), PW, &mut Jar::default()).await;
        t_fresh.push(at.elapsed());
        assert_eq!(r.status, 202);
    }
    assert_similar(median(t_taken), median(t_fresh), "required-mode sign-up");
}

async fn five_wrong_codes_kill_the_secret(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, EmailVerification::Optional, |c| c).await;
    let addr = email("lock");
    let mut jar = Jar::default();
    assert_eq!(s.sign_up(&addr, PW, &mut jar).await.status, 201);
    let mail = smtp.wait_for_mail(&addr, WAIT).await;
    let code = code_in(&mail);
    let wrong: Vec<String> = (1..=5).map(|n| other_code(&code, n)).collect();
    for w in &wrong[..4] {
        let r = verify(&s, json!({"email": addr, "code": w}), &mut jar).await;
        assert_error(&r, 400, "invalid_code");
    }
    // Not a code at all: not counted.
    let r = verify(&s, json!({"email": addr, "code": "12ab"}), &mut jar).await;
    assert_error(&r, 400, "invalid_code");
    assert_eq!(
        db.scalar("SELECT attempts FROM one_time_codes").await,
        4,
        "four wrong codes counted"
    );
    let r = verify(&s, json!({"email": addr, "code": wrong[4]}), &mut jar).await;
    assert_error(&r, 429, "code_locked");
    // Dead: the right code and the link too.
    let r = verify(&s, json!({"email": addr, "code": code}), &mut jar).await;
    assert_error(&r, 429, "code_locked");
    let token = token_in(&mail, &s.base, "/verify-email");
    let r = verify(&s, json!({"token": token}), &mut jar).await;
    assert_error(&r, 400, "invalid_token");
    assert_eq!(claims(&s, &jar).await.email_verified, Some(false));

    // A new code (resend) works.
    let r = resend(&s, &addr, &mut jar).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mails = smtp.wait_for_mails(&addr, 2, WAIT).await;
    let r = verify(
        &s,
        json!({"email": addr, "code": code_in(&mails[1])}),
        &mut jar,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(claims(&s, &jar).await.email_verified, Some(true));
}

async fn expired_secrets_are_refused(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, EmailVerification::Optional, |c| c).await;
    let addr = email("exp");
    let mut jar = Jar::default();
    assert_eq!(s.sign_up(&addr, PW, &mut jar).await.status, 201);
    let mail = smtp.wait_for_mail(&addr, WAIT).await;
    // Issued 15 minutes ago (a second past its life): as if the clock had moved on.
    let now = now();
    let expires = db.scalar("SELECT expires_at FROM one_time_codes").await;
    assert!(
        (now + 14 * 60..=now + 15 * 60 + 5).contains(&expires),
        "15 minutes: {expires}"
    );
    db.exec(&format!(
        "UPDATE one_time_codes SET expires_at = {}",
        now - 1
    ))
    .await;
    let r = verify(&s, json!({"email": addr, "code": code_in(&mail)}), &mut jar).await;
    assert_error(&r, 400, "invalid_code");
    let r = verify(
        &s,
        json!({"token": token_in(&mail, &s.base, "/verify-email")}),
        &mut jar,
    )
    .await;
    assert_error(&r, 400, "invalid_token");
    assert_eq!(session(&s, &mut jar).await["user"]["email_verified"], false);
}

async fn another_accounts_code_is_refused(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, EmailVerification::Optional, |c| c).await;
    let (a, b) = (email("a"), email("b"));
    let (mut ja, mut jb) = (Jar::default(), Jar::default());
    assert_eq!(s.sign_up(&a, PW, &mut ja).await.status, 201);
    assert_eq!(s.sign_up(&b, PW, &mut jb).await.status, 201);
    let code_a = code_in(&smtp.wait_for_mail(&a, WAIT).await);
    let code_b = code_in(&smtp.wait_for_mail(&b, WAIT).await);
    // B signed in, with A's code on B's address (unless the codes happen to be equal).
    if code_a != code_b {
        let r = verify(&s, json!({"email": b, "code": code_a}), &mut jb).await;
        assert_error(&r, 400, "invalid_code");
    }
    // A's code with A's address, from B's browser: proves A's mailbox, signs in as A.
    let r = verify(&s, json!({"email": a, "code": code_a}), &mut jb).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user"]["email"], a.as_str());
    // B is still unverified.
    let r = s.sign_in(&b, PW, &mut Jar::default()).await;
    assert_eq!(r.body["user"]["email_verified"], false);
}

async fn resend_answers_the_same_and_is_limited(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, EmailVerification::Optional, |c| c).await;
    let known = email("known");
    assert_eq!(s.sign_up(&known, PW, &mut Jar::default()).await.status, 201);
    smtp.wait_for_mail(&known, WAIT).await;
    let unknown = email("unknown");
    let a = resend(&s, &known, &mut Jar::default()).await;
    let b = resend(&s, &unknown, &mut Jar::default()).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!((a.status, &a.text), (b.status, &b.text));
    assert_eq!(a.body["ok"], true);
    smtp.wait_for_mails(&known, 2, WAIT).await;
    // Per address: five in the window, then 429 (known or not).
    for _ in 0..4 {
        let r = resend(&s, &unknown, &mut Jar::default()).await;
        assert_eq!(r.status, 200);
    }
    let r = resend(&s, &unknown, &mut Jar::default()).await;
    assert_error(&r, 429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    // An invalid address is a 422, as everywhere.
    let r = resend(&s, "nope", &mut Jar::default()).await;
    assert_error(&r, 422, "invalid_email");
    // A form post: 303 on to the page that takes the code, for this address, keeping its
    // redirect.
    let f = email("f");
    let r = s
        .post_form(
            "/auth/verify-email/resend",
            &[("email", &f), ("redirect_url", "/dashboard")],
            &mut Jar::default(),
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        Some(
            format!(
                "/verify-email?email={}&redirect_url=%2Fdashboard",
                f.replace('@', "%40")
            )
            .as_str()
        )
    );
    assert_eq!(smtp.count_for(&unknown), 0);
}

async fn off_mode_sends_nothing(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, EmailVerification::Off, |c| c).await;
    let addr = email("off");
    let mut jar = Jar::default();
    assert_eq!(s.sign_up(&addr, PW, &mut jar).await.status, 201);
    let r = resend(&s, &addr, &mut jar).await;
    assert_eq!(r.status, 200);
    // A reset mail queued after both arrives alone: nothing was sent before it.
    let r = s
        .post_json("/auth/password-reset", json!({"email": addr}), &mut jar)
        .await;
    assert_eq!(r.status, 200);
    let mails = smtp.wait_for_mails(&addr, 1, WAIT).await;
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].subject.contains("Reset your password"),
        "{}",
        mails[0].subject
    );
    assert_eq!(claims(&s, &jar).await.email_verified, Some(false));
}
