//! Parsing and formatting helpers of the command line: sizes, ranges, locations, redaction,
//! shell quoting and timestamps. Pure functions, unit-tested here.

use std::path::{Component, Path, PathBuf};

/// Parses a byte size: a number with an optional unit, case-insensitive.
///
/// Binary units: `KiB`, `MiB`, `GiB`, `TiB` and the short `K`, `M`, `G`, `T`; decimal units:
/// `KB`, `MB`, `GB`, `TB`; `B` or no unit for bytes. A fraction is allowed with a unit
/// (`1.5MiB`). Examples: `8MiB`, `512KiB`, `1GiB`, `1048576`, `10MB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num = num.replace('_', "");
    let unit = unit.trim();
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "`{text}` is not a size (use e.g. 8MiB, 512KiB, 1GiB, 10MB or a byte count)"
            ));
        }
    };
    if num.is_empty() {
        return Err(format!("`{text}` is not a size: it has no number"));
    }
    if let Ok(n) = num.parse::<u64>() {
        return n
            .checked_mul(mult)
            .ok_or_else(|| format!("`{text}` is too large"));
    }
    match num.parse::<f64>() {
        Ok(f) if f.is_finite() && f >= 0.0 && mult > 1 => {
            let v = f * mult as f64;
            if v >= u64::MAX as f64 {
                Err(format!("`{text}` is too large"))
            } else {
                Ok(v.round() as u64)
            }
        }
        _ => Err(format!(
            "`{text}` is not a size (use e.g. 8MiB, 512KiB, 1GiB, 10MB or a byte count)"
        )),
    }
}

/// Parses a duration: a number with a unit `ms`, `s`, `m` or `h` (`30s`, `500ms`, `1.5m`,
/// `2h`); a bare number is seconds. Zero is refused.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let secs_per: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "ms" => 0.001,
        "" | "s" | "sec" | "secs" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "`{text}` is not a duration (use e.g. 30s, 500ms, 2m, 1h)"
            ));
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (use e.g. 30s, 500ms, 2m, 1h)"))?;
    let secs = n * secs_per;
    if !secs.is_finite() || secs <= 0.0 || secs > 1e9 {
        return Err(format!(
            "`{text}` is not a usable duration (more than zero)"
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// A download range as typed on the command line (HTTP style, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeArg {
    /// `START-END` (both inclusive) or `START-` (to the end).
    From {
        /// First byte.
        start: u64,
        /// Last byte, inclusive; `None` reads to the end.
        end: Option<u64>,
    },
    /// `-N`: the last `N` bytes.
    Suffix(u64),
}

/// Parses `START-END` (inclusive), `START-` or `-N` (the last N bytes).
pub fn parse_range(text: &str) -> Result<RangeArg, String> {
    let bad = || format!("`{text}` is not a range (use START-END, START- or -N; END is inclusive)");
    let (a, b) = text.trim().split_once('-').ok_or_else(bad)?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, true) => Err(bad()),
        (true, false) => {
            let n = num(b)?;
            if n == 0 {
                return Err(format!("`{text}` is an empty range"));
            }
            Ok(RangeArg::Suffix(n))
        }
        (false, true) => Ok(RangeArg::From {
            start: num(a)?,
            end: None,
        }),
        (false, false) => {
            let (start, end) = (num(a)?, num(b)?);
            if end < start {
                return Err(format!(
                    "`{text}` ends before it starts (END is inclusive and must be >= START)"
                ));
            }
            Ok(RangeArg::From {
                start,
                end: Some(end),
            })
        }
    }
}

/// Whether a command-line location is a URL (`scheme://...`) rather than a local path.
pub fn is_url(text: &str) -> bool {
    match text.split_once("://") {
        Some((scheme, _)) => {
            // A one-letter "scheme" is a Windows drive letter (C://), not a URL.
            scheme.len() > 1
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// Makes a local path absolute (against the current directory) and removes `.` and `..`
/// components lexically, without touching the file system (the path may not exist yet).
pub fn absolute_path(path: &Path) -> std::io::Result<PathBuf> {
    let abs = std::path::absolute(path)?;
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    Ok(out)
}

/// Turns a local path into a `file://` URL of its absolute path (the local-disk default).
pub fn path_to_url(path: &Path) -> Result<String, String> {
    let abs = absolute_path(path).map_err(|e| format!("cannot resolve {}: {e}", path.display()))?;
    let trailing = path.as_os_str().to_string_lossy().ends_with('/');
    let mut url = url::Url::from_file_path(&abs)
        .map_err(|_| format!("{} cannot be expressed as a file URL", abs.display()))?
        .to_string();
    if trailing && !url.ends_with('/') {
        url.push('/');
    }
    Ok(url)
}

/// A location as typed: a URL is kept, a local path becomes a `file://` URL.
pub fn location_to_url(text: &str) -> Result<String, String> {
    if is_url(text) {
        Ok(text.to_string())
    } else {
        path_to_url(Path::new(text))
    }
}

/// Query parameter names that may carry a credential; they are dropped by [`redact_url`].
const SECRET_PARAMS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "signature",
    "sig",
    "credential",
    "auth",
    "sas",
    "apikey",
    "api_key",
    "access_key",
    "session",
];

/// Schemes whose URL user name is a login name (kept by [`redact_url`], so that a saved
/// destination still says who logs in); elsewhere a user name may be a key or a token.
const LOGIN_SCHEMES: &[&str] = &["sftp", "ftp", "ftps", "webdav", "webdavs"];

/// The URL without anything secret: the password removed (and the user name too, except for
/// the login schemes of [`LOGIN_SCHEMES`], where it is a login name), and query parameters
/// whose names look like credentials dropped. Text that is not a URL is returned as it is.
pub fn redact_url(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        return text.to_string();
    };
    if !url.username().is_empty() && !LOGIN_SCHEMES.contains(&url.scheme()) {
        let _ = url.set_username("");
    }
    if url.password().is_some() {
        let _ = url.set_password(None);
    }
    if url.query().is_some() {
        let all = url.query_pairs().count();
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                !SECRET_PARAMS.iter().any(|s| k.contains(s))
            })
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.len() == all {
            // Nothing secret: keep the query exactly as written.
        } else if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    url.to_string()
}

/// Quotes one argument for a POSIX shell (single quotes when needed).
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '-' | '.' | '/' | ':' | '=' | '@' | '%' | '+' | ',')
        });
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// A command line that can be pasted into a shell; URLs are redacted (see [`redact_url`]).
/// Returns the text and whether anything was redacted.
pub fn shell_command<I, S>(args: I) -> (String, bool)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut redacted = false;
    let parts: Vec<String> = args
        .into_iter()
        .map(|a| {
            let a = a.as_ref();
            let r = if is_url(a) {
                redact_url(a)
            } else {
                a.to_string()
            };
            if r != a && url::Url::parse(a).map(|u| u.to_string()) != Ok(r.clone()) {
                redacted = true;
            }
            shell_quote(&r)
        })
        .collect();
    (parts.join(" "), redacted)
}

/// A time as RFC 3339 in UTC, to the second (`2024-05-01T12:00:00Z`); before 1970, the epoch.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let t = time::OffsetDateTime::from(t.max(std::time::UNIX_EPOCH));
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// The last segment of a key or path (`a/b/c.txt` → `c.txt`); `None` if there is none.
pub fn base_name(key: &str) -> Option<&str> {
    key.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8MiB").unwrap(), 8 << 20);
        assert_eq!(parse_size("512KiB").unwrap(), 512 << 10);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        assert_eq!(parse_size("20mib").unwrap(), 20 << 20);
        assert_eq!(parse_size("1.5MiB").unwrap(), 3 << 19);
        assert_eq!(parse_size("4M").unwrap(), 4 << 20);
        assert_eq!(parse_size("100 B").unwrap(), 100);
        for bad in [
            "",
            "MiB",
            "8XB",
            "-1",
            "1.5",
            "abc",
            "99999999999999999999TiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        for bad in ["", "0", "0s", "s", "-1s", "2 weeks", "1..2s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(
            parse_range("0-99").unwrap(),
            RangeArg::From {
                start: 0,
                end: Some(99)
            }
        );
        assert_eq!(
            parse_range("100-").unwrap(),
            RangeArg::From {
                start: 100,
                end: None
            }
        );
        assert_eq!(parse_range("-500").unwrap(), RangeArg::Suffix(500));
        for bad in ["", "-", "5", "9-3", "a-b", "-0", "1-2-3"] {
            assert!(parse_range(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn locations() {
        assert!(is_url("file:///tmp/x"));
        assert!(is_url("s3://bucket/key"));
        assert!(is_url("memory://m/k"));
        assert!(!is_url("/tmp/x"));
        assert!(!is_url("C://x"));
        assert!(!is_url("rel/a://b"));
        assert_eq!(
            location_to_url("/tmp/a b.bin").unwrap(),
            "file:///tmp/a%20b.bin"
        );
        assert_eq!(
            location_to_url("/tmp/s/../x/./y").unwrap(),
            "file:///tmp/x/y"
        );
        assert_eq!(location_to_url("/tmp/dir/").unwrap(), "file:///tmp/dir/");
        let rel = location_to_url("rel.bin").unwrap();
        assert!(
            rel.starts_with("file:///") && rel.ends_with("/rel.bin"),
            "{rel}"
        );
        assert_eq!(location_to_url("s3://b/k").unwrap(), "s3://b/k");
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("s3://AKIA:SECRETKEY@bucket/key?region=eu&secret_key=X&sig=Y"),
            "s3://bucket/key?region=eu"
        );
        assert_eq!(
            redact_url("file:///tmp/a?root=/tmp"),
            "file:///tmp/a?root=/tmp"
        );
        assert_eq!(redact_url("not a url"), "not a url");
        // A login name is kept where it is one; the password never.
        assert_eq!(
            redact_url("sftp://alice:hunter2@host:2222/srv/f"),
            "sftp://alice@host:2222/srv/f"
        );
        assert_eq!(
            redact_url("webdavs://bob:pw@dav.example/x"),
            "webdavs://bob@dav.example/x"
        );
        let (cmd, red) = shell_command(["files", "upload", "a b", "s3://u:p@b/k"]);
        assert_eq!(cmd, "files upload 'a b' s3://b/k");
        assert!(red);
        let (cmd, red) = shell_command(["files", "upload", "it's", "file:///tmp/k"]);
        assert_eq!(cmd, r"files upload 'it'\''s' file:///tmp/k");
        assert!(!red);
    }

    #[test]
    fn timestamps_and_names() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_709_251_199)),
            "2024-02-29T23:59:59Z"
        );
        assert_eq!(base_name("a/b/c.txt"), Some("c.txt"));
        assert_eq!(base_name("a/b/"), Some("b"));
        assert_eq!(base_name(""), None);
    }
}
