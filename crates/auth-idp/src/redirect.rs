//! `redirect_url` sanitising: only same-origin relative paths survive; anything else becomes `/`.

/// Returns `raw` when it is a safe same-origin path, else `/`.
///
/// Safe: starts with exactly one `/` (not `//`), contains no `\`, no control characters, no
/// whitespace, only ASCII, at most 2048 bytes. This rules out `https://evil.example`,
/// `//evil.example`, `/\evil.example`, `javascript:…` and header injection.
pub fn safe_redirect(raw: Option<&str>) -> String {
    match raw {
        Some(path) if is_safe_path(path) => path.to_owned(),
        _ => "/".to_owned(),
    }
}

fn is_safe_path(path: &str) -> bool {
    path.len() <= 2048
        && path.starts_with('/')
        && !path.starts_with("//")
        && path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_relative_paths() {
        assert_eq!(
            safe_redirect(Some("/dashboard?tab=1#x")),
            "/dashboard?tab=1#x"
        );
        assert_eq!(safe_redirect(Some("/")), "/");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "evil.example",
            "/ok\r\nSet-Cookie: x=1",
            "/\tx",
            "/ with space",
            "/é",
            "",
            "///evil.example",
        ] {
            assert_eq!(safe_redirect(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_redirect(None), "/");
    }
}
