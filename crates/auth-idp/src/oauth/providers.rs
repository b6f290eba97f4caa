//! The sign-in providers, read from `AUTH_OAUTH_*` once at start: presets for Google, Microsoft
//! and GitLab (OpenID Connect) and GitHub (OAuth 2 and its REST API); any other name is a generic
//! OpenID Connect provider found by discovery from its issuer. Every endpoint can be overridden
//! (tests point them at loopback); every URL must be https, except on this machine.

use crate::config::is_loopback_host;
use auth_server::ConfigError;
use url::Url;

/// How the provider is spoken to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // built once at start, a handful per app
pub enum OAuthEndpoints {
    /// OpenID Connect: endpoints and keys from `<issuer>/.well-known/openid-configuration`; the
    /// ID token's `iss` must equal `issuer` exactly.
    Discovery {
        /// The issuer, exactly as configured (a trailing `/` matters to the `iss` check).
        issuer: String,
    },
    /// GitHub: OAuth 2 (no ID token); the user from `<api>/user`, the address from
    /// `<api>/user/emails` (primary and verified only).
    Github {
        /// `https://github.com/login/oauth/authorize`
        authorize: Url,
        /// `https://github.com/login/oauth/access_token`
        token: Url,
        /// `https://api.github.com`
        api: Url,
    },
}

/// One enabled sign-in provider (`AUTH_OAUTH_PROVIDERS`).
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthProvider {
    /// The id in paths and settings (`google`, `acme`): lowercase letters, digits and `-`.
    pub id: String,
    /// The button label ("Google"; `AUTH_OAUTH_<NAME>_NAME`).
    pub name: String,
    /// `AUTH_OAUTH_<NAME>_CLIENT_ID`.
    pub client_id: String,
    /// `AUTH_OAUTH_<NAME>_CLIENT_SECRET` (hidden from `Debug`).
    pub client_secret: String,
    /// Scopes asked for (`AUTH_OAUTH_<NAME>_SCOPES`).
    pub scopes: Vec<String>,
    /// Where it lives.
    pub endpoints: OAuthEndpoints,
    /// Listed in `AUTH_OAUTH_TRUSTED_FOR_LINKING`: its addresses count as verified even without
    /// an `email_verified` claim, and link to an existing account whose address is unverified.
    /// Only for providers that own their addresses (a Workspace or Entra tenant of your own).
    pub trusted_for_linking: bool,
}

impl std::fmt::Debug for OAuthProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthProvider")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("scopes", &self.scopes)
            .field("endpoints", &self.endpoints)
            .field("trusted_for_linking", &self.trusted_for_linking)
            .finish()
    }
}

/// The settings of a preset.
struct Preset {
    name: &'static str,
    /// The issuer of an OpenID Connect preset (`{tenant}` filled from `_TENANT`).
    issuer: Option<&'static str>,
    scopes: &'static str,
}

const OIDC_SCOPES: &str = "openid email profile";

fn preset(id: &str) -> Option<Preset> {
    Some(match id {
        "google" => Preset {
            name: "Google",
            issuer: Some("https://accounts.google.com"),
            scopes: OIDC_SCOPES,
        },
        "gitlab" => Preset {
            name: "GitLab",
            issuer: Some("https://gitlab.com"),
            scopes: OIDC_SCOPES,
        },
        // Single-tenant: `common` and `organizations` have no fixed issuer (each tenant signs as
        // itself), which the exact `iss` check refuses.
        "microsoft" => Preset {
            name: "Microsoft",
            issuer: Some("https://login.microsoftonline.com/{tenant}/v2.0"),
            scopes: OIDC_SCOPES,
        },
        "github" => Preset {
            name: "GitHub",
            issuer: None,
            scopes: "read:user user:email",
        },
        _ => return None,
    })
}

/// A variable name built at run time, as `ConfigError` wants it. Leaked on the error path
/// only, where the server is about to stop.
fn var(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

fn invalid(name: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var: var(name.to_owned()),
        reason: reason.into(),
    }
}

/// An endpoint URL: absolute, https (http only on this machine), no credentials or fragment.
fn endpoint(name: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim()).map_err(|e| invalid(name, format!("not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&url) => {}
        _ => {
            return Err(invalid(
                name,
                "must be an https URL (http only on localhost)",
            ));
        }
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(invalid(name, "must not hold credentials or a fragment"));
    }
    Ok(url)
}

impl OAuthProvider {
    /// The enabled providers from the settings (`lookup` reads one variable; empty counts as
    /// unset): `AUTH_OAUTH_PROVIDERS` and, for each, its `AUTH_OAUTH_<NAME>_*`. An error names
    /// the variable.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// let vars = HashMap::from([
    ///     ("AUTH_OAUTH_PROVIDERS", "google,acme"),
    ///     ("AUTH_OAUTH_GOOGLE_CLIENT_ID", "id.apps.googleusercontent.com"),
    ///     ("AUTH_OAUTH_GOOGLE_CLIENT_SECRET", "s3cret"),
    ///     ("AUTH_OAUTH_ACME_CLIENT_ID", "acme-app"),
    ///     ("AUTH_OAUTH_ACME_CLIENT_SECRET", "s3cret"),
    ///     ("AUTH_OAUTH_ACME_ISSUER", "https://sso.acme.example/realms/main"),
    ///     ("AUTH_OAUTH_ACME_NAME", "Acme SSO"),
    /// ]);
    /// let providers = auth_idp::OAuthProvider::from_lookup(|n| vars.get(n).map(|v| v.to_string()))?;
    /// assert_eq!(providers[0].name, "Google");
    /// assert_eq!(providers[1].name, "Acme SSO");
    ///
    /// let err = auth_idp::OAuthProvider::from_lookup(|n| {
    ///     (n == "AUTH_OAUTH_PROVIDERS").then(|| "acme".to_string())
    /// })
    /// .unwrap_err();
    /// assert!(err.to_string().contains("AUTH_OAUTH_ACME_CLIENT_ID"));
    /// # Ok::<(), auth_server::ConfigError>(())
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Vec<Self>, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let Some(list) = get("AUTH_OAUTH_PROVIDERS") else {
            if get("AUTH_OAUTH_TRUSTED_FOR_LINKING").is_some() {
                return Err(invalid(
                    "AUTH_OAUTH_TRUSTED_FOR_LINKING",
                    "names providers, but AUTH_OAUTH_PROVIDERS enables none",
                ));
            }
            return Ok(Vec::new());
        };
        let mut providers: Vec<Self> = Vec::new();
        for id in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let id = id.to_ascii_lowercase();
            let valid = id.len() <= 32
                && id.starts_with(|c: char| c.is_ascii_alphanumeric())
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid {
                return Err(invalid(
                    "AUTH_OAUTH_PROVIDERS",
                    format!("`{id}`: a name is up to 32 letters, digits and `-`"),
                ));
            }
            if providers.iter().any(|p| p.id == id) {
                return Err(invalid(
                    "AUTH_OAUTH_PROVIDERS",
                    format!("`{id}` is listed twice"),
                ));
            }
            providers.push(Self::read(&id, &get)?);
        }
        if let Some(trusted) = get("AUTH_OAUTH_TRUSTED_FOR_LINKING") {
            for id in trusted.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let id = id.to_ascii_lowercase();
                let Some(provider) = providers.iter_mut().find(|p| p.id == id) else {
                    return Err(invalid(
                        "AUTH_OAUTH_TRUSTED_FOR_LINKING",
                        format!("`{id}` is not in AUTH_OAUTH_PROVIDERS"),
                    ));
                };
                provider.trusted_for_linking = true;
            }
        }
        Ok(providers)
    }

    /// One provider's settings.
    fn read(id: &str, get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let prefix = format!("AUTH_OAUTH_{}", id.to_ascii_uppercase().replace('-', "_"));
        let name_of = |suffix: &str| format!("{prefix}{suffix}");
        let required = |suffix: &str| {
            get(&name_of(suffix)).ok_or_else(|| ConfigError::Missing {
                var: var(name_of(suffix)),
                context: " for a provider listed in AUTH_OAUTH_PROVIDERS",
            })
        };
        let client_id = required("_CLIENT_ID")?.trim().to_owned();
        let client_secret = required("_CLIENT_SECRET")?.trim().to_owned();
        let preset = preset(id);
        let url_of = |suffix: &str, default: &str| {
            let name = name_of(suffix);
            endpoint(&name, &get(&name).unwrap_or_else(|| default.to_owned()))
        };
        let endpoints = match &preset {
            Some(p) if p.issuer.is_none() => OAuthEndpoints::Github {
                authorize: url_of("_AUTH_URL", "https://github.com/login/oauth/authorize")?,
                token: url_of("_TOKEN_URL", "https://github.com/login/oauth/access_token")?,
                api: url_of("_API_URL", "https://api.github.com")?,
            },
            _ => {
                let issuer_var = name_of("_ISSUER");
                let issuer = match (get(&issuer_var), preset.as_ref().and_then(|p| p.issuer)) {
                    (Some(issuer), _) => issuer,
                    (None, Some(template)) if template.contains("{tenant}") => {
                        let tenant = required("_TENANT")?;
                        let tenant = tenant.trim();
                        if !tenant
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                            || matches!(tenant, "common" | "organizations" | "consumers")
                        {
                            return Err(invalid(
                                &name_of("_TENANT"),
                                "must be your directory (tenant) id: `common`, `organizations` \
                                 and `consumers` have no fixed issuer",
                            ));
                        }
                        template.replace("{tenant}", tenant)
                    }
                    (None, Some(issuer)) => issuer.to_owned(),
                    (None, None) => {
                        return Err(ConfigError::Missing {
                            var: var(issuer_var),
                            context: " for an OpenID Connect provider without a preset",
                        });
                    }
                };
                endpoint(&issuer_var, &issuer)?;
                OAuthEndpoints::Discovery {
                    issuer: issuer.trim().to_owned(),
                }
            }
        };
        let default_scopes = preset.as_ref().map_or(OIDC_SCOPES, |p| p.scopes);
        let mut scopes: Vec<String> = get(&name_of("_SCOPES"))
            .unwrap_or_else(|| default_scopes.to_owned())
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if matches!(endpoints, OAuthEndpoints::Discovery { .. })
            && !scopes.iter().any(|s| s == "openid")
        {
            scopes.insert(0, "openid".to_owned());
        }
        let name = match get(&name_of("_NAME")) {
            Some(name) => {
                let name = name.trim().to_owned();
                if name.chars().count() > 40 || name.chars().any(char::is_control) {
                    return Err(invalid(
                        &name_of("_NAME"),
                        "at most 40 printable characters",
                    ));
                }
                name
            }
            None => preset.as_ref().map_or_else(
                || {
                    let mut chars = id.chars();
                    chars.next().map_or_else(String::new, |first| {
                        first.to_ascii_uppercase().to_string() + chars.as_str()
                    })
                },
                |p| p.name.to_owned(),
            ),
        };
        Ok(Self {
            id: id.to_owned(),
            name,
            client_id,
            client_secret,
            scopes,
            endpoints,
            trusted_for_linking: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<Vec<OAuthProvider>, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        OAuthProvider::from_lookup(|n| map.get(n).cloned())
    }

    fn creds(id: &str) -> Vec<(String, String)> {
        vec![
            (format!("AUTH_OAUTH_{id}_CLIENT_ID"), "cid".into()),
            (format!("AUTH_OAUTH_{id}_CLIENT_SECRET"), "sec".into()),
        ]
    }

    fn with(
        list: &str,
        extra: &[(&str, &str)],
        ids: &[&str],
    ) -> Result<Vec<OAuthProvider>, ConfigError> {
        let mut owned: Vec<(String, String)> = vec![("AUTH_OAUTH_PROVIDERS".into(), list.into())];
        for id in ids {
            owned.extend(creds(id));
        }
        owned.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let refs: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        read(&refs)
    }

    #[test]
    fn presets_fill_in_issuers_names_and_scopes() {
        let p = with("google,github,gitlab", &[], &["GOOGLE", "GITHUB", "GITLAB"]).unwrap();
        assert_eq!(
            p[0].endpoints,
            OAuthEndpoints::Discovery {
                issuer: "https://accounts.google.com".into()
            }
        );
        assert_eq!(p[0].scopes, ["openid", "email", "profile"]);
        assert!(matches!(p[1].endpoints, OAuthEndpoints::Github { .. }));
        assert_eq!(p[1].name, "GitHub");
        assert_eq!(p[1].scopes, ["read:user", "user:email"]);
        assert_eq!(p[2].name, "GitLab");
        assert!(
            !format!("{:?}", p[0]).contains("sec\""),
            "the secret is hidden"
        );
    }

    #[test]
    fn microsoft_needs_a_tenant_id() {
        let err = with("microsoft", &[], &["MICROSOFT"]).unwrap_err();
        assert!(
            err.to_string().contains("AUTH_OAUTH_MICROSOFT_TENANT"),
            "{err}"
        );
        let err = with(
            "microsoft",
            &[("AUTH_OAUTH_MICROSOFT_TENANT", "common")],
            &["MICROSOFT"],
        )
        .unwrap_err();
        assert!(err.to_string().contains("no fixed issuer"), "{err}");
        let p = with(
            "microsoft",
            &[(
                "AUTH_OAUTH_MICROSOFT_TENANT",
                "9188040d-6c67-4c5b-b112-36a304b66dad",
            )],
            &["MICROSOFT"],
        )
        .unwrap();
        assert_eq!(
            p[0].endpoints,
            OAuthEndpoints::Discovery {
                issuer:
                    "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
                        .into()
            }
        );
    }

    #[test]
    fn bad_settings_name_their_variable() {
        for (list, extra, ids, var) in [
            ("acme", vec![], vec!["ACME"], "AUTH_OAUTH_ACME_ISSUER"),
            (
                "acme",
                vec![("AUTH_OAUTH_ACME_ISSUER", "http://sso.acme.example")],
                vec!["ACME"],
                "AUTH_OAUTH_ACME_ISSUER",
            ),
            (
                "acme",
                vec![("AUTH_OAUTH_ACME_ISSUER", "not a url")],
                vec!["ACME"],
                "AUTH_OAUTH_ACME_ISSUER",
            ),
            (
                "github",
                vec![("AUTH_OAUTH_GITHUB_API_URL", "ftp://x")],
                vec!["GITHUB"],
                "AUTH_OAUTH_GITHUB_API_URL",
            ),
            ("google", vec![], vec![], "AUTH_OAUTH_GOOGLE_CLIENT_ID"),
            ("Go_ogle", vec![], vec![], "AUTH_OAUTH_PROVIDERS"),
            (
                "google,google",
                vec![],
                vec!["GOOGLE"],
                "AUTH_OAUTH_PROVIDERS",
            ),
            (
                "google",
                vec![("AUTH_OAUTH_TRUSTED_FOR_LINKING", "github")],
                vec!["GOOGLE"],
                "AUTH_OAUTH_TRUSTED_FOR_LINKING",
            ),
        ] {
            let err = with(list, &extra, &ids).unwrap_err();
            assert!(err.to_string().contains(var), "{list} {extra:?}: {err}");
        }
    }

    #[test]
    fn loopback_may_be_plain_http_and_generic_providers_get_openid() {
        let p = with(
            "acme-sso",
            &[
                ("AUTH_OAUTH_ACME_SSO_ISSUER", "http://127.0.0.1:9000"),
                ("AUTH_OAUTH_ACME_SSO_SCOPES", "email,profile"),
                ("AUTH_OAUTH_TRUSTED_FOR_LINKING", "acme-sso"),
            ],
            &["ACME_SSO"],
        )
        .unwrap();
        assert_eq!(p[0].name, "Acme-sso");
        assert_eq!(p[0].scopes, ["openid", "email", "profile"]);
        assert!(p[0].trusted_for_linking);
        assert!(read(&[]).unwrap().is_empty());
    }
}
