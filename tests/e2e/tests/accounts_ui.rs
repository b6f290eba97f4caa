//! The account flows end to end, in headless Chromium against the release bundle, with the
//! server's mail delivered over SMTP to a real maildev (`e2e::smtp`) and read back from it:
//! sign-up verified by code and by link (`AUTH_EMAIL_VERIFICATION=required`), forgot password →
//! mail → reset (the old session dies, the browser is signed in), change password, change email
//! (the code comes from the new address's mail), revoke a device (that browser is signed out
//! once its short-lived token needs renewing), delete the account, sign in with an emailed code
//! (`AUTH_EMAIL_CODE_SIGN_IN=on`), and the same forms as plain posts before the wasm loads.
//! Inputs are found by their labels, as a person finds them.

use e2e::http;
use e2e::smtp::{Mail, Smtp};
use e2e::ui::{
    NAME, PASSWORD, cookie_header, no_redirects, sign_up, wait_for, wait_greeting, wait_hydrated,
};
use e2e::{AppServer, Browser};
use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use std::time::{Duration, Instant};

const MAIL_WAIT: Duration = Duration::from_secs(30);

/// The server with its mail going to `smtp`, plus `vars`.
async fn server_with_mail(smtp: &Smtp, vars: &[(&str, &str)]) -> AppServer {
    let url = smtp.url();
    let mut all = vec![("AUTH_SMTP_URL", url.as_str())];
    all.extend_from_slice(vars);
    AppServer::start_with_env(&all).await
}

/// The input labelled `label` inside the form `form_css` (the label's `for` names it).
async fn field(client: &Client, form_css: &str, label: &str) -> Element {
    let form = client
        .find(Locator::Css(form_css))
        .await
        .unwrap_or_else(|e| panic!("no form `{form_css}`: {e}"));
    let xpath = format!(".//label[normalize-space()={label:?}]");
    let label_el = form
        .find(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no label {label:?} in `{form_css}`: {e}"));
    let id = label_el
        .attr("for")
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("label {label:?} has no `for`"));
    client
        .find(Locator::Id(&id))
        .await
        .unwrap_or_else(|e| panic!("label {label:?} points at no #{id}: {e}"))
}

async fn fill(client: &Client, form_css: &str, label: &str, text: &str) {
    field(client, form_css, label)
        .await
        .send_keys(text)
        .await
        .unwrap();
}

/// Clicks the button whose text is `text` inside `form_css`.
async fn press(client: &Client, form_css: &str, text: &str) {
    let form = client
        .find(Locator::Css(form_css))
        .await
        .unwrap_or_else(|e| panic!("no form `{form_css}`: {e}"));
    let xpath = format!(".//button[normalize-space()={text:?}]");
    form.find(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no button {text:?} in `{form_css}`: {e}"))
        .click()
        .await
        .unwrap();
}

/// The 8-digit code in a mail's text part (a run of exactly 8 digits, so no part of a token).
fn code_in(mail: &Mail) -> String {
    let text = &mail.text;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let before_ok = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
            let after_ok = i == bytes.len() || !bytes[i].is_ascii_alphanumeric();
            if i - start == 8 && before_ok && after_ok {
                return text[start..i].to_owned();
            }
        } else {
            i += 1;
        }
    }
    panic!("no 8-digit code in the mail {:?}: {text}", mail.subject);
}

/// The absolute link to `page` (`/reset-password`, …) in a mail's text part.
fn link_in(mail: &Mail, server: &AppServer, page: &str) -> String {
    let prefix = server.url(&format!("{page}?token="));
    let text = &mail.text;
    let at = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no {prefix}… link in the mail {:?}: {text}", mail.subject));
    text[at..]
        .split(|c: char| c.is_whitespace() || c == '>' || c == ')' || c == '"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The auth status `/auth/session` answers to a request with these cookies.
async fn session_status(server: &AppServer, cookies: &str) -> String {
    http::session(server, cookies).await["auth"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A JSON sign-in's status code.
async fn sign_in_status(server: &AppServer, email: &str, password: &str) -> u16 {
    let body = serde_json::json!({ "email": email, "password": password });
    http::post_json(server, "/auth/sign-in", &body, None)
        .await
        .status()
        .as_u16()
}

/// Fills the sign-up form (hydrated) and submits; in `required` mode the card then asks for the
/// code in place.
async fn submit_sign_up(server: &AppServer, client: &Client, email: &str) {
    client
        .goto(&server.url("/sign-up?redirect_url=%2Fdashboard"))
        .await
        .unwrap();
    wait_hydrated(client).await;
    fill(client, "#sign-up-form", "Name", NAME).await;
    fill(client, "#sign-up-form", "Email", email).await;
    fill(client, "#sign-up-form", "Password", PASSWORD).await;
    press(client, "#sign-up-form", "Sign up").await;
    wait_for(client, "#sign-up-code-form").await;
}

/// The newest mail for `to` whose text contains `needle` (other mails may come first, such as
/// the sign-up's verification mail).
async fn mail_containing(smtp: &Smtp, to: &str, needle: &str) -> Mail {
    mail_where(smtp, to, needle, |m| m.text.contains(needle)).await
}

/// The newest mail for `to` that `wanted` accepts (`what` names it in the failure).
async fn mail_where(smtp: &Smtp, to: &str, what: &str, wanted: impl Fn(&Mail) -> bool) -> Mail {
    let deadline = Instant::now() + MAIL_WAIT;
    loop {
        if let Some(mail) = smtp.mails_for(to).into_iter().rev().find(&wanted) {
            return mail;
        }
        assert!(
            Instant::now() < deadline,
            "no mail for {to} with {what:?} after {MAIL_WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_up_is_verified_by_the_mailed_code() {
    let smtp = Smtp::start().await;
    let server = server_with_mail(&smtp, &[("AUTH_EMAIL_VERIFICATION", "required")]).await;
    let browser = Browser::start().await;
    let client = browser.client();
    let email = "code@example.com";

    submit_sign_up(&server, client, email).await;
    // Held back: no session until the code is entered.
    assert_eq!(
        session_status(&server, &cookie_header(client).await).await,
        "signed_out"
    );
    let intro = browser.wait_for_text("#sign-up-code-intro", email).await;
    assert!(intro.contains(email), "{intro}");

    let mail = mail_containing(&smtp, email, "/verify-email?token=").await;
    // A wrong code first: an inline error, still on the code step.
    let code = code_in(&mail);
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    fill(client, "#sign-up-code-form", "Code", wrong).await;
    press(client, "#sign-up-code-form", "Verify").await;
    browser
        .wait_for_text("#sign-up-code-error", "The code is wrong")
        .await;
    // Chromium logs the expected 4xx as an error: drop it before the final console check.
    browser.console().await;
    field(client, "#sign-up-code-form", "Code")
        .await
        .clear()
        .await
        .unwrap();
    fill(client, "#sign-up-code-form", "Code", &code).await;
    press(client, "#sign-up-code-form", "Verify").await;
    wait_greeting(client).await;
    assert_eq!(client.current_url().await.unwrap().path(), "/dashboard");

    client.goto(&server.url("/profile")).await.unwrap();
    wait_for(client, "#auth-profile-email-verified").await;
    browser.assert_clean_console().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_up_is_verified_by_the_mailed_link() {
    let smtp = Smtp::start().await;
    let server = server_with_mail(&smtp, &[("AUTH_EMAIL_VERIFICATION", "required")]).await;
    let browser = Browser::start().await;
    let client = browser.client();
    let email = "link@example.com";

    submit_sign_up(&server, client, email).await;
    let mail = mail_containing(&smtp, email, "/verify-email?token=").await;
    let link = link_in(&mail, &server, "/verify-email");
    client.goto(&link).await.unwrap();
    wait_hydrated(client).await;
    press(client, "#verify-email-link-form", "Verify my email address").await;
    wait_greeting(client).await;
    client.goto(&server.url("/profile")).await.unwrap();
    wait_for(client, "#auth-profile-email-verified").await;

    // The link works once.
    client.goto(&link).await.unwrap();
    wait_hydrated(client).await;
    press(client, "#verify-email-link-form", "Verify my email address").await;
    browser
        .wait_for_text("#verify-email-link-error", "invalid or has expired")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forgot_password_mail_reset_kills_old_sessions_and_signs_in() {
    let smtp = Smtp::start().await;
    let server = server_with_mail(&smtp, &[]).await;
    let browser = Browser::start().await;
    let client = browser.client();
    let email = "reset@example.com";
    sign_up(&server, client, email).await;
    let old_session = cookie_header(client).await;
    assert_eq!(session_status(&server, &old_session).await, "signed_in");

    // Signed out, from the sign-in form's link.
    let other = Browser::start().await;
    let visitor = other.client();
    visitor.goto(&server.url("/sign-in")).await.unwrap();
    wait_hydrated(visitor).await;
    visitor
        .find(Locator::LinkText("Forgot password?"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(visitor, "#forgot-password-form").await;
    assert_eq!(
        visitor.current_url().await.unwrap().path(),
        "/forgot-password"
    );
    fill(visitor, "#forgot-password-form", "Email", email).await;
    press(visitor, "#forgot-password-form", "Send reset link").await;
    other
        .wait_for_text("#forgot-password-status", "If an account exists")
        .await;

    let mail = mail_containing(&smtp, email, "/reset-password?token=").await;
    let link = link_in(&mail, &server, "/reset-password");
    visitor.goto(&link).await.unwrap();
    wait_hydrated(visitor).await;
    let new_password = "a brand new passphrase";
    fill(
        visitor,
        "#reset-password-form",
        "New password",
        new_password,
    )
    .await;
    press(visitor, "#reset-password-form", "Set new password").await;
    wait_greeting(visitor).await;

    // The session from before the reset is dead; the old password too; the new one works.
    assert_eq!(session_status(&server, &old_session).await, "signed_out");
    assert_eq!(sign_in_status(&server, email, PASSWORD).await, 401);
    assert_eq!(sign_in_status(&server, email, new_password).await, 200);
    other.assert_clean_console().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn change_password_and_email_from_the_profile() {
    let smtp = Smtp::start().await;
    let server = server_with_mail(&smtp, &[]).await;
    let browser = Browser::start().await;
    let client = browser.client();
    let (old_email, new_email) = ("before@example.com", "after@example.com");
    sign_up(&server, client, old_email).await;
    client.goto(&server.url("/profile")).await.unwrap();
    wait_hydrated(client).await;

    let new_password = "another long passphrase";
    fill(client, "#auth-password-form", "Current password", PASSWORD).await;
    fill(client, "#auth-password-form", "New password", new_password).await;
    press(client, "#auth-password-form", "Change password").await;
    browser
        .wait_for_text("#auth-password-status", "Password changed")
        .await;
    assert_eq!(sign_in_status(&server, old_email, PASSWORD).await, 401);
    assert_eq!(sign_in_status(&server, old_email, new_password).await, 200);

    fill(client, "#auth-email-form", "New email", new_email).await;
    fill(client, "#auth-email-form", "Password", new_password).await;
    press(client, "#auth-email-form", "Change email").await;
    wait_for(client, "#auth-email-code-form").await;
    let mail = mail_containing(&smtp, new_email, "/verify-email?token=").await;
    fill(client, "#auth-email-code-form", "Code", &code_in(&mail)).await;
    press(client, "#auth-email-code-form", "Verify").await;
    browser.wait_for_text("#auth-email-status", new_email).await;
    browser
        .wait_for_text("#auth-profile-email", new_email)
        .await;
    wait_for(client, "#auth-profile-email-verified").await;
    assert_eq!(sign_in_status(&server, new_email, new_password).await, 200);
    assert_eq!(sign_in_status(&server, old_email, new_password).await, 401);
    browser.assert_clean_console().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_a_device_signs_that_browser_out() {
    let smtp = Smtp::start().await;
    // Short tokens: the revoked browser's next renewal comes within seconds.
    let server = server_with_mail(&smtp, &[("AUTH_SESSION_TOKEN_TTL_SECS", "5")]).await;
    let (mine, theirs) = (Browser::start().await, Browser::start().await);
    let (a, b) = (mine.client(), theirs.client());
    let email = "devices@example.com";
    sign_up(&server, a, email).await;

    b.goto(&server.url("/sign-in?redirect_url=%2Fdashboard"))
        .await
        .unwrap();
    wait_hydrated(b).await;
    fill(b, "#sign-in-form", "Email", email).await;
    fill(b, "#sign-in-form", "Password", PASSWORD).await;
    press(b, "#sign-in-form", "Sign in").await;
    wait_greeting(b).await;

    a.goto(&server.url("/profile")).await.unwrap();
    wait_hydrated(a).await;
    wait_for(a, "#auth-sessions-table").await;
    let rows = a.find_all(Locator::Css("tr.auth-session")).await.unwrap();
    assert_eq!(rows.len(), 2, "two devices signed in");
    let this_device = mine
        .wait_for_text(r#"tr.auth-session[data-current="true"]"#, "This device")
        .await;
    assert!(this_device.contains("This device"), "{this_device}");
    a.find(Locator::Css(
        r#"tr.auth-session[data-current="false"] button"#,
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    mine.wait_for_text("#auth-sessions-status", "Signed out")
        .await;
    wait_until("the list shows one session", async || {
        a.find_all(Locator::Css("tr.auth-session"))
            .await
            .is_ok_and(|rows| rows.len() == 1)
    })
    .await;

    // The other browser: once its token expires, its next request finds the session revoked.
    wait_until("the revoked browser is sent to sign in", async || {
        b.goto(&server.url("/dashboard")).await.unwrap();
        b.current_url()
            .await
            .is_ok_and(|url| url.path() == "/sign-in")
    })
    .await;
    // This browser stays signed in.
    a.goto(&server.url("/dashboard")).await.unwrap();
    wait_greeting(a).await;
    mine.assert_clean_console().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_account_signs_out_and_frees_the_address() {
    let smtp = Smtp::start().await;
    let server = server_with_mail(&smtp, &[]).await;
    let browser = Browser::start().await;
    let client = browser.client();
    let email = "gone@example.com";
    sign_up(&server, client, email).await;
    client.goto(&server.url("/profile")).await.unwrap();
    wait_hydrated(client).await;

    // The confirmation box is required: the browser refuses the form without it.
    fill(client, "#auth-delete-form", "Password", "not the password").await;
    field(
        client,
        "#auth-delete-form",
        "I understand that my account will be deleted",
    )
    .await
    .click()
    .await
    .unwrap();
    press(client, "#auth-delete-form", "Delete my account").await;
    browser
        .wait_for_text("#auth-delete-error", "password")
        .await;
    // Chromium logs the expected 4xx as an error: drop it before the final console check.
    browser.console().await;

    let password = field(client, "#auth-delete-form", "Password").await;
    password.clear().await.unwrap();
    password.send_keys(PASSWORD).await.unwrap();
    press(client, "#auth-delete-form", "Delete my account").await;
    wait_for(client, "#sign-in-link").await;
    assert_eq!(client.current_url().await.unwrap().path(), "/");
    assert_eq!(
        session_status(&server, &cookie_header(client).await).await,
        "signed_out"
    );
    assert_eq!(sign_in_status(&server, email, PASSWORD).await, 401);
    // The address is free again.
    let again = no_redirects()
        .post(server.url("/auth/sign-up"))
        .header("origin", &server.base_url)
        .json(&serde_json::json!({ "email": email, "password": PASSWORD, "name": NAME }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 201, "{:?}", again.text().await);
    browser.assert_clean_console().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn email_code_sign_in_from_the_sign_in_form() {
    let smtp = Smtp::start().await;
    let server = server_with_mail(&smtp, &[("AUTH_EMAIL_CODE_SIGN_IN", "on")]).await;
    let email = "passwordless@example.com";
    let created = no_redirects()
        .post(server.url("/auth/sign-up"))
        .header("origin", &server.base_url)
        .json(&serde_json::json!({ "email": email, "password": PASSWORD, "name": NAME }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let browser = Browser::start().await;
    let client = browser.client();
    client
        .goto(&server.url("/sign-in?redirect_url=%2Fdashboard"))
        .await
        .unwrap();
    wait_hydrated(client).await;
    fill(client, "#sign-in-form", "Email", email).await;
    // No password: the code replaces it.
    press(client, "#sign-in-form", "Email me a code").await;
    wait_for(client, "#sign-in-code-form").await;
    browser.wait_for_text("#sign-in-code-intro", email).await;
    // The sign-in code mail has a code and no link (the sign-up's verification mail has both).
    let code_mail = mail_where(&smtp, email, "a code and no link", |m| {
        !m.text.contains("?token=")
    })
    .await;
    fill(client, "#sign-in-code-form", "Code", &code_in(&code_mail)).await;
    press(client, "#sign-in-code-form", "Sign in").await;
    wait_greeting(client).await;
    assert_eq!(client.current_url().await.unwrap().path(), "/dashboard");
    browser.assert_clean_console().await;
}

/// A plain form post's answer: its status and `Location`.
async fn post_form(server: &AppServer, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let res = http::post_form(server, path, form, None).await;
    let location = res
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (res.status().as_u16(), location)
}

async fn page(server: &AppServer, path: &str) -> String {
    no_redirects()
        .get(server.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_forms_work_before_the_wasm_loads() {
    let smtp = Smtp::start().await;
    let server = server_with_mail(&smtp, &[("AUTH_EMAIL_VERIFICATION", "required")]).await;
    let email = "nojs@example.com";

    // Sign-up held back: back to the form, which renders the code step for the address.
    let (status, back) = post_form(
        &server,
        "/auth/sign-up",
        &[
            ("email", email),
            ("password", PASSWORD),
            ("name", NAME),
            ("redirect_url", "/dashboard"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert!(
        back.starts_with("/sign-up?error=verification_required"),
        "{back}"
    );
    let html = page(&server, &back).await;
    for needle in [
        r#"action="/auth/verify-email""#,
        r#"autocomplete="one-time-code""#,
        r#"value="nojs@example.com""#,
        r#"value="/dashboard""#,
    ] {
        assert!(
            html.contains(needle),
            "{needle} missing after {back}: {html}"
        );
    }
    let mail = mail_containing(&smtp, email, "/verify-email?token=").await;
    let res = http::post_form(
        &server,
        "/auth/verify-email",
        &[
            ("email", email),
            ("code", code_in(&mail).as_str()),
            ("redirect_url", "/dashboard"),
        ],
        None,
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/dashboard");
    assert!(
        res.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("__session=")),
        "signed in"
    );

    // Forgot password: the post comes back to the page, which shows the neutral message.
    let html = page(&server, "/forgot-password").await;
    assert!(html.contains(r#"action="/auth/password-reset""#), "{html}");
    let (status, sent) = post_form(
        &server,
        "/auth/password-reset",
        &[
            ("email", email),
            ("redirect_url", "/forgot-password?sent=1"),
        ],
    )
    .await;
    assert_eq!((status, sent.as_str()), (303, "/forgot-password?sent=1"));
    let html = page(&server, &sent).await;
    assert!(html.contains("If an account exists"), "{html}");

    // The reset page: a refused password comes back with the token, and the form is there.
    let mail = mail_containing(&smtp, email, "/reset-password?token=").await;
    let link = link_in(&mail, &server, "/reset-password");
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let (status, back) = post_form(
        &server,
        "/auth/password-reset/confirm",
        &[("token", token.as_str()), ("new_password", "short")],
    )
    .await;
    assert_eq!(status, 303);
    let html = page(&server, &back).await;
    for needle in [
        r#"action="/auth/password-reset/confirm""#,
        r#"autocomplete="new-password""#,
        "Password must be",
    ] {
        assert!(html.contains(needle), "{needle} missing: {html}");
    }
    assert!(html.contains(&format!(r#"value="{token}""#)), "{html}");

    // The profile's session list is server-rendered: each other device's revoke form works
    // as a plain post, and the revoked session is refused at once by the provider.
    let here = http::sign_in(&server, email, PASSWORD).await;
    let there = http::sign_in(&server, email, PASSWORD).await;
    let there_id = there.body["auth"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let html = no_redirects()
        .get(server.url("/profile"))
        .header("cookie", here.cookie_header())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let revoke = format!("/auth/sessions/{there_id}/revoke");
    for needle in [format!(r#"action="{revoke}""#), "This device".to_owned()] {
        assert!(
            html.contains(&needle),
            "{needle} missing from /profile: {html}"
        );
    }
    assert!(!html.contains("Loading your sessions"), "{html}");
    let res = http::post_form(
        &server,
        &revoke,
        &[("redirect_url", "/profile")],
        Some(&here.cookie_header()),
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/profile");
    assert_eq!(
        session_status(&server, &there.cookie_header()).await,
        "signed_out"
    );
    assert_eq!(
        session_status(&server, &here.cookie_header()).await,
        "signed_in"
    );
}
