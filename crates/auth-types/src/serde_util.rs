//! Lenient readers for claims that issuers spell in more than one way.

use serde::{Deserialize, Deserializer};

/// Accepts `"a"`, `["a", "b"]` or `null` and yields a list: `aud`, `roles` and `permissions` come in
/// all three shapes from real issuers.
pub(crate) fn one_or_many<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}
