//! Issue 14, spec §13.5: the password never needs to be on the command line. The real binary
//! reads it from `--password-file FILE` or `HEM_PASSWORD`; then it is not in
//! `/proc/<pid>/cmdline`, where every local user can read it. `--password PW` still works and
//! warns. A missing, unreadable or empty file is a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use hem_auth_core::client::derive_user_key;
use support::{temp_dir, Client};

const PASSWORD: &str = "issue-14 secret password";
const BIN: &str = env!("CARGO_BIN_EXE_hem-emulator");

/// A running `hem-emulator` and what it printed: the URL and the eid.
struct Running {
    child: Child,
    url: String,
    eid: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary with `args` (and `env`), reads its two ready lines.
fn start(args: &[&str], env: Option<&str>) -> Running {
    let mut cmd = Command::new(BIN);
    cmd.args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("HEM_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(value) = env {
        cmd.env("HEM_PASSWORD", value);
    }
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("hem-emulator listening on ")
        .unwrap_or_else(|| panic!("ready line: {line:?}"))
        .to_string();
    line.clear();
    out.read_line(&mut line).unwrap();
    Running {
        child,
        url,
        eid: line.trim().to_string(),
    }
}

/// A password login works with `password` (PBKDF2 over the eid, as the user's client does).
fn logs_in(running: &Running, password: &str) {
    let user = derive_user_key(password, &running.eid);
    let token = Client::new(&running.url).login_for(&user, "system:config", 60);
    assert!(!token.is_empty());
}

/// The command line of `pid` as the kernel shows it to every local user.
fn cmdline(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    String::from_utf8_lossy(&raw).replace('\0', " ")
}

fn write(dir: &Path, name: &str, content: &[u8]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn the_password_from_a_file_or_the_environment_is_not_on_the_command_line() {
    let dir = temp_dir("cli-secrets");
    let file = write(&dir, "password", format!("{PASSWORD}\n").as_bytes());

    let running = start(&["--password-file", &file], None);
    let shown = cmdline(running.child.id());
    assert!(shown.contains("--password-file"), "{shown}");
    assert!(!shown.contains(PASSWORD), "the password is in {shown}");
    logs_in(&running, PASSWORD);
    drop(running);

    let running = start(&[], Some(PASSWORD));
    let shown = cmdline(running.child.id());
    assert!(!shown.contains(PASSWORD), "the password is in {shown}");
    logs_in(&running, PASSWORD);
    drop(running);

    // --password-file wins over HEM_PASSWORD
    let running = start(&["--password-file", &file], Some("another password"));
    logs_in(&running, PASSWORD);
    drop(running);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_password_on_the_command_line_works_and_warns() {
    let mut running = start(&["--password", PASSWORD], None);
    // it is visible there: that is what the warning is about
    assert!(cmdline(running.child.id()).contains(PASSWORD));
    let _ = running.child.kill();
    let mut stderr = String::new();
    running
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("warning: --password puts a secret on the command line")
            && stderr.contains("--password-file FILE or HEM_PASSWORD"),
        "{stderr}"
    );
}

/// Runs the binary to its end (it must fail at once); its stderr.
fn fails(args: &[&str], env: Option<&str>) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("HEM_PASSWORD");
    if let Some(value) = env {
        cmd.env("HEM_PASSWORD", value);
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(!out.status.success(), "{args:?} started");
    assert!(out.stdout.is_empty(), "{args:?} printed a ready line");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn a_missing_unreadable_or_empty_password_is_a_clear_error() {
    let dir = temp_dir("cli-secrets-bad");
    let missing = dir.join("missing").to_str().unwrap().to_string();
    let e = fails(&["--password-file", &missing], None);
    assert!(
        e.contains(&format!("--password-file {missing}")) && e.contains("No such file"),
        "{e}"
    );
    let empty = write(&dir, "empty", b"\n");
    let e = fails(&["--password-file", &empty], None);
    assert!(e.contains("the file is empty"), "{e}");
    // a directory cannot be read as a file (root reads any file, whatever its mode)
    let e = fails(&["--password-file", dir.to_str().unwrap()], None);
    assert!(e.contains("--password-file"), "{e}");
    let e = fails(&[], Some(""));
    assert!(e.contains("HEM_PASSWORD is set but empty"), "{e}");
    let file = write(&dir, "password", PASSWORD.as_bytes());
    let e = fails(&["--password", PASSWORD, "--password-file", &file], None);
    assert!(e.contains("--password"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
