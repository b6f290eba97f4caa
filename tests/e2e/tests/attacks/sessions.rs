//! Sessions that rotate and expire (issue 15), against the release bundle:
//!
//! * an expired page load — the document and 20 requests for its static files, all with an
//!   expired `__session` and a live `__refresh` — writes the session row once (the document's
//!   refresh), and no asset answer sets a cookie;
//! * a refresh secret rotated out and presented again after the grace revokes the whole session,
//!   while inside the grace it still gets a token without a new refresh cookie;
//! * sign-up from a signed-in browser revokes the session its cookies pointed at;
//! * with the database broken, no answer — the identity provider's endpoints, the profile server
//!   function, the API — carries database, SQL or file path text, and sign-out still clears the
//!   cookies.
//!
//! Writes are counted in the server's own SQLite file with a trigger, as in [`crate::one_path`].

use crate::{PASSWORD, edit, segments};
use e2e::AppServer;
use e2e::http::{b64url_decode, client, now, post_json, server_signer, set_cookies, sign_up};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Row};
use std::time::Duration;

/// A connection to the running server's SQLite file.
async fn database(server: &AppServer) -> SqliteConnection {
    let path = server.data_dir().join("app.db");
    SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Installs a trigger that counts every `UPDATE` of the `sessions` table.
async fn count_session_writes(conn: &mut SqliteConnection) {
    for statement in [
        "CREATE TABLE IF NOT EXISTS test_session_updates (session_id TEXT)",
        "CREATE TRIGGER IF NOT EXISTS test_count_session_updates AFTER UPDATE ON sessions
         BEGIN INSERT INTO test_session_updates (session_id) VALUES (NEW.id); END",
    ] {
        sqlx::query(statement)
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("install the write counter: {e}"));
    }
}

async fn session_writes(conn: &mut SqliteConnection) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM test_session_updates")
        .fetch_one(&mut *conn)
        .await
        .expect("read the write counter")
        .get(0)
}

/// A `__session` for the session of `token` (signed with the server's key, its issued claims)
/// that expired an hour ago.
async fn expired(server: &AppServer, token: &str) -> String {
    let (_, payload, _) = segments(token);
    let issued: Value = serde_json::from_slice(&b64url_decode(payload)).unwrap();
    server_signer(server).await.sign(&edit(
        &issued,
        json!({ "iat": now() - 3660, "nbf": now() - 3660, "exp": now() - 3600 }),
    ))
}

/// `GET path` with a `Cookie` header: status, `Set-Cookie` name → value, body.
async fn get(
    server: &AppServer,
    path: &str,
    cookies: &str,
) -> (
    StatusCode,
    std::collections::BTreeMap<String, String>,
    String,
) {
    let response = client()
        .get(server.url(path))
        .header(header::COOKIE, cookies)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status();
    let set = set_cookies(&response);
    (status, set, response.text().await.unwrap_or_default())
}

/// The static files a page loads: what its HTML references under `/assets/` (the script as
/// `/./assets/…`), and every file the bundle serves from `public/assets` and `public/wasm` (the
/// script fetches the wasm).
fn static_urls(html: &str) -> Vec<String> {
    let mut urls: Vec<String> = html
        .split(['"', '\''])
        .map(|s| s.replacen("/./", "/", 1))
        .filter(|s| s.starts_with("/assets/") || s.starts_with("/wasm/"))
        .collect();
    let public = e2e::process::ServerProcess::bundle_dir().join("public");
    for folder in ["assets", "wasm"] {
        // A bundle may have no `wasm` folder (the wasm is then under `assets`).
        let Ok(entries) = std::fs::read_dir(public.join(folder)) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                urls.push(format!("/{folder}/{}", entry.file_name().to_string_lossy()));
            }
        }
    }
    urls.sort();
    urls.dedup();
    urls
}

/// An expired page load costs one refresh, not one per asset: the document and 20 concurrent
/// requests for the page's files, all with an expired `__session` and a live `__refresh`.
#[tokio::test(flavor = "multi_thread")]
async fn expired_page_load_refreshes_once() {
    let server = AppServer::start().await;
    let user = sign_up(&server, "page-load@example.com", PASSWORD, "Page Load").await;
    let home = client().get(server.url("/")).send().await.unwrap();
    let assets = static_urls(&home.text().await.unwrap());
    assert!(
        [".css", ".js", ".wasm"]
            .iter()
            .all(|ext| assets.iter().any(|a| a.ends_with(ext))),
        "the page's css, js and wasm files were not found: {assets:?}"
    );
    let cookies = format!(
        "__session={}; __refresh={}",
        expired(&server, user.token()).await,
        user.refresh()
    );
    let mut db = database(&server).await;
    count_session_writes(&mut db).await;

    let (status, set, body) = get(&server, "/dashboard", &cookies).await;
    assert_eq!(status, StatusCode::OK, "the document: {body:.200}");
    assert!(
        set.get("__refresh")
            .is_some_and(|v| !v.is_empty() && v != user.refresh()),
        "the document's refresh rotates the secret: {set:?}"
    );
    assert_eq!(session_writes(&mut db).await, 1, "the document's refresh");

    let mut requests = tokio::task::JoinSet::new();
    let paths: Vec<String> = assets
        .iter()
        .cloned()
        .chain(["/favicon.ico".to_owned()])
        .cycle()
        .take(20)
        .collect();
    for path in paths {
        let (url, cookies) = (server.url(&path), cookies.clone());
        requests.spawn(async move {
            let response = client()
                .get(url)
                .header(header::COOKIE, cookies)
                .send()
                .await
                .unwrap();
            (path, response.status(), set_cookies(&response))
        });
    }
    // Each answer that sets a cookie is one refresh (a token minted). Without the static-file
    // rule the writes alone would not show it: the document rotated the secret, so the assets'
    // refreshes would be answered from its grace, minting tokens without writing.
    let mut served = 0;
    while let Some(answer) = requests.join_next().await {
        let (path, status, set) = answer.unwrap();
        assert!(
            set.is_empty(),
            "{path}: an asset answer set cookies: {set:?}"
        );
        if status == StatusCode::OK {
            served += 1;
        }
    }
    assert!(
        served >= 15,
        "only {served} of 20 requests were for the bundle's files"
    );
    let writes = session_writes(&mut db).await;
    eprintln!("expired page load: 1 document + 20 assets -> {writes} session write(s)");
    assert_eq!(writes, 1, "the asset requests refreshed the session");
}

/// Rotation over HTTP: the secret a refresh replaced works inside the grace (a token, no new
/// `__refresh`), and after it revokes the session — the live secret included.
#[tokio::test(flavor = "multi_thread")]
async fn reused_refresh_secret_revokes_the_session() {
    let server = AppServer::start_with_env(&[("AUTH_SESSION_REFRESH_GRACE_SECS", "2")]).await;
    let user = sign_up(&server, "reuse@example.com", PASSWORD, "Reuse").await;
    let old = format!("__refresh={}", user.refresh());

    let (_, set, body) = get(&server, "/auth/session", &old).await;
    assert!(body.contains(r#""status":"signed_in""#), "{body}");
    let live = set
        .get("__refresh")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("the refresh rotated nothing: {set:?}"))
        .clone();
    assert_ne!(live, user.refresh());

    // Another tab, same moment: still signed in, and its answer leaves the live secret alone.
    let (_, set, body) = get(&server, "/auth/session", &old).await;
    assert!(
        body.contains(r#""status":"signed_in""#),
        "in the grace: {body}"
    );
    assert!(
        set.contains_key("__session") && !set.contains_key("__refresh"),
        "{set:?}"
    );

    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (_, set, body) = get(&server, "/auth/session", &old).await;
    assert!(
        body.contains(r#""status":"signed_out""#),
        "reused after the grace: {body}"
    );
    assert_eq!(
        set.get("__refresh").map(String::as_str),
        Some(""),
        "cleared: {set:?}"
    );
    let (_, _, body) = get(&server, "/auth/session", &format!("__refresh={live}")).await;
    assert!(
        body.contains(r#""status":"signed_out""#),
        "the session was not revoked: the live secret still signs in: {body}"
    );
}

/// Sign-up from a browser signed in as someone else revokes that session.
#[tokio::test(flavor = "multi_thread")]
async fn sign_up_revokes_the_browsers_previous_session() {
    let server = AppServer::start().await;
    let first = sign_up(&server, "first-account@example.com", PASSWORD, "First").await;
    let response = post_json(
        &server,
        "/auth/sign-up",
        &json!({ "email": "second-account@example.com", "password": PASSWORD, "name": "Second" }),
        Some(&first.cookie_header()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let (_, _, body) = get(
        &server,
        "/auth/session",
        &format!("__refresh={}", first.refresh()),
    )
    .await;
    assert!(
        body.contains(r#""status":"signed_out""#),
        "the first account's session survived the sign-up: {body}"
    );
}

/// What no answer may contain: the database's, the driver's or the file system's words.
fn assert_no_internals(what: &str, status: StatusCode, body: &str) {
    let lower = body.to_lowercase();
    for needle in [
        "sqlx",
        "sql",
        "select ",
        "update ",
        "insert ",
        "no such table",
        "database",
        "sqlite",
        "/tmp",
        "app.db",
        ".rs:",
        "error returned",
        "panicked",
    ] {
        assert!(
            !lower.contains(needle),
            "{what}: {status} leaks {needle:?}: {body}"
        );
    }
}

/// With the database broken under the running server (its tables renamed away), every answer is
/// a fixed message, and sign-out still clears the cookies.
#[tokio::test(flavor = "multi_thread")]
async fn database_errors_never_reach_the_client() {
    let mut server = AppServer::start().await;
    let user = sign_up(&server, "broken-db@example.com", PASSWORD, "Broken").await;
    let cookies = user.cookie_header();
    let mut db = database(&server).await;
    for table in ["sessions", "users", "credentials"] {
        sqlx::query(&format!("ALTER TABLE {table} RENAME TO {table}_gone"))
            .execute(&mut db)
            .await
            .unwrap();
    }

    let http = client();
    let origin = server.base_url.clone();
    let post = |path: &str, body: Value, cookies: Option<&str>| {
        let mut request = http
            .post(server.url(path))
            .header(header::ORIGIN, &origin)
            .json(&body);
        if let Some(c) = cookies {
            request = request.header(header::COOKIE, c);
        }
        request.send()
    };
    let mut answers = Vec::new();
    for (what, response) in [
        (
            "profile name",
            post(
                "/auth/ui/profile/name",
                json!({ "name": "New" }),
                Some(&cookies),
            )
            .await,
        ),
        (
            "sign-up",
            post(
                "/auth/sign-up",
                json!({ "email": "x@example.com", "password": PASSWORD, "name": "X" }),
                None,
            )
            .await,
        ),
        (
            "sign-in",
            post(
                "/auth/sign-in",
                json!({ "email": "broken-db@example.com", "password": PASSWORD }),
                None,
            )
            .await,
        ),
        (
            "session",
            http.get(server.url("/auth/session"))
                .header(header::COOKIE, &cookies)
                .send()
                .await,
        ),
        (
            "user",
            http.get(server.url("/api/user"))
                .header(header::COOKIE, &cookies)
                .send()
                .await,
        ),
        (
            "sign-out",
            post("/auth/sign-out", json!({}), Some(&cookies)).await,
        ),
    ] {
        let response = response.unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = response.status();
        let set = set_cookies(&response);
        let body = response.text().await.unwrap_or_default();
        assert_no_internals(what, status, &body);
        answers.push((what, status, set, body));
    }
    for (what, status, set, body) in &answers {
        eprintln!("{what}: {status} {body:.120} (Set-Cookie {set:?})");
    }
    let (_, status, _, _) = &answers[0];
    assert!(
        status.is_server_error(),
        "the profile server function did not fail: {answers:?}"
    );
    let (_, _, set, _) = answers.last().unwrap();
    assert!(
        set.get("__session").is_some_and(String::is_empty)
            && set.get("__refresh").is_some_and(String::is_empty),
        "sign-out with the database broken did not clear the cookies: {set:?}"
    );
    crate::assert_alive(&mut server).await;
}
