//! Choosing cases: `--only` / `--skip` patterns and the waivers file.
//!
//! A pattern is a case id in which `*` stands for any run of characters (including `/`) and
//! `?` for one character; `ext-token/*`, `*replay*` and `auth-token/exp-??st` all work. Several
//! patterns may be given, separated by commas or by repeating the flag.
//!
//! A waivers file excuses known failures, as BoGo's disabled-tests list does. It is either a
//! JSON object mapping a case id (or pattern) to the reason:
//!
//! ```json
//! { "ext-token/replay": "firmware 1.2.2 issue #12", "bearer/*": "no bearer support yet" }
//! ```
//!
//! or a text file of `id: reason` lines, where blank lines and lines starting with `#` are
//! ignored:
//!
//! ```text
//! # known deviations of our device
//! ext-token/replay: firmware 1.2.2 issue #12
//! ```
//!
//! A waived case still runs; if it fails its outcome is `waived`, if it passes it is `pass`
//! (and the run notes that the waiver is stale).

use std::path::Path;

/// Whether `id` matches the glob `pattern` (`*` any run, `?` one character).
pub fn glob_match(pattern: &str, id: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = id.chars().collect();
    // Iterative matcher with one backtrack point: linear in practice, no recursion.
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == '?' || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A set of patterns from repeated and comma-separated flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patterns(Vec<String>);

impl Patterns {
    /// Splits each argument on commas; empty pieces are dropped.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Self {
        Patterns(
            args.iter()
                .flat_map(|a| a.as_ref().split(','))
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect(),
        )
    }

    /// Whether no pattern was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any pattern matches `id`.
    pub fn matches(&self, id: &str) -> bool {
        self.0.iter().any(|p| glob_match(p, id))
    }

    /// The patterns that match none of `ids` (probably typos).
    pub fn unmatched<'a>(&'a self, ids: &[&str]) -> Vec<&'a str> {
        self.0
            .iter()
            .filter(|p| !ids.iter().any(|id| glob_match(p, id)))
            .map(String::as_str)
            .collect()
    }
}

/// Case ids (or patterns) excused from failing the run, each with its reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Waivers(Vec<(String, String)>);

impl Waivers {
    /// Reads a waivers file (see the module docs for both formats).
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read waivers file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("waivers file {}: {e}", path.display()))
    }

    /// Parses the text of a waivers file.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim_start().starts_with('{') {
            let map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
            let mut out = Vec::with_capacity(map.len());
            for (id, reason) in map {
                let reason = reason
                    .as_str()
                    .ok_or_else(|| format!("the reason for {id} is not a string"))?;
                out.push((id, reason.to_string()));
            }
            return Ok(Waivers(out));
        }
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // Case ids contain `/` but never `:`, so the first colon ends the id.
            let (id, reason) = line
                .split_once(':')
                .map(|(id, reason)| (id.trim(), reason.trim()))
                .filter(|(id, _)| !id.is_empty() && !id.contains(char::is_whitespace))
                .ok_or_else(|| format!("line {}: expected `case-id: reason`", n + 1))?;
            out.push((id.to_string(), reason.to_string()));
        }
        Ok(Waivers(out))
    }

    /// The reason `id` is waived, if it is.
    pub fn reason(&self, id: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(p, _)| glob_match(p, id))
            .map(|(_, r)| r.as_str())
    }

    /// Waiver entries that match no case id (stale or misspelt).
    pub fn unmatched<'a>(&'a self, ids: &[&str]) -> Vec<&'a str> {
        self.0
            .iter()
            .filter(|(p, _)| !ids.iter().any(|id| glob_match(p, id)))
            .map(|(p, _)| p.as_str())
            .collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("ext-token/replay", "ext-token/replay"));
        assert!(!glob_match("ext-token/replay", "ext-token/replay2"));
        assert!(glob_match("ext-token/*", "ext-token/replay"));
        assert!(!glob_match("ext-token/*", "ext-request/ok"));
        assert!(glob_match("*replay*", "auth-token/replay"));
        assert!(glob_match("*", "anything/at/all"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*/exp-*", "ext-token/exp-past"));
        assert!(glob_match("a*b*c", "aXXbYYbZc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "x"));
    }

    #[test]
    fn patterns_split_on_commas() {
        let p = Patterns::parse(&["ext-token/*, bearer/missing", "", "wire/*"]);
        assert!(p.matches("ext-token/bad-mac"));
        assert!(p.matches("bearer/missing"));
        assert!(p.matches("wire/body-too-large"));
        assert!(!p.matches("bearer/expired"));
        assert_eq!(
            p.unmatched(&["ext-token/x", "wire/y"]),
            vec!["bearer/missing"]
        );
        assert!(Patterns::parse::<&str>(&[]).is_empty());
    }

    #[test]
    fn waivers_in_both_formats() {
        let json = Waivers::parse(r#"{"ext-token/replay":"bug 12","bearer/*":"later"}"#).unwrap();
        assert_eq!(json.reason("ext-token/replay"), Some("bug 12"));
        assert_eq!(json.reason("bearer/expired"), Some("later"));
        assert_eq!(json.reason("wire/x"), None);

        let text = "# comment\n\next-token/replay: bug 12: still open\n  bearer/* : later \n";
        let lines = Waivers::parse(text).unwrap();
        assert_eq!(lines.reason("ext-token/replay"), Some("bug 12: still open"));
        assert_eq!(lines.reason("bearer/missing"), Some("later"));
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines.unmatched(&["bearer/missing"]),
            vec!["ext-token/replay"]
        );

        assert!(Waivers::parse("no colon here").is_err());
        assert!(Waivers::parse("two words: reason").is_err());
        assert!(Waivers::parse(r#"{"a": 1}"#).is_err());
        assert!(Waivers::parse("{ not json").is_err());
        assert!(Waivers::parse("").unwrap().is_empty());
    }
}
