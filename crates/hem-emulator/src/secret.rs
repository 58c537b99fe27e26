//! Secrets given to a command-line program (spec §13.5): on the command line, in a file, or in
//! an environment variable.
//!
//! A value on the command line is visible to every local user (`ps`, `/proc/<pid>/cmdline`), so
//! each secret flag `--NAME VALUE` has a file form `--NAME-file FILE` and an environment
//! variable; the value form still works, with a warning. The rule, for every secret flag of
//! `hem-emulator` and `hem-conformance`:
//!
//! * `--NAME` and `--NAME-file` exclude each other;
//! * either one on the command line wins over the environment variable;
//! * the environment variable is read only when neither is given;
//! * a file holds the secret alone; one line ending (`\n` or `\r\n`) at its end is not part of
//!   it. A missing, unreadable, empty or non-UTF-8 file, or an empty environment variable, is
//!   an error (never "no secret").
//!
//! What is read goes into one buffer of the file's size, wiped when dropped
//! ([`zeroize::Zeroizing`]); the process environment itself is not wiped (it is readable only
//! by the same user, `/proc/<pid>/environ` has mode 0400).

use std::path::Path;

use zeroize::Zeroizing;

/// Longest secret file read (ours): a password or a base64 key is a few dozen bytes.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Where a secret was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretOrigin {
    /// `--NAME-file FILE`.
    File,
    /// The environment variable.
    Environment,
    /// `--NAME VALUE`: visible to other local users; warn (see [`command_line_warning`]).
    CommandLine,
}

/// One secret flag: its name (`password` for `--password` and `--password-file`) and its
/// environment variable (`HEM_PASSWORD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretFlag<'a> {
    /// The flag without dashes.
    pub name: &'a str,
    /// The environment variable, or `None` where the environment must not be read (another
    /// flag that excludes this secret was given).
    pub env: Option<&'a str>,
}

impl SecretFlag<'_> {
    /// The secret from `value` (`--NAME`), `file` (`--NAME-file`) or the environment, in that
    /// order of precedence (see the module docs); `Ok(None)` when none is given. The error
    /// names the flag or variable and says what is wrong.
    pub fn read(
        &self,
        value: Option<String>,
        file: Option<&Path>,
    ) -> Result<Option<(Zeroizing<String>, SecretOrigin)>, String> {
        let name = self.name;
        match (value, file) {
            (Some(_), Some(_)) => Err(format!(
                "--{name} and --{name}-file exclude each other: give one"
            )),
            (Some(value), None) => {
                let value = Zeroizing::new(value);
                if value.is_empty() {
                    return Err(format!("--{name} is empty"));
                }
                Ok(Some((value, SecretOrigin::CommandLine)))
            }
            (None, Some(path)) => read_file(path)
                .map(|s| Some((s, SecretOrigin::File)))
                .map_err(|e| format!("--{name}-file {}: {e}", path.display())),
            (None, None) => {
                let Some(var) = self.env else {
                    return Ok(None);
                };
                match std::env::var(var) {
                    Ok(value) => {
                        let value = Zeroizing::new(value);
                        if value.is_empty() {
                            return Err(format!("{var} is set but empty"));
                        }
                        Ok(Some((value, SecretOrigin::Environment)))
                    }
                    Err(std::env::VarError::NotPresent) => Ok(None),
                    Err(std::env::VarError::NotUnicode(_)) => {
                        Err(format!("{var} is not valid UTF-8"))
                    }
                }
            }
        }
    }
}

/// [`SecretFlag::read`] for one of `program`'s arguments: prints the
/// [`command_line_warning`] on stderr for a value given on the command line, and returns the
/// secret moved out of its wiped buffer (not copied): the caller owns the only copy.
pub fn read_arg(
    program: &str,
    flag: &SecretFlag<'_>,
    value: Option<String>,
    file: Option<&Path>,
) -> Result<Option<String>, String> {
    Ok(match flag.read(value, file)? {
        Some((mut secret, origin)) => {
            if origin == SecretOrigin::CommandLine {
                eprintln!("{}", command_line_warning(program, flag));
            }
            Some(std::mem::take(&mut *secret))
        }
        None => None,
    })
}

/// The warning for a secret given as `--NAME VALUE`, for `program` to print on stderr.
pub fn command_line_warning(program: &str, flag: &SecretFlag<'_>) -> String {
    let name = flag.name;
    let env = match flag.env {
        Some(var) => format!(" or {var}"),
        None => String::new(),
    };
    format!(
        "{program}: warning: --{name} puts a secret on the command line, where other local \
         users can read it (ps, /proc/<pid>/cmdline); use --{name}-file FILE{env} instead"
    )
}

/// A secret file's content: the whole file (at most [`MAX_SECRET_FILE_BYTES`]) less one line
/// ending at its end, in one wiped buffer. Empty and non-UTF-8 files are errors.
fn read_file(path: &Path) -> Result<Zeroizing<String>, String> {
    let mut bytes =
        crate::store::read_secret_file(path, MAX_SECRET_FILE_BYTES).map_err(|e| e.to_string())?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    if bytes.is_empty() {
        return Err(String::from("the file is empty"));
    }
    if std::str::from_utf8(&bytes).is_err() {
        return Err(String::from("the file is not valid UTF-8"));
    }
    // The checked bytes become the string in place: no copy.
    let bytes = std::mem::take(&mut *bytes);
    String::from_utf8(bytes).map(Zeroizing::new).map_err(|e| {
        let mut bytes = e.into_bytes();
        zeroize::Zeroize::zeroize(&mut bytes);
        String::from("the file is not valid UTF-8")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str, content: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!(
            "hem-emulator-secret-{tag}-{}-{}",
            std::process::id(),
            crate::clock::system_now()
        ));
        std::fs::write(&path, content).unwrap();
        path
    }

    const FLAG: SecretFlag<'static> = SecretFlag {
        name: "password",
        env: None,
    };

    #[test]
    fn a_file_holds_the_secret_less_one_line_ending() {
        for (content, expected) in [
            (&b"pw"[..], "pw"),
            (b"pw\n", "pw"),
            (b"pw\r\n", "pw"),
            (b"pw\n\n", "pw\n"),
            (b" pw ", " pw "),
        ] {
            let path = temp("ok", content);
            let (secret, origin) = FLAG.read(None, Some(&path)).unwrap().unwrap();
            assert_eq!((secret.as_str(), origin), (expected, SecretOrigin::File));
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn a_bad_file_is_a_clear_error() {
        for (content, error) in [
            (&b""[..], "the file is empty"),
            (b"\n", "the file is empty"),
            (b"\xff\xfe", "not valid UTF-8"),
        ] {
            let path = temp("bad", content);
            let e = FLAG.read(None, Some(&path)).unwrap_err();
            assert!(e.starts_with("--password-file "), "{e}");
            assert!(e.contains(error), "{e}");
            std::fs::remove_file(&path).unwrap();
        }
        let e = FLAG
            .read(None, Some(Path::new("/nonexistent/hem-password")))
            .unwrap_err();
        assert!(
            e.contains("/nonexistent/hem-password") && e.contains("No such file"),
            "{e}"
        );
        let e = FLAG.read(None, Some(&std::env::temp_dir())).unwrap_err();
        assert!(e.starts_with("--password-file "), "{e}");
        let big = temp("big", &vec![b'a'; MAX_SECRET_FILE_BYTES as usize + 1]);
        assert!(FLAG.read(None, Some(&big)).unwrap_err().contains("larger"));
        std::fs::remove_file(&big).unwrap();
    }

    #[test]
    fn the_command_line_value_works_and_is_flagged() {
        let (secret, origin) = FLAG.read(Some("pw".into()), None).unwrap().unwrap();
        assert_eq!((secret.as_str(), origin), ("pw", SecretOrigin::CommandLine));
        assert!(FLAG.read(Some(String::new()), None).is_err());
        let path = temp("both", b"pw");
        assert!(FLAG.read(Some("pw".into()), Some(&path)).is_err());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(FLAG.read(None, None).unwrap(), None);
        let warning = command_line_warning(
            "hem-emulator",
            &SecretFlag {
                name: "password",
                env: Some("HEM_PASSWORD"),
            },
        );
        assert!(
            warning.contains("--password-file FILE or HEM_PASSWORD"),
            "{warning}"
        );
    }
}
