//! The dev mailbox: in a debug build without `AUTH_SMTP_URL`, the last [`KEEP`] mails are kept in
//! memory and shown at `GET /auth/dev/mailbox` (HTML, newest first, links clickable), or as JSON
//! with `?format=json` or `Accept: application/json`. A release build has no such route.

use super::Message;
use super::templates::{Rendered, escape};
use crate::Inner;
use crate::routes::no_store;
use auth_types::contract::paths;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, StatusCode, header};
use serde_json::json;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// How many mails the dev mailbox keeps (the oldest go first).
pub(super) const KEEP: usize = 50;

/// The last [`KEEP`] mails, oldest first.
#[derive(Debug, Default)]
pub(super) struct Mailbox {
    mails: Mutex<VecDeque<Kept>>,
}

#[derive(Debug, Clone)]
struct Kept {
    to: String,
    mail: Rendered,
    code: Option<String>,
    link: Option<String>,
    /// Every URL in the text part (the secret link, sign-in and reset pages, the app).
    links: Vec<String>,
    /// Unix seconds.
    sent_at: u64,
}

impl Mailbox {
    pub(super) fn keep(&self, to: &str, mail: Rendered, message: &Message<'_>) {
        let links = urls_in(&mail.text);
        let kept = Kept {
            to: to.to_owned(),
            code: message.code().map(str::to_owned),
            link: message.link().map(str::to_owned),
            links,
            mail,
            sent_at: unix_now(),
        };
        let mut mails = self.mails.lock().unwrap_or_else(PoisonError::into_inner);
        if mails.len() == KEEP {
            mails.pop_front();
        }
        mails.push_back(kept);
    }

    /// Newest first.
    fn newest_first(&self) -> Vec<Kept> {
        let mails = self.mails.lock().unwrap_or_else(PoisonError::into_inner);
        mails.iter().rev().cloned().collect()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The http(s) URLs of a text, in order, each once.
fn urls_in(text: &str) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        if (word.starts_with("https://") || word.starts_with("http://"))
            && !urls.iter().any(|u| u == word)
        {
            urls.push(word.to_owned());
        }
    }
    urls
}

pub(super) fn routes() -> axum::Router<Arc<Inner>> {
    axum::Router::new().route(paths::DEV_MAILBOX, get(mailbox))
}

async fn mailbox(
    State(inner): State<Arc<Inner>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(mailbox) = inner.mailer.dev_mailbox() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({
                "error": "The dev mailbox is on only in debug builds without AUTH_SMTP_URL"
            })),
        )
            .into_response();
    };
    let json_asked = query.as_deref().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "format" && v == "json")
    }) || headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let mails = mailbox.newest_first();
    let mut response = if json_asked {
        Json(json!({ "mails": mails.iter().map(to_json).collect::<Vec<_>>() })).into_response()
    } else {
        Html(page(&mails)).into_response()
    };
    no_store(&mut response);
    response
}

fn to_json(kept: &Kept) -> serde_json::Value {
    json!({
        "to": kept.to,
        "subject": kept.mail.subject,
        "text": kept.mail.text,
        "html": kept.mail.html,
        "code": kept.code,
        "link": kept.link,
        "links": kept.links,
        "sent_at": kept.sent_at,
    })
}

fn page(mails: &[Kept]) -> String {
    let mut out = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Dev mailbox ({})</title>\n<style>\
         body{{font-family:system-ui,sans-serif;max-width:860px;margin:0 auto;padding:24px;\
         color:#111}} article{{border:1px solid #ddd;border-radius:8px;padding:12px 16px;\
         margin:12px 0}} .meta{{color:#555;font-size:14px}} .code{{font-family:ui-monospace,\
         monospace;font-size:24px;letter-spacing:3px;font-weight:bold}} pre{{white-space:\
         pre-wrap;background:#f6f6f6;padding:8px;border-radius:6px}} a{{word-break:break-all}}\
         </style></head>\n<body>\n<h1>Dev mailbox</h1>\n<p class=\"meta\">The last {} mails \
         this debug server would have sent (no <code>AUTH_SMTP_URL</code>), newest first. \
         Reload for new ones; <a href=\"?format=json\">JSON</a>.</p>\n",
        mails.len(),
        KEEP,
    );
    if mails.is_empty() {
        out.push_str("<p>No mail yet.</p>\n");
    }
    for kept in mails {
        let _ = write!(
            out,
            "<article>\n<h2>{}</h2>\n<p class=\"meta\">To {} · {} s ago</p>\n",
            escape(&kept.mail.subject),
            escape(&kept.to),
            unix_now().saturating_sub(kept.sent_at),
        );
        if let Some(code) = &kept.code {
            let _ = writeln!(out, "<p class=\"code\">{}</p>", escape(code));
        }
        if !kept.links.is_empty() {
            out.push_str("<ul>\n");
            for link in &kept.links {
                let link = escape(link);
                let _ = writeln!(out, "<li><a href=\"{link}\">{link}</a></li>");
            }
            out.push_str("</ul>\n");
        }
        let _ = write!(out, "<pre>{}</pre>\n</article>\n", escape(&kept.mail.text));
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_a_text() {
        assert_eq!(
            urls_in("Open: https://a.test/x?token=1 or http://b.test\n\nhttps://a.test/x?token=1"),
            ["https://a.test/x?token=1", "http://b.test"]
        );
        assert!(urls_in("javascript:alert(1) ftp://x").is_empty());
    }
}
