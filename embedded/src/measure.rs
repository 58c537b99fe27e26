//! Measurements on the chip: instructions (under `-icount`), peak stack (painting) and heap
//! (the counting allocator) of the hot paths, on the fixtures of the host benches
//! (`benches/src/lib.rs`: the same keys, seeds, token and device set-up), so that each count
//! can be set beside the host's callgrind count of the same operation.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::hint::black_box;
use hem_auth_core::UnixTime;

use hem_auth_core::authenticator::{reply_to_pairing, UnverifiedPairingRequest};
use hem_auth_core::claims::{AccessTokenClaims, AuthreplyClaims};
use hem_auth_core::client;
use hem_auth_core::device::{
    AccessToken, AuditEvent, BootKeys, Device, DeviceConfig, NoncePurpose, Outcome, Requirement,
};
use hem_auth_core::jwt::{self, Header, HeaderPolicy, UntrustedJwt};
use hem_auth_core::keys::{PublicKey, SecretKey, SharedSecret};
use hem_auth_core::mac::MacKey;
use hem_auth_core::messages::{to_json, ExtRequest, ExtRequestResponse, ExtTokenRequest};
use hem_auth_core::nonce::TimeNonce;
use hem_auth_core::seal::ScopeKey;
use hem_auth_mcu::{heap, insns, println, stack, FIXTURE_NOW};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::Tally;

/// Host instruction counts of the same operations (valgrind callgrind, x86-64, release), read
/// from `benches/callgrind-baseline.txt` when the image is built, so they follow the baseline
/// CI checks the host against.
const HOST_BASELINE: &str = include_str!("../../benches/callgrind-baseline.txt");

/// The baseline's count of `name` (0 if the baseline does not list it).
fn host_count(name: &str) -> u64 {
    HOST_BASELINE
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (n, count) = l.split_once(' ')?;
            (n == name).then(|| count.trim().parse().ok()).flatten()
        })
        .unwrap_or(0)
}

/// The benches' per-boot token key, token lifetime and length, and requested scope.
const TOKEN_KEY: [u8; 32] = [0x5a; 32];
const TOKEN_LIFETIME_SECS: u64 = 86_400;
const TOKEN_CHARS: usize = 273;
const FIXTURE_SCOPE: &str = "keymgmt:list";

/// Calls averaged per instruction count (the counts are deterministic; the average smooths
/// the small differences between calls on different nonces).
const RUNS: u64 = 8;

/// The benches' access token (spec §8.1): `{scope, sub, iat, exp, jti}` with a kid `sub`,
/// 273 characters, signed with [`TOKEN_KEY`].
fn access_token(now: u64) -> String {
    let claims = AccessTokenClaims {
        scope: Cow::Borrowed("keymgmt:list"),
        sub: Cow::Borrowed("Qq/EGdvacmNrN6JFWVXglQ=="),
        iat: now,
        exp: now + TOKEN_LIFETIME_SECS,
        jti: Cow::Borrowed("koQ4YsCf3L4iTrl2py6g7t3jvV9pwwsIr6//F96OfYI="),
        ctx: None,
    };
    hem_auth_core::msg::access_token::build(&claims, &TOKEN_KEY)
}

/// The benches' bearer check (`verify_hem`): parse, verify with the prepared key, typed
/// claims, `now < exp`.
fn verify_hem(token: &str, key: &MacKey, now: u64) -> Option<(usize, u64)> {
    let untrusted = UntrustedJwt::parse(token).ok()?;
    let verified = untrusted.verify_with(key, HeaderPolicy::Plain).ok()?;
    let claims: AccessTokenClaims<'_> = verified.claims().ok()?;
    if now >= claims.exp {
        return None;
    }
    Some((
        claims.scope.len() + claims.sub.len() + claims.jti.len(),
        claims.exp,
    ))
}

/// One paired phone as the fixtures need it.
struct BenchPhone {
    pid: String,
    aid: PublicKey,
    s1: SharedSecret,
}

/// The benches' `DeviceBench`: a device with phones paired through the real flows.
struct DeviceBench {
    device: Device,
    rng: ChaCha20Rng,
    phones: Vec<BenchPhone>,
    ext_request_body: String,
    user: SecretKey,
}

impl DeviceBench {
    fn new(pairings: usize) -> Result<Self, String> {
        let e = |what: &str| {
            let what = String::from(what);
            move |e: &dyn core::fmt::Display| format!("fixture {what}: {e}")
        };
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let now = FIXTURE_NOW;
        let user = SecretKey::generate(&mut rng);
        let eid_prv = SecretKey::generate(&mut rng);
        let mut config = DeviceConfig::new(eid_prv);
        config.user_key = Some(user.public_key());
        let mut device = Device::new(config, &mut rng);
        let _ = device.set_clock(UnixTime::from_secs(now));
        let challenge = device
            .auth_token_challenge(UnixTime::from_secs(now), &mut rng)
            .result
            .map_err(|x| e("challenge")(&x))?;
        let challenge = to_json(&challenge);
        let challenge =
            client::LoginChallenge::parse(challenge.as_bytes()).map_err(|x| e("challenge")(&x))?;
        let ejwt = client::build_login(
            &user,
            &challenge,
            "system:config",
            UnixTime::from_secs(now),
            UnixTime::from_secs(now + 600),
            None,
        )
        .map_err(|x| e("login")(&x))?;
        let body = client::login_body(&ejwt);
        let token = device
            .auth_token(body.as_bytes(), UnixTime::from_secs(now), &mut rng)
            .result
            .map_err(|x| e("login")(&x))?;
        let token = client::UnverifiableAccessToken::from_response(to_json(&token).as_bytes())
            .map_err(|x| e("token")(&x))?;
        let mut phones = Vec::new();
        for i in 0..pairings {
            let (body, state) = client::start_pairing(Some(*device.eid()), &mut rng);
            let init = device
                .ext_init(
                    Some(token.token()),
                    body.as_bytes(),
                    UnixTime::from_secs(now),
                    &mut rng,
                )
                .result
                .map_err(|x| e("ext/init")(&x))?;
            let request = state
                .verify_init_response(to_json(&init).as_bytes(), UnixTime::from_secs(now))
                .map_err(|x| e("ext/init")(&x))?;
            let seen =
                UnverifiedPairingRequest::parse(request.request()).map_err(|x| e("request")(&x))?;
            let aid_prv = SecretKey::generate(&mut rng);
            let label = format!("phone {i}");
            let reply = reply_to_pairing(&aid_prv, &seen, &label, "fcm-token")
                .map_err(|x| e("reply")(&x))?;
            let mut pid_raw = [0u8; 32];
            rng.fill_bytes(&mut pid_raw);
            let pid = hem_auth_core::codec::encode_std(&pid_raw);
            let validate = state.validate_body(&pid, &reply.reply);
            device
                .ext_validate(
                    Some(token.token()),
                    validate.as_bytes(),
                    UnixTime::from_secs(now),
                )
                .result
                .map_err(|x| e("ext/validate")(&x))?;
            phones.push(BenchPhone {
                pid,
                aid: aid_prv.public_key(),
                s1: aid_prv
                    .diffie_hellman(device.eid())
                    .map_err(|x| e("s1")(&x))?,
            });
        }
        let epk = SecretKey::generate(&mut rng).public_key();
        let ext_request_body = to_json(&ExtRequest {
            epk: Cow::Owned(epk.to_b64()),
            scope: Cow::Borrowed(FIXTURE_SCOPE),
            ctx: None,
            note: None,
        });
        Ok(DeviceBench {
            device,
            rng,
            phones,
            ext_request_body,
            user,
        })
    }

    /// An authreq nonce made pending, and the first phone's approving `ext/token` body.
    fn prepare_ext_token(&mut self) -> Result<String, String> {
        let phone = self.phones.first().ok_or("no pairing")?;
        let jti = TimeNonce::generate(UnixTime::from_secs(FIXTURE_NOW), &mut self.rng);
        self.device.insert_pending(
            NoncePurpose::Authreq,
            *jti.as_bytes(),
            FIXTURE_NOW + 3600,
            Some(FIXTURE_SCOPE),
        );
        let sealed = ScopeKey::derive(&phone.s1, jti.as_bytes())
            .seal(FIXTURE_SCOPE)
            .map_err(|e| format!("seal: {e}"))?;
        let claims = AuthreplyClaims {
            aud: Some(Cow::Owned(self.device.eid().to_b64())),
            jti: Cow::Owned(jti.to_b64()),
            exp: FIXTURE_NOW + 900,
            iat: Some(FIXTURE_NOW),
            pid: Cow::Borrowed(&phone.pid),
            iss: Cow::Owned(phone.aid.to_b64()),
            scope: Cow::Owned(sealed),
            ctx: None,
        };
        let authreply = jwt::sign(Header::App, &claims, phone.s1.as_bytes());
        Ok(to_json(&ExtTokenRequest {
            authreply: Cow::Owned(authreply),
        }))
    }

    fn ext_token(&mut self, body: &[u8]) -> Outcome<AccessToken> {
        self.device
            .ext_token(body, UnixTime::from_secs(FIXTURE_NOW + 5), &mut self.rng)
    }

    fn ext_request(&mut self) -> Outcome<ExtRequestResponse<'static>> {
        let body = self.ext_request_body.clone();
        self.device.ext_request(
            black_box(body.as_bytes()),
            UnixTime::from_secs(FIXTURE_NOW),
            &mut self.rng,
        )
    }

    fn prepare_login(&mut self) -> Result<String, String> {
        let challenge = self
            .device
            .auth_token_challenge(UnixTime::from_secs(FIXTURE_NOW), &mut self.rng)
            .result
            .map_err(|e| format!("challenge: {e}"))?;
        let challenge = client::LoginChallenge::parse(to_json(&challenge).as_bytes())
            .map_err(|e| format!("challenge: {e}"))?;
        let ejwt = client::build_login(
            &self.user,
            &challenge,
            FIXTURE_SCOPE,
            UnixTime::from_secs(FIXTURE_NOW),
            UnixTime::from_secs(FIXTURE_NOW + 600),
            None,
        )
        .map_err(|e| format!("login: {e}"))?;
        Ok(client::login_body(&ejwt))
    }
}

/// SHA-256 compressions of one HMAC with a prepared key over `len` bytes: the inner blocks
/// (message, 0x80, 64-bit length) and the outer one.
fn hmac_blocks(len: usize) -> u64 {
    ((len + 9).div_ceil(64) + 1) as u64
}

/// What ext_token's instructions go to: SHA-256 (measured per block, counted from the
/// lengths of the MACed texts), the scope opening (measured), and the rest.
fn ext_token_parts(body: &str, token: &str, total: Option<u64>) {
    // One SHA-256 block: the difference between MACs over 17 and 1 blocks, per block.
    let key = MacKey::new(&TOKEN_KEY);
    let msg = [0x61u8; 64 * 17];
    let (_, one) = insns::measure(|| key.mac(black_box(&msg[..64])));
    let (_, many) = insns::measure(|| key.mac(black_box(&msg[..])));
    // seal/open of the benches: open a sealed `keymgmt:list` with K known.
    let s1 = SecretKey::from_bytes([1; 32])
        .diffie_hellman(&SecretKey::from_bytes([2; 32]).public_key())
        .ok();
    let sealed = s1.as_ref().and_then(|s1| {
        let k = ScopeKey::derive(s1, &[7u8; 32]);
        k.seal(FIXTURE_SCOPE).ok().map(|sealed| (k, sealed))
    });
    let open = sealed.and_then(|(k, sealed)| {
        let (ok, n) = insns::measure(|| k.open(black_box(&sealed)).is_ok());
        n.filter(|_| ok)
    });
    let authreply = body
        .strip_prefix("{\"authreply\":\"")
        .and_then(|b| b.strip_suffix("\"}"))
        .unwrap_or_default();
    let signed = |jwt: &str| jwt.rfind('.').unwrap_or(0);
    // The authreply's MAC under the prepared S1, K = HMAC(S1, jti) (32 bytes), the token's MAC
    // under the prepared token key.
    let blocks = hmac_blocks(signed(authreply)) + hmac_blocks(32) + hmac_blocks(signed(token));
    // Reading the authreply: the JWT's shape and base64 (parse), then its claims (serde_json).
    let (parsed, parse) = insns::measure(|| UntrustedJwt::parse(black_box(authreply)).ok());
    let claims = parsed.and_then(|jwt| {
        let (ok, n) = insns::measure(|| {
            jwt.dangerous_unverified_claims::<AuthreplyClaims<'_>>()
                .is_ok()
        });
        n.filter(|_| ok)
    });
    // The token's jti: a time nonce from ChaCha20.
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (_, nonce) =
        insns::measure(|| TimeNonce::generate(UnixTime::from_secs(FIXTURE_NOW), &mut rng));
    let (Some(one), Some(many), Some(open), Some(total), Some(parse), Some(claims), Some(nonce)) =
        (one, many, open, total, parse, claims, nonce)
    else {
        return;
    };
    let block = (many - one) / 16;
    let sha = blocks * block;
    let rest = total.saturating_sub(sha + open + parse + claims + nonce);
    let pct = |n: u64| (n * 1000 / total + 5) / 10;
    println!(
        "measure parts: one SHA-256 block {block} insns; seal/open {open} insns (host 16719); UntrustedJwt::parse of the authreply {parse}; its claims (serde_json) {claims}; a time nonce (ChaCha20) {nonce}"
    );
    println!(
        "measure ext_token/cached {total} = {blocks} SHA-256 blocks ({} B authreply, 32 B jti and {} B token MACed) {sha} ({} %) + seal/open {open} ({} %) + JWT parse {parse} ({} %) + claims {claims} ({} %) + nonce {nonce} ({} %) + the rest {rest} ({} %: the body's JSON, the token's claims JSON and base64, pairing and nonce lookups, copies of the inline token and event)",
        signed(authreply),
        signed(token),
        pct(sha),
        pct(open),
        pct(parse),
        pct(claims),
        pct(nonce),
        pct(rest)
    );
}

/// One operation's figures.
struct Figures {
    insns: Option<u64>,
    stack: usize,
    allocations: usize,
    heap_peak: usize,
}

fn kib(bytes: usize) -> String {
    format!("{}.{:02} KiB", bytes / 1024, (bytes % 1024) * 100 / 1024)
}

fn show_insns(x: Option<u64>) -> String {
    x.map_or_else(
        || String::from("n/a (not under -icount)"),
        |n| format!("{n}"),
    )
}

/// `a / b` with three decimals.
fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        return String::from("n/a");
    }
    let milli = (a * 1000 + b / 2) / b;
    format!("{}.{:03}", milli / 1000, milli % 1000)
}

fn check(tally: &mut Tally, name: &str, ok: bool, detail: &str) {
    if ok {
        tally.passed += 1;
        println!("ok   check: {name} ({detail})");
    } else {
        tally.failed += 1;
        println!("FAIL check: {name} ({detail})");
    }
}

/// Measures one operation three ways on fresh inputs: `prepare` builds each input outside the
/// measured region; `op` is the measured call (its result is dropped inside the region, as
/// the host driver drops it inside `timed`).
fn figures<I, R>(
    mut prepare: impl FnMut() -> I,
    mut op: impl FnMut(I) -> R,
    mut ok: impl FnMut(&R) -> bool,
) -> Result<Figures, String> {
    // instructions: the mean of RUNS calls
    let mut total = Some(0u64);
    for _ in 0..RUNS {
        let input = prepare();
        let (good, n) = insns::measure(|| {
            let r = op(input);
            ok(&r)
        });
        if !good {
            return Err(String::from("the operation failed"));
        }
        total = total.zip(n).map(|(t, n)| t + n);
    }
    let insns = total.map(|t| (t + RUNS / 2) / RUNS);
    // stack
    let input = prepare();
    let (good, stack) = stack::measure(|| {
        let r = op(input);
        ok(&r)
    });
    if !good {
        return Err(String::from("the operation failed"));
    }
    // heap
    let input = prepare();
    let (good, allocations, heap_peak) = heap::measure(|| {
        let r = op(input);
        ok(&r)
    });
    if !good {
        return Err(String::from("the operation failed"));
    }
    Ok(Figures {
        insns,
        stack,
        allocations,
        heap_peak,
    })
}

fn row(name: &str, f: &Figures, host: Option<u64>, x25519: Option<u64>) {
    let per_x = match (f.insns, x25519) {
        (Some(n), Some(x)) => ratio(n, x),
        _ => String::from("n/a"),
    };
    let host_col = host.map_or_else(
        || String::from("-"),
        |h| {
            format!(
                "{h} ({} X25519)",
                ratio(h, host_count("x25519/diffie_hellman"))
            )
        },
    );
    println!(
        "measure {name:<24} insns {:>9}  = {per_x} X25519 | host {host_col} | stack {} B | heap: {} allocations, peak {} B",
        show_insns(f.insns),
        f.stack,
        f.allocations,
        f.heap_peak
    );
}

/// Runs every measurement. The bearer check's freedom from the heap, which the core promises
/// with and without `std`, is counted in `tally` as a check; every other figure is reported
/// (against its budget where the issue sets one), not checked.
pub fn run(tally: &mut Tally) -> Result<(), String> {
    let calibrated = insns::calibrate();
    check(
        tally,
        "instruction counter calibrated (QEMU -icount)",
        calibrated.is_some(),
        "the timer advances a whole power of two ticks per instruction",
    );
    match calibrated {
        Some(s) => println!(
            "measure counter: CMSDK APB timer 0 at 25 MHz of virtual time; -icount shift={s}: 1 instruction = {} ns = {}/40 ticks; counter overhead {} instructions (subtracted)",
            1u64 << s,
            1u64 << s,
            insns::overhead()
        ),
        None => println!(
            "measure counter: the timer does not advance a whole power of two per instruction: not run under -icount, no instruction counts"
        ),
    }

    // X25519, as the host floor: x25519-dalek's StaticSecret::diffie_hellman, fixed keys.
    let secret = x25519_dalek::StaticSecret::from([0x11u8; 32]);
    let peer = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([0x22u8; 32]));
    let x = figures(
        || (),
        |()| secret.diffie_hellman(black_box(&peer)).as_bytes()[0],
        |_| true,
    )?;
    row(
        "x25519/diffie_hellman",
        &x,
        Some(host_count("x25519/diffie_hellman")),
        x.insns,
    );

    // The bearer check of the benches: parse + verify_with(prepared key) + claims + exp.
    let token = access_token(FIXTURE_NOW);
    if token.len() != TOKEN_CHARS {
        return Err(format!("the bench token has {} characters", token.len()));
    }
    let key = MacKey::new(&TOKEN_KEY);
    let tv = figures(
        || (),
        |()| verify_hem(black_box(&token), &key, FIXTURE_NOW + 1),
        Option::is_some,
    )?;
    row(
        "token_verify/hem-auth-core",
        &tv,
        Some(host_count("token_verify/hem-auth-core")),
        x.insns,
    );

    // The device's bearer check: Device::authorize on the same token, its per-boot key the
    // bench key.
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let config = DeviceConfig::new(SecretKey::generate(&mut rng));
    let mut device = Device::with_boot_keys(
        config,
        BootKeys::from_parts(SecretKey::generate(&mut rng), TOKEN_KEY),
    );
    let _ = device.set_clock(UnixTime::from_secs(FIXTURE_NOW));
    let scopes = ["keymgmt:list"];
    let need = Requirement::any_of(&scopes);
    let au = figures(
        || (),
        |()| {
            device
                .authorize(
                    Some(black_box(&token)),
                    &need,
                    UnixTime::from_secs(FIXTURE_NOW + 1),
                )
                .result
                .is_ok()
        },
        |ok| *ok,
    )?;
    row("authorize (bearer check)", &au, None, x.insns);
    check(
        tally,
        "no heap on the bearer check (Device::authorize)",
        au.allocations == 0,
        &format!("{} allocations", au.allocations),
    );

    // ext_token with S1 cached: the device of the benches, one pairing.
    let mut fx = DeviceBench::new(1)?;
    let fx_cell = core::cell::RefCell::new(&mut fx);
    let et = figures(
        || fx_cell.borrow_mut().prepare_ext_token().unwrap_or_default(),
        |body| {
            let mut fx = fx_cell.borrow_mut();
            fx.ext_token(black_box(body.as_bytes()))
                .result
                .map(|t| t.as_str().len())
        },
        Result::is_ok,
    )?;
    row(
        "ext_token/cached",
        &et,
        Some(host_count("ext_token/cached")),
        x.insns,
    );
    {
        let mut fx = fx_cell.borrow_mut();
        let body = fx.prepare_ext_token()?;
        let token = fx
            .ext_token(body.as_bytes())
            .result
            .map_err(|e| format!("ext_token: {e}"))?;
        ext_token_parts(&body, token.as_str(), et.insns);
    }
    // login/verify (the device's side of a password login).
    let lv = figures(
        || fx_cell.borrow_mut().prepare_login().unwrap_or_default(),
        |body| {
            let mut fx = fx_cell.borrow_mut();
            let DeviceBench { device, rng, .. } = &mut **fx;
            device
                .auth_token(
                    black_box(body.as_bytes()),
                    UnixTime::from_secs(FIXTURE_NOW + 1),
                    rng,
                )
                .result
                .map(|t| t.as_str().len())
        },
        Result::is_ok,
    )?;
    row(
        "login/verify",
        &lv,
        Some(host_count("login/verify")),
        x.insns,
    );
    drop(fx);

    // ext_request with eight pairings.
    let mut fx8 = DeviceBench::new(8)?;
    let er = figures(
        || (),
        |()| fx8.ext_request().result.map(|r| r.authreq.len()),
        Result::is_ok,
    )?;
    row(
        "ext_request/8_pairings",
        &er,
        Some(host_count("ext_request/8_pairings")),
        x.insns,
    );

    // The heap a device keeps: boot one from the JSON snapshot of the eight-pairing device.
    let json = to_json(&fx8.device.snapshot());
    drop(fx8);
    let before = heap::counters().in_use;
    let (booted, allocations, peak) = heap::measure(|| {
        let snapshot = serde_json::from_str(&json).map_err(|e| format!("snapshot: {e}"))?;
        Device::restore(snapshot, &mut rng).map_err(|e| format!("restore: {e}"))
    });
    let booted = booted?;
    let resident = heap::counters().in_use - before;
    println!(
        "measure device heap: {} pairings, nothing pending: {resident} B resident; booting it from its {} B JSON snapshot: {allocations} allocations, peak {peak} B",
        booted.pairings().len(),
        json.len()
    );
    drop(booted);

    println!(
        "measure sizes: Outcome<AccessToken> {} B = AccessToken {} B + AuditEvent {} B (+ tag); UntrustedJwt {} B; Device {} B (plus its heap: pairings, nonces)",
        core::mem::size_of::<Outcome<AccessToken>>(),
        core::mem::size_of::<AccessToken>(),
        core::mem::size_of::<AuditEvent>(),
        core::mem::size_of::<UntrustedJwt<'_>>(),
        core::mem::size_of::<Device>()
    );
    if let (Some(e), Some(xi)) = (et.insns, x.insns) {
        println!(
            "budget ext_token(cached) <= 0.100 X25519: {} X25519 on the M4 (host: {}) -> {}",
            ratio(e, xi),
            ratio(
                host_count("ext_token/cached"),
                host_count("x25519/diffie_hellman")
            ),
            if e * 10 <= xi { "met" } else { "NOT met" }
        );
    }
    println!(
        "budget peak stack of ext_token <= 8 KiB: {} -> {}",
        kib(et.stack),
        if et.stack <= 8 * 1024 {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "budget no heap on ext_token and on the bearer check: {} allocations (peak {} B) and {} -> {}",
        et.allocations,
        et.heap_peak,
        au.allocations,
        if et.allocations == 0 && au.allocations == 0 {
            "met"
        } else if au.allocations == 0 {
            "met for the bearer check, NOT for ext_token (without std the core serialises the token claims with serde_json::to_vec)"
        } else {
            "NOT met"
        }
    );
    Ok(())
}
