//! What a job wrote, made fit for an error cause: the last lines of its
//! stderr, bounded, with anything that looks like a secret masked. A cause
//! ends up in the execution history, the console, logs and alarms, which
//! more people read than the job's own environment.

/// At most this many bytes of stderr go into a cause.
pub const STDERR_TAIL_BYTES: usize = 2048;

const MASK: &str = "***";

/// Words that name a secret when followed by `=` or `:` (case-insensitive).
const SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "access_key",
    "accesskey",
    "private_key",
    "credential",
    "credentials",
    "authorization",
];

/// The end of `text`, at most `max_bytes` long, starting at a line start
/// when one is inside the bound (a cut line is marked with `...`).
pub fn tail(text: &str, max_bytes: usize) -> String {
    let text = text.trim_end();
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut start = text.len() - max_bytes;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let rest = &text[start..];
    match rest.find('\n') {
        Some(newline) if newline + 1 < rest.len() => rest[newline + 1..].to_string(),
        _ => format!("...{rest}"),
    }
}

/// `text` with values that look like secrets replaced by `***`:
/// `name=value` / `name: value` for the names above, the password of a URL
/// (`scheme://user:password@host`), and AWS access key ids.
pub fn mask_secrets(text: &str) -> String {
    text.lines().map(mask_line).collect::<Vec<_>>().join("\n")
}

fn mask_line(line: &str) -> String {
    let line = mask_url_passwords(line);
    let line = mask_named_values(&line);
    mask_access_key_ids(&line)
}

/// `name=value`, `name: value`, `"name": "value"`: the value up to the next
/// blank, quote or comma.
fn mask_named_values(line: &str) -> String {
    let lower = line.to_ascii_lowercase();
    let mut out = String::with_capacity(line.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some((name_at, name)) = SECRET_NAMES
        .iter()
        .filter_map(|name| lower[search..].find(name).map(|at| (search + at, *name)))
        .min_by_key(|(at, name)| (*at, usize::MAX - name.len()))
    {
        let mut at = name_at + name.len();
        // The rest of a longer word (`password_file`, `tokens`) belongs to it.
        while at < line.len() && is_word_byte(line.as_bytes()[at]) {
            at += 1;
        }
        let bytes = line.as_bytes();
        let mut cursor = at;
        while cursor < line.len() && matches!(bytes[cursor], b'"' | b'\'' | b' ') {
            cursor += 1;
        }
        if cursor < line.len() && matches!(bytes[cursor], b'=' | b':') {
            cursor += 1;
            while cursor < line.len() && matches!(bytes[cursor], b' ' | b'"' | b'\'') {
                cursor += 1;
            }
            let token_end = |from: usize| {
                line[from..]
                    .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ','))
                    .map_or(line.len(), |end| from + end)
            };
            let mut value_end = token_end(cursor);
            // `Authorization: Bearer <token>`: the scheme is not the secret.
            let scheme = &line[cursor..value_end];
            if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("basic") {
                let next = line[value_end..]
                    .find(|c: char| !c.is_whitespace())
                    .map_or(line.len(), |skip| value_end + skip);
                if next < line.len() {
                    value_end = token_end(next);
                }
            }
            if value_end > cursor {
                out.push_str(&line[copied..cursor]);
                out.push_str(MASK);
                copied = value_end;
            }
            search = value_end.max(cursor);
        } else {
            search = at;
        }
        if search >= line.len() {
            break;
        }
    }
    out.push_str(&line[copied..]);
    out
}

fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

/// `scheme://user:password@host` -> `scheme://user:***@host`.
fn mask_url_passwords(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(scheme_end) = rest.find("://") {
        let authority_start = scheme_end + 3;
        out.push_str(&rest[..authority_start]);
        rest = &rest[authority_start..];
        let authority_end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '/' | '"' | '\''))
            .unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&authority[..=colon]);
                out.push_str(MASK);
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &rest[authority_end..];
    }
    out.push_str(rest);
    out
}

/// `AKIA...`/`ASIA...` followed by 16 upper-case letters or digits.
fn mask_access_key_ids(line: &str) -> String {
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut index = 0;
    while index < bytes.len() {
        let candidate = &bytes[index..];
        let is_key = candidate.len() >= 20
            && (candidate.starts_with(b"AKIA") || candidate.starts_with(b"ASIA"))
            && candidate[4..20]
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && (index == 0 || !bytes[index - 1].is_ascii_alphanumeric())
            && candidate.get(20).is_none_or(|b| !b.is_ascii_alphanumeric());
        if is_key {
            out.push_str(MASK);
            index += 20;
        } else {
            let next = line[index..].chars().next().expect("inside the line");
            out.push(next);
            index += next.len_utf8();
        }
    }
    out
}

/// The job's stderr as a cause shows it: masked, then its last
/// [`STDERR_TAIL_BYTES`].
pub fn stderr_for_cause(stderr: &str) -> String {
    tail(&mask_secrets(stderr), STDERR_TAIL_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked() {
        let table = [
            (
                "PGPASSWORD=hunter2 psql -c 'select 1'",
                "PGPASSWORD=*** psql -c 'select 1'",
            ),
            ("password: hunter2", "password: ***"),
            (
                "{\"db_password\": \"hunter2\", \"user\": \"app\"}",
                "{\"db_password\": \"***\", \"user\": \"app\"}",
            ),
            ("export API_KEY='abc123'", "export API_KEY='***'"),
            ("Authorization: Bearer abc.def-ghi", "Authorization: ***"),
            (
                "curl -H 'authorization: basic dXNlcjpwYXNz' x",
                "curl -H 'authorization: ***' x",
            ),
            (
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG",
                "aws_secret_access_key = ***",
            ),
            (
                "connect postgres://app:s3cret@db.internal:5432/jobs failed",
                "connect postgres://app:***@db.internal:5432/jobs failed",
            ),
            ("key AKIAIOSFODNN7EXAMPLE used", "key *** used"),
            (
                "session ASIAIOSFODNN7EXAMPLE, denied",
                "session ***, denied",
            ),
            // Not secrets: left as they are.
            (
                "ERROR: relation \"orders\" does not exist",
                "ERROR: relation \"orders\" does not exist",
            ),
            ("tokenizer failed at line 3", "tokenizer failed at line 3"),
            ("the password was rejected", "the password was rejected"),
            ("https://example.com/path", "https://example.com/path"),
            (
                "AKIAIOSFODNN7EXAMPLEX is not a key id",
                "AKIAIOSFODNN7EXAMPLEX is not a key id",
            ),
            ("경고: password=비밀 끝", "경고: password=*** 끝"),
        ];
        for (input, expected) in table {
            assert_eq!(mask_secrets(input), expected, "{input}");
        }
    }

    #[test]
    fn every_secret_on_a_line_is_masked() {
        assert_eq!(
            mask_secrets("user=app password=a token=b secret=c"),
            "user=app password=*** token=*** secret=***"
        );
        assert_eq!(mask_secrets("a\npassword=x\nb"), "a\npassword=***\nb");
    }

    #[test]
    fn the_tail_is_bounded_and_starts_at_a_line() {
        assert_eq!(tail("short\n", 100), "short");
        let lines: Vec<String> = (0..500).map(|i| format!("line {i}")).collect();
        let text = lines.join("\n");
        let end = tail(&text, 100);
        assert!(end.len() <= 100, "{}", end.len());
        assert!(
            end.starts_with("line ") && end.ends_with("line 499"),
            "{end}"
        );
        // One long line: cut, and marked as cut.
        let long = "x".repeat(5000);
        let end = tail(&long, 100);
        assert_eq!(end, format!("...{}", "x".repeat(100)));
        // Never splits a character.
        let wide = "가".repeat(1000);
        assert!(tail(&wide, 100).chars().all(|c| c == '가' || c == '.'));
    }

    #[test]
    fn a_cause_gets_the_masked_end() {
        let mut stderr = "noise\n".repeat(1000);
        stderr.push_str("FATAL: password authentication failed; DSN postgres://app:pw@db/x\n");
        let shown = stderr_for_cause(&stderr);
        assert!(shown.len() <= STDERR_TAIL_BYTES);
        assert!(shown.ends_with("DSN postgres://app:***@db/x"), "{shown}");
        assert!(!shown.contains(":pw@"));
    }
}
