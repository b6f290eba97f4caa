//! Speaking to a provider, with the `openidconnect` and `oauth2` crates (no hand-written OAuth):
//! the authorization URL (code flow, PKCE S256, `state`, `nonce`), the code exchange, the ID
//! token's validation (signature by the provider's JWKS, exact `iss`, `aud`, `exp`, `nonce`,
//! asymmetric algorithms only), and for GitHub its REST API. What comes out is a [`Profile`];
//! what can go wrong is a [`FlowError`], never a panic.

use super::providers::{OAuthEndpoints, OAuthProvider};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, SignatureVerificationError, TokenResponse,
};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use url::Url;

/// How long a provider's discovery document (endpoints and keys) is reused.
const METADATA_TTL: Duration = Duration::from_secs(600);
/// A token signed with a key we do not know yet re-reads the keys, at most this often.
const MIN_REDISCOVERY: Duration = Duration::from_secs(30);
/// The ID token signatures accepted: asymmetric only (never `none`, never an HMAC keyed with the
/// client secret).
const ALGORITHMS: [CoreJwsSigningAlgorithm; 7] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Who the provider says the user is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Profile {
    /// The provider's stable id for the account (`sub`, GitHub's numeric id).
    pub(crate) subject: String,
    pub(crate) email: Option<String>,
    /// The provider asserts the address is the user's.
    pub(crate) email_verified: bool,
    pub(crate) name: Option<String>,
    pub(crate) picture: Option<String>,
}

/// Why a sign-in at a provider failed; the text is for the logs (never the user's secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FlowError {
    /// The provider could not be reached or answered garbage at the transport level.
    Unavailable(String),
    /// The provider refused the code, or its answer is not a valid sign-in.
    Failed(String),
}

/// The first leg: where to send the browser, and what the callback will need.
#[derive(Debug)]
pub(crate) struct Authorization {
    pub(crate) url: Url,
    pub(crate) pkce_verifier: String,
}

/// One provider and its cached discovery document.
#[derive(Debug)]
pub(crate) struct ProviderClient {
    pub(crate) config: OAuthProvider,
    metadata: Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

impl ProviderClient {
    pub(crate) fn new(config: OAuthProvider) -> Self {
        Self {
            config,
            metadata: Mutex::new(None),
        }
    }

    /// The provider's discovery document, cached for [`METADATA_TTL`]; `fresh` re-reads it when
    /// the cached copy is older than [`MIN_REDISCOVERY`] (a key rotation at the provider).
    async fn metadata(
        &self,
        http: &reqwest::Client,
        issuer: &str,
        fresh: bool,
    ) -> Result<CoreProviderMetadata, FlowError> {
        let mut cached = self.metadata.lock().await;
        if let Some((at, metadata)) = cached.as_ref() {
            let age = at.elapsed();
            if age < METADATA_TTL && !(fresh && age >= MIN_REDISCOVERY) {
                return Ok(metadata.clone());
            }
        }
        let issuer_url = IssuerUrl::new(issuer.to_owned())
            .map_err(|e| FlowError::Failed(format!("bad issuer {issuer}: {e}")))?;
        // discover_async also checks that the document's `issuer` is the configured one.
        let metadata = CoreProviderMetadata::discover_async(issuer_url, http)
            .await
            .map_err(|e| FlowError::Unavailable(format!("discovery at {issuer} failed: {e}")))?;
        *cached = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    /// The authorization URL for `state` and `nonce`, with a new PKCE pair.
    pub(crate) async fn authorize(
        &self,
        http: &reqwest::Client,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
    ) -> Result<Authorization, FlowError> {
        let redirect = redirect_url(redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let scopes = self.config.scopes.iter().map(|s| Scope::new(s.clone()));
        let state = CsrfToken::new(state.to_owned());
        let url = match &self.config.endpoints {
            OAuthEndpoints::Discovery { issuer } => {
                let metadata = self.metadata(http, issuer, false).await?;
                let nonce = Nonce::new(nonce.to_owned());
                let client = self.oidc_client(metadata).set_redirect_uri(redirect);
                let (url, _, _) = client
                    .authorize_url(
                        CoreAuthenticationFlow::AuthorizationCode,
                        move || state,
                        move || nonce,
                    )
                    .add_scopes(scopes)
                    .set_pkce_challenge(challenge)
                    .url();
                url
            }
            OAuthEndpoints::Github { .. } => {
                let client = self.github_client()?.set_redirect_uri(redirect);
                let (url, _) = client
                    .authorize_url(move || state)
                    .add_scopes(scopes)
                    .set_pkce_challenge(challenge)
                    .url();
                url
            }
        };
        Ok(Authorization {
            url,
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// The second leg: exchanges `code` and reads who signed in.
    pub(crate) async fn finish(
        &self,
        http: &reqwest::Client,
        redirect_uri: &str,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Profile, FlowError> {
        let redirect = redirect_url(redirect_uri)?;
        let code = AuthorizationCode::new(code.to_owned());
        let verifier = PkceCodeVerifier::new(pkce_verifier.to_owned());
        match &self.config.endpoints {
            OAuthEndpoints::Discovery { issuer } => {
                let metadata = self.metadata(http, issuer, false).await?;
                let client = self
                    .oidc_client(metadata.clone())
                    .set_redirect_uri(redirect);
                let response = client
                    .exchange_code(code)
                    .map_err(|e| FlowError::Failed(format!("no token endpoint: {e}")))?
                    .set_pkce_verifier(verifier)
                    .request_async(http)
                    .await
                    .map_err(token_error)?;
                let id_token = response.id_token().ok_or_else(|| {
                    FlowError::Failed("the token response has no id_token".into())
                })?;
                let nonce = Nonce::new(nonce.to_owned());
                let checked = match self.check_id_token(metadata, id_token, &nonce) {
                    // Signed with a key we have not seen: the provider may have rotated; read
                    // its keys again (rate-limited) and check once more.
                    Err(ClaimsVerificationError::SignatureVerification(
                        SignatureVerificationError::NoMatchingKey,
                    )) => {
                        let metadata = self.metadata(http, issuer, true).await?;
                        self.check_id_token(metadata, id_token, &nonce)
                    }
                    checked => checked,
                };
                checked.map_err(|e| FlowError::Failed(format!("ID token refused: {e}")))
            }
            OAuthEndpoints::Github { api, .. } => {
                let client = self.github_client()?.set_redirect_uri(redirect);
                let response = client
                    .exchange_code(code)
                    .set_pkce_verifier(verifier)
                    .request_async(http)
                    .await
                    .map_err(token_error)?;
                github_profile(http, api, response.access_token().secret()).await
            }
        }
    }

    /// Who the ID token says signed in, if it checks out against the keys in `metadata`
    /// (signature with an allowed algorithm, `iss`, `aud`, `exp`, `nonce`).
    fn check_id_token(
        &self,
        metadata: CoreProviderMetadata,
        id_token: &openidconnect::core::CoreIdToken,
        nonce: &Nonce,
    ) -> Result<Profile, ClaimsVerificationError> {
        let client = self.oidc_client(metadata);
        let verifier = client.id_token_verifier().set_allowed_algs(ALGORITHMS);
        id_token.claims(&verifier, nonce).map(profile_of)
    }

    fn oidc_client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
    }

    fn github_client(
        &self,
    ) -> Result<
        oauth2::basic::BasicClient<
            oauth2::EndpointSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointSet,
        >,
        FlowError,
    > {
        let OAuthEndpoints::Github {
            authorize, token, ..
        } = &self.config.endpoints
        else {
            return Err(FlowError::Failed("not a GitHub provider".into()));
        };
        Ok(
            oauth2::basic::BasicClient::new(ClientId::new(self.config.client_id.clone()))
                .set_client_secret(ClientSecret::new(self.config.client_secret.clone()))
                // GitHub documents the credentials as form fields.
                .set_auth_type(oauth2::AuthType::RequestBody)
                .set_auth_uri(oauth2::AuthUrl::from_url(authorize.clone()))
                .set_token_uri(oauth2::TokenUrl::from_url(token.clone())),
        )
    }
}

fn redirect_url(uri: &str) -> Result<RedirectUrl, FlowError> {
    RedirectUrl::new(uri.to_owned())
        .map_err(|e| FlowError::Failed(format!("bad redirect URI {uri}: {e}")))
}

/// The token endpoint's failure: the provider's "no" (a used or expired code, a bad verifier)
/// is a failed sign-in; a transport failure means the provider is unavailable.
fn token_error<RE, T>(e: RequestTokenError<RE, T>) -> FlowError
where
    RE: std::error::Error + 'static,
    T: oauth2::ErrorResponse + 'static,
{
    match e {
        RequestTokenError::ServerResponse(r) => {
            FlowError::Failed(format!("the token endpoint refused the code: {r}"))
        }
        RequestTokenError::Request(e) => {
            FlowError::Unavailable(format!("the token endpoint could not be reached: {e}"))
        }
        RequestTokenError::Parse(e, _) => {
            FlowError::Failed(format!("the token endpoint's answer is not a token: {e}"))
        }
        RequestTokenError::Other(e) => FlowError::Failed(format!("token request failed: {e}")),
    }
}

fn profile_of(claims: &openidconnect::core::CoreIdTokenClaims) -> Profile {
    Profile {
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified().unwrap_or(false),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned()),
        picture: claims
            .picture()
            .and_then(|p| p.get(None))
            .map(|p| p.as_str().to_owned()),
    }
}

#[derive(serde::Deserialize)]
struct GithubUser {
    id: u64,
    login: String,
    name: Option<String>,
    avatar_url: Option<String>,
}

#[derive(serde::Deserialize)]
struct GithubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

/// The GitHub user behind `token`: `/user`, and the primary address from `/user/emails` when
/// GitHub has verified it.
async fn github_profile(
    http: &reqwest::Client,
    api: &Url,
    token: &str,
) -> Result<Profile, FlowError> {
    let user: GithubUser = github_get(http, api, "user", token).await?;
    let emails: Vec<GithubEmail> = github_get(http, api, "user/emails", token).await?;
    let primary = emails.into_iter().find(|e| e.primary);
    Ok(Profile {
        subject: user.id.to_string(),
        email_verified: primary.as_ref().is_some_and(|e| e.verified),
        email: primary.map(|e| e.email),
        name: user
            .name
            .filter(|n| !n.trim().is_empty())
            .or(Some(user.login)),
        picture: user.avatar_url,
    })
}

async fn github_get<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    api: &Url,
    path: &str,
    token: &str,
) -> Result<T, FlowError> {
    let mut url = api.clone();
    let base = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{base}/{path}"));
    let response = http
        .get(url.clone())
        .bearer_auth(token)
        .header(reqwest::header::ACCEPT, "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .send()
        .await
        .map_err(|e| FlowError::Unavailable(format!("GET {url}: {e}")))?;
    let status = response.status();
    if status.is_server_error() {
        return Err(FlowError::Unavailable(format!("GET {url}: {status}")));
    }
    if !status.is_success() {
        return Err(FlowError::Failed(format!("GET {url}: {status}")));
    }
    response
        .json()
        .await
        .map_err(|e| FlowError::Failed(format!("GET {url}: unexpected answer: {e}")))
}
