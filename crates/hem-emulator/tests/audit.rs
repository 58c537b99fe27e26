//! The audit log under a flood (issue 14, attack 5; spec §11.3, §11.4): a token holder's
//! failed scope checks are coalesced and cannot push the security events out of the log, the
//! log is paged by `GET /api/logger/list/{from}/{count}`, and its writing does not hold up
//! other requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hem_auth_core::codec;
use hem_emulator::EmulatorConfig;
use support::{config, start, Client};

/// A state directory on the disk the tests build on (not a tmpfs: fsync has its real cost).
fn state_dir(tag: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "audit-{tag}-{}-{}",
        std::process::id(),
        support::host_now()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// One log line's fields (spec §11.2), `data` decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    counter: u64,
    time: u64,
    event: u64,
    result: u64,
    sub: String,
    data: String,
}

fn parse(line: &str) -> Line {
    let f: Vec<&str> = line.split('|').collect();
    assert_eq!(f.len(), 7, "{line}");
    let mut buf = vec![0u8; f[5].len()];
    let data = codec::decode_segment(f[5].as_bytes(), &mut buf).unwrap();
    Line {
        counter: u64::from_str_radix(f[0], 16).unwrap(),
        time: u64::from_str_radix(f[1], 16).unwrap(),
        event: u64::from_str_radix(f[2], 16).unwrap(),
        result: u64::from_str_radix(f[3], 16).unwrap(),
        sub: f[4].to_string(),
        data: String::from_utf8(data.to_vec()).unwrap(),
    }
}

/// Checks a page or a file as a reader does (spec §11.2): the key line's own MAC, every
/// line's MAC, counters consecutive from the first event line's.
fn verify<L: AsRef<str>>(lines: &[L]) -> Vec<Line> {
    let key_fields: Vec<&str> = lines[0].as_ref().split('|').collect();
    assert_eq!(
        (key_fields[0], key_fields[2], key_fields[3]),
        ("0", "0", "0")
    );
    let mut buf = [0u8; 48];
    let key = codec::decode_segment(key_fields[4].as_bytes(), &mut buf)
        .unwrap()
        .to_vec();
    let mut out: Vec<Line> = Vec::new();
    for line in lines.iter().map(AsRef::as_ref) {
        let cut = line.rfind('|').unwrap() + 1;
        let mac = hem_auth_core::mac::mac(&key, &line.as_bytes()[..cut]);
        assert_eq!(&line[cut..], codec::encode_segment(&mac[..16]), "{line}");
        let parsed = parse(line);
        if let Some(prev) = out.last() {
            assert_eq!(parsed.counter, prev.counter + 1, "gap before {line}");
        }
        if parsed.counter != 0 {
            out.push(parsed);
        }
    }
    out
}

/// Every retained line, paging from the default `from` until an answer has no `next`
/// (spec §11.4); each page verified on its own. Returns the key line and the event lines.
fn all_lines(c: &Client, token: &str, count: Option<u64>) -> (String, Vec<String>) {
    let mut path = match count {
        Some(n) => format!("/api/logger/list/0/{n}"),
        None => String::from("/api/logger/list"),
    };
    let mut key_line = None;
    let mut lines: Vec<String> = Vec::new();
    for _ in 0..1000 {
        let page = c.get(&path, Some(token));
        assert_eq!(page.status, 200);
        let page = page.json();
        let got: Vec<String> = page["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect();
        verify(&got);
        let first = got[0].clone();
        assert_eq!(*key_line.get_or_insert_with(|| first.clone()), first);
        if let (Some(prev), Some(next)) = (lines.last(), got.get(1)) {
            assert_eq!(parse(next).counter, parse(prev).counter + 1, "pages join");
        }
        if let Some(n) = count {
            assert!(got.len() as u64 <= n + 1);
        }
        lines.extend(got.into_iter().skip(1));
        match page["next"].as_u64() {
            Some(next) => {
                path = match count {
                    Some(n) => format!("/api/logger/list/{next}/{n}"),
                    None => format!("/api/logger/list/{next}"),
                }
            }
            None => {
                assert_eq!(page["total"].as_u64(), Some(lines.len() as u64 + 1));
                return (key_line.unwrap(), lines);
            }
        }
    }
    panic!("logger/list never ends");
}

/// The audit files of a state directory, oldest first: `audit-<16 hex>.log`, then
/// `audit.log`.
fn audit_files(dir: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with("audit-") && name.ends_with(".log")
        })
        .collect();
    rotated.sort();
    rotated.push(dir.join("audit.log"));
    rotated
}

/// Every event line of the files, each file verified on its own.
fn file_lines(dir: &Path) -> Vec<String> {
    let mut all = Vec::new();
    for path in audit_files(dir) {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        verify(&lines);
        all.extend(lines.iter().skip(1).map(|l| l.to_string()));
    }
    all
}

/// The count a `FAILED_SCOPE_CHECK` line stands for: the number after the last space of
/// its data (spec §11.1).
fn failed_count(line: &Line) -> (String, u64) {
    assert_eq!((line.event, line.result), (12, 1));
    let (scope, n) = line.data.rsplit_once(' ').expect("a count");
    (scope.to_string(), n.parse().unwrap())
}

/// Sends `n` requests spread over `threads` clients; every answer must be `status`.
fn flood(c: &Client, path: &str, token: &str, n: usize, threads: usize, status: u16) {
    let left = Arc::new(AtomicUsize::new(n));
    std::thread::scope(|s| {
        for _ in 0..threads {
            let c = c.clone();
            let left = left.clone();
            s.spawn(move || {
                while left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |x| x.checked_sub(1))
                    .is_ok()
                {
                    assert_eq!(c.get(path, Some(token)).status, status);
                }
            });
        }
    });
}

fn kid_sub(kid_hex: &str) -> String {
    let bytes: Vec<u8> = (0..kid_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&kid_hex[i..i + 2], 16).unwrap())
        .collect();
    codec::encode_std(&bytes)
}

/// Issue 14, attack 5, re-run: a holder of a phone-approved `logger:get` token makes 5 000
/// failed scope checks. The login, pairing and external-login lines stay in `logger/list` and
/// in the files; the checks are coalesced (spec §11.3) and every one is counted.
#[test]
fn a_flood_of_failed_scope_checks_keeps_the_security_events() {
    const CHECKS: usize = 5_000;
    let dir = state_dir("flood");
    let with_state = || EmulatorConfig {
        state_dir: Some(dir.clone()),
        ..config()
    };
    let (emu, c) = start(with_state());
    let eid = emu.eid();
    let config_token = c.login("system:config");
    let phone = c.pair(&config_token, eid, "Phone", 51);
    let log_token = c.ext_login(eid, &phone, "logger:get", 52);
    let sub = kid_sub(&phone.kid);

    let started = Instant::now();
    flood(&c, "/api/keymgmt/list", &log_token, CHECKS, 4, 403);
    let took = started.elapsed();
    eprintln!("{CHECKS} failed scope checks over HTTP: {took:?}");

    let security = |lines: &[Line]| {
        let has = |event: u64, who: &str, data: &str| {
            lines
                .iter()
                .any(|l| l.event == event && l.result == 0 && l.sub == who && l.data == data)
        };
        assert!(has(13, "U", "system:config"), "the login line is gone");
        assert!(has(15, "U", &phone.kid), "the pairing line is gone");
        assert!(
            has(14, &sub, "logger:get"),
            "the external-login line is gone"
        );
    };
    let (_, listed) = all_lines(&c, &log_token, None);
    let listed: Vec<Line> = listed.iter().map(|l| parse(l)).collect();
    security(&listed);
    let in_files: Vec<Line> = file_lines(&dir).iter().map(|l| parse(l)).collect();
    security(&in_files);

    // Coalesced: at most one line per (sub, scope) per 60 s.
    let failed: Vec<&Line> = listed
        .iter()
        .filter(|l| l.event == 12 && l.sub == sub)
        .collect();
    let windows = 1 + took.as_secs() / 60;
    assert!(
        failed.len() as u64 <= windows + 1,
        "{} failed-scope lines for {}s of flooding",
        failed.len(),
        took.as_secs()
    );
    assert!(listed.len() < 20, "{} lines", listed.len());

    // Stopping writes what the open windows counted: every check is accounted for once.
    emu.stop();
    let in_files: Vec<Line> = file_lines(&dir).iter().map(|l| parse(l)).collect();
    let mut counted = 0;
    for line in in_files.iter().filter(|l| l.event == 12 && l.sub == sub) {
        let (scope, n) = failed_count(line);
        assert_eq!(scope, "keymgmt:list");
        counted += n;
    }
    assert_eq!(counted, CHECKS as u64);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Spec §11.3: one line per (sub, required scope) per window, with its count; another scope
/// or another sub has its own line.
#[test]
fn failed_checks_are_coalesced_per_sub_and_scope() {
    let (emu, c) = start(config());
    let config_token = c.login("system:config");
    let phone = c.pair(&config_token, emu.eid(), "Phone", 61);
    let phone_token = c.ext_login(emu.eid(), &phone, "keymgmt:get", 62);
    let narrow = c.login("keymgmt:get");
    let other = c.login("keymgmt:get");
    let logger = c.login("logger:get");
    for _ in 0..50 {
        c.get("/api/keymgmt/list", Some(&narrow)).assert_error(403);
        c.get("/api/system/config", Some(&narrow)).assert_error(403);
        // Same sub `U`: same key as the first token's.
        c.get("/api/keymgmt/list", Some(&other)).assert_error(403);
        c.get("/api/keymgmt/list", Some(&logger)).assert_error(403);
        // Another sub: its own line.
        c.get("/api/keymgmt/list", Some(&phone_token))
            .assert_error(403);
    }
    let (_, lines) = all_lines(&c, &logger, None);
    let failed: Vec<(String, String, u64)> = lines
        .iter()
        .map(|l| parse(l))
        .filter(|l| l.event == 12)
        .map(|l| {
            let (scope, n) = failed_count(&l);
            (l.sub.clone(), scope, n)
        })
        .collect();
    // The window is 60 s: each key's first check is written at once, the rest are counted.
    assert_eq!(
        failed,
        [
            (String::from("U"), String::from("keymgmt:list"), 1),
            (
                String::from("U"),
                String::from("system:config|logger:get|auth:ext:pair"),
                1
            ),
            (kid_sub(&phone.kid), String::from("keymgmt:list"), 1),
        ]
    );
}

/// `GET /api/logger/list/{from}/{count}` (spec §11.4): pages, `next`, `total`, bounds, 400.
#[test]
fn logger_list_pages() {
    let (_emu, c) = start(config());
    let token = c.login("logger:get");
    for _ in 0..6 {
        c.login("keymgmt:list");
    }
    // RTC_SET, 7 logins: 8 event lines.
    let (key, whole) = all_lines(&c, &token, None);
    assert_eq!(whole.len(), 8);
    let (key3, paged) = all_lines(&c, &token, Some(3));
    assert_eq!((&key3, &paged), (&key, &whole));
    let page = c.get("/api/logger/list/4/2", Some(&token)).json();
    let lines = page["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0].as_str(), Some(key.as_str()));
    assert!(lines[1].as_str().unwrap().starts_with("4|"));
    assert_eq!(page["next"].as_u64(), Some(6));
    assert!(page["total"].as_u64().unwrap() >= 9);
    // A count above 1000 is 1000; 0 is refused, and so is anything but digits.
    assert_eq!(c.get("/api/logger/list/1/5000", Some(&token)).status, 200);
    for bad in ["x", "-1", "1/0", "1/x", "+1", "1/1/1", "0x1"] {
        c.get(&format!("/api/logger/list/{bad}"), Some(&token))
            .assert_error(if bad == "1/1/1" { 404 } else { 400 });
    }
    // A `from` past the end: only the key line.
    let end = c.get("/api/logger/list/1000000", Some(&token)).json();
    assert_eq!(end["lines"].as_array().unwrap().len(), 1);
    assert!(end.get("next").is_none());
}

/// A restart keeps the lines, the counters and the pages (spec §11.2, §11.3).
#[test]
fn a_restart_keeps_the_chain_and_the_pages() {
    let dir = state_dir("restart");
    let with_state = || EmulatorConfig {
        state_dir: Some(dir.clone()),
        ..config()
    };
    let (emu, c) = start(with_state());
    let token = c.login("logger:get");
    c.get("/api/keymgmt/list", Some(&token)).assert_error(403);
    c.get("/api/keymgmt/list", Some(&token)).assert_error(403);
    let (key, before) = all_lines(&c, &token, Some(2));
    emu.stop();
    let (_emu, c) = start(with_state());
    let token = c.login("logger:get");
    let (key_after, after) = all_lines(&c, &token, Some(2));
    assert_eq!(key_after, key, "one key line per state directory");
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "earlier lines unchanged"
    );
    let tail: Vec<Line> = after[before.len()..].iter().map(|l| parse(l)).collect();
    // The check counted but not written before the stop, then the second boot's RTC_SET and
    // login.
    let (scope, n) = failed_count(&tail[0]);
    assert_eq!((scope.as_str(), n), ("keymgmt:list", 1));
    assert_eq!(
        tail[1..].iter().map(|l| l.event).collect::<Vec<_>>(),
        [19, 13]
    );
    assert_eq!(file_lines(&dir), after);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writing the log holds nobody up (spec §11.3): 2 100 failed checks from three clients
/// while a fourth measures `GET /api/system/status` (which takes the device lock) and
/// `GET /api/system/version`. Reports the figures.
#[test]
fn a_flood_does_not_hold_up_other_requests() {
    const CHECKS: usize = 2_100;
    let dir = state_dir("latency");
    let (_emu, c) = start(EmulatorConfig {
        state_dir: Some(dir.clone()),
        ..config()
    });
    let token = c.login("logger:get");
    let done = Arc::new(AtomicBool::new(false));
    let probe = {
        let c = c.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut worst: BTreeMap<&str, Duration> = BTreeMap::new();
            let mut probes = 0;
            while !done.load(Ordering::SeqCst) {
                for path in ["/api/system/status", "/api/system/version"] {
                    let t = Instant::now();
                    assert_eq!(c.get(path, None).status, 200);
                    let e = worst.entry(path).or_default();
                    *e = (*e).max(t.elapsed());
                }
                probes += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            (worst, probes)
        })
    };
    let started = Instant::now();
    flood(&c, "/api/keymgmt/list", &token, CHECKS, 3, 403);
    let took = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let (worst, probes) = probe.join().unwrap();
    eprintln!("{CHECKS} failed checks: {took:?}; {probes} probes, worst {worst:?}");
    for (path, t) in &worst {
        assert!(*t < Duration::from_millis(500), "{path} took {t:?}");
    }
    drop(_emu);
    std::fs::remove_dir_all(&dir).unwrap();
}
