//! Admin commands for the app's server binary, so operators need no SQL:
//! `./server grant-role <email> <role>`, `./server revoke-role <email> <role>`,
//! `./server rotate-keys [--now]`. They act on the embedded identity provider's database
//! (`DATABASE_URL`), the same one the running server uses.

use crate::{Idp, IdpConfig, KeyRotation};
use std::time::{SystemTime, UNIX_EPOCH};

const USAGE: &str = "\
admin commands (embedded identity provider; uses DATABASE_URL):
  grant-role <email> <role>    add a role to a user (e.g. make the first admin)
  revoke-role <email> <role>   remove a role from a user
  rotate-keys                  publish a new signing key now; it signs once every instance and JWKS
                               cache can have seen it (key reload interval + JWKS max-age, 70 s by
                               default); the old one stays published until its tokens expire
  rotate-keys --now            after a leak: the new key signs at once (other instances learn it at
                               their next key reload; Bearer-only calls to them may get 401 until then)
  help                         this text";

/// Runs an admin command when `args` (the process arguments without the program name) name
/// one, and returns the process exit code; returns `None` when there are no arguments, so the
/// caller starts the server as usual.
///
/// ```no_run
/// let args: Vec<String> = std::env::args().skip(1).collect();
/// if let Some(code) = auth_idp::run_cli(&args) {
///     std::process::exit(code);
/// }
/// // … otherwise start the server …
/// ```
pub fn run(args: &[String]) -> Option<i32> {
    let (command, rest) = args.split_first()?;
    let result = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(execute(command, rest)),
        Err(e) => Err(format!("could not start the async runtime: {e}")),
    };
    Some(match result {
        Ok(message) => {
            eprintln!("{message}");
            0
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            2
        }
    })
}

async fn execute(command: &str, rest: &[String]) -> Result<String, String> {
    let connect = || async {
        let config = IdpConfig::from_env().map_err(|e| e.to_string())?;
        Idp::connect(config).await.map_err(|e| e.to_string())
    };
    match (command, rest) {
        ("grant-role" | "revoke-role", [email, role]) => {
            let role = role.trim();
            if role.is_empty() || role.len() > 64 {
                return Err("a role is 1 to 64 characters".into());
            }
            let users = connect().await?.users();
            let changed = if command == "grant-role" {
                users.grant_role_by_email(email, role).await
            } else {
                users.revoke_role_by_email(email, role).await
            };
            let updated = changed
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no user with email {email}"))?;
            Ok(format!(
                "{} now has roles: [{}] (active sessions pick this up at their next token refresh)",
                updated.email,
                updated.roles.join(", ")
            ))
        }
        ("rotate-keys", []) => {
            let idp = connect().await?;
            let rotation = idp.rotate_keys().await.map_err(|e| e.to_string())?;
            Ok(rotation_message(&rotation, SystemTime::now()))
        }
        ("rotate-keys", [flag]) if flag == "--now" => {
            let kid = connect()
                .await?
                .rotate_keys_now()
                .await
                .map_err(|e| e.to_string())?;
            Ok(format!(
                "new signing key {kid} is current and signs at once; running servers pick it up \
                 at their next key reload"
            ))
        }
        ("help" | "--help" | "-h", _) => Ok(USAGE.into()),
        _ => Err(format!(
            "unknown command or wrong arguments: {command} {}",
            rest.join(" ")
        )),
    }
}

/// What `rotate-keys` prints: the new key, and when it signs (Unix time and seconds from now).
fn rotation_message(rotation: &KeyRotation, now: SystemTime) -> String {
    let at = rotation
        .signs_from
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let wait = rotation
        .signs_from
        .duration_since(now)
        .map_or(0, |d| d.as_secs_f64().ceil() as u64);
    let what = if rotation.already_pending {
        "a rotation is already under way: signing key"
    } else {
        "new signing key"
    };
    format!(
        "{what} {} is published and signs from Unix time {at} (in {wait} s); the current key \
         signs until then",
        rotation.kid
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rotate_keys_says_when_the_new_key_signs() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let rotation = KeyRotation {
            kid: "k2".into(),
            signs_from: now + Duration::from_secs(70),
            already_pending: false,
        };
        let text = rotation_message(&rotation, now);
        assert!(text.contains("k2"), "{text}");
        assert!(text.contains("1070"), "{text}");
        assert!(text.contains("in 70 s"), "{text}");
        let pending = KeyRotation {
            already_pending: true,
            ..rotation
        };
        assert!(rotation_message(&pending, now).contains("already under way"));
    }
}
