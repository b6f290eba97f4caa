//! Cross-origin writes, redirects, and the profile server function.

use crate::{PASSWORD, assert_alive, claims};
use e2e::AppServer;
use e2e::http::{
    FORBIDDEN, Session, client, post_form, post_json, server_signer, set_cookies, sign_up,
};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

/// Cross-origin writes are refused with 403 before anything happens, on every state-changing
/// endpoint and server function (and any other method or path), for every way a browser can
/// reveal a foreign origin: `Origin`, `Origin: null`, `Sec-Fetch-Site`, a foreign `Referer`.
#[tokio::test(flavor = "multi_thread")]
async fn cross_origin_writes_are_forbidden() {
    let mut server = AppServer::start().await;
    let victim = sign_up(&server, "csrf@example.com", PASSWORD, "Original Name").await;
    let cookies = victim.cookie_header();
    let port = server.base_url.rsplit(':').next().unwrap().to_owned();
    let own = server.base_url.clone();
    let http = client();

    let foreign: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "evil origin",
            vec![("origin", "https://evil.example".into())],
        ),
        ("null origin", vec![("origin", "null".into())]),
        (
            "lookalike origin",
            vec![("origin", format!("{own}.evil.example"))],
        ),
        (
            "other port",
            vec![(
                "origin",
                format!("http://127.0.0.1:{}", port.parse::<u16>().unwrap() ^ 1),
            )],
        ),
        (
            "localhost is another origin",
            vec![("origin", format!("http://localhost:{port}"))],
        ),
        (
            "origin list",
            vec![("origin", format!("https://evil.example {own}"))],
        ),
        (
            "evil origin and host",
            vec![
                ("origin", "http://evil.example".into()),
                ("host", "evil.example".into()),
            ],
        ),
        (
            "evil origin, same-origin fetch metadata",
            vec![
                ("origin", "https://evil.example".into()),
                ("sec-fetch-site", "same-origin".into()),
            ],
        ),
        (
            "no origin, cross-site",
            vec![("sec-fetch-site", "cross-site".into())],
        ),
        (
            "no origin, same-site",
            vec![("sec-fetch-site", "same-site".into())],
        ),
        (
            "no origin, foreign referer, cross-site",
            vec![
                ("referer", "https://evil.example/page".into()),
                ("sec-fetch-site", "cross-site".into()),
            ],
        ),
        (
            "no origin, foreign referer",
            vec![("referer", "https://evil.example/page".into())],
        ),
        (
            "no origin, lookalike referer",
            vec![("referer", format!("{own}.evil.example/"))],
        ),
    ];
    let sign_up_body =
        json!({ "email": "csrf-new@example.com", "password": PASSWORD, "name": "n" });
    let sign_in_body = json!({ "email": "csrf@example.com", "password": PASSWORD });
    let form = |fields: &[(&str, &str)]| {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish()
    };
    // (method, path, content type, body)
    let targets: Vec<(&str, &str, &str, String)> = vec![
        (
            "POST",
            "/auth/sign-up",
            "application/json",
            sign_up_body.to_string(),
        ),
        (
            "POST",
            "/auth/sign-up",
            "application/x-www-form-urlencoded",
            form(&[("email", "csrf-new@example.com"), ("password", PASSWORD)]),
        ),
        (
            "POST",
            "/auth/sign-in",
            "application/json",
            sign_in_body.to_string(),
        ),
        (
            "POST",
            "/auth/sign-in",
            "application/x-www-form-urlencoded",
            form(&[("email", "csrf@example.com"), ("password", PASSWORD)]),
        ),
        (
            "POST",
            "/auth/sign-in",
            "text/plain",
            sign_in_body.to_string(),
        ),
        ("POST", "/auth/sign-out", "application/json", "{}".into()),
        ("POST", "/auth/sign-out", "", String::new()),
        (
            "POST",
            "/auth/sign-out-all",
            "application/json",
            "{}".into(),
        ),
        (
            "POST",
            "/auth/sign-out-all",
            "application/x-www-form-urlencoded",
            String::new(),
        ),
        (
            "POST",
            "/auth/ui/profile/name",
            "application/json",
            json!({ "name": "Pwned" }).to_string(),
        ),
        (
            "POST",
            "/auth/ui/profile/name",
            "text/plain",
            json!({ "name": "Pwned" }).to_string(),
        ),
        (
            "PUT",
            "/auth/ui/profile/name",
            "application/json",
            json!({ "name": "Pwned" }).to_string(),
        ),
        ("PATCH", "/api/user", "application/json", "{}".into()),
        ("DELETE", "/api/user", "", String::new()),
        ("DELETE", "/auth/sign-out", "", String::new()),
        ("POST", "/api/me", "", String::new()),
        ("POST", "/api/greeting", "", String::new()),
        (
            "POST",
            "/dashboard",
            "application/x-www-form-urlencoded",
            "a=1".into(),
        ),
        ("POST", "/auth/session", "", String::new()),
        ("POST", "/nowhere", "", String::new()),
    ];
    let mut sent = 0;
    for (method, path, content_type, body) in &targets {
        for (what, headers) in &foreign {
            let mut request = http
                .request(method.parse().unwrap(), server.url(path))
                .header(header::COOKIE, &cookies)
                .body(body.clone());
            if !content_type.is_empty() {
                request = request.header(header::CONTENT_TYPE, *content_type);
            }
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            let response = request.send().await.unwrap();
            sent += 1;
            let status = response.status();
            let set = set_cookies(&response);
            let text = response.text().await.unwrap_or_default();
            assert_eq!(
                (status, text.as_str()),
                (StatusCode::FORBIDDEN, FORBIDDEN),
                "{method} {path} ({content_type}) with {what}"
            );
            assert!(set.is_empty(), "{method} {path} with {what}: cookies set");
        }
    }
    // Nothing happened: no account was created, the session is alive, the name is unchanged.
    let user: Value = http
        .get(server.url("/api/user"))
        .header(header::COOKIE, &cookies)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        user["name"], "Original Name",
        "a cross-origin write went through"
    );
    let response = post_json(
        &server,
        "/auth/sign-in",
        &json!({ "email": "csrf-new@example.com", "password": PASSWORD }),
        None,
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "cross-origin sign-up created an account"
    );
    // Controls: the same writes from the app's own origin work (no Origin at all, as a non-browser
    // client sends, is allowed too).
    let response = post_json(
        &server,
        "/auth/ui/profile/name",
        &json!({ "name": "Changed" }),
        Some(&cookies),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "same-origin update_name");
    let response = http
        .post(server.url("/auth/sign-in"))
        .header("sec-fetch-site", "same-origin")
        .header("referer", server.url("/sign-in"))
        .json(&sign_in_body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "same-origin sign-in without Origin"
    );
    assert_alive(&mut server).await;
    eprintln!("cross_origin_writes_are_forbidden: {sent} attack requests");
}

/// `redirect_url` can only lead back into the app: every off-site spelling (scheme, `//`, `\`,
/// encoded and whitespace tricks, `javascript:`/`data:`, header injection) is replaced by `/` in
/// the sign-in and sign-up answers (JSON and form, success and error) and at sign-out. "Same
/// origin" is judged the way a browser resolves the `Location`.
#[tokio::test(flavor = "multi_thread")]
async fn redirect_url_stays_on_the_site() {
    let mut server = AppServer::start().await;
    sign_up(&server, "redirect@example.com", PASSWORD, "R").await;
    let base = url::Url::parse(&server.base_url).unwrap();
    let same_origin = |location: &str, what: &str| {
        assert!(
            location.starts_with('/')
                && !location.starts_with("//")
                && !location.starts_with("/\\")
                && location.bytes().all(|b| b.is_ascii_graphic()),
            "{what}: Location {location:?}"
        );
        let resolved = base.join(location).expect("a resolvable Location");
        assert_eq!(
            resolved.origin(),
            base.origin(),
            "{what}: {location:?} leaves the site"
        );
    };
    let evil = [
        "https://evil.example",
        "http://evil.example/dashboard",
        "//evil.example",
        "///evil.example",
        "////evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "\\\\evil.example",
        "/%5Cevil.example",
        "/%2F/evil.example",
        "/%2F%2Fevil.example",
        "%2F%2Fevil.example",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "\t//evil.example",
        "/\t/evil.example",
        " //evil.example",
        "/ /evil.example",
        "\n//evil.example",
        "/\r\nLocation: https://evil.example",
        "/%0d%0aSet-Cookie:%20x=1",
        "https:evil.example",
        "https:/evil.example",
        "evil.example",
        "@evil.example",
        "/@evil.example",
        "/.//evil.example",
        "/\u{3002}evil.example",
        "/\u{ff0f}evil.example",
        "\u{2215}\u{2215}evil.example",
        "/dashboard#//evil.example",
    ];
    let mut sent = 0;
    for target in evil {
        let what = format!("redirect_url {target:?}");
        // JSON sign-in: the answer's redirect_url.
        let response = post_json(
            &server,
            "/auth/sign-in",
            &json!({ "email": "redirect@example.com", "password": PASSWORD, "redirect_url": target }),
            None,
        )
        .await;
        sent += 1;
        assert_eq!(response.status(), StatusCode::OK, "{what}");
        let body: Value = response.json().await.unwrap();
        same_origin(
            body["redirect_url"].as_str().unwrap(),
            &format!("{what} (JSON)"),
        );
        // Form sign-in: the 303.
        let response = post_form(
            &server,
            "/auth/sign-in",
            &[
                ("email", "redirect@example.com"),
                ("password", PASSWORD),
                ("redirect_url", target),
            ],
            None,
        )
        .await;
        sent += 1;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{what} (form)");
        let location = response.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .to_owned();
        same_origin(&location, &format!("{what} (form)"));
        let session = Session {
            cookies: set_cookies(&response),
            body: Value::Null,
        };
        // Form sign-up that fails (taken email): back to the form, carrying only a safe redirect_url.
        let response = post_form(
            &server,
            "/auth/sign-up",
            &[
                ("email", "redirect@example.com"),
                ("password", PASSWORD),
                ("redirect_url", target),
            ],
            None,
        )
        .await;
        sent += 1;
        let location = response.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .to_owned();
        same_origin(&location, &format!("{what} (form error)"));
        let carried = url::Url::parse("http://x.invalid")
            .unwrap()
            .join(&location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "redirect_url")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        same_origin(&carried, &format!("{what} (carried in the form error)"));
        // Sign-out with the redirect.
        let response = post_form(
            &server,
            "/auth/sign-out",
            &[("redirect_url", target)],
            Some(&session.cookie_header()),
        )
        .await;
        sent += 1;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "{what} (sign-out)"
        );
        let location = response.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .to_owned();
        same_origin(&location, &format!("{what} (sign-out)"));
    }
    // Control: a same-origin path is kept exactly.
    let response = post_form(
        &server,
        "/auth/sign-in",
        &[
            ("email", "redirect@example.com"),
            ("password", PASSWORD),
            ("redirect_url", "/dashboard?tab=2"),
        ],
        None,
    )
    .await;
    assert_eq!(response.headers()[header::LOCATION], "/dashboard?tab=2");
    assert_alive(&mut server).await;
    eprintln!("redirect_url_stays_on_the_site: {sent} attack requests");
}

/// The profile server function (`POST /auth/ui/profile/name`): signed out or forged → 401, the
/// sign-up rules for names hold (control characters, length, blank), and malformed bodies are a
/// 4xx — never a 5xx, never a change.
#[tokio::test(flavor = "multi_thread")]
async fn profile_name_server_function_is_guarded() {
    let mut server = AppServer::start().await;
    let session = sign_up(&server, "profile@example.com", PASSWORD, "Profile Owner").await;
    let real = server_signer(&server).await;
    let forged = real.sign_raw(
        &json!({ "alg": "ES256", "kid": "unknown" }).to_string(),
        &claims(&server, &session.user_id()).to_string(),
    );
    let http = client();
    let mut sent = 0;
    for (what, cookie) in [
        ("no session", None),
        ("forged session", Some(format!("__session={forged}"))),
        ("junk session", Some("__session=a.b.c".to_owned())),
    ] {
        let response = post_json(
            &server,
            "/auth/ui/profile/name",
            &json!({ "name": "Pwned" }),
            cookie.as_deref(),
        )
        .await;
        sent += 1;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
    }
    let cookies = session.cookie_header();
    for (what, body) in [
        ("NUL", json!({ "name": "a\u{0}b" })),
        ("CR LF", json!({ "name": "a\r\nb" })),
        ("DEL", json!({ "name": "a\u{7f}" })),
        ("201 characters", json!({ "name": "é".repeat(201) })),
        ("blank", json!({ "name": "   " })),
        ("empty", json!({ "name": "" })),
    ] {
        let response = post_json(&server, "/auth/ui/profile/name", &body, Some(&cookies)).await;
        sent += 1;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    for (what, content_type, body) in [
        (
            "name a number",
            "application/json",
            r#"{"name":1}"#.to_owned(),
        ),
        ("name missing", "application/json", "{}".to_owned()),
        ("array", "application/json", "[]".to_owned()),
        ("not JSON", "application/json", "name=x".to_owned()),
        (
            "truncated JSON",
            "application/json",
            r#"{"name":"#.to_owned(),
        ),
        (
            "deep nesting",
            "application/json",
            format!(r#"{{"name":{}"#, "[".repeat(100_000)),
        ),
        (
            "1 MB name",
            "application/json",
            json!({ "name": "a".repeat(1024 * 1024) }).to_string(),
        ),
        (
            "2 MB name",
            "application/json",
            json!({ "name": "a".repeat(2 * 1024 * 1024) }).to_string(),
        ),
    ] {
        let response = http
            .post(server.url("/auth/ui/profile/name"))
            .header("origin", &server.base_url)
            .header(header::COOKIE, &cookies)
            .header(header::CONTENT_TYPE, content_type)
            // A server may refuse a huge body by answering before reading it and closing the
            // connection; a pooled connection would then fail the next request with a broken
            // pipe (seen once in CI). One connection per attack.
            .header(header::CONNECTION, "close")
            .body(body)
            .send()
            .await;
        sent += 1;
        // A server may refuse a huge body by closing the connection; otherwise a 4xx.
        if let Ok(response) = response {
            assert!(
                response.status().is_client_error(),
                "{what}: {}",
                response.status()
            );
        }
    }
    let user: Value = http
        .get(server.url("/api/user"))
        .header(header::COOKIE, &cookies)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        user["name"], "Profile Owner",
        "a refused update changed the name"
    );
    // Control: a valid update works and is trimmed.
    let response = post_json(
        &server,
        "/auth/ui/profile/name",
        &json!({ "name": "  New Name  " }),
        Some(&cookies),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], "New Name");
    assert_alive(&mut server).await;
    eprintln!("profile_name_server_function_is_guarded: {sent} attack requests");
}
