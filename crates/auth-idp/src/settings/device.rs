//! A short device description for the sessions list ("Firefox on Linux") from the `User-Agent`
//! stored with a session, parsed with `woothee` (a compiled-in rule set, no data file to load).

/// Shown when nothing is known of the client.
pub(crate) const UNKNOWN_DEVICE: &str = "Unknown device";

/// "Browser on OS", the browser or the OS alone, or [`UNKNOWN_DEVICE`].
pub(crate) fn describe(user_agent: Option<&str>) -> String {
    let Some(parsed) = user_agent
        .map(str::trim)
        .filter(|ua| !ua.is_empty())
        .and_then(|ua| woothee::parser::Parser::new().parse(ua))
    else {
        return UNKNOWN_DEVICE.to_owned();
    };
    let known = |v: &str| !v.is_empty() && v != woothee::woothee::VALUE_UNKNOWN;
    let browser = known(parsed.name).then_some(parsed.name);
    let os = known(parsed.os).then(|| os_name(parsed.os));
    match (browser, os) {
        (Some(browser), Some(os)) => format!("{browser} on {os}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(os)) => format!("Unknown browser on {os}"),
        (None, None) => UNKNOWN_DEVICE.to_owned(),
    }
}

/// The OS as users name it: every Windows release is "Windows" (Windows 11 still sends
/// "Windows NT 10.0", so the version would be wrong), "Mac OSX" is "macOS".
fn os_name(os: &str) -> &str {
    match os {
        "Mac OSX" => "macOS",
        "Mac OS Classic" => "Mac OS",
        os if os.starts_with("Windows Phone") => "Windows Phone",
        os if os.starts_with("Windows") => "Windows",
        os => os,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_browsers() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/126.0.0.0 Safari/537.36",
                "Chrome on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like \
                 Gecko) Version/17.5 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/126.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
        ];
        for (ua, expected) in cases {
            assert_eq!(describe(Some(ua)), expected, "{ua}");
        }
    }

    #[test]
    fn unknown_clients() {
        assert_eq!(describe(None), UNKNOWN_DEVICE);
        assert_eq!(describe(Some("")), UNKNOWN_DEVICE);
        assert_eq!(describe(Some("   ")), UNKNOWN_DEVICE);
        assert_eq!(describe(Some("\u{0}\u{1}garbage")), UNKNOWN_DEVICE);
    }
}
