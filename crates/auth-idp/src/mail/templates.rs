//! What each mail says. One match builds a mail's subject and blocks; the plain-text and HTML
//! parts are both rendered from those blocks, so they cannot say different things. Every value
//! put into the HTML part is escaped (the app name comes from configuration, the new address
//! from a user).

use super::Message;
use auth_types::contract::paths;
use std::fmt::Write as _;

/// A rendered mail: subject and both parts of its `multipart/alternative` body.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    pub(crate) subject: String,
    pub(crate) text: String,
    pub(crate) html: String,
}

/// One piece of a mail body.
enum Block<'a> {
    Para(String),
    /// The one-time code, shown large.
    Code(&'a str),
    /// A button-like link (the label, then the absolute URL).
    Link(&'static str, String),
}

/// Renders `message` for `app` served at `public_url` (no trailing slash).
pub(crate) fn render(message: &Message<'_>, app: &str, public_url: &str) -> Rendered {
    use Block::{Code, Link, Para};
    let page = |path: &str| format!("{public_url}{path}");
    let (subject, blocks) = match *message {
        Message::VerifyEmail { code, link } => (
            format!("Verify your email for {app}"),
            vec![
                Para(format!(
                    "Enter this code to confirm your email address for {app}:"
                )),
                Code(code),
                Para("Or open this link:".into()),
                Link("Verify your email", link.to_owned()),
                Para(
                    "The code and the link expire in 15 minutes. If you did not ask for them, \
                     ignore this mail."
                        .into(),
                ),
            ],
        ),
        Message::SignUpAttempt => (
            format!("Sign-up attempt on {app}"),
            vec![
                Para(format!(
                    "Someone tried to sign up for {app} with this email address, which already \
                     has an account. If it was you, sign in instead, or reset your password if \
                     you forgot it."
                )),
                Link("Sign in", page(paths::SIGN_IN_PAGE)),
                Link("Reset your password", page(paths::FORGOT_PASSWORD_PAGE)),
                Para("If it was not you, ignore this mail: nothing was changed.".into()),
            ],
        ),
        Message::PasswordReset { link } => (
            format!("Reset your password for {app}"),
            vec![
                Para(format!(
                    "Someone asked to reset the password of your {app} account. Open this link \
                     to choose a new one:"
                )),
                Link("Choose a new password", link.to_owned()),
                Para(
                    "The link works once and expires in 1 hour. If you did not ask, ignore this \
                     mail: your password stays as it is."
                        .into(),
                ),
            ],
        ),
        Message::PasswordChanged => (
            format!("Your {app} password was changed"),
            vec![
                Para(format!(
                    "The password of your {app} account was just changed."
                )),
                Para(
                    "If it was you, there is nothing to do. If not, reset your password now: \
                     that signs out every session."
                        .into(),
                ),
                Link("Reset your password", page(paths::FORGOT_PASSWORD_PAGE)),
            ],
        ),
        Message::ChangeEmailVerify { code, link } => (
            format!("Confirm your new email for {app}"),
            vec![
                Para(format!(
                    "Enter this code to make this address the email of your {app} account:"
                )),
                Code(code),
                Para("Or open this link:".into()),
                Link("Confirm your new email", link.to_owned()),
                Para(
                    "The code and the link expire in 15 minutes. If you did not ask for this \
                     change, ignore this mail."
                        .into(),
                ),
            ],
        ),
        Message::EmailChangeRequested { new_email } => (
            format!("Your {app} email is being changed"),
            vec![
                Para(format!(
                    "Someone signed in to your {app} account asked to change its email address \
                     to {new_email}. The change happens once that address is confirmed."
                )),
                Para(
                    "If it was not you, change your password now and sign out your other \
                     sessions."
                        .into(),
                ),
                Link("Your account", page(paths::PROFILE_PAGE)),
            ],
        ),
        Message::SignInCode { code } => (
            format!("Your {app} sign-in code"),
            vec![
                Para(format!("Enter this code to sign in to {app}:")),
                Code(code),
                Para(
                    "It expires in 15 minutes. If you did not try to sign in, ignore this mail: \
                     nobody can sign in without the code."
                        .into(),
                ),
            ],
        ),
        Message::AccountDeleted => (
            format!("Your {app} account was deleted"),
            vec![
                Para(format!(
                    "Your {app} account and its sessions were deleted. You will get no more \
                     mail about it."
                )),
                Para(
                    "If you did not delete it, someone had your password: you can sign up \
                     again with this address."
                        .into(),
                ),
            ],
        ),
    };
    let footer = format!("{app}, {public_url}");
    Rendered {
        text: text_part(&blocks, &footer),
        html: html_part(&subject, &blocks, &footer),
        subject,
    }
}

fn text_part(blocks: &[Block<'_>], footer: &str) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Para(p) => out.push_str(p),
            Block::Code(code) => {
                let _ = write!(out, "    {code}");
            }
            Block::Link(label, url) => {
                let _ = write!(out, "{label}: {url}");
            }
        }
        out.push_str("\n\n");
    }
    let _ = writeln!(out, "-- \n{footer}");
    out
}

fn html_part(subject: &str, blocks: &[Block<'_>], footer: &str) -> String {
    let mut out = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body style=\"font-family:system-ui,sans-serif;line-height:1.5;color:#111;\
         max-width:560px;margin:0 auto;padding:24px\">\n",
        escape(subject)
    );
    for block in blocks {
        match block {
            Block::Para(p) => {
                let _ = writeln!(out, "<p>{}</p>", escape(p));
            }
            Block::Code(code) => {
                let _ = writeln!(
                    out,
                    "<p style=\"font-family:ui-monospace,monospace;font-size:28px;\
                     letter-spacing:4px;font-weight:bold\">{}</p>",
                    escape(code)
                );
            }
            Block::Link(label, url) => {
                let url = escape(url);
                let _ = writeln!(
                    out,
                    "<p><a href=\"{url}\" style=\"display:inline-block;padding:10px 16px;\
                     background:#111;color:#fff;border-radius:6px;text-decoration:none\">{}</a>\
                     </p>\n<p style=\"font-size:13px;color:#555;word-break:break-all\">{url}</p>",
                    escape(label)
                );
            }
        }
    }
    let _ = write!(
        out,
        "<hr style=\"border:none;border-top:1px solid #ddd\">\n\
         <p style=\"font-size:13px;color:#555\">{}</p>\n</body></html>\n",
        escape(footer)
    );
    out
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and double- or single-quoted attributes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Message<'static>; 8] = [
        Message::VerifyEmail {
            code: "12345678",
            link: "https://app.test/verify-email?token=t1",
        },
        Message::SignUpAttempt,
        Message::PasswordReset {
            link: "https://app.test/reset-password?token=t2",
        },
        Message::PasswordChanged,
        Message::ChangeEmailVerify {
            code: "87654321",
            link: "https://app.test/verify-email?token=t3",
        },
        Message::EmailChangeRequested {
            new_email: "new@example.test",
        },
        Message::SignInCode { code: "11223344" },
        Message::AccountDeleted,
    ];

    #[test]
    fn every_mail_names_the_app_and_its_url_in_both_parts() {
        for message in ALL {
            let r = render(&message, "Acme", "https://app.test");
            assert!(r.subject.contains("Acme"), "{message:?}: {}", r.subject);
            for part in [&r.text, &r.html] {
                assert!(part.contains("Acme"), "{message:?}");
                assert!(part.contains("https://app.test"), "{message:?}");
            }
        }
    }

    #[test]
    fn secrets_appear_in_both_parts_and_never_in_the_subject() {
        for message in ALL {
            let r = render(&message, "Acme", "https://app.test");
            for secret in [message.code(), message.link()].into_iter().flatten() {
                assert!(r.text.contains(secret), "{message:?}");
                assert!(r.html.contains(&escape(secret)), "{message:?}");
                assert!(!r.subject.contains(secret), "{message:?}");
            }
            if message.code().is_none() && message.link().is_none() {
                assert!(!r.text.contains("token="), "{message:?}");
            }
        }
    }

    #[test]
    fn html_values_are_escaped() {
        let r = render(
            &Message::EmailChangeRequested {
                new_email: "<img src=x onerror=alert(1)>@x.test",
            },
            "A&B <script>'\"",
            "https://app.test",
        );
        assert!(!r.html.contains("<script>"));
        assert!(!r.html.contains("<img"));
        assert!(r.html.contains("A&amp;B &lt;script&gt;&#39;&quot;"));
        assert!(r.html.contains("&lt;img src=x onerror=alert(1)&gt;@x.test"));
        // The text part is not HTML: values stay as they are.
        assert!(r.text.contains("A&B <script>'\""));
    }
}
