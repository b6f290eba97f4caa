//! Self-test of the social sign-in harnesses (issue 17): the real OpenID provider
//! (`e2e::oidc`, oidc-provider under Node) and the GitHub double (`e2e::github`) answer the way
//! the protocol and GitHub's documentation say, so a failing sign-in test points at the app, not
//! at its test servers. Needs no app bundle.
//!
//! Run: `OIDC_PROVIDER_DIR=~/.cache/dioxus-auth-starter/oidc-provider-<v> cargo test -p e2e --test providers`.

use base64::Engine as _;
use e2e::github::{GithubDouble, GithubEmail, GithubUser};
use e2e::oidc::{OidcClient, OidcProvider, authorize_over_http, deny_over_http};
use serde_json::Value;
use sha2::Digest as _;

const REDIRECT_URI: &str = "http://127.0.0.1:9/cb";

fn b64url(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A PKCE pair: (verifier, S256 challenge).
fn pkce(seed: &str) -> (String, String) {
    let verifier = format!("verifier-{seed}-0123456789-abcdefghijklmnopqrstuvwxyz");
    let challenge = b64url(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The query parameters of `url`.
fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .unwrap_or_else(|e| panic!("not a URL ({e}): {url}"))
        .query_pairs()
        .into_owned()
        .collect()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

fn oidc_client() -> OidcClient {
    OidcClient {
        client_id: "starter-test".into(),
        client_secret: "starter-test-secret".into(),
        redirect_uris: vec![REDIRECT_URI.into()],
    }
}

fn authorization_url(endpoint: &str, state: &str, nonce: &str, challenge: &str) -> String {
    let mut url = url::Url::parse(endpoint).expect("authorization_endpoint is a URL");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &oidc_client().client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", "openid email profile")
        .append_pair("state", state)
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    url.into()
}

#[tokio::test(flavor = "multi_thread")]
async fn oidc_provider_runs_the_code_flow_with_pkce() {
    let provider = OidcProvider::start(&[oidc_client()]).await;
    let issuer = provider.issuer();
    let http = client();

    let discovery: Value = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery answers")
        .json()
        .await
        .expect("discovery is JSON");
    assert_eq!(discovery["issuer"], issuer.as_str());
    assert_eq!(
        discovery["authorization_endpoint"],
        format!("{issuer}/auth")
    );
    assert_eq!(discovery["jwks_uri"], format!("{issuer}/jwks"));
    let token_endpoint = discovery["token_endpoint"]
        .as_str()
        .expect("discovery names a token_endpoint")
        .to_owned();
    let authorization_endpoint = discovery["authorization_endpoint"].as_str().unwrap();

    let (verifier, challenge) = pkce("alice");
    let url = authorization_url(authorization_endpoint, "state-1", "nonce-1", &challenge);
    let callback = authorize_over_http(&url, "alice").await;
    assert!(
        callback.starts_with(&format!("{REDIRECT_URI}?")),
        "the provider did not redirect to the client: {callback}"
    );
    let params = query(&callback);
    assert_eq!(params.get("state").map(String::as_str), Some("state-1"));
    let code = params
        .get("code")
        .unwrap_or_else(|| panic!("no code in {callback}"));

    // A wrong verifier is refused (PKCE is enforced) and burns nothing we need: new flow below.
    let refused = http
        .post(&token_endpoint)
        .basic_auth("starter-test", Some("starter-test-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            (
                "code_verifier",
                "wrong-verifier-0123456789-abcdefghijklmnopqrstuvwxyz",
            ),
        ])
        .send()
        .await
        .expect("token endpoint answers");
    assert_eq!(
        refused.status(),
        400,
        "a wrong PKCE verifier must be refused"
    );
    let body: Value = refused.json().await.expect("error is JSON");
    assert_eq!(body["error"], "invalid_grant");

    // oidc-provider revokes a code after a failed attempt: run the flow again.
    let url = authorization_url(authorization_endpoint, "state-2", "nonce-2", &challenge);
    let callback = authorize_over_http(&url, "alice").await;
    let params = query(&callback);
    assert_eq!(params.get("state").map(String::as_str), Some("state-2"));
    let code = params
        .get("code")
        .unwrap_or_else(|| panic!("no code in {callback}"));
    let response = http
        .post(&token_endpoint)
        .basic_auth("starter-test", Some("starter-test-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .expect("token endpoint answers");
    let status = response.status();
    let tokens: Value = response.json().await.expect("token answer is JSON");
    assert_eq!(status, 200, "token exchange failed: {tokens}");
    let id_token = tokens["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no id_token in {tokens}"));
    let payload = id_token
        .split('.')
        .nth(1)
        .unwrap_or_else(|| panic!("not a JWT: {id_token}"));
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("the payload is base64url"),
    )
    .expect("the payload is JSON");
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["aud"], "starter-test");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["email"], "alice@example.test");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "Test alice");
    assert_eq!(claims["nonce"], "nonce-2");
}

#[tokio::test(flavor = "multi_thread")]
async fn oidc_provider_reports_unverified_emails_and_refusals() {
    let provider = OidcProvider::start(&[oidc_client()]).await;
    let endpoint = format!("{}/auth", provider.issuer());
    let (verifier, challenge) = pkce("bob");

    let denied = deny_over_http(
        &authorization_url(&endpoint, "s-deny", "n", &challenge),
        "bob",
    )
    .await;
    assert!(denied.starts_with(&format!("{REDIRECT_URI}?")), "{denied}");
    let params = query(&denied);
    assert_eq!(
        params.get("error").map(String::as_str),
        Some("access_denied")
    );
    assert_eq!(params.get("state").map(String::as_str), Some("s-deny"));
    assert!(!params.contains_key("code"), "{denied}");

    // The client secret may also come in the form body (client_secret_post).
    let login = "unverified-carol@example.org";
    let url = authorization_url(&endpoint, "s-post", "n-post", &challenge);
    let code = query(&authorize_over_http(&url, login).await)
        .remove("code")
        .expect("a code");
    let tokens: Value = client()
        .post(format!("{}/token", provider.issuer()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
            ("client_id", "starter-test"),
            ("client_secret", "starter-test-secret"),
        ])
        .send()
        .await
        .expect("token endpoint answers")
        .json()
        .await
        .expect("token answer is JSON");
    let payload = tokens["id_token"]
        .as_str()
        .and_then(|t| t.split('.').nth(1))
        .unwrap_or_else(|| panic!("no id_token in {tokens}"));
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("JSON");
    assert_eq!(claims["email"], login);
    assert_eq!(claims["email_verified"], false);
}

fn octocat() -> GithubUser {
    GithubUser {
        id: 583231,
        login: "octocat".into(),
        name: Some("The Octocat".into()),
        avatar_url: "https://avatars.githubusercontent.com/u/583231".into(),
        emails: vec![
            GithubEmail {
                email: "octocat@github.test".into(),
                primary: true,
                verified: true,
            },
            GithubEmail {
                email: "old@github.test".into(),
                primary: false,
                verified: false,
            },
        ],
    }
}

/// Authorizes at the double and returns the callback URL.
async fn github_authorize(github: &GithubDouble, state: &str, challenge: &str) -> String {
    let mut url =
        url::Url::parse(&format!("{}/login/oauth/authorize", github.base_url())).expect("URL");
    url.query_pairs_mut()
        .append_pair("client_id", "gh-client")
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", "read:user user:email")
        .append_pair("state", state)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    let response = client().get(url).send().await.expect("authorize answers");
    assert_eq!(response.status(), 302);
    response.headers()["location"]
        .to_str()
        .expect("Location is text")
        .to_owned()
}

async fn github_token(github: &GithubDouble, code: &str, verifier: &str) -> (u16, Value) {
    let response = client()
        .post(format!("{}/login/oauth/access_token", github.base_url()))
        .header("accept", "application/json")
        .form(&[
            ("client_id", "gh-client"),
            ("client_secret", "gh-secret"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("token endpoint answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("token answer is JSON"))
}

#[tokio::test(flavor = "multi_thread")]
async fn github_double_follows_githubs_documented_shape() {
    let github = GithubDouble::start("gh-client", "gh-secret").await;
    github.sign_in_as(octocat());
    let (verifier, challenge) = pkce("gh");

    let callback = github_authorize(&github, "st-1", &challenge).await;
    assert!(
        callback.starts_with(&format!("{REDIRECT_URI}?")),
        "{callback}"
    );
    let params = query(&callback);
    assert_eq!(params.get("state").map(String::as_str), Some("st-1"));
    let code = params.get("code").expect("a code").clone();

    // A wrong verifier: 200 with an error body, like GitHub; the code is then used up.
    let (status, body) = github_token(&github, &code, "wrong-verifier").await;
    assert_eq!(status, 200);
    assert_eq!(body["error"], "bad_verification_code", "{body}");
    assert!(body.get("access_token").is_none());
    let (_, body) = github_token(&github, &code, &verifier).await;
    assert_eq!(
        body["error"], "bad_verification_code",
        "a code is single use: {body}"
    );

    let code = query(&github_authorize(&github, "st-2", &challenge).await)
        .remove("code")
        .expect("a code");
    // A wrong client secret (as HTTP Basic) is refused.
    let refused: Value = client()
        .post(format!("{}/login/oauth/access_token", github.base_url()))
        .header("accept", "application/json")
        .basic_auth("gh-client", Some("not-the-secret"))
        .form(&[
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .expect("token endpoint answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(refused["error"], "incorrect_client_credentials");

    let code = query(&github_authorize(&github, "st-3", &challenge).await)
        .remove("code")
        .expect("a code");
    let (status, body) = github_token(&github, &code, &verifier).await;
    assert_eq!(status, 200);
    let token = body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token in {body}"))
        .to_owned();
    assert!(token.starts_with("gho_"), "{token}");
    assert_eq!(body["token_type"], "bearer");

    let api = |path: &str| client().get(format!("{}{path}", github.base_url()));
    let no_agent = api("/user")
        .bearer_auth(&token)
        .send()
        .await
        .expect("answers");
    assert_eq!(
        no_agent.status(),
        403,
        "GitHub refuses requests without User-Agent"
    );
    let bad_token = api("/user")
        .header("user-agent", "providers-test")
        .bearer_auth("gho_not-a-token")
        .send()
        .await
        .expect("answers");
    assert_eq!(bad_token.status(), 401);
    let me: Value = api("/user")
        .header("user-agent", "providers-test")
        .header("authorization", format!("token {token}"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(me["id"], 583231);
    assert_eq!(me["login"], "octocat");
    assert_eq!(me["name"], "The Octocat");
    assert!(me["email"].is_null(), "{me}");

    assert_eq!(github.hits("/user/emails"), 0);
    let emails: Value = api("/user/emails")
        .header("user-agent", "providers-test")
        .bearer_auth(&token)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(github.hits("/user/emails"), 1);
    assert_eq!(github.hits("/user"), 3);
    let emails = emails.as_array().expect("a list");
    assert_eq!(emails.len(), 2);
    assert_eq!(emails[0]["email"], "octocat@github.test");
    assert_eq!(emails[0]["primary"], true);
    assert_eq!(emails[0]["verified"], true);
    assert_eq!(emails[1]["verified"], false);

    github.deny_next();
    let denied = query(&github_authorize(&github, "st-4", &challenge).await);
    assert_eq!(
        denied.get("error").map(String::as_str),
        Some("access_denied")
    );
    assert_eq!(denied.get("state").map(String::as_str), Some("st-4"));
    assert!(!denied.contains_key("code"));
    // deny_next refuses one authorization only.
    let again = query(&github_authorize(&github, "st-5", &challenge).await);
    assert!(again.contains_key("code"), "{again:?}");
}
