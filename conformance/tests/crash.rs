//! Crash consistency under the runner's flows: `kill -9` of an emulator process while an
//! `ext/validate` is in flight (at several moments: before, while and after the device
//! handles it), then a restart on the same state directory. Bounded in time.
//!
//! The emulator's own tests (`crates/hem-emulator/tests/{reliability,restart}.rs`) cover
//! racing redemptions of one authreply, a flood of malformed requests, and a kill between
//! `ext/init` and `ext/validate`; this one adds the kill during the write.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_conformance::ctx::{Authenticator, Ctx, Settings};
use hem_conformance::proto;
use hem_conformance::target::{Auth, Target};
use hem_emulator::EmulatorConfig;
use serde_json::json;

/// Set in the child process: `state dir|user public key|` — the child runs an emulator on
/// that state directory until it is killed.
const CHILD_ENV: &str = "HEM_CONFORMANCE_CHILD_EMULATOR";
/// The longest a child waits to be killed.
const CHILD_LIFETIME: Duration = Duration::from_secs(120);

/// Not a test of its own: the body of the child process of
/// `kill_9_mid_pairing_then_restart`, which re-runs this test binary with [`CHILD_ENV`] set.
#[test]
fn child_emulator_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (dir, user) = spec.split_once('|').expect("child spec");
    let emu = hem_emulator::start(EmulatorConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        state_dir: Some(dir.into()),
        user_key: Some(PublicKey::from_b64(user).expect("user key")),
        ..EmulatorConfig::default()
    })
    .expect("child emulator starts");
    println!("URL={}", emu.url());
    std::thread::sleep(CHILD_LIFETIME);
}

/// Starts the child emulator on `dir`; returns it and its URL.
fn spawn_child(dir: &std::path::Path, user: &PublicKey) -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_emulator_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{}|{user}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().expect("child stdout");
    let url = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        // libtest writes `test child_emulator_process ... ` before it, on the same line.
        .find_map(|l| l.split_once("URL=").map(|(_, url)| url.trim().to_string()))
        .expect("child prints its URL");
    (child, url)
}

/// Kills the device with SIGKILL while a pairing is in flight, `delay` after the reply was
/// sent, restarts it on the same state directory and checks what must hold across a crash.
fn kill_9_round(
    dir: &std::path::Path,
    user: &SecretKey,
    a: Option<Authenticator>,
    delay: Duration,
) -> Authenticator {
    let settings = Settings {
        user_secret: Some(user.clone()),
        ..Settings::default()
    };
    let (mut child, url) = spawn_child(dir, &user.public_key());
    let mut ctx = Ctx::new(Target::new(&url, false).expect("target"), settings.clone());
    let eid = ctx.eid().expect("eid");
    let a = match a {
        Some(a) => a,
        None => ctx.pair("Before the kill").expect("pairing A"),
    };
    ctx.paired.push(a.clone());
    let user_token = ctx.token("keymgmt:list").expect("login");
    let ext_token = ctx.ext_login(0, "keymgmt:list").expect("ext login");

    // Mid-pairing: the request is issued, the reply is on its way when the process dies.
    let pair_token = ctx.token("auth:ext:pair").expect("login");
    let (_, request) = ctx.ext_init(&pair_token).expect("ext/init");
    let (_, reply) = ctx.reply_for(&request, "During the kill").expect("reply");
    let body = json!({ "pid": proto::random_b64_32(), "reply": reply }).to_string();
    let target = ctx.target.clone();
    let in_flight = std::thread::spawn(move || {
        target
            .post(
                "/api/auth/ext/validate",
                body.as_bytes(),
                Auth::Bearer(&pair_token),
            )
            .ok()
            .and_then(|r| {
                (r.status == 200)
                    .then(|| r.field("validate", "kid").ok())
                    .flatten()
            })
    });
    std::thread::sleep(delay);
    child.kill().expect("kill -9"); // SIGKILL on Unix
    child.wait().expect("child reaped");
    let in_flight_kid = in_flight.join().expect("request thread");

    let (mut child, url) = spawn_child(dir, &user.public_key());
    let mut ctx = Ctx::new(Target::new(&url, false).expect("target"), settings);
    assert_eq!(ctx.eid().expect("eid"), eid, "the identity survives");
    ctx.paired.push(a.clone());

    // Tokens of the previous boot are dead.
    for token in [&user_token, &ext_token] {
        let r = ctx
            .target
            .get("/api/keymgmt/list", Auth::Bearer(token))
            .expect("list");
        assert_eq!(r.status, 401, "a token from before the restart");
    }
    // The keys the device lists are exactly the pairings it seals scopes for; A is among
    // them, and a pairing the device confirmed before dying is too.
    let list_token = ctx.token("keymgmt:list").expect("login after restart");
    let listed = ctx
        .target
        .get("/api/keymgmt/list", Auth::Bearer(&list_token))
        .expect("list")
        .json("list")
        .expect("list JSON");
    let authreq = ctx.authreq("keymgmt:list").expect("authreq after restart");
    assert!(listed.to_string().contains(&a.kid), "A survives: {listed}");
    assert!(authreq.entry(&a.pid).is_some());
    if let Some(kid) = &in_flight_kid {
        assert!(
            listed.to_string().contains(kid),
            "a confirmed pairing survives: {listed}"
        );
    }
    assert_eq!(
        listed["total"].as_u64(),
        Some(authreq.entries() as u64),
        "the list {listed} and the authreq's {} entries disagree",
        authreq.entries()
    );
    // Pairings work: A logs in, and a new phone pairs, logs in and is removed again.
    ctx.ext_login(0, "keymgmt:list").expect("A after restart");
    let c = ctx
        .pair("After the restart")
        .expect("pairing after restart");
    ctx.paired.insert(0, c.clone());
    ctx.ext_login(0, "keymgmt:list").expect("new phone logs in");
    ctx.unpair(&c.kid).expect("unpair the new phone");
    if let Some(kid) = in_flight_kid {
        ctx.unpair(&kid).expect("unpair the in-flight phone");
    }

    child.kill().expect("stop the child");
    child.wait().expect("child reaped");
    a
}

#[test]
fn kill_9_during_validate_then_restart() {
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("hem-conformance-kill9-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("state dir");
    let user = SecretKey::generate(&mut rand_core::OsRng);
    let mut a = None;
    // Different moments of the same pairing: before, while and after the device handles it.
    for delay_ms in [0, 1, 3, 10] {
        a = Some(kill_9_round(
            &dir,
            &user,
            a,
            Duration::from_millis(delay_ms),
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "took {:?}",
        started.elapsed()
    );
}
