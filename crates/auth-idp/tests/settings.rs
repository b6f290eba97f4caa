//! Account settings over real HTTP and the real store (SQLite and PostgreSQL), with mail read
//! from a real SMTP server: changing the password (other sessions die, reset links are voided),
//! changing the email (no enumeration of taken addresses), the sessions list and its
//! revocations (another account's session is a 404 and stays live), and deleting the account.

mod idp_support;

use auth_server::{AuthConfig, RequireAuth};
use axum::Router;
use axum::routing::get;
use idp_support::mail_flows::smtp::Smtp;
use idp_support::mail_flows::{
    NEW_PW, PW, WAIT, assert_see_other, code_in, connect, password_change, token_in,
};
use idp_support::{Jar, Kind, Renewal, Resp, Server, TestDb, renew};
use serde_json::{Value, json};
use std::time::Duration;

const FIREFOX_LINUX: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
     (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

both_backends!(
    settings_need_a_live_session,
    change_password,
    an_account_without_a_password_sets_one,
    wrong_passwords_count_against_the_sign_in_limits,
    change_email,
    change_email_to_a_taken_address_answers_the_same,
    sessions_list_and_revoke,
    another_accounts_session_is_not_found,
    revoked_session_stops_working,
    delete_account,
);

// ---- harness ----------------------------------------------------------------------------------

/// A provider whose mail goes to `smtp`, with `/api/me` (a route that only verifies the token)
/// beside its routes, and `make` applied to its config.
async fn start(
    db: &TestDb,
    smtp: Option<&Smtp>,
    make: impl FnOnce(auth_idp::IdpConfig) -> auth_idp::IdpConfig,
) -> Server {
    let (idp, listener, base) = connect(db, smtp, make).await;
    let app: Router = idp
        .stack(AuthConfig::embedded())
        .unwrap()
        .apply(Router::new().route(
            "/api/me",
            get(|a: RequireAuth| async move { a.user_id().to_string() }),
        ));
    Server::serve_app(idp, listener, base, app)
}

/// A jar whose requests carry `user_agent`.
fn browser(user_agent: &str) -> Jar {
    let mut jar = Jar::default();
    jar.extra.push(("user-agent", user_agent.to_owned()));
    jar
}

/// `DELETE path` with the jar's cookies.
async fn delete(s: &Server, path: &str, jar: &mut Jar) -> Resp {
    let mut req = s.http.delete(s.url(path));
    if let Some(c) = jar.header() {
        req = req.header("cookie", c);
    }
    for (k, v) in &jar.extra {
        req = req.header(*k, v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    jar.absorb(&headers);
    let text = r.text().await.unwrap();
    Resp {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
        text,
    }
}

async fn signed_up(s: &Server, email: &str, jar: &mut Jar) -> String {
    let r = s.sign_up(email, PW, jar).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["user"]["id"].as_str().unwrap().to_owned()
}

async fn signed_in(s: &Server, email: &str, password: &str, jar: &mut Jar) {
    let r = s.sign_in(email, password, jar).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn status(s: &Server, jar: &mut Jar) -> String {
    s.get("/auth/session", jar).await.body["auth"]["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The session id (`sid`) of the jar's token.
async fn sid(s: &Server, jar: &Jar) -> String {
    idp_support::verify(&s.idp, &jar.cookies["__session"])
        .await
        .expect("a valid token")
        .sid
        .unwrap()
}

async fn sessions(s: &Server, jar: &mut Jar) -> Vec<Value> {
    let r = s.get("/auth/sessions", jar).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.body["sessions"].as_array().unwrap().clone()
}

/// `POST /auth/email` (JSON): move the account to `email`, confirmed by `password`.
async fn email_change(s: &Server, email: &str, password: &str, jar: &mut Jar) -> Resp {
    s.post_json(
        "/auth/email",
        json!({"email": email, "password": password}),
        jar,
    )
    .await
}

/// The form twin of [`email_change`], with the right password.
async fn email_change_form(s: &Server, email: &str, jar: &mut Jar) -> Resp {
    s.post_form("/auth/email", &[("email", email), ("password", PW)], jar)
        .await
}

fn location(r: &Resp) -> &str {
    r.header("location").unwrap_or("<no location>")
}

/// A live mailed secret of `purpose` for the user, as the flows module stores one.
async fn insert_secret(db: &TestDb, id: &str, user_id: &str, purpose: &str) {
    db.exec(&format!(
        "INSERT INTO one_time_codes (id, purpose, user_id, email, token_hash, code_hash, \
         attempts, created_at, expires_at, used_at) VALUES ('{id}', '{purpose}', '{user_id}', \
         'x@example.com', 'hash-{id}', 'code-{id}', 0, 0, 99999999999, NULL)"
    ))
    .await;
}

async fn used(db: &TestDb, id: &str) -> bool {
    db.scalar(&format!(
        "SELECT COUNT(*) FROM one_time_codes WHERE id = '{id}' AND used_at IS NOT NULL"
    ))
    .await
        == 1
}

// ---- tests ------------------------------------------------------------------------------------

/// Signed out: 401 from every endpoint (JSON), and a form goes back to the profile page. A token
/// whose session was revoked (still valid for its lifetime) is refused the same, with its
/// cookies cleared.
async fn settings_need_a_live_session(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = start(&db, None, |c| c).await;
    let mut nobody = Jar::default();
    let bodies = [
        (
            "/auth/password",
            json!({"current_password": PW, "new_password": NEW_PW}),
        ),
        (
            "/auth/email",
            json!({"email": "new@example.com", "password": PW}),
        ),
        ("/auth/account/delete", json!({"password": PW})),
        ("/auth/sessions/revoke-others", json!({})),
        ("/auth/sessions/sess_x/revoke", json!({})),
    ];
    for (path, body) in &bodies {
        let r = s.post_json(path, body.clone(), &mut nobody).await;
        assert_eq!(r.status, 401, "{path}: {}", r.text);
        assert_eq!(r.error(), "Unauthorized", "{path}");
    }
    assert_eq!(s.get("/auth/sessions", &mut nobody).await.status, 401);
    assert_eq!(
        delete(&s, "/auth/sessions/sess_x", &mut nobody)
            .await
            .status,
        401
    );
    let r = s
        .post_form("/auth/account/delete", &[("password", PW)], &mut nobody)
        .await;
    assert_see_other(&r, "/profile?error=unauthorized");

    // A session revoked elsewhere: its token still verifies, the endpoints refuse it.
    let mut jar = Jar::default();
    signed_up(&s, "live@example.com", &mut jar).await;
    let mut other = Jar::default();
    signed_in(&s, "live@example.com", PW, &mut other).await;
    let r = s
        .post_json("/auth/sessions/revoke-others", json!({}), &mut jar)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        idp_support::verify(&s.idp, &other.cookies["__session"])
            .await
            .is_some()
    );
    let r = password_change(&s, PW, NEW_PW, &mut other).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(
        other.cookies.is_empty(),
        "cookies cleared: {:?}",
        other.cookies
    );
    // Malformed bodies are 4xx, never a 500.
    let r = s
        .post_json("/auth/password", json!({"x": 1}), &mut jar)
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = s.post_json("/auth/email", json!([]), &mut jar).await;
    assert_eq!(r.status, 422, "{}", r.text);
}

async fn change_password(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, Some(&smtp), |c| c).await;
    let email = "pat@example.com";
    let mut jar = Jar::default();
    let user_id = signed_up(&s, email, &mut jar).await;
    let mut laptop = Jar::default();
    signed_in(&s, email, PW, &mut laptop).await;
    let mut phone = Jar::default();
    signed_in(&s, email, PW, &mut phone).await;
    for (id, purpose) in [
        ("otc_reset", "password_reset"),
        ("otc_change", "change_email"),
        ("otc_verify", "verify_email"),
    ] {
        insert_secret(&db, id, &user_id, purpose).await;
    }

    // Failures: wrong current password (403), a new password against the policy (422).
    let r = password_change(&s, "not my password", NEW_PW, &mut jar).await;
    assert_eq!(
        (r.status, r.error()),
        (403, "The current password is wrong"),
        "{}",
        r.text
    );
    let r = password_change(&s, PW, "Password123", &mut jar).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = password_change(&s, PW, "short", &mut jar).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = s
        .post_form(
            "/auth/password",
            &[
                ("current_password", "nope nope nope"),
                ("new_password", NEW_PW),
            ],
            &mut jar,
        )
        .await;
    assert_see_other(&r, "/profile?error=wrong_password");
    assert!(!used(&db, "otc_reset").await, "nothing changed yet");

    // Success (JSON): this session stays, the others die at once (their refresh is refused).
    let r = password_change(&s, PW, NEW_PW, &mut jar).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["ok"], true);
    assert_eq!(r.body["redirect_url"], "/profile");
    assert!(r.set_cookies().is_empty(), "the session is kept");
    assert_eq!(status(&s, &mut jar).await, "signed_in");
    for other in [&laptop, &phone] {
        assert!(matches!(renew(&s.idp, other).await, Renewal::Ended));
    }
    assert_eq!(status(&s, &mut laptop).await, "signed_out");
    assert_eq!(sessions(&s, &mut jar).await.len(), 1);

    // Outstanding reset links and email changes are void; a verification code is not.
    assert!(used(&db, "otc_reset").await);
    assert!(used(&db, "otc_change").await);
    assert!(!used(&db, "otc_verify").await);

    // The old password is dead, the new one signs in.
    let r = s.sign_in(email, PW, &mut Jar::default()).await;
    assert_eq!(r.status, 401, "{}", r.text);
    signed_in(&s, email, NEW_PW, &mut Jar::default()).await;

    let mail = smtp.wait_for_mail(email, WAIT).await;
    assert!(
        mail.subject.to_lowercase().contains("password"),
        "{}",
        mail.subject
    );
    assert!(!mail.text.contains(NEW_PW), "no secret in the notice");

    // Form post: 303 to the chosen page.
    let r = s
        .post_form(
            "/auth/password",
            &[
                ("current_password", NEW_PW),
                ("new_password", "yet another passphrase"),
                ("redirect_url", "/profile?changed=1"),
            ],
            &mut jar,
        )
        .await;
    assert_eq!((r.status, location(&r)), (303, "/profile?changed=1"));
    signed_in(&s, email, "yet another passphrase", &mut Jar::default()).await;
}

/// Wrong passwords at a settings endpoint are failed sign-ins of the account: the pair's budget
/// (here 3) runs out for sign-in and settings alike.
async fn wrong_passwords_count_against_the_sign_in_limits(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = start(&db, None, |c| {
        c.with_rate_limit(auth_idp::RateLimitConfig {
            max_failures: 3,
            ..auth_idp::RateLimitConfig::default()
        })
    })
    .await;
    let email = "guess@example.com";
    let mut jar = Jar::default();
    signed_up(&s, email, &mut jar).await;
    let attempts = [
        (
            "/auth/password",
            json!({"current_password": "guess one!", "new_password": NEW_PW}),
        ),
        (
            "/auth/email",
            json!({"email": "g2@example.com", "password": "guess two!"}),
        ),
        ("/auth/account/delete", json!({"password": "guess three!"})),
    ];
    for (path, body) in &attempts {
        let r = s.post_json(path, body.clone(), &mut jar).await;
        assert_eq!(r.status, 403, "{path}: {}", r.text);
    }
    let r = s
        .post_json("/auth/account/delete", json!({"password": PW}), &mut jar)
        .await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.header("retry-after").is_some());
    assert_eq!(s.sign_in(email, PW, &mut Jar::default()).await.status, 429);
    assert_eq!(status(&s, &mut jar).await, "signed_in", "still there");
}

async fn change_email(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, Some(&smtp), |c| c).await;
    let old = "olga@example.com";
    let new = "olga.new@example.com";
    let mut jar = Jar::default();
    let user_id = signed_up(&s, old, &mut jar).await;

    let refused = [
        (json!({"email": new, "password": "wrong password"}), 403),
        (json!({"email": "not an address", "password": PW}), 422),
        (json!({"email": " OLGA@example.com ", "password": PW}), 422),
    ];
    for (body, code) in refused {
        let r = s.post_json("/auth/email", body.clone(), &mut jar).await;
        assert_eq!(r.status, code, "{body}: {}", r.text);
    }
    let r = email_change_form(&s, "nope", &mut jar).await;
    assert_see_other(&r, "/profile?error=invalid_email");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM one_time_codes").await,
        0,
        "nothing issued"
    );

    let r = email_change(&s, new, PW, &mut jar).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["ok"], true);
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM one_time_codes WHERE user_id = '{user_id}' \
             AND purpose = 'change_email' AND email = '{new}' AND used_at IS NULL"
        ))
        .await,
        1
    );
    // The address changes only once verified (by the verify-email endpoint).
    let me = s
        .idp
        .users()
        .get(&auth_types::UserId::new(&user_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(me.email, old);

    let verify = smtp.wait_for_mail(new, WAIT).await;
    let link = format!("{}/verify-email?token=", s.base);
    // A link and an 8-digit code (each read panics when missing).
    let token = token_in(&verify, &s.base, "/verify-email");
    code_in(&verify);
    assert_eq!(smtp.count_for(new), 1);
    let notice = smtp.wait_for_mail(old, WAIT).await;
    assert!(
        notice.text.contains(new),
        "the notice names the new address: {}",
        notice.text
    );
    assert!(!notice.text.contains(&link), "no secret to the old address");

    // The link applies the change (the verify-email endpoint): the account has the new address.
    let r = s
        .post_json("/auth/verify-email", json!({"token": token}), &mut jar)
        .await;
    assert!(r.status < 300, "{}: {}", r.status, r.text);
    let me = s
        .idp
        .users()
        .get(&auth_types::UserId::new(&user_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((me.email.as_str(), me.email_verified), (new, true));
    signed_in(&s, new, PW, &mut Jar::default()).await;

    // Form post: 303 back to the profile page.
    let r = email_change_form(&s, "olga.third@example.com", &mut jar).await;
    assert_eq!((r.status, location(&r)), (303, "/profile"));
}

/// A new address that belongs to another account: the same status and body as for a free one,
/// no secret issued for it, and no mail to it.
async fn change_email_to_a_taken_address_answers_the_same(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, Some(&smtp), |c| c).await;
    let mut jar = Jar::default();
    signed_up(&s, "tom@example.com", &mut jar).await;
    let mut owner = Jar::default();
    signed_up(&s, "taken@example.com", &mut owner).await;

    let free = email_change(&s, "free@example.com", PW, &mut jar).await;
    let taken = email_change(&s, "Taken@example.com", PW, &mut jar).await;
    assert_eq!((free.status, &free.body), (taken.status, &taken.body));
    assert_eq!(free.status, 200);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM one_time_codes WHERE email = 'taken@example.com'")
            .await,
        0
    );
    let form_free = email_change_form(&s, "free2@example.com", &mut jar).await;
    let form_taken = email_change_form(&s, "taken@example.com", &mut jar).await;
    assert_eq!(
        (form_free.status, location(&form_free)),
        (form_taken.status, location(&form_taken))
    );

    // The taken address's first mail is the one its owner causes afterwards, not a code.
    let r = password_change(&s, PW, NEW_PW, &mut owner).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // One sender task sends in order: a code to the taken address would be there before it.
    let mails = smtp.wait_for_mails("taken@example.com", 1, WAIT).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0].subject.to_lowercase().contains("password"),
        "{}",
        mails[0].subject
    );
    assert!(
        !mails[0].text.contains("verify-email?token="),
        "{}",
        mails[0].text
    );
    // The free address did get its code.
    let mail = smtp.wait_for_mail("free@example.com", WAIT).await;
    assert!(mail.text.contains("verify-email?token="), "{}", mail.text);
}

/// An account that never had a password (no credential row) confirms with an empty one, and
/// `POST /auth/password` gives it its first password.
async fn an_account_without_a_password_sets_one(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = start(&db, None, |c| c).await;
    let email = "nopass@example.com";
    let mut jar = Jar::default();
    let user_id = signed_up(&s, email, &mut jar).await;
    db.exec(&format!(
        "DELETE FROM credentials WHERE user_id = '{user_id}'"
    ))
    .await;
    let r = password_change(&s, "anything at all", NEW_PW, &mut jar).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = s
        .post_json("/auth/password", json!({"new_password": NEW_PW}), &mut jar)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    signed_in(&s, email, NEW_PW, &mut Jar::default()).await;
    // From now on the password is required.
    let r = s
        .post_json("/auth/account/delete", json!({"password": ""}), &mut jar)
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
}

async fn sessions_list_and_revoke(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = start(&db, None, |c| c).await;
    let email = "sue@example.com";
    let mut firefox = browser(FIREFOX_LINUX);
    signed_up(&s, email, &mut firefox).await;
    let mut chrome = browser(CHROME_WINDOWS);
    signed_in(&s, email, PW, &mut chrome).await;
    let mut script = Jar::default();
    signed_in(&s, email, PW, &mut script).await;
    let (firefox_id, chrome_id, script_id) = (
        sid(&s, &firefox).await,
        sid(&s, &chrome).await,
        sid(&s, &script).await,
    );
    // Distinct activity times, so the order is known: chrome, then script, then firefox.
    for (id, ago) in [(&chrome_id, 60), (&script_id, 120), (&firefox_id, 180)] {
        db.exec(&format!(
            "UPDATE sessions SET last_active_at = last_active_at - {ago}, \
             created_at = created_at - {ago} WHERE id = '{id}'"
        ))
        .await;
    }
    // A revoked and an expired session of the same user are not listed.
    let mut gone = Jar::default();
    signed_in(&s, email, PW, &mut gone).await;
    s.post_json("/auth/sign-out", json!({}), &mut gone).await;
    let mut old = Jar::default();
    signed_in(&s, email, PW, &mut old).await;
    let old_id = sid(&s, &old).await;
    db.exec(&format!(
        "UPDATE sessions SET expires_at = 1 WHERE id = '{old_id}'"
    ))
    .await;

    let listed = sessions(&s, &mut firefox).await;
    let summary: Vec<(&str, &str, bool)> = listed
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap(),
                v["device"].as_str().unwrap(),
                v["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (chrome_id.as_str(), "Chrome on Windows", false),
            (script_id.as_str(), "Unknown device", false),
            (firefox_id.as_str(), "Firefox on Linux", true),
        ]
    );
    for v in &listed {
        assert!(v["created_at"].as_i64().unwrap() > 0);
        assert!(v["last_active_at"].as_i64().unwrap() >= v["created_at"].as_i64().unwrap());
    }
    // The backend's list (what `UserProfile` server-renders) is the endpoint's.
    let user_id = auth_types::UserId::new(
        s.get("/auth/session", &mut firefox).await.body["user"]["id"]
            .as_str()
            .unwrap(),
    );
    let rendered =
        auth_server::SessionBackend::sessions(&s.idp, &user_id, Some(firefox_id.as_str()))
            .await
            .unwrap();
    assert_eq!(
        serde_json::to_value(&rendered).unwrap(),
        Value::Array(listed.clone())
    );

    // DELETE one: 200, gone from the list, its refresh refused at once.
    let r = delete(&s, &format!("/auth/sessions/{chrome_id}"), &mut firefox).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["ok"], true);
    assert!(r.set_cookies().is_empty(), "this browser stays signed in");
    assert!(matches!(renew(&s.idp, &chrome).await, Renewal::Ended));
    assert_eq!(status(&s, &mut chrome).await, "signed_out");
    assert_eq!(sessions(&s, &mut firefox).await.len(), 2);
    // Again, or a revoked/expired/unknown id: 404.
    for id in [&chrome_id, &old_id, &"sess_unknown".to_owned()] {
        let r = delete(&s, &format!("/auth/sessions/{id}"), &mut firefox).await;
        assert_eq!((r.status, r.error()), (404, "No such session"), "{id}");
    }
    let r = s
        .post_form("/auth/sessions/sess_unknown/revoke", &[], &mut firefox)
        .await;
    assert_see_other(&r, "/profile?error=not_found");
    // Wrong method: 405.
    let r = s
        .post_json(
            &format!("/auth/sessions/{script_id}"),
            json!({}),
            &mut firefox,
        )
        .await;
    assert_eq!(r.status, 405);

    // The form twin: 303 to the profile page.
    let mut tablet = browser(FIREFOX_LINUX);
    signed_in(&s, email, PW, &mut tablet).await;
    let tablet_id = sid(&s, &tablet).await;
    let r = s
        .post_form(
            &format!("/auth/sessions/{tablet_id}/revoke"),
            &[],
            &mut firefox,
        )
        .await;
    assert_eq!((r.status, location(&r)), (303, "/profile"));
    assert!(matches!(renew(&s.idp, &tablet).await, Renewal::Ended));

    // Revoke the others: only this one is left.
    let mut more = Jar::default();
    signed_in(&s, email, PW, &mut more).await;
    let r = s
        .post_json("/auth/sessions/revoke-others", json!({}), &mut firefox)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for other in [&script, &more] {
        assert!(matches!(renew(&s.idp, other).await, Renewal::Ended));
    }
    let left = sessions(&s, &mut firefox).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["id"], firefox_id.as_str());

    // Revoking the current session signs this browser out.
    let r = delete(&s, &format!("/auth/sessions/{firefox_id}"), &mut firefox).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        firefox.cookies.is_empty(),
        "cookies cleared: {:?}",
        firefox.cookies
    );
    assert_eq!(r.body["redirect_url"], "/");
    let mut before = browser(FIREFOX_LINUX);
    signed_in(&s, email, PW, &mut before).await;
    let id = sid(&s, &before).await;
    let r = s
        .post_form(&format!("/auth/sessions/{id}/revoke"), &[], &mut before)
        .await;
    assert_eq!((r.status, location(&r)), (303, "/"));
    assert!(before.cookies.is_empty());
}

/// Another account's session id: the same 404 as an unknown one, and that session stays live.
async fn another_accounts_session_is_not_found(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = start(&db, None, |c| c).await;
    let mut mallory = Jar::default();
    signed_up(&s, "mallory@example.com", &mut mallory).await;
    let mut alice = Jar::default();
    signed_up(&s, "alice@example.com", &mut alice).await;
    let alice_id = sid(&s, &alice).await;

    let theirs = delete(&s, &format!("/auth/sessions/{alice_id}"), &mut mallory).await;
    let unknown = delete(
        &s,
        "/auth/sessions/sess_AAAAAAAAAAAAAAAAAAAAAA",
        &mut mallory,
    )
    .await;
    assert_eq!(theirs.status, 404);
    assert_eq!(
        (theirs.status, &theirs.body),
        (unknown.status, &unknown.body)
    );
    let form = s
        .post_form(
            &format!("/auth/sessions/{alice_id}/revoke"),
            &[],
            &mut mallory,
        )
        .await;
    assert_see_other(&form, "/profile?error=not_found");

    assert!(matches!(renew(&s.idp, &alice).await, Renewal::Renewed(_)));
    assert_eq!(status(&s, &mut alice).await, "signed_in");
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM sessions WHERE id = '{alice_id}' AND revoked_at IS NULL"
        ))
        .await,
        1
    );
    // Mallory's list holds only Mallory's session.
    let listed = sessions(&s, &mut mallory).await;
    assert_eq!(listed.len(), 1);
    assert_ne!(listed[0]["id"], alice_id.as_str());
}

/// How fast a revoked device is out: the provider's endpoints refuse it at once; a route that
/// only verifies the token accepts it until the token expires (AUTH_SESSION_TOKEN_TTL_SECS,
/// here 1 s), then the layer's refresh is refused and the browser is signed out.
async fn revoked_session_stops_working(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = start(&db, None, |c| {
        c.with_session_token_ttl(Duration::from_secs(1))
    })
    .await;
    let mut me = Jar::default();
    signed_up(&s, "ray@example.com", &mut me).await;
    let mut device = Jar::default();
    let signed_in_at = std::time::Instant::now();
    signed_in(&s, "ray@example.com", PW, &mut device).await;
    let device_id = sid(&s, &device).await;
    assert_eq!(s.get("/api/me", &mut device).await.status, 200);

    let r = delete(&s, &format!("/auth/sessions/{device_id}"), &mut me).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut at_once = device.clone();
    assert_eq!(status(&s, &mut at_once).await, "signed_out");
    assert!(at_once.cookies.is_empty());
    assert_eq!(
        s.get("/auth/sessions", &mut device.clone()).await.status,
        401
    );

    // Poll the token-only route: it flips to 401 once the token has expired, within its TTL
    // plus the verifier's leeway (AUTH_CLOCK_SKEW_SECS, 5 s), and the cookies are cleared.
    let bound = Duration::from_secs(1 + 5 + 4);
    loop {
        let r = s.get("/api/me", &mut device).await;
        if r.status == 401 {
            break;
        }
        assert_eq!(r.status, 200);
        assert!(
            signed_in_at.elapsed() < bound,
            "still accepted {:?} after the token was minted",
            signed_in_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !device.cookies.contains_key("__refresh"),
        "{:?}",
        device.cookies
    );
    assert_eq!(
        s.get("/api/me", &mut me).await.status,
        200,
        "the other device stays"
    );
}

async fn delete_account(kind: Kind) {
    let db = TestDb::new(kind).await;
    let smtp = Smtp::start().await;
    let s = start(&db, Some(&smtp), |c| c).await;
    let email = "dora@example.com";
    let mut jar = Jar::default();
    let user_id = signed_up(&s, email, &mut jar).await;
    let mut other = Jar::default();
    signed_in(&s, email, PW, &mut other).await;
    insert_secret(&db, "otc_dora", &user_id, "password_reset").await;
    let id = auth_types::UserId::new(&user_id);

    let r = s
        .post_json(
            "/auth/account/delete",
            json!({"password": "not it at all"}),
            &mut jar,
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (403, "The current password is wrong")
    );
    let r = s
        .post_form("/auth/account/delete", &[("password", "not it")], &mut jar)
        .await;
    assert_see_other(&r, "/profile?error=wrong_password");
    assert!(s.idp.users().get(&id).await.unwrap().is_some());
    assert_eq!(status(&s, &mut jar).await, "signed_in");

    let r = s
        .post_json("/auth/account/delete", json!({"password": PW}), &mut jar)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["ok"], true);
    assert_eq!(r.body["redirect_url"], "/");
    assert!(jar.cookies.is_empty(), "cookies cleared: {:?}", jar.cookies);
    assert!(s.idp.users().get(&id).await.unwrap().is_none());
    assert!(matches!(renew(&s.idp, &other).await, Renewal::Ended));
    assert_eq!(status(&s, &mut other).await, "signed_out");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM one_time_codes").await, 0);
    assert_eq!(s.sign_in(email, PW, &mut Jar::default()).await.status, 401);

    let mail = smtp.wait_for_mail(email, WAIT).await;
    assert!(
        mail.subject.to_lowercase().contains("deleted"),
        "{}",
        mail.subject
    );

    // The address is free again.
    let mut again = Jar::default();
    let new_id = signed_up(&s, email, &mut again).await;
    assert_ne!(new_id, user_id);

    // The form post: 303 to `/` with the cookies cleared.
    let r = s
        .post_form("/auth/account/delete", &[("password", PW)], &mut again)
        .await;
    assert_eq!((r.status, location(&r)), (303, "/"));
    assert!(again.cookies.is_empty());
    assert!(
        s.idp
            .users()
            .get(&auth_types::UserId::new(&new_id))
            .await
            .unwrap()
            .is_none()
    );
}
