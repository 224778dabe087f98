//! Where a sign-in leads afterwards: `GET /api/oidc/start?next=PATH`. Only
//! an absolute path of this origin is followed, so the sign-in cannot be
//! used to send a person elsewhere (no open redirect).

/// Where a sign-in leads when no `next` is given, or a bad one.
pub const DEFAULT_NEXT: &str = "/pro.html";
/// The longest `next` followed.
pub const MAX_NEXT: usize = 512;

/// `next` if it is a path of this origin: it starts with one `/` (not
/// `//` nor `/\`, which browsers read as another host), and holds only
/// printable ASCII without a backslash; `None` otherwise.
pub fn safe_next(next: &str) -> Option<&str> {
    let b = next.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= MAX_NEXT
        && b[0] == b'/'
        && b.get(1).is_none_or(|c| *c != b'/' && *c != b'\\')
        && b.iter().all(|c| c.is_ascii_graphic() && *c != b'\\');
    ok.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_origin_paths_are_followed() {
        for ok in [
            "/",
            "/pro.html",
            "/pro?x=1#y",
            "/api/acts/abc/trace",
            "/a//b",
        ] {
            assert_eq!(safe_next(ok), Some(ok), "{ok}");
        }
        for bad in [
            "",
            "pro",
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "\\\\evil.example",
            "/pro\\..\\x",
            "/pro page",
            "/pro\r\nSet-Cookie: x=1",
            "/pro\t",
            "javascript:alert(1)",
            "/é",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
        assert_eq!(
            safe_next(&format!("/{}", "a".repeat(MAX_NEXT))),
            None,
            "too long"
        );
    }
}
