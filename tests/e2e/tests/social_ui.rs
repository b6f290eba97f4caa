//! Social sign-in end to end, in headless Chromium against the release bundle and a real
//! certified OpenID provider on loopback (`oidc-provider` from npm, `e2e::oidc`), whose own
//! login and consent pages the browser fills in: connecting a provider account to a password
//! account from the profile, signing in with it after a sign-out, disconnecting it, a first
//! sign-in that creates a user (who then sets a password), and a failed callback's message on
//! the sign-in form. The "Continue with …" buttons are plain links (they work before the wasm).

use e2e::oidc::{OidcClient, OidcProvider};
use e2e::ui::{NAME, click, cookie_header, sign_up, text_of, wait_for, wait_hydrated};
use e2e::{AppServer, Browser};
use fantoccini::{Client, Locator};
use std::time::{Duration, Instant};

const CLIENT_ID: &str = "web-app";
const CLIENT_SECRET: &str = "a-long-client-secret-for-the-browser-tests";
const BUTTON: &str = r#"a.auth-social[data-provider="acme"]"#;

/// The app with the `acme` provider, and the provider itself (started after the app, whose port
/// its redirect URI names).
async fn start() -> (AppServer, OidcProvider) {
    let op_port = e2e::process::free_port();
    let issuer = format!("http://127.0.0.1:{op_port}");
    let server = AppServer::start_with_env(&[
        ("AUTH_OAUTH_PROVIDERS", "acme"),
        ("AUTH_OAUTH_ACME_CLIENT_ID", CLIENT_ID),
        ("AUTH_OAUTH_ACME_CLIENT_SECRET", CLIENT_SECRET),
        ("AUTH_OAUTH_ACME_ISSUER", &issuer),
        ("AUTH_OAUTH_ACME_NAME", "Acme ID"),
    ])
    .await;
    let op = OidcProvider::start_on_port(
        op_port,
        &[OidcClient {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            redirect_uris: vec![server.url("/auth/oauth/acme/callback")],
        }],
    )
    .await;
    (server, op)
}

/// At the provider's own pages: signs in as `login` (any password) and approves, when the
/// provider asks (a provider session from before skips its pages).
async fn at_provider(client: &Client, op: &OidcProvider, login: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = client.current_url().await.unwrap().to_string();
        if !url.starts_with(&op.issuer()) {
            return;
        }
        if let Ok(input) = client.find(Locator::Css("input[name=login]")).await {
            input.send_keys(login).await.unwrap();
            client
                .find(Locator::Css("input[name=password]"))
                .await
                .unwrap()
                .send_keys("any password")
                .await
                .unwrap();
            click(client, "button[type=submit]").await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        } else if let Ok(button) = client.find(Locator::Css("button[type=submit]")).await {
            // The consent page.
            button.click().await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert!(
            Instant::now() < deadline,
            "stuck at the provider on {url}; its log:\n{}",
            op.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the browser has left for the provider. The Connect form's answer is a page that
/// navigates on by itself, after WebDriver's click has already returned, so without this wait
/// `at_provider` could look at the profile page, see no provider, and return too early.
async fn wait_at_provider(client: &Client, op: &OidcProvider) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .starts_with(&op.issuer())
    {
        assert!(Instant::now() < deadline, "never reached the provider");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The signed-in user's email, from `/auth/session` with the browser's cookies ("" signed out).
async fn signed_in_as(server: &AppServer, client: &Client) -> String {
    let answer = e2e::http::session(server, &cookie_header(client).await).await;
    answer["user"]["email"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn wait_path(client: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.current_url().await.unwrap().path() != path {
        assert!(
            Instant::now() < deadline,
            "not on {path}: {:?}",
            client.current_url().await.map(|u| u.to_string())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_out(client: &Client) {
    click(client, "#auth-user-button").await;
    click(client, "#auth-sign-out").await;
    wait_for(client, "#sign-in-link").await;
}

/// "Continue with Acme ID" on the sign-in page, then the provider's pages as `login`.
async fn continue_with_acme(server: &AppServer, client: &Client, op: &OidcProvider, login: &str) {
    client
        .goto(&server.url("/sign-in?redirect_url=%2Fdashboard"))
        .await
        .unwrap();
    wait_for(client, BUTTON).await;
    let button = client.find(Locator::Css(BUTTON)).await.unwrap();
    assert_eq!(button.text().await.unwrap(), "Continue with Acme ID");
    // A plain link with the form's destination: it works before the wasm loads.
    assert_eq!(
        button.attr("href").await.unwrap().as_deref(),
        Some("/auth/oauth/acme?redirect_url=%2Fdashboard")
    );
    button.click().await.unwrap();
    at_provider(client, op, login).await;
    wait_path(client, "/dashboard").await;
}

fn connect_button(provider: &str) -> String {
    format!(r#"form[data-connect="{provider}"] button"#)
}

fn disconnect_button(provider: &str) -> String {
    format!(r#"form[data-disconnect="{provider}"] button"#)
}

async fn open_profile(server: &AppServer, client: &Client) {
    client.goto(&server.url("/profile")).await.unwrap();
    wait_for(client, "#auth-connections").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_sign_in_disconnect_and_sign_up_with_a_provider() {
    let (server, op) = start().await;
    let browser = Browser::start().await;
    let client = browser.client();

    // A password account connects its Acme account from the profile.
    sign_up(&server, client, "bea@example.com").await;
    open_profile(&server, client).await;
    click(client, &connect_button("acme")).await;
    wait_at_provider(client, &op).await;
    at_provider(client, &op, "bea-at-acme").await;
    wait_path(client, "/profile").await;
    wait_for(client, &disconnect_button("acme")).await;
    let section = text_of(client, "#auth-connections").await;
    assert!(section.contains("Acme ID"), "{section}");
    assert!(section.contains("bea-at-acme@example.test"), "{section}");

    // Signed out, "Continue with Acme ID" signs bea in again.
    sign_out(client).await;
    assert_eq!(signed_in_as(&server, client).await, "");
    continue_with_acme(&server, client, &op, "bea-at-acme").await;
    assert_eq!(signed_in_as(&server, client).await, "bea@example.com");
    wait_hydrated(client).await;
    assert_eq!(
        text_of(client, "#dashboard-greeting").await,
        format!("Welcome, {NAME}!")
    );

    // Disconnected, the Acme account is bea's no more.
    open_profile(&server, client).await;
    click(client, &disconnect_button("acme")).await;
    wait_for(client, &connect_button("acme")).await;
    assert!(
        client
            .find(Locator::Css(&disconnect_button("acme")))
            .await
            .is_err()
    );

    // So the next "Continue with Acme ID" creates a new user from the provider's profile…
    sign_out(client).await;
    continue_with_acme(&server, client, &op, "bea-at-acme").await;
    assert_eq!(
        signed_in_as(&server, client).await,
        "bea-at-acme@example.test"
    );
    wait_for(client, "#dashboard-greeting").await;
    assert_eq!(
        text_of(client, "#dashboard-greeting").await,
        "Welcome, Test bea-at-acme!"
    );
    // …who has no password: the only way in cannot be disconnected until one is set.
    open_profile(&server, client).await;
    let section = text_of(client, "#auth-connections").await;
    assert!(section.contains("Acme ID"), "{section}");
    assert!(
        client
            .find(Locator::Css(&disconnect_button("acme")))
            .await
            .is_err()
    );
    let set_password = text_of(client, "body").await;
    assert!(set_password.contains("Set a password"), "{set_password}");
    // Nor do deleting the account or changing the address ask for a password it does not have.
    wait_for(client, "#auth-delete-form").await;
    assert!(
        client
            .find(Locator::Css("#auth-delete-password"))
            .await
            .is_err()
    );
    assert!(
        client
            .find(Locator::Css("#auth-email-password"))
            .await
            .is_err()
    );

    // A callback this browser did not start: the sign-in form says so.
    sign_out(client).await;
    client
        .goto(&server.url("/auth/oauth/acme/callback?code=stolen&state=not-mine"))
        .await
        .unwrap();
    wait_path(client, "/sign-in").await;
    wait_for(client, ".auth-error").await;
    assert_eq!(
        text_of(client, ".auth-error").await,
        "This sign-in expired or was started in another browser, please try again"
    );
    assert_eq!(signed_in_as(&server, client).await, "");
}
