//! The auth UI end to end, in headless Chromium against the release bundle: signed-out SSR,
//! the HTTP-level page guard, sign-up through the prebuilt form, the signed-in first paint,
//! `get_token()`, sign-out from the user menu without a reload, and a second tab following it.

use base64::Engine;
use e2e::ui::{
    NAME, click, cookie_header, no_redirects, sign_up, text_of, type_into, wait_for, wait_greeting,
    wait_hydrated,
};
use e2e::{AppServer, Browser, problems};
use fantoccini::Locator;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn signed_out_html_and_the_server_side_page_guard() {
    let server = AppServer::start().await;
    let http = no_redirects();

    let home = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    assert!(
        html.contains(r#"id="sign-in-link""#),
        "signed-out header: {html}"
    );
    assert!(
        !html.contains("auth-avatar"),
        "no user button when signed out: {html}"
    );

    for path in ["/dashboard", "/profile"] {
        let res = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{path} must redirect on the HTTP level");
        let expected = format!("/sign-in?redirect_url=%2F{}", &path[1..]);
        assert_eq!(res.headers()["location"], expected.as_str());
        let body = res.text().await.unwrap();
        assert!(!body.contains("Dashboard"), "no protected content: {body}");
    }

    let sign_in = http
        .get(server.url("/sign-in?redirect_url=%2Fdashboard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sign_in.contains(r#"action="/auth/sign-in""#), "{sign_in}");
    assert!(sign_in.contains(r#"value="/dashboard""#), "{sign_in}");

    // A plain form post (no wasm): wrong credentials come back to the form with an error the
    // server renders.
    let res = http
        .post(server.url("/auth/sign-in"))
        .header("origin", &server.base_url)
        .form(&[
            ("email", "nobody@example.com"),
            ("password", "wrong password"),
            ("redirect_url", "/dashboard"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let back = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        back.starts_with("/sign-in?error=invalid_credentials"),
        "{back}"
    );
    let page = http
        .get(server.url(&back))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Invalid email or password"), "{page}");
    assert!(page.contains(r#"value="/dashboard""#), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_up_token_and_sign_out_without_reload() {
    let server = AppServer::start().await;
    let browser = Browser::start().await;
    let client = browser.client();

    // Signed out: the server sends the visitor to sign in, keeping the path.
    client.goto(&server.url("/dashboard")).await.unwrap();
    let url = client.current_url().await.unwrap();
    assert_eq!(url.path(), "/sign-in");
    assert_eq!(url.query(), Some("redirect_url=%2Fdashboard"));

    sign_up(&server, client, "ada@example.com").await;
    wait_for(client, "#auth-user-button").await;

    // The raw server HTML (no wasm) of the redirect target already shows the user.
    let cookies = cookie_header(client).await;
    assert!(cookies.contains("__session="), "{cookies}");
    let res = no_redirects()
        .get(server.url("/dashboard"))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "private, no-store");
    let html = res.text().await.unwrap();
    assert!(html.contains(&format!("Welcome, {NAME}!")), "{html}");
    assert!(
        html.contains(r#"id="auth-user-button""#),
        "user button in SSR: {html}"
    );
    assert!(!html.contains(r#"id="sign-in-link""#), "{html}");

    // Reload keeps the session.
    client.refresh().await.unwrap();
    wait_greeting(client).await;
    wait_hydrated(client).await;

    // get_token(): a JWT whose subject is the user.
    let user_id = text_of(client, "#user-id").await;
    assert!(user_id.starts_with("user_"), "{user_id}");
    click(client, "#get-token").await;
    wait_for(client, "#token").await;
    let token = text_of(client, "#token").await;
    let payload = token
        .split('.')
        .nth(1)
        .unwrap_or_else(|| panic!("not a JWT: {token}"));
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], user_id.as_str());

    // Sign out from the user menu: everything updates without a reload.
    client
        .execute("window.__no_reload = 'still here'; return null;", vec![])
        .await
        .unwrap();
    click(client, "#auth-user-button").await;
    assert_eq!(text_of(client, "#auth-user-name").await, NAME);
    assert_eq!(text_of(client, "#auth-user-email").await, "ada@example.com");
    click(client, "#auth-sign-out").await;
    wait_for(client, "#sign-in-link").await;
    assert!(
        client
            .find(Locator::Css("#auth-user-button"))
            .await
            .is_err()
    );
    // The protected page sent us to sign in, client-side.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.current_url().await.unwrap().path() != "/sign-in" {
        assert!(
            Instant::now() < deadline,
            "no client-side redirect to /sign-in"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let marker = client
        .execute("return window.__no_reload || null;", vec![])
        .await
        .unwrap();
    assert_eq!(marker, "still here", "the page reloaded");
    let cookies = cookie_header(client).await;
    assert!(!cookies.contains("__session="), "{cookies}");

    browser.assert_clean_console().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_tab_follows_a_sign_in_and_a_sign_out() {
    let server = AppServer::start().await;
    let browser = Browser::start().await;
    let client = browser.client();
    client.goto(&server.url("/")).await.unwrap();
    let first = client.window().await.unwrap();

    // A second tab, signed out, hydrated.
    let second = client.new_window(true).await.unwrap().handle;
    client.switch_to_window(second.clone()).await.unwrap();
    client.goto(&server.url("/")).await.unwrap();
    wait_hydrated(client).await;
    wait_for(client, "#sign-in-link").await;
    client
        .execute("window.__no_reload = 'still here'; return null;", vec![])
        .await
        .unwrap();

    // Signing up in the first tab signs the second one in, without a reload.
    client.switch_to_window(first.clone()).await.unwrap();
    sign_up(&server, client, "grace@example.com").await;
    client.switch_to_window(second.clone()).await.unwrap();
    wait_for(client, "#auth-user-button").await;

    client.switch_to_window(first).await.unwrap();
    click(client, "#auth-user-button").await;
    click(client, "#auth-sign-out").await;
    wait_for(client, "#sign-in-link").await;

    client.switch_to_window(second).await.unwrap();
    wait_for(client, "#sign-in-link").await;
    assert!(
        client
            .find(Locator::Css("#auth-user-button"))
            .await
            .is_err()
    );
    let marker = client
        .execute("return window.__no_reload || null;", vec![])
        .await
        .unwrap();
    assert_eq!(marker, "still here", "the second tab reloaded");

    browser.assert_clean_console().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_sign_in_shows_an_inline_error_after_hydration() {
    let server = AppServer::start().await;
    let browser = Browser::start().await;
    let client = browser.client();

    client
        .goto(&server.url("/sign-in?redirect_url=%2Fdashboard"))
        .await
        .unwrap();
    wait_hydrated(client).await;
    type_into(client, "#sign-in-email", "nobody@example.com").await;
    type_into(client, "#sign-in-password", "wrong password").await;
    click(client, "#sign-in-submit").await;
    browser
        .wait_for_text("#sign-in-error", "Invalid email or password")
        .await;
    // Submitted with fetch: no navigation, no `?error=` round trip.
    let url = client.current_url().await.unwrap();
    assert_eq!(url.query(), Some("redirect_url=%2Fdashboard"));
    let focused = client
        .execute(
            "return document.activeElement && document.activeElement.id;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(focused, "sign-in-error", "focus moves to the error");

    let console = browser.console().await;
    let bad: Vec<_> = problems(&console)
        .into_iter()
        // The browser logs the expected 401 of the failed attempt itself.
        .filter(|p| !(p.contains("/auth/sign-in") && p.contains("401")))
        .collect();
    assert!(bad.is_empty(), "console shows problems: {bad:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn user_profile_changes_the_name_everywhere() {
    let server = AppServer::start().await;
    let browser = Browser::start().await;
    let client = browser.client();

    sign_up(&server, client, "ada@example.com").await;
    click(client, "#auth-user-button").await;
    click(client, "#auth-manage-account").await;
    wait_for(client, "#auth-profile-name").await;
    wait_hydrated(client).await;
    let input = client
        .find(Locator::Css("#auth-profile-name"))
        .await
        .unwrap();
    input.clear().await.unwrap();
    input.send_keys("Ada King").await.unwrap();
    click(client, "#auth-profile-save").await;
    browser
        .wait_for_text("#auth-profile-status", "Saved.")
        .await;
    browser
        .wait_for_text("#auth-profile-display-name", "Ada King")
        .await;
    // The header's menu follows without a reload, and the server renders the new name.
    click(client, "#auth-user-button").await;
    browser.wait_for_text("#auth-user-name", "Ada King").await;
    let html = no_redirects()
        .get(server.url("/dashboard"))
        .header("cookie", cookie_header(client).await)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Welcome, Ada King!"), "{html}");

    browser.assert_clean_console().await;
}
