//! Cookies and headers: several session cookies, `Authorization` spellings, raw header bytes and
//! oversized credentials; and what every answer carries (security headers, `Cache-Control` on
//! private answers, `__Host-` cookie names over https).

use crate::{
    PASSWORD, assert_alive, assert_api_401, assert_dashboard_redirects, assert_signed_out_page,
};
use e2e::AppServer;
use e2e::http::{UNAUTHORIZED, client, post_form, post_json, raw_request, set_cookies, sign_up};
use reqwest::{StatusCode, header};

/// Several `__session` cookies are ambiguous, so the request is signed out (documented rule,
/// `token.rs`): whichever order, in one header or split across two, even when both are valid.
/// Never a 5xx.
#[tokio::test(flavor = "multi_thread")]
async fn several_session_cookies_mean_signed_out() {
    let mut server = AppServer::start().await;
    let a = sign_up(&server, "cookie-a@example.com", PASSWORD, "A").await;
    let b = sign_up(&server, "cookie-b@example.com", PASSWORD, "B").await;
    let (ta, tb) = (a.token(), b.token());
    let junk = "junk.junk.junk";
    let http = client();
    let single = |cookie: String| vec![cookie];
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "valid then junk",
            single(format!("__session={ta}; __session={junk}")),
        ),
        (
            "junk then valid",
            single(format!("__session={junk}; __session={ta}")),
        ),
        (
            "valid twice",
            single(format!("__session={ta}; __session={ta}")),
        ),
        (
            "two users",
            single(format!("__session={ta}; __session={tb}")),
        ),
        (
            "empty then valid",
            single(format!("__session=; __session={ta}")),
        ),
        (
            "split across headers (valid first)",
            vec![format!("__session={ta}"), format!("__session={junk}")],
        ),
        (
            "split across headers (junk first)",
            vec![format!("__session={junk}"), format!("__session={ta}")],
        ),
    ];
    // Control: one valid cookie among others works.
    let response = http
        .get(server.url("/api/me"))
        .header(header::COOKIE, format!("theme=dark; __session={ta}; x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut sent = 1;
    for (name, headers) in &cases {
        for path in ["/api/me", "/api/user", "/dashboard", "/"] {
            let mut request = http.get(server.url(path));
            for value in headers {
                request = request.header(header::COOKIE, value);
            }
            let response = request.send().await.unwrap();
            let what = format!("{name}: GET {path}");
            match path {
                "/dashboard" => assert_dashboard_redirects(response, &what).await,
                "/" => assert_signed_out_page(response, &what).await,
                _ => assert_api_401(response, &what).await,
            }
            sent += 1;
        }
    }
    assert_alive(&mut server).await;
    eprintln!("several_session_cookies_mean_signed_out: {sent} attack requests");
}

/// `Authorization` spelling: the scheme is case-insensitive and spaces around the token are
/// ignored (RFC 7235); a `Bearer` without exactly one token is signed out and does not fall back
/// to the cookie; another scheme falls back to the cookie; two headers are ambiguous.
#[tokio::test(flavor = "multi_thread")]
async fn authorization_header_spellings() {
    let mut server = AppServer::start().await;
    let user = sign_up(&server, "bearer@example.com", PASSWORD, "Bearer").await;
    let t = user.token();
    let cookie = format!("__session={t}");
    let http = client();
    // (Authorization values, Cookie, signed in?)
    let cases: Vec<(Vec<String>, Option<&str>, bool)> = vec![
        (vec![format!("Bearer {t}")], None, true),
        (vec![format!("bearer {t}")], None, true),
        (vec![format!("BEARER {t}")], None, true),
        (vec![format!("bEaReR {t}")], None, true),
        (vec![format!("Bearer    {t}   ")], None, true),
        (vec![format!("Bearer\t{t}")], None, true),
        (vec!["Bearer".into()], None, false),
        (vec!["Bearer ".into()], None, false),
        (vec!["bearer      ".into()], None, false),
        (vec![format!("Bearer {t} {t}")], None, false),
        (vec![format!("Bearer {t} extra")], None, false),
        (vec![format!("Bearer{t}")], None, false),
        (vec![format!("Bearer,{t}")], None, false),
        (vec![format!("Token {t}")], None, false),
        (vec![format!("Basic {t}")], None, false),
        (vec![t.to_owned()], None, false),
        (vec!["Bearer junk".into()], Some(&cookie), false),
        (vec!["Bearer".into()], Some(&cookie), false),
        (
            vec![format!("Bearer {t}"), format!("Bearer {t}")],
            None,
            false,
        ),
        (
            vec![format!("Bearer {t}"), "Bearer junk".into()],
            None,
            false,
        ),
        (vec!["Basic dXNlcjpwYXNz".into()], Some(&cookie), true),
        (vec![String::new()], Some(&cookie), true),
    ];
    let mut sent = 0;
    for (values, cookie, signed_in) in &cases {
        for path in ["/api/me", "/dashboard"] {
            let mut request = http.get(server.url(path));
            for value in values {
                request = request.header(header::AUTHORIZATION, value);
            }
            if let Some(cookie) = cookie {
                request = request.header(header::COOKIE, *cookie);
            }
            let response = request.send().await.unwrap();
            let what = format!(
                "Authorization {values:?}, cookie {}: {path}",
                cookie.is_some()
            );
            sent += 1;
            match (path, signed_in) {
                ("/api/me", true) | ("/dashboard", true) => {
                    assert_eq!(response.status(), StatusCode::OK, "{what}")
                }
                ("/api/me", false) => assert_api_401(response, &what).await,
                _ => assert_dashboard_redirects(response, &what).await,
            }
        }
    }
    assert_alive(&mut server).await;
    eprintln!("authorization_header_spellings: {sent} requests");
}

/// Bytes reqwest will not send (non-UTF-8 header values, a non-UTF-8 path, NUL, a raw 1 MB
/// header, 200 header lines) over a raw socket: a 4xx or the documented signed-out answer, never
/// a 5xx, and the server keeps serving.
#[tokio::test(flavor = "multi_thread")]
async fn raw_header_bytes_never_break_the_server() {
    let mut server = AppServer::start().await;
    let user = sign_up(&server, "raw@example.com", PASSWORD, "Raw").await;
    let token = user.token().to_owned();
    let host = server.base_url.trim_start_matches("http://").to_owned();
    let request = |method: &str, path: &[u8], headers: &[&[u8]]| {
        let mut out = Vec::new();
        out.extend_from_slice(method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(path);
        out.extend_from_slice(
            format!(" HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n").as_bytes(),
        );
        for h in headers {
            out.extend_from_slice(h);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    };
    let valid_cookie = format!("Cookie: __session={token}");
    let bearer_ff = [&b"Authorization: Bearer \xff\xfe"[..]].concat();
    let big_header = [&b"Authorization: Bearer "[..], &vec![b'a'; 1024 * 1024][..]].concat();
    let big_cookie = [&b"Cookie: __session="[..], &vec![b'a'; 1024 * 1024][..]].concat();
    let many: Vec<Vec<u8>> = (0..200)
        .map(|i| format!("X-Junk-{i}: {i}").into_bytes())
        .collect();
    let many_refs: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();

    // (name, request, allowed statuses; None = the server may also just close the connection)
    let cases: Vec<(&str, Vec<u8>, &[u16], bool)> = vec![
        (
            "Bearer with non-UTF-8 bytes",
            request("GET", b"/api/me", &[&bearer_ff]),
            &[401],
            false,
        ),
        (
            "non-UTF-8 Authorization falls back to the cookie",
            request(
                "GET",
                b"/api/me",
                &[b"Authorization: \xff\xfe", valid_cookie.as_bytes()],
            ),
            &[200],
            false,
        ),
        (
            "non-UTF-8 session cookie",
            request("GET", b"/api/me", &[b"Cookie: __session=\xff\xfe\xfd"]),
            &[401],
            false,
        ),
        (
            "non-UTF-8 bytes around a valid cookie (header ignored)",
            request(
                "GET",
                b"/api/me",
                &[[&b"Cookie: \xff=1; __session="[..], token.as_bytes()]
                    .concat()
                    .as_slice()],
            ),
            &[401],
            false,
        ),
        (
            "non-UTF-8 cookie on a document",
            request("GET", b"/", &[b"Cookie: __session=\xff\xfe"]),
            &[200],
            false,
        ),
        (
            "non-UTF-8 cookie on the protected document",
            request("GET", b"/dashboard", &[b"Cookie: __session=\xff\xfe"]),
            &[303],
            false,
        ),
        (
            "non-UTF-8 Origin on a POST",
            request(
                "POST",
                b"/auth/sign-in",
                &[
                    b"Origin: http://\xff\xfe",
                    b"Content-Type: application/json",
                    b"Content-Length: 2",
                ],
            )
            .into_iter()
            .chain(*b"{}")
            .collect(),
            &[403],
            false,
        ),
        (
            "non-UTF-8 Sec-Fetch-Site on a POST",
            request(
                "POST",
                b"/auth/sign-out",
                &[b"Sec-Fetch-Site: \xff", b"Content-Length: 0"],
            ),
            &[200, 403],
            false,
        ),
        (
            "non-UTF-8 path",
            request("GET", b"/dashboard\xff\xfe", &[]),
            &[400, 404, 303],
            false,
        ),
        (
            "NUL in a header value",
            request("GET", b"/api/me", &[b"Authorization: Bearer a\0b"]),
            &[400, 401],
            true,
        ),
        (
            "1 MB Authorization header",
            request("GET", b"/api/me", &[&big_header]),
            &[400, 401, 413, 431],
            true,
        ),
        (
            "1 MB cookie header",
            request("GET", b"/", &[&big_cookie]),
            &[200, 400, 413, 431],
            true,
        ),
        (
            "200 header lines",
            request("GET", b"/api/me", &many_refs),
            &[400, 401, 431],
            true,
        ),
        (
            "header without a colon",
            request("GET", b"/api/me", &[b"this is not a header"]),
            &[400],
            true,
        ),
    ];
    for (name, bytes, allowed, may_close) in &cases {
        let response = raw_request(&server.base_url, bytes).await;
        match response.status {
            Some(status) => assert!(
                allowed.contains(&status),
                "{name}: status {status}, expected one of {allowed:?}\n{}",
                response.head
            ),
            None => assert!(*may_close, "{name}: the server closed without answering"),
        }
        if response.status == Some(401) {
            assert!(response.body.contains(UNAUTHORIZED), "{name}: 401 body");
        }
    }
    assert_alive(&mut server).await;
    // A valid request still works after all of it.
    let response = client()
        .get(server.url("/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    eprintln!(
        "raw_header_bytes_never_break_the_server: {} attack requests",
        cases.len()
    );
}

/// Oversized credentials through reqwest: 64 KB and 100 KB Bearer tokens and cookie headers
/// (over the 8 KiB token cap, under the HTTP header limit) are signed out (401 / signed-out page /
/// 303) or refused as too large (431), never a 5xx.
#[tokio::test(flavor = "multi_thread")]
async fn oversized_credentials_are_refused() {
    let mut server = AppServer::start().await;
    let user = sign_up(&server, "big@example.com", PASSWORD, "Big").await;
    let http = client();
    let mut sent = 0;
    let big_token = |n: usize| {
        format!(
            "{}.{}.{}",
            "a".repeat(n / 3),
            "b".repeat(n / 3),
            "c".repeat(n / 3)
        )
    };
    let many_cookies = (0..10_000)
        .map(|i| format!("c{i}=v"))
        .collect::<Vec<_>>()
        .join("; ");
    let cases: Vec<(String, String)> = vec![
        (
            "64 KB Bearer".into(),
            format!("Bearer {}", big_token(64 * 1024)),
        ),
        (
            "100 KB Bearer".into(),
            format!("Bearer {}", big_token(100 * 1024)),
        ),
        (
            "64 KB cookie".into(),
            format!("__session={}", big_token(64 * 1024)),
        ),
        (
            "100 KB cookie".into(),
            format!("__session={}", big_token(100 * 1024)),
        ),
        (
            "100 KB cookie header of many cookies".into(),
            many_cookies.clone(),
        ),
        (
            "100 KB of cookies around a valid session".into(),
            format!("{many_cookies}; __session={}", user.token()),
        ),
    ];
    for (name, value) in &cases {
        let is_cookie = !value.starts_with("Bearer ");
        for path in ["/api/me", "/dashboard", "/"] {
            let request = http.get(server.url(path));
            let request = if is_cookie {
                request.header(header::COOKIE, value)
            } else {
                request.header(header::AUTHORIZATION, value)
            };
            let response = request.send().await.unwrap();
            let status = response.status();
            sent += 1;
            let what = format!("{name}: GET {path}");
            if status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE {
                continue;
            }
            let valid_inside = name.contains("valid session");
            match (path, valid_inside) {
                (_, true) => assert_eq!(status, StatusCode::OK, "{what}"),
                ("/api/me", false) => assert_api_401(response, &what).await,
                ("/dashboard", false) => assert_dashboard_redirects(response, &what).await,
                _ => assert_signed_out_page(response, &what).await,
            }
        }
    }
    assert_alive(&mut server).await;
    eprintln!("oversized_credentials_are_refused: {sent} attack requests");
}

// ---- response headers (issue 15: cookies, caching, security headers) ---------------------------

/// The security headers every answer must carry, whatever produced it.
const SECURITY_HEADERS: [(&str, &str); 3] = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    ("x-frame-options", "DENY"),
];

/// The one value of a response header (panics on duplicates: two policies would both apply).
fn single_header(response: &reqwest::Response, name: &str, what: &str) -> Option<String> {
    let values: Vec<_> = response.headers().get_all(name).iter().collect();
    assert!(
        values.len() <= 1,
        "{what}: {name} sent {} times",
        values.len()
    );
    values.first().map(|v| v.to_str().unwrap().to_owned())
}

/// The first same-origin URL in the page that ends with `suffix` (the bundle's hashed asset names).
fn asset_url(html: &str, suffix: &str) -> Option<String> {
    html.split(['"', '\''])
        .find(|s| s.starts_with('/') && !s.starts_with("//") && s.ends_with(suffix))
        .map(str::to_owned)
}

/// `X-Content-Type-Options`, `Referrer-Policy`, `X-Frame-Options` and a `Content-Security-Policy`
/// with `frame-ancestors 'none'` on every answer of the release server: pages, redirects, the
/// API, the identity provider, static assets, 404s, and refusals made before the auth layer
/// (403 cross-origin) or by it (401).
#[tokio::test(flavor = "multi_thread")]
async fn security_headers_on_every_answer() {
    let mut server = AppServer::start().await;
    let http = client();
    let session = sign_up(&server, "headers@example.com", PASSWORD, "H").await;
    let html = http
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let css = asset_url(&html, ".css").expect("the page links a stylesheet");
    let wasm_glue = asset_url(&html, ".js").expect("the page loads the wasm glue");
    let signed_in = session.cookie_header();
    let origin = server.base_url.clone();
    let requests = [
        ("GET /", http.get(server.url("/")), Some(200)),
        ("GET /sign-in", http.get(server.url("/sign-in")), Some(200)),
        (
            "GET /dashboard signed out",
            http.get(server.url("/dashboard")),
            Some(303),
        ),
        (
            "GET /dashboard signed in",
            http.get(server.url("/dashboard"))
                .header(header::COOKIE, &signed_in),
            Some(200),
        ),
        (
            "GET /no-such-page",
            http.get(server.url("/no-such-page")),
            None,
        ),
        ("GET /api/me", http.get(server.url("/api/me")), Some(401)),
        (
            "GET /api/health",
            http.get(server.url("/api/health")),
            Some(200),
        ),
        (
            "GET /auth/session",
            http.get(server.url("/auth/session")),
            None,
        ),
        (
            "GET /.well-known/jwks.json",
            http.get(server.url("/.well-known/jwks.json")),
            Some(200),
        ),
        ("GET stylesheet", http.get(server.url(&css)), Some(200)),
        ("GET wasm glue", http.get(server.url(&wasm_glue)), Some(200)),
        (
            "POST /auth/sign-out cross-origin",
            http.post(server.url("/auth/sign-out"))
                .header(header::ORIGIN, "https://evil.example"),
            Some(403),
        ),
        (
            "POST /auth/sign-in malformed",
            http.post(server.url("/auth/sign-in"))
                .header(header::ORIGIN, &origin)
                .header(header::CONTENT_TYPE, "application/json")
                .body("{"),
            None,
        ),
    ];
    let mut sent = 1;
    for (what, request, status) in requests {
        let response = request.send().await.unwrap();
        sent += 1;
        if let Some(status) = status {
            assert_eq!(response.status().as_u16(), status, "{what}");
        }
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(
                single_header(&response, name, what).as_deref(),
                Some(value),
                "{what}: {name}"
            );
        }
        let csp = single_header(&response, "content-security-policy", what)
            .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"));
        for directive in [
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{what}: {csp}");
        }
    }
    assert_alive(&mut server).await;
    eprintln!("security_headers_on_every_answer: {sent} requests");
}

/// `Cache-Control: private, no-store` on every answer that sets an auth cookie (sign-up,
/// sign-in, a renewal, sign-out) or was produced for a signed-in user (documents, `/auth/*`,
/// `/api/*`, server functions); static assets keep their own caching.
#[tokio::test(flavor = "multi_thread")]
async fn private_answers_are_never_stored() {
    let mut server = AppServer::start().await;
    let http = client();
    let cache_control = |response: &reqwest::Response, what: &str| {
        single_header(response, "cache-control", what).unwrap_or_default()
    };
    let private = |value: &str| {
        let directives: Vec<&str> = value.split(',').map(str::trim).collect();
        // `no-store` alone (a route's own choice, e.g. `/auth/token`) keeps it out of every cache.
        directives.contains(&"no-store")
    };

    // Answers that set cookies.
    let response = post_json(
        &server,
        "/auth/sign-up",
        &serde_json::json!({"email": "cache@example.com", "password": PASSWORD, "name": "C"}),
        None,
    )
    .await;
    let what = "sign-up";
    assert_eq!(response.status(), StatusCode::CREATED, "{what}");
    assert!(private(&cache_control(&response, what)), "{what}");
    let session = e2e::http::into_session(response, 201, what).await;
    let response = post_form(
        &server,
        "/auth/sign-in",
        &[("email", "cache@example.com"), ("password", PASSWORD)],
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "form sign-in");
    assert!(!set_cookies(&response).is_empty(), "form sign-in");
    assert!(
        private(&cache_control(&response, "form sign-in")),
        "form sign-in"
    );
    // A renewal by the layer (no session cookie, a live refresh cookie) on a public page.
    let response = http
        .get(server.url("/sign-in"))
        .header(header::COOKIE, format!("__refresh={}", session.refresh()))
        .send()
        .await
        .unwrap();
    assert!(!set_cookies(&response).is_empty(), "renewal on /sign-in");
    assert!(private(&cache_control(&response, "renewal")), "renewal");

    // Answers produced for a signed-in user.
    let cookie = session.cookie_header();
    let html = http
        .get(server.url("/"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert!(
        private(&cache_control(&html, "GET / signed in")),
        "GET / signed in"
    );
    let html = html.text().await.unwrap();
    for path in [
        "/",
        "/dashboard",
        "/profile",
        "/api/me",
        "/api/user",
        "/api/greeting",
        "/auth/session",
    ] {
        let response = http
            .get(server.url(path))
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        let what = format!("GET {path} signed in");
        assert_eq!(response.status(), StatusCode::OK, "{what}");
        assert!(private(&cache_control(&response, &what)), "{what}");
    }

    // Static assets, even with the cookies: not forced private.
    let css = asset_url(&html, ".css").expect("the page links a stylesheet");
    let response = http
        .get(server.url(&css))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        !private(&cache_control(&response, "stylesheet")),
        "stylesheet"
    );

    // Sign-out clears the cookies, privately.
    let response = post_json(
        &server,
        "/auth/sign-out",
        &serde_json::json!({}),
        Some(&cookie),
    )
    .await;
    assert!(!set_cookies(&response).is_empty(), "sign-out");
    assert!(private(&cache_control(&response, "sign-out")), "sign-out");
    assert_alive(&mut server).await;
}

/// With an https public URL the cookies are `__Host-session` / `__Host-refresh` (`Secure`,
/// `Path=/`, no `Domain`); the pre-upgrade names still sign in, lose to the prefixed ones when
/// both arrive, and are removed by the next answer that sets their successor. (The server is
/// reached over loopback http; the names follow the configured public URL.)
#[tokio::test(flavor = "multi_thread")]
async fn https_apps_use_host_prefixed_cookies() {
    const ORIGIN: &str = "https://app.example.test";
    let mut server = AppServer::start_with_env(&[("AUTH_PUBLIC_URL", ORIGIN)]).await;
    let http = client();
    let sign_up = |email: &'static str| {
        http.post(server.url("/auth/sign-up"))
            .header(header::ORIGIN, ORIGIN)
            .json(&serde_json::json!({"email": email, "password": PASSWORD, "name": "Host"}))
            .send()
    };
    let response = sign_up("host-a@example.com").await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let raw: Vec<String> = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let cookies = set_cookies(&response);
    assert_eq!(
        cookies.keys().collect::<Vec<_>>(),
        ["__Host-refresh", "__Host-session"],
        "{raw:?}"
    );
    for set in &raw {
        let attributes: Vec<String> = set
            .split(';')
            .skip(1)
            .map(|a| a.trim().to_ascii_lowercase())
            .collect();
        assert!(attributes.iter().any(|a| a == "secure"), "{set}");
        assert!(attributes.iter().any(|a| a == "path=/"), "{set}");
        assert!(attributes.iter().any(|a| a == "httponly"), "{set}");
        assert!(!attributes.iter().any(|a| a.starts_with("domain")), "{set}");
    }
    let a_token = cookies["__Host-session"].clone();
    let a_refresh = cookies["__Host-refresh"].clone();
    let me = |cookie: String| {
        let request = http
            .get(server.url("/api/me"))
            .header(header::COOKIE, cookie);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (
                status,
                body["user_id"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    let (status, a_id) = me(format!("__Host-session={a_token}")).await;
    assert_eq!(status, StatusCode::OK);

    // The old names still work (an upgrade signs no one out)…
    assert_eq!(
        me(format!("__session={a_token}")).await,
        (StatusCode::OK, a_id.clone())
    );
    // …but lose to the prefixed ones: B's planted `__session` never beats A's `__Host-session`.
    let response = sign_up("host-b@example.com").await.unwrap();
    let b_token = set_cookies(&response)["__Host-session"].clone();
    for cookie in [
        format!("__session={b_token}; __Host-session={a_token}"),
        format!("__Host-session={a_token}; __session={b_token}"),
    ] {
        assert_eq!(
            me(cookie.clone()).await,
            (StatusCode::OK, a_id.clone()),
            "{cookie}"
        );
    }
    // A duplicated prefixed cookie is ambiguous: signed out, no fallback to the old name.
    let (status, _) = me(format!(
        "__Host-session={a_token}; __Host-session={b_token}; __session={a_token}"
    ))
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A renewal from the old refresh name sets the prefixed cookies and removes the old ones.
    let response = http
        .get(server.url("/api/me"))
        .header(
            header::COOKIE,
            format!("__session=expired.old.token; __refresh={a_refresh}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let set = set_cookies(&response);
    assert!(
        set.get("__Host-session").is_some_and(|v| !v.is_empty()),
        "{set:?}"
    );
    assert_eq!(
        set.get("__session").map(String::as_str),
        Some(""),
        "old session removed: {set:?}"
    );
    if set.contains_key("__Host-refresh") {
        assert_eq!(
            set.get("__refresh").map(String::as_str),
            Some(""),
            "old refresh removed: {set:?}"
        );
    }
    assert_alive(&mut server).await;
}
