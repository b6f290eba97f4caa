//! Accounts: hostile fields, escaping, email variants, account enumeration, session fixation
//! and sign-out.

use crate::{PASSWORD, assert_alive, assert_dashboard_redirects, attempt};
use e2e::AppServer;
use e2e::http::{
    CLIENT_ADDRESS_HEADER, client, html_unescape, post_form, post_json, set_cookies, sign_in,
    sign_up,
};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use std::time::Duration;

/// SQL metacharacters, LIKE wildcards, quotes, backslashes, NUL and Unicode in every sign-up
/// field round-trip intact (JSON and form posts), sign in, and never match another account.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_account_fields_round_trip() {
    let mut server = AppServer::start().await;
    let cases: [(&str, &str, &str); 5] = [
        (
            "o'brien+x@example.com",
            "pa'ss\"word; DROP TABLE users;--",
            "Robert'); DROP TABLE users;--",
        ),
        (
            "percent%_x@example.com",
            r#"100%_match\\'" OR 1=1"#,
            r"%_\ LIKE '%' ESCAPE '\'",
        ),
        (
            "unicode.user@example.com",
            "pässwörd-🔑-密码-пароль",
            "Zoë Ünïcødé 名前 مرحبا 👩‍💻 \u{202e}txt",
        ),
        (
            "x`{|}~'--@example.com",
            "nul\u{0}byte\u{0}password",
            "$1 $$ ${name} {{name}} %s %n \\0",
        ),
        (
            "q@example.com",
            "\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}",
            "\u{fdfd}\u{200b}\u{feff}",
        ),
    ];
    let http = client();
    let mut sent = 0;
    for (email, password, name) in cases {
        let session = sign_up(&server, email, password, name).await;
        sent += 1;
        assert_eq!(
            session.body["user"]["email"], email,
            "sign-up echoes the email"
        );
        assert_eq!(
            session.body["user"]["name"],
            name.trim(),
            "sign-up echoes the name"
        );
        let again = sign_in(&server, email, password).await;
        sent += 1;
        assert_eq!(again.user_id(), session.user_id(), "{email}: same account");
        let user: Value = http
            .get(server.url("/api/user"))
            .header(header::COOKIE, again.cookie_header())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(user["name"], name.trim(), "{email}: stored name");
        assert_eq!(user["email"], email, "{email}: stored email");
        let snapshot: Value = http
            .get(server.url("/auth/session"))
            .header(header::COOKIE, again.cookie_header())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            snapshot["user"]["name"],
            name.trim(),
            "{email}: /auth/session"
        );
    }
    // The same through a form post (what the prebuilt form sends before the wasm loads).
    let form_name = "Form'; DELETE FROM sessions;-- Ω";
    let response = post_form(
        &server,
        "/auth/sign-up",
        &[
            ("email", "form'user@example.com"),
            ("password", "f0rm'pass\"&=%"),
            ("name", form_name),
        ],
        None,
    )
    .await;
    sent += 1;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(set_cookies(&response).contains_key("__session"));
    let session = sign_in(&server, "form'user@example.com", "f0rm'pass\"&=%").await;
    assert_eq!(session.body["user"]["name"], form_name);

    // Wildcards and injections in the sign-in email match nothing (each with a real password).
    for (email, password) in [
        ("%@example.com", cases[0].1),
        ("_'brien+x@example.com", cases[0].1),
        ("o'brien+x@example.com' --", cases[0].1),
        ("' OR '1'='1", cases[0].1),
        ("' OR 1=1 --@example.com", cases[0].1),
        ("percent%@example.com", cases[1].1),
        ("percent%_x@example.com\u{0}", cases[1].1),
        ("*@example.com", cases[2].1),
    ] {
        let response = post_json(
            &server,
            "/auth/sign-in",
            &json!({ "email": email, "password": password }),
            None,
        )
        .await;
        sent += 1;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{email:?}");
        assert!(set_cookies(&response).is_empty(), "{email:?}: no cookies");
    }
    // Refused input is a 422 with a fixed message, never a 500.
    for (what, body) in [
        (
            "NUL in name",
            json!({ "email": "n1@example.com", "password": PASSWORD, "name": "a\u{0}b" }),
        ),
        (
            "newline in name",
            json!({ "email": "n2@example.com", "password": PASSWORD, "name": "a\r\nSet-Cookie: x=1" }),
        ),
        (
            "201-character name",
            json!({ "email": "n3@example.com", "password": PASSWORD, "name": "é".repeat(201) }),
        ),
        (
            "Unicode email",
            json!({ "email": "ünï@exämple.com", "password": PASSWORD, "name": "x" }),
        ),
        (
            "email with quotes",
            json!({ "email": "\"a\"@example.com", "password": PASSWORD, "name": "x" }),
        ),
        (
            "email is SQL",
            json!({ "email": "'; DROP TABLE users; --", "password": PASSWORD, "name": "x" }),
        ),
        (
            "email a number",
            json!({ "email": 1, "password": PASSWORD, "name": "x" }),
        ),
        (
            "password an object",
            json!({ "email": "n4@example.com", "password": { "$ne": null }, "name": "x" }),
        ),
    ] {
        let response = post_json(&server, "/auth/sign-up", &body, None).await;
        sent += 1;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}"
        );
    }
    // Nothing was dropped: the first account still signs in.
    sign_in(&server, cases[0].0, cases[0].1).await;
    assert_alive(&mut server).await;
    eprintln!("hostile_account_fields_round_trip: {sent} attack requests");
}

/// Every base64 hydration payload Dioxus embeds in the page (the initial data and the data of
/// streamed suspense boundaries, `window.dx_hydrate([…], "…")`), decoded and concatenated.
fn hydration_data(html: &str) -> Vec<u8> {
    use base64::Engine as _;
    let mut data = Vec::new();
    let mut found = 0;
    for (marker, quote) in [
        ("window.initial_dioxus_hydration_data=", "\""),
        ("window.dx_hydrate(", "], \""),
    ] {
        let mut rest = html;
        while let Some(at) = rest.find(marker) {
            rest = &rest[at + marker.len()..];
            let Some(open) = rest.find(quote) else { break };
            let start = open + quote.len();
            let Some(len) = rest[start..].find('"') else {
                break;
            };
            let encoded = &rest[start..start + len];
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap_or_else(|e| panic!("hydration data is not base64 ({e}): {encoded:.80}"));
            data.extend_from_slice(&decoded);
            found += 1;
        }
    }
    assert!(found > 0, "the page carries no hydration data");
    data
}

/// Whether `text` is in the hydration data. Dioxus serialises each value to bytes and stores
/// those bytes in its CBOR payload as an array of integers (`0x18 b` for each byte ≥ 24), so
/// the text appears either contiguously or byte by byte with that prefix — or JSON-escaped,
/// inside a JSON text.
fn contains_serialised(data: &[u8], text: &str) -> bool {
    // auth-ui's seeded values travel as JSON text (`seed.rs`): there the text is JSON-escaped.
    let quoted = serde_json::to_string(text).unwrap();
    let json = &quoted[1..quoted.len() - 1];
    [text, json].iter().any(|form| {
        let plain = form.as_bytes();
        let spread: Vec<u8> = plain
            .iter()
            .flat_map(|&b| if b < 24 { vec![b] } else { vec![0x18, b] })
            .collect();
        [plain, spread.as_slice()]
            .iter()
            .any(|needle| data.windows(needle.len()).any(|w| w == *needle))
    })
}

/// Markup in a user's name is text: escaped in the SSR HTML of every page that shows it and
/// carried (base64, so inert) in the serialised hydration data; reflected query parameters are
/// escaped too. The raw `</script><script>` sequence never appears in a page.
#[tokio::test(flavor = "multi_thread")]
async fn markup_in_names_is_escaped_in_html_and_hydration_data() {
    let mut server = AppServer::start().await;
    let first = r#"</script><script>alert(1)</script><!--"'&"#;
    let session = sign_up(&server, "xss@example.com", PASSWORD, first).await;
    let http = client();
    let mut sent = 1;
    let dangerous = [
        "</script><script>",
        "<script>alert(",
        "<img src=x",
        "<svg onload",
    ];
    let check_pages = |name: &'static str| {
        let http = http.clone();
        let cookies = session.cookie_header();
        let server = &server;
        async move {
            for path in ["/dashboard", "/profile", "/"] {
                let response = http
                    .get(server.url(path))
                    .header(header::COOKIE, &cookies)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{path}");
                let html = response.text().await.unwrap();
                for bad in dangerous {
                    assert!(!html.contains(bad), "{path}: raw {bad:?} in the HTML");
                }
                // The home page shows only initials; the others show the name.
                assert!(
                    path == "/" || html_unescape(&html).contains(name),
                    "{path}: the name is not rendered as text"
                );
                assert!(
                    contains_serialised(&hydration_data(&html), name),
                    "{path}: the name is missing from the hydration data"
                );
            }
        }
    };
    check_pages(first).await;
    sent += 3;

    // The same after a change through the profile server function.
    let second = r#"</SCRIPT><img src=x onerror=alert(2)><svg onload=alert(3)>"#;
    let response = post_json(
        &server,
        "/auth/ui/profile/name",
        &json!({ "name": second }),
        Some(&session.cookie_header()),
    )
    .await;
    sent += 1;
    assert_eq!(response.status(), StatusCode::OK, "update_name");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], second);
    let dangerous_upper = ["</SCRIPT>", "<img src=x", "<svg onload"];
    for path in ["/dashboard", "/profile", "/"] {
        let html = http
            .get(server.url(path))
            .header(header::COOKIE, session.cookie_header())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        sent += 1;
        for bad in dangerous_upper {
            assert!(!html.contains(bad), "{path}: raw {bad:?} in the HTML");
        }
        assert!(
            path == "/" || html_unescape(&html).contains(second),
            "{path}: the new name is not rendered as text"
        );
    }

    // Reflected query parameters of the sign-in / sign-up pages.
    for path in ["/sign-in", "/sign-up"] {
        let url = format!(
            "{path}?redirect_url=%22%3E%3C%2Fscript%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E\
             &error=%3C%2Fscript%3E%3Cscript%3Ealert(2)%3C%2Fscript%3E"
        );
        let response = http.get(server.url(&url)).send().await.unwrap();
        sent += 1;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let html = response.text().await.unwrap();
        for bad in dangerous {
            assert!(!html.contains(bad), "{url}: raw {bad:?} in the HTML");
        }
    }
    assert_alive(&mut server).await;
    eprintln!("markup_in_names_is_escaped_in_html_and_hydration_data: {sent} attack requests");
}

/// Case and whitespace variants of an email (and a Unicode character that lowercases to ASCII)
/// are the same account: sign-up answers 409, sign-in reaches the one account.
#[tokio::test(flavor = "multi_thread")]
async fn email_variants_are_one_account() {
    let mut server = AppServer::start().await;
    let original = sign_up(&server, "Kelvin.Case@Example.COM", PASSWORD, "K").await;
    assert_eq!(original.body["user"]["email"], "kelvin.case@example.com");
    let variants = [
        "kelvin.case@example.com",
        "KELVIN.CASE@EXAMPLE.COM",
        "Kelvin.Case@example.com",
        "  kelvin.case@example.com  ",
        "\tkelvin.case@EXAMPLE.com\n",
        "\u{212a}elvin.case@example.com", // KELVIN SIGN lowercases to `k`
    ];
    let mut sent = 0;
    for email in variants {
        let response = post_json(
            &server,
            "/auth/sign-up",
            &json!({ "email": email, "password": "another password 123", "name": "dup" }),
            None,
        )
        .await;
        sent += 1;
        assert_eq!(response.status(), StatusCode::CONFLICT, "{email:?}");
        assert!(set_cookies(&response).is_empty(), "{email:?}: no session");
        let response = post_form(
            &server,
            "/auth/sign-up",
            &[("email", email), ("password", "another password 123")],
            None,
        )
        .await;
        sent += 1;
        assert_eq!(
            response.headers()[header::LOCATION],
            "/sign-up?error=email_taken&redirect_url=%2F",
            "{email:?} (form)"
        );
        let session = sign_in(&server, email, PASSWORD).await;
        sent += 1;
        assert_eq!(session.user_id(), original.user_id(), "{email:?}");
    }
    assert_alive(&mut server).await;
    eprintln!("email_variants_are_one_account: {sent} attack requests");
}

/// The release server refuses a common password (JSON: 422 saying why; a form post comes back to
/// the sign-up page, which shows the reason) and one over 128 characters (saying the limit), and
/// creates no account.
#[tokio::test(flavor = "multi_thread")]
async fn common_password_is_refused() {
    let mut server = AppServer::start().await;
    let email = "common.password@example.com";
    let too_long = "long passphrase ".repeat(9);
    for (password, message) in [
        (
            "Password1",
            "This password is too common, choose a less predictable one",
        ),
        (
            too_long.as_str(),
            "Password must be 8 to 128 characters and differ from the email",
        ),
    ] {
        let body = json!({ "email": email, "password": password, "name": "C" });
        let response = post_json(&server, "/auth/sign-up", &body, None).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(set_cookies(&response).is_empty(), "no session");
        let answer: Value = response.json().await.expect("a JSON answer");
        assert_eq!(answer["error"], message);
    }
    let fields = [("email", email), ("password", "qwertyuiop")];
    let response = post_form(&server, "/auth/sign-up", &fields, None).await;
    assert_eq!(
        response.headers()[header::LOCATION],
        "/sign-up?error=common_password&redirect_url=%2F"
    );
    let page = client()
        .get(server.url("/sign-up?error=common_password&redirect_url=%2F"))
        .send()
        .await
        .expect("the server answers")
        .text()
        .await
        .unwrap_or_default();
    assert!(
        html_unescape(&page).contains("This password is too common"),
        "the sign-up page shows why"
    );
    // No account was created: the email is still free.
    sign_up(&server, email, PASSWORD, "C").await;
    assert_alive(&mut server).await;
}
fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Unknown email and wrong password are indistinguishable: same status, same body bytes, no
/// cookies, the same form redirect, and comparable time (both verify an argon2 hash). A taken
/// email at sign-up answers a fixed 409 that is the same whatever password is sent and carries no
/// account data.
#[tokio::test(flavor = "multi_thread")]
async fn sign_in_does_not_reveal_accounts() {
    // Many failures from this test: each request poses as another address (see
    // `password_spraying_from_one_address_is_rate_limited` for the per-address limit itself).
    let mut server =
        AppServer::start_with_env(&[("AUTH_TRUSTED_IP_HEADER", CLIENT_ADDRESS_HEADER)]).await;
    let known = sign_up(&server, "known@example.com", PASSWORD, "Known Person").await;
    let mut sent = 0;
    // Warm up (first argon2 run allocates).
    attempt(&server, "warmup@example.com", "warm up password").await;
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    let mut answers = Vec::new();
    for i in 0..5 {
        let w = attempt(&server, "known@example.com", &format!("wrong password {i}")).await;
        let u = attempt(&server, &format!("nobody{i}@example.com"), PASSWORD).await;
        sent += 2;
        wrong.push(w.3);
        unknown.push(u.3);
        answers.push((w.0, w.1, w.2));
        answers.push((u.0, u.1, u.2));
    }
    // Malformed emails and overlong passwords get the very same answer.
    for (email, password) in [
        ("not-an-email", PASSWORD.to_owned()),
        ("", PASSWORD.to_owned()),
        ("known@example.com", "x".repeat(300)),
    ] {
        let a = attempt(&server, email, &password).await;
        sent += 1;
        answers.push((a.0, a.1, a.2));
    }
    let first = answers[0].clone();
    assert_eq!(first.0, 401);
    assert_eq!(first.2, 0, "a failed sign-in sets no cookie");
    for a in &answers {
        assert_eq!(a, &first, "every failed sign-in answers the same");
    }
    let (w, u) = (median(wrong), median(unknown));
    eprintln!("sign-in failure timing: wrong password {w:?}, unknown email {u:?}");
    assert!(
        u * 4 >= w && w * 4 >= u,
        "timing reveals accounts: wrong password {w:?} vs unknown email {u:?}"
    );

    // Form posts: the same redirect.
    let mut locations = Vec::new();
    for email in ["known@example.com", "nobody-form@example.com"] {
        let response = post_form(
            &server,
            "/auth/sign-in",
            &[("email", email), ("password", "wrong password form")],
            None,
        )
        .await;
        sent += 1;
        locations.push(response.headers()[header::LOCATION].clone());
    }
    assert_eq!(locations[0], locations[1]);
    assert_eq!(
        locations[0],
        "/sign-in?error=invalid_credentials&redirect_url=%2F"
    );

    // Sign-up with a taken email: a fixed answer that does not depend on the password sent (no
    // password oracle) and contains nothing about the account.
    let mut bodies = Vec::new();
    for password in [PASSWORD, "a different password"] {
        let response = post_json(
            &server,
            "/auth/sign-up",
            &json!({ "email": "known@example.com", "password": password, "name": "x" }),
            None,
        )
        .await;
        sent += 1;
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert!(
            set_cookies(&response).is_empty(),
            "no session for a taken email"
        );
        bodies.push(response.text().await.unwrap());
    }
    assert_eq!(bodies[0], bodies[1], "the answer depends on the password");
    let body: Value = serde_json::from_str(&bodies[0]).unwrap();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert!(
        keys.iter().all(|k| *k == "error" || *k == "code"),
        "409 body has extra fields: {body}"
    );
    for secret in [
        known.user_id().as_str(),
        "Known Person",
        "known@example.com",
    ] {
        assert!(!bodies[0].contains(secret), "409 body reveals {secret:?}");
    }
    assert_alive(&mut server).await;
    eprintln!("sign_in_does_not_reveal_accounts: {sent} attack requests");
}
/// `session_id` of a token, as the API sees it.
async fn session_id(server: &AppServer, token: &str) -> String {
    let body: Value = client()
        .get(server.url("/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned()
}

/// The answer to a request carrying only these cookies.
async fn me_with_cookies(server: &AppServer, cookies: &str) -> StatusCode {
    client()
        .get(server.url("/api/me"))
        .header(header::COOKIE, cookies)
        .send()
        .await
        .unwrap()
        .status()
}

/// Session fixation: whatever cookies the browser carries at sign-in (an attacker's own session
/// planted in the victim's browser, or made-up values), sign-in issues a brand-new session id
/// and refresh secret, and the planted session no longer works.
#[tokio::test(flavor = "multi_thread")]
async fn sign_in_never_keeps_a_planted_session() {
    let mut server = AppServer::start().await;
    let victim = sign_up(&server, "fix-victim@example.com", PASSWORD, "Victim").await;
    let attacker = sign_up(&server, "fix-attacker@example.com", PASSWORD, "Attacker").await;
    let attacker_sid = session_id(&server, attacker.token()).await;
    let mut sent = 0;

    // Two plain sign-ins of one user: two sessions.
    let s1 = sign_in(&server, "fix-victim@example.com", PASSWORD).await;
    let s2 = sign_in(&server, "fix-victim@example.com", PASSWORD).await;
    assert_ne!(
        session_id(&server, s1.token()).await,
        session_id(&server, s2.token()).await
    );
    assert_ne!(s1.refresh(), s2.refresh());

    // A second live session of the attacker, for the refresh-only plant (the first one is
    // revoked by the first case: a sign-in revokes the session its cookies pointed at).
    let attacker_live = sign_in(&server, "fix-attacker@example.com", PASSWORD).await;
    let planted_cases = [
        ("attacker's own session", attacker.cookie_header()),
        (
            "attacker's live refresh cookie only",
            format!("__refresh={}", attacker_live.refresh()),
        ),
        (
            "attacker's revoked refresh cookie only",
            format!("__refresh={}", attacker.refresh()),
        ),
        (
            "made-up values",
            "__session=fixed.by.attacker; __refresh=fixed-by-attacker-0123456789".to_owned(),
        ),
        (
            "attacker's JWT with a junk refresh",
            format!("__session={}; __refresh=junk", attacker_live.token()),
        ),
    ];
    for (what, planted) in &planted_cases {
        let response = post_json(
            &server,
            "/auth/sign-in",
            &json!({ "email": "fix-victim@example.com", "password": PASSWORD }),
            Some(planted),
        )
        .await;
        sent += 1;
        assert_eq!(response.status(), StatusCode::OK, "{what}");
        // The cookies a browser keeps: `Set-Cookie`s applied in order, the last one wins.
        let new = set_cookies(&response);
        for name in ["__session", "__refresh"] {
            let value = new.get(name).map(String::as_str).unwrap_or_default();
            assert!(
                !value.is_empty(),
                "{what}: the browser ends up without {name}"
            );
            assert!(
                !planted.contains(&format!("{name}={value}")),
                "{what}: {name} was kept"
            );
        }
        let sid = session_id(&server, &new["__session"]).await;
        assert_ne!(sid, attacker_sid, "{what}: session id reused");
        // And that session is the victim's.
        let me: Value = client()
            .get(server.url("/api/me"))
            .header(header::COOKIE, format!("__session={}", new["__session"]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["user_id"], victim.user_id(), "{what}: whose session?");
        // The planted refresh secret is worth nothing now.
        if let Some(refresh) = planted.split("; ").find(|c| c.starts_with("__refresh=")) {
            assert_eq!(
                me_with_cookies(&server, refresh).await,
                StatusCode::UNAUTHORIZED,
                "{what}: the planted refresh cookie still works"
            );
            sent += 1;
        }
    }
    assert_alive(&mut server).await;
    eprintln!("sign_in_never_keeps_a_planted_session: {sent} attack requests");
}

/// A stolen refresh cookie (or session JWT) stops working at the provider when the user signs out
/// everywhere — and a single sign-out kills that session's refresh cookie.
#[tokio::test(flavor = "multi_thread")]
async fn stolen_cookies_die_with_sign_out() {
    let mut server = AppServer::start().await;
    let device_a = sign_up(&server, "stolen@example.com", PASSWORD, "Stolen").await;
    let device_b = sign_in(&server, "stolen@example.com", PASSWORD).await;
    let stolen_refresh = format!("__refresh={}", device_b.refresh());
    let stolen_jwt = device_b.token().to_owned();
    let http = client();
    let mut sent = 0;

    // Before: the stolen refresh cookie alone signs in (renewed in the same request).
    assert_eq!(
        me_with_cookies(&server, &stolen_refresh).await,
        StatusCode::OK
    );

    // Someone without a live session cannot sign everyone out.
    let response = post_json(
        &server,
        "/auth/sign-out-all",
        &json!({}),
        Some("__refresh=not-a-real-secret"),
    )
    .await;
    sent += 1;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        me_with_cookies(&server, &stolen_refresh).await,
        StatusCode::OK
    );

    // The owner signs out everywhere from device A.
    let response = post_json(
        &server,
        "/auth/sign-out-all",
        &json!({}),
        Some(&device_a.cookie_header()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    for (what, cookies) in [
        ("stolen refresh", stolen_refresh.clone()),
        (
            "device A refresh",
            format!("__refresh={}", device_a.refresh()),
        ),
        (
            "stolen refresh + expired-looking session",
            format!("__session=junk; {stolen_refresh}"),
        ),
    ] {
        assert_eq!(
            me_with_cookies(&server, &cookies).await,
            StatusCode::UNAUTHORIZED,
            "{what}"
        );
        let response = http
            .get(server.url("/dashboard"))
            .header(header::COOKIE, &cookies)
            .send()
            .await
            .unwrap();
        assert_dashboard_redirects(response, what).await;
        let snapshot: Value = http
            .get(server.url("/auth/session"))
            .header(header::COOKIE, &cookies)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(snapshot["auth"]["status"], "signed_out", "{what}");
        let response = http
            .get(server.url("/auth/token"))
            .header(header::COOKIE, &cookies)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{what}: /auth/token"
        );
        sent += 4;
    }
    // The provider's own endpoints see the revocation at once, even with the unexpired JWT.
    for cookies in [
        format!("__session={stolen_jwt}"),
        format!("__session={stolen_jwt}; {stolen_refresh}"),
    ] {
        let response = http
            .get(server.url("/auth/token"))
            .header(header::COOKIE, &cookies)
            .send()
            .await
            .unwrap();
        sent += 1;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "stolen JWT at /auth/token"
        );
    }

    // A single sign-out revokes that session's refresh secret.
    let device_c = sign_in(&server, "stolen@example.com", PASSWORD).await;
    let copied = format!("__refresh={}", device_c.refresh());
    assert_eq!(me_with_cookies(&server, &copied).await, StatusCode::OK);
    let response = post_json(
        &server,
        "/auth/sign-out",
        &json!({}),
        Some(&device_c.cookie_header()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        me_with_cookies(&server, &copied).await,
        StatusCode::UNAUTHORIZED
    );
    sent += 1;
    assert_alive(&mut server).await;
    eprintln!("stolen_cookies_die_with_sign_out: {sent} attack requests");
}

/// The dev mailbox (a debug build's stand-in for SMTP) does not exist in the release bundle, also
/// after a mail was "sent" (a release build without `AUTH_SMTP_URL` drops it), and asking for a
/// reset there still answers as usual.
#[tokio::test(flavor = "multi_thread")]
async fn the_release_build_has_no_dev_mailbox() {
    let mut server = AppServer::start().await;
    let http = client();
    for path in ["/auth/dev/mailbox", "/auth/dev/mailbox?format=json"] {
        let r = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let body = r.text().await.unwrap();
        // The app's own 404 (its router names the path it did not match), not the mailbox.
        assert!(!body.contains("<h1>Dev mailbox</h1>"), "{path}: {body}");
        assert!(!body.contains("\"mails\""), "{path}: {body}");
    }
    let email = "no-mailbox@example.com";
    sign_up(&server, email, PASSWORD, "No Mailbox").await;
    let r = post_json(
        &server,
        "/auth/password-reset",
        &json!({ "email": email }),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = http
        .get(server.url("/auth/dev/mailbox"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_alive(&mut server).await;
}
