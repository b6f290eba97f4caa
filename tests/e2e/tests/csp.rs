//! The Content-Security-Policy against the real app in headless Chromium: every page of the app,
//! signed out and signed in (forms, hydration, server functions, `/auth/*` calls), loads and
//! works with no CSP violation in the console. A control proves the policy is enforced and that
//! a violation would be seen: an image from another origin is refused and reported.

use e2e::ui::{click, sign_up, wait_for, wait_hydrated};
use e2e::{AppServer, Browser, problems};
use std::time::Duration;

/// Console lines that report a Content-Security-Policy violation.
fn violations(console: &[(String, String)]) -> Vec<String> {
    console
        .iter()
        .filter(|(_, message)| message.contains("Content Security Policy"))
        .map(|(level, message)| format!("{level}: {message}"))
        .collect()
}

/// The page's own answer carries the policy (a page without one would pass vacuously).
async fn assert_policy_sent(server: &AppServer, path: &str, cookie: Option<&str>) {
    let mut request = e2e::http::client().get(server.url(path));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src"),
        "GET {path}: Content-Security-Policy {csp:?}"
    );
}

/// Visits `path`, waits for hydration (and `marker`), lets late scripts and fetches run, and
/// fails on any CSP violation or other console problem.
async fn visit(browser: &Browser, server: &AppServer, path: &str, marker: &str) {
    let client = browser.client();
    client.goto(&server.url(path)).await.unwrap();
    wait_hydrated(client).await;
    wait_for(client, marker).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let console = browser.console().await;
    let csp = violations(&console);
    assert!(csp.is_empty(), "GET {path}: CSP violations: {csp:#?}");
    let other: Vec<String> = problems(&console)
        .into_iter()
        // The calls these pages make signed out answer 401/403 on purpose.
        .filter(|p| !(p.contains("status of 401") || p.contains("status of 403")))
        .collect();
    assert!(other.is_empty(), "GET {path}: console problems: {other:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_passes_the_content_security_policy() {
    let server = AppServer::start().await;
    let browser = Browser::start().await;
    let client = browser.client();

    // Signed out.
    for (path, marker) in [
        ("/", "#home-signed-out"),
        ("/sign-in", "#sign-in-email"),
        ("/sign-up", "#sign-up-email"),
        ("/api-calls", "#call-me"),
    ] {
        assert_policy_sent(&server, path, None).await;
        visit(&browser, &server, path, marker).await;
    }
    // The page's calls (fetch to /api and a server function) are allowed by `connect-src`.
    click(client, "#call-me").await;
    click(client, "#call-server-fn").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let csp = violations(&browser.console().await);
    assert!(csp.is_empty(), "calls signed out: {csp:#?}");

    // Signed in: the sign-up form (fetch after hydration), then every page.
    sign_up(&server, client, "csp@example.com").await;
    let csp = violations(&browser.console().await);
    assert!(csp.is_empty(), "sign-up: {csp:#?}");
    let cookie = e2e::ui::cookie_header(client).await;
    for (path, marker) in [
        ("/", "#home-signed-in"),
        ("/dashboard", "#dashboard-greeting"),
        ("/profile", "header[data-hydrated=\"true\"]"),
        ("/api-calls", "#call-me"),
        ("/admin", "#not-admin"),
    ] {
        assert_policy_sent(&server, path, Some(&cookie)).await;
        visit(&browser, &server, path, marker).await;
    }
    client.goto(&server.url("/api-calls")).await.unwrap();
    wait_hydrated(client).await;
    for button in ["#call-me", "#call-user", "#call-server-fn"] {
        click(client, button).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let csp = violations(&browser.console().await);
    assert!(csp.is_empty(), "calls signed in: {csp:#?}");

    // Sign-out through the user button (a fetch and a cross-tab message).
    click(client, "#auth-user-button").await;
    click(client, "#auth-sign-out").await;
    wait_for(client, "#sign-in-link").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let csp = violations(&browser.console().await);
    assert!(csp.is_empty(), "sign-out: {csp:#?}");

    // Control: the policy is enforced, and a violation shows in the console this test reads: an
    // image from another origin (`img-src 'self'`) is refused and reported.
    client
        .execute(
            "const img = document.createElement('img'); \
             img.src = 'http://img.example.invalid/pixel.png'; \
             document.body.appendChild(img);",
            vec![],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = violations(&browser.console().await);
    assert!(
        seen.iter().any(|v| v.contains("img-src")),
        "the refused image was not reported: {seen:#?}"
    );
}

/// A failed sign-in (wrong password, after hydration) shows the error and moves the focus back
/// to the error without a CSP violation. auth-ui focuses through web-sys: Dioxus's
/// `document::eval` (which it used before) runs a string through `new Function`, which the
/// policy (no `'unsafe-eval'`) refuses, aborting the wasm app (the error never shows).
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_sign_in_passes_the_content_security_policy() {
    let server = AppServer::start().await;
    let browser = Browser::start().await;
    let client = browser.client();
    client.goto(&server.url("/sign-in")).await.unwrap();
    wait_hydrated(client).await;
    e2e::ui::type_into(client, "#sign-in-email", "nobody@example.com").await;
    e2e::ui::type_into(client, "#sign-in-password", "not the password").await;
    click(client, "#sign-in-submit").await;
    browser
        .wait_for_text("#sign-in-error", "Invalid email or password")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let csp = violations(&browser.console().await);
    assert!(csp.is_empty(), "failed sign-in: {csp:#?}");
    let focused = client
        .execute(
            "return document.activeElement ? document.activeElement.id : null",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        focused,
        serde_json::json!("sign-in-error"),
        "focus after the error"
    );
}
