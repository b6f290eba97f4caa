//! Password reset over real HTTP, the real store (SQLite and PostgreSQL) and a real SMTP server
//! (maildev): request → mail → confirm (policy, every old session dead, signed in fresh,
//! `Referrer-Policy: no-referrer`), token reuse, a new request voiding the old link, expiry (one
//! hour), another account's token, a link opened after a password change, two concurrent
//! confirms, and the enumeration equalities (status, body, timing; the limits).

mod idp_support;

use idp_support::mail_flows::smtp::{Mail, Smtp};
use idp_support::mail_flows::{
    NEW_PW, PW, WAIT, assert_answers_alike, assert_error, assert_see_other, email, now,
    password_change, start, token_in,
};
use idp_support::{Jar, Kind, Renewal, Resp, Server, TestDb, renew};
use serde_json::json;
use std::time::{Duration, Instant};

both_backends!(
    reset_flow,
    new_request_voids_the_old_link,
    expired_link_is_refused,
    link_after_a_password_change_is_dead,
    concurrent_confirms_one_wins,
    answers_do_not_tell_known_from_unknown,
);

// ---- harness ----------------------------------------------------------------------------------

async fn request(s: &Server, email: &str) -> Resp {
    s.post_json(
        "/auth/password-reset",
        json!({"email": email}),
        &mut Jar::default(),
    )
    .await
}

/// Requests a reset and returns the token of the `n`-th reset mail (1-based) to `email`.
async fn reset_token(s: &Server, smtp: &Smtp, email: &str, n: usize) -> String {
    let r = request(s, email).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let deadline = Instant::now() + WAIT;
    loop {
        let resets: Vec<Mail> = smtp
            .mails_for(email)
            .into_iter()
            .filter(|m| m.subject.contains("Reset your password"))
            .collect();
        if resets.len() >= n {
            return token_in(&resets[n - 1], &s.base, "/reset-password");
        }
        assert!(
            Instant::now() < deadline,
            "{} reset mails, expected {n}",
            resets.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn confirm(s: &Server, token: &str, password: &str, jar: &mut Jar) -> Resp {
    s.post_json(
        "/auth/password-reset/confirm",
        json!({"token": token, "new_password": password}),
        jar,
    )
    .await
}

// ---- tests ------------------------------------------------------------------------------------

async fn reset_flow(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, |c| c).await;
    let addr = email("flow");
    let other = email("other");
    let (mut laptop, mut phone) = (Jar::default(), Jar::default());
    assert_eq!(s.sign_up(&addr, PW, &mut laptop).await.status, 201);
    assert_eq!(s.sign_in(&addr, PW, &mut phone).await.status, 200);
    assert_eq!(s.sign_up(&other, PW, &mut Jar::default()).await.status, 201);

    let r = request(&s, &addr).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["ok"], true);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("If an account exists")
    );
    let mail = smtp.wait_for_mail(&addr, WAIT).await;
    let token = token_in(&mail, &s.base, "/reset-password");
    assert!(token.len() >= 43, "at least 256 bits: {token}");
    let expires = db.scalar("SELECT expires_at FROM one_time_codes").await;
    assert!(
        (now() + 59 * 60..=now() + 3600 + 5).contains(&expires),
        "an hour: {expires}"
    );

    // The policy of sign-up, checked before the token is spent.
    let mut browser = Jar::default();
    let r = confirm(&s, &token, "password", &mut browser).await;
    assert_error(&r, 422, "common_password");
    let r = confirm(&s, &token, "short", &mut browser).await;
    assert_error(&r, 422, "invalid_password");
    let r = confirm(&s, &token, &addr, &mut browser).await;
    assert_eq!(r.status, 422, "not the address: {}", r.text);
    // A form post with a refused password goes back to the page with its token.
    let r = s
        .post_form(
            "/auth/password-reset/confirm",
            &[("token", &token), ("new_password", "short")],
            &mut Jar::default(),
        )
        .await;
    let location = assert_see_other(&r, "/reset-password?error=invalid_password");
    assert!(location.contains(&format!("token={token}")), "{location}");
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));

    // The new password: signed in fresh, verified, every old session dead.
    let r = confirm(&s, &token, NEW_PW, &mut browser).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.body["user"]["email"], addr.as_str());
    assert_eq!(r.body["user"]["email_verified"], true);
    assert!(browser.cookies.contains_key("__session"));
    assert!(matches!(renew(&s.idp, &laptop).await, Renewal::Ended));
    assert!(matches!(renew(&s.idp, &phone).await, Renewal::Ended));
    assert!(matches!(renew(&s.idp, &browser).await, Renewal::Renewed(_)));
    assert_eq!(
        s.get("/auth/session", &mut laptop).await.body["auth"]["status"],
        "signed_out",
        "the old token names a revoked session"
    );
    let old = s.sign_in(&addr, PW, &mut Jar::default()).await;
    assert_error(&old, 401, "invalid_credentials");
    assert_eq!(
        s.sign_in(&addr, NEW_PW, &mut Jar::default()).await.status,
        200
    );
    // Another account is untouched.
    assert_eq!(s.sign_in(&other, PW, &mut Jar::default()).await.status, 200);

    // A notice to the owner, without a secret.
    let mails = smtp.wait_for_mails(&addr, 2, WAIT).await;
    assert!(
        mails[1].subject.contains("password was changed"),
        "{}",
        mails[1].subject
    );
    assert!(!mails[1].text.contains("token="));

    // Reuse: refused (JSON and form).
    let r = confirm(&s, &token, "yet another passphrase", &mut Jar::default()).await;
    assert_error(&r, 400, "invalid_token");
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let r = confirm(&s, "", NEW_PW, &mut Jar::default()).await;
    assert_error(&r, 400, "invalid_token");
    let r = s
        .post_json(
            "/auth/password-reset/confirm",
            json!({"token": token}),
            &mut Jar::default(),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["error"], "Missing or invalid fields", "{}", r.text);
}

async fn new_request_voids_the_old_link(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, |c| c).await;
    let addr = email("void");
    assert_eq!(s.sign_up(&addr, PW, &mut Jar::default()).await.status, 201);
    let first = reset_token(&s, &smtp, &addr, 1).await;
    let second = reset_token(&s, &smtp, &addr, 2).await;
    assert_ne!(first, second);
    let r = confirm(&s, &first, NEW_PW, &mut Jar::default()).await;
    assert_error(&r, 400, "invalid_token");
    let r = confirm(&s, &second, NEW_PW, &mut Jar::default()).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn expired_link_is_refused(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, |c| c).await;
    let addr = email("exp");
    assert_eq!(s.sign_up(&addr, PW, &mut Jar::default()).await.status, 201);
    let token = reset_token(&s, &smtp, &addr, 1).await;
    // An hour has passed.
    db.exec(&format!(
        "UPDATE one_time_codes SET expires_at = {}",
        now() - 1
    ))
    .await;
    let r = confirm(&s, &token, NEW_PW, &mut Jar::default()).await;
    assert_error(&r, 400, "invalid_token");
    assert_eq!(s.sign_in(&addr, PW, &mut Jar::default()).await.status, 200);
}

async fn link_after_a_password_change_is_dead(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, |c| c).await;
    let addr = email("changed");
    let mut jar = Jar::default();
    assert_eq!(s.sign_up(&addr, PW, &mut jar).await.status, 201);
    let token = reset_token(&s, &smtp, &addr, 1).await;
    // The owner remembers the password and changes it in the settings.
    let r = password_change(&s, PW, NEW_PW, &mut jar).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = confirm(&s, &token, "an attacker's passphrase", &mut Jar::default()).await;
    assert_error(&r, 400, "invalid_token");
    assert_eq!(
        s.sign_in(&addr, NEW_PW, &mut Jar::default()).await.status,
        200
    );

    // Also when the link was not voided (a change through another path): older than the
    // password, so refused.
    let token = reset_token(&s, &smtp, &addr, 2).await;
    db.exec(&format!(
        "UPDATE one_time_codes SET created_at = created_at - 10 WHERE used_at IS NULL; \
         UPDATE credentials SET updated_at = {}",
        now()
    ))
    .await;
    let r = confirm(&s, &token, "an attacker's passphrase", &mut Jar::default()).await;
    assert_error(&r, 400, "invalid_token");
}

async fn concurrent_confirms_one_wins(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, |c| c).await;
    let addr = email("race");
    assert_eq!(s.sign_up(&addr, PW, &mut Jar::default()).await.status, 201);
    let token = reset_token(&s, &smtp, &addr, 1).await;
    let passwords: Vec<String> = (0..6).map(|n| format!("racing passphrase {n}")).collect();
    let answers = futures_join(&s, &token, &passwords).await;
    let winners: Vec<usize> = (0..answers.len()).filter(|&i| answers[i] == 200).collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    assert!(answers.iter().all(|&a| a == 200 || a == 400), "{answers:?}");
    let won = &passwords[winners[0]];
    assert_eq!(s.sign_in(&addr, won, &mut Jar::default()).await.status, 200);
}

/// Sends one confirm per password at once; their statuses.
async fn futures_join(s: &Server, token: &str, passwords: &[String]) -> Vec<u16> {
    let mut tasks = Vec::new();
    for password in passwords {
        let req = s
            .http
            .post(s.url("/auth/password-reset/confirm"))
            .json(&json!({"token": token, "new_password": password}));
        tasks.push(tokio::spawn(async move {
            req.send().await.unwrap().status().as_u16()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn answers_do_not_tell_known_from_unknown(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, &smtp, |mut c| {
        c.rate_limit.address_max_failures = 1000;
        c
    })
    .await;
    assert_answers_alike(&s, &smtp, "reset", request).await;
    // Bad input is a 422 whoever asks.
    let r = request(&s, "not-an-address").await;
    assert_error(&r, 422, "invalid_email");
}
