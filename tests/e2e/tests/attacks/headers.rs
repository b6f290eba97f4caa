//! Cookies and headers: several session cookies, `Authorization` spellings, raw header bytes and
//! oversized credentials.

use crate::{
    PASSWORD, assert_alive, assert_api_401, assert_dashboard_redirects, assert_signed_out_page,
};
use e2e::AppServer;
use e2e::http::{UNAUTHORIZED, client, raw_request, sign_up};
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
