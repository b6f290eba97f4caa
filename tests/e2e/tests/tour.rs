//! The app's tour, in headless Chromium against the release bundle: every page signed out
//! and signed in, each page's source link, the three calls of `/api-calls` (401 signed out, the
//! user signed in), and the admin page's 401 / 403 / allowed paths, with the role granted from
//! the command line as the page tells you to.

use e2e::ui::{
    NAME, PASSWORD, click, cookie_header, no_redirects, sign_up, text_of, type_into, wait_for,
    wait_greeting, wait_hydrated,
};
use e2e::{AppServer, Browser, problems};
use fantoccini::{Client, Locator};
use std::time::{Duration, Instant};

/// Waits until the element's text contains `needle`; returns the text.
async fn wait_text(client: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(el) = client.find(Locator::Css(css)).await
            && let Ok(text) = el.text().await
        {
            if text.contains(needle) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("`{css}` never contained {needle:?}; last text {last:?}");
}

/// No console problem but the 401/403 answers these tests provoke on purpose.
async fn assert_only_expected_refusals(browser: &Browser) {
    let unexpected: Vec<String> = problems(&browser.console().await)
        .into_iter()
        .filter(|p| {
            let provoked = ["/api/me", "/api/user", "/api/admin/users"]
                .iter()
                .any(|path| p.contains(path))
                && (p.contains("status of 401") || p.contains("status of 403"));
            !provoked
        })
        .collect();
    assert!(unexpected.is_empty(), "console problems: {unexpected:#?}");
}

/// The page's "Source:" link resolves to the file's text, served by the app.
async fn assert_source_link(server: &AppServer, client: &Client, file: &str) {
    let link = client
        .find(Locator::Css(".source a"))
        .await
        .expect("every page links its source");
    let href = link.attr("href").await.unwrap().unwrap_or_default();
    assert!(
        href.starts_with("/source/apps/") && href.ends_with(&format!("/src/pages/{file}")),
        "{href}"
    );
    let res = reqwest::get(server.url(&href)).await.unwrap();
    assert_eq!(res.status(), 200, "{href}");
    let text = res.text().await.unwrap();
    assert!(text.contains("#[component]"), "{href} is the page's source");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_signed_out() {
    let server = AppServer::start().await;
    let browser = Browser::start().await;
    let client = browser.client();

    for (path, file, marker) in [
        ("/", "home.rs", "#home-signed-out"),
        ("/sign-in", "auth.rs", "#sign-in-email"),
        ("/sign-up", "auth.rs", "#sign-up-email"),
        ("/api-calls", "api_calls.rs", "#call-me"),
    ] {
        client.goto(&server.url(path)).await.unwrap();
        wait_hydrated(client).await;
        wait_for(client, marker).await;
        assert_source_link(&server, client, file).await;
    }

    // `/api-calls`, signed out: both routes and the admin server function answer 401 JSON; the
    // `Auth` server function reports a signed-out request.
    client.goto(&server.url("/api-calls")).await.unwrap();
    wait_hydrated(client).await;
    click(client, "#call-me").await;
    wait_text(client, "#me-response", r#"401 {"error":"Unauthorized"}"#).await;
    click(client, "#call-user").await;
    wait_text(client, "#user-response", r#"401 {"error":"Unauthorized"}"#).await;
    click(client, "#call-server-fn").await;
    wait_text(client, "#server-fn-response", "signed_in: false").await;
    let admin_api = reqwest::get(server.url("/api/admin/users")).await.unwrap();
    assert_eq!(admin_api.status(), 401);
    assert_eq!(
        admin_api.text().await.unwrap(),
        r#"{"error":"Unauthorized"}"#
    );

    // Protected pages: redirected on the server, before rendering.
    for path in ["/dashboard", "/profile", "/admin"] {
        let res = no_redirects().get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{path}");
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(
            location,
            format!("/sign-in?redirect_url={}", path.replace('/', "%2F"))
        );
    }

    // Only the listed files are served; nothing else of the source tree or the disk.
    for path in [
        "/source/Cargo.toml",
        "/source/README.md",
        "/source/apps/%2e%2e/Cargo.toml",
        "/source/etc/passwd",
    ] {
        let res = reqwest::get(server.url(path)).await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    assert_only_expected_refusals(&browser).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_signed_in_and_the_admin_role() {
    let server = AppServer::start().await;
    let browser = Browser::start().await;
    let client = browser.client();
    let email = "tour@example.com";
    sign_up(&server, client, email).await;
    assert_source_link(&server, client, "dashboard.rs").await;

    client.goto(&server.url("/")).await.unwrap();
    wait_hydrated(client).await;
    let welcome = text_of(client, "#home-signed-in").await;
    assert!(welcome.contains(NAME), "{welcome}");

    // The profile's user object is in the first HTML (loaded on the server before rendering).
    let html = reqwest::Client::new()
        .get(server.url("/profile"))
        .header("cookie", cookie_header(client).await)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(NAME) && html.contains(email), "{html}");
    client.goto(&server.url("/profile")).await.unwrap();
    wait_hydrated(client).await;
    assert_source_link(&server, client, "dashboard.rs").await;

    // `/api-calls`, signed in: the same three calls now carry the user.
    client.goto(&server.url("/api-calls")).await.unwrap();
    wait_hydrated(client).await;
    click(client, "#call-me").await;
    let me = wait_text(client, "#me-response", "200 ").await;
    assert!(me.contains("user_id"), "{me}");
    click(client, "#call-user").await;
    wait_text(client, "#user-response", email).await;
    click(client, "#call-server-fn").await;
    wait_text(client, "#server-fn-response", "signed_in: true").await;

    // Admin page without the role: the panel is hidden and the server function says 403.
    client.goto(&server.url("/admin")).await.unwrap();
    wait_hydrated(client).await;
    wait_for(client, "#not-admin").await;
    assert!(client.find(Locator::Css("#admin-panel")).await.is_err());
    assert_source_link(&server, client, "admin.rs").await;
    click(client, "#list-users-anyway").await;
    wait_text(client, "#admin-response", "403").await;
    let forbidden = reqwest::Client::new()
        .get(server.url("/api/admin/users"))
        .header("cookie", cookie_header(client).await)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    assert_eq!(forbidden.text().await.unwrap(), r#"{"error":"Forbidden"}"#);

    // Grant the role from the command line, then sign in again for a token that carries it.
    server.admin(&["grant-role", email, "admin"]);
    click(client, "#auth-user-button").await;
    click(client, "#auth-sign-out").await;
    wait_for(client, "#sign-in-link").await;
    client
        .goto(&server.url("/sign-in?redirect_url=%2Fadmin"))
        .await
        .unwrap();
    wait_hydrated(client).await;
    type_into(client, "#sign-in-email", email).await;
    type_into(client, "#sign-in-password", PASSWORD).await;
    click(client, "#sign-in-submit").await;
    wait_for(client, "#admin-panel").await;
    assert_eq!(client.current_url().await.unwrap().path(), "/admin");
    click(client, "#list-users").await;
    let list = wait_text(client, "#admin-response", email).await;
    assert!(list.contains("admin"), "{list}");

    client.goto(&server.url("/dashboard")).await.unwrap();
    wait_greeting(client).await;
    let roles = text_of(client, "#roles").await;
    assert!(roles.split(", ").any(|r| r == "admin"), "{roles}");
    assert_only_expected_refusals(&browser).await;
}
