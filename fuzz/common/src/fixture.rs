//! Fixed keys and the fixture device.
//!
//! Everything is derived from constants: the device's identity and per-boot keys, the user and
//! master keys, two paired phones, the broker session, and one pending nonce per flow. A target
//! builds a fresh [`device`] for every input, so that one input never changes what the next
//! one sees.

use hem_auth_core::{Access, Seconds, UnixTime};
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::OnceLock;

use hem_auth_core::authenticator::{AuthenticatorPairing, Event};
use hem_auth_core::client::{self, ExtAuthState, PairingState};
use hem_auth_core::codec;
use hem_auth_core::device::{
    BootKeys, Device, DeviceConfig, DeviceSnapshot, NoncePurpose, PairingSnapshot, PendingSnapshot,
};
use hem_auth_core::keys::{PublicKey, SecretKey, SharedSecret};
use hem_auth_core::messages;
use hem_auth_core::seal::ScopeKey;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// The fixture's "now": the real device capture's time (spec §14.2).
pub const START: u64 = 1_784_767_764;
/// The scope of the pending authreq.
pub const REQUESTED_SCOPE: &str = "keymgmt:list";
/// Expiry of the pending authreq nonce.
pub const AUTHREQ_EXP: u64 = START + 3600;
/// Expiry of the pending login nonce.
pub const LOGIN_EXP: u64 = START + 60;
/// Expiry of the pending pairing nonce.
pub const PAIRING_EXP: u64 = START + 86_400;
/// Expiry of the user's bearer token.
pub const BEARER_EXP: u64 = START + 28_800;

/// A 32-byte value made of one repeated byte: enough for fixed test keys.
const fn fill(b: u8) -> [u8; 32] {
    [b; 32]
}

/// A time nonce stamped with [`START`] whose random part is `tag` repeated.
pub const fn nonce(tag: u8) -> [u8; 32] {
    let mut n = [tag; 32];
    let t = (START as u32).to_le_bytes();
    n[0] = t[0];
    n[1] = t[1];
    n[2] = t[2];
    n[3] = t[3];
    n
}

/// The pending authreq nonce.
pub const AUTHREQ_JTI: [u8; 32] = nonce(0xa1);
/// The pending login-challenge nonce.
pub const LOGIN_JTI: [u8; 32] = nonce(0x1a);
/// The pending pairing-request nonce.
pub const PAIRING_JTI: [u8; 32] = nonce(0x9a);
/// Phone A's pairing id.
pub const PID_A: [u8; 32] = fill(0x41);
/// Phone B's pairing id.
pub const PID_B: [u8; 32] = fill(0x42);
/// The access-token key of the fixture's boot.
pub const TOKEN_KEY: [u8; 32] = fill(0x7c);

/// The device's identity secret (`eid_prv`).
pub fn identity() -> SecretKey {
    SecretKey::from_bytes(fill(0x01))
}
/// The per-boot session secret (`spk_prv`).
pub fn session() -> SecretKey {
    SecretKey::from_bytes(fill(0x02))
}
/// The user's secret (password login, `sub` `U`).
pub fn user() -> SecretKey {
    SecretKey::from_bytes(fill(0x03))
}
/// The master secret (`sub` `M`).
pub fn master() -> SecretKey {
    SecretKey::from_bytes(fill(0x04))
}
/// Phone A's `aid_prv`.
pub fn phone_a_secret() -> SecretKey {
    SecretKey::from_bytes(fill(0x05))
}
/// Phone B's `aid_prv`.
pub fn phone_b_secret() -> SecretKey {
    SecretKey::from_bytes(fill(0x06))
}
/// A phone that is not paired: its `aid_prv`.
pub fn stranger_secret() -> SecretKey {
    SecretKey::from_bytes(fill(0x07))
}
/// The broker session secret (`epk_prv`) of the login and pairing flows.
pub fn broker_secret() -> SecretKey {
    SecretKey::from_bytes(fill(0x08))
}
/// The check-in backend's secret.
pub fn backend_secret() -> SecretKey {
    SecretKey::from_bytes(fill(0x09))
}

/// The user's public key, computed once.
pub fn user_public() -> PublicKey {
    static KEY: OnceLock<PublicKey> = OnceLock::new();
    *KEY.get_or_init(|| user().public_key())
}

/// The master public key, computed once.
pub fn master_public() -> PublicKey {
    static KEY: OnceLock<PublicKey> = OnceLock::new();
    *KEY.get_or_init(|| master().public_key())
}

/// The device's `eid`.
pub fn eid() -> PublicKey {
    static EID: OnceLock<PublicKey> = OnceLock::new();
    *EID.get_or_init(|| identity().public_key())
}

/// The configuration: user, master and backend keys, a label, 64 nonces per purpose.
pub fn config() -> DeviceConfig {
    let mut config = DeviceConfig::new(identity());
    config.user_key = Some(user().public_key());
    config.master_key = Some(master().public_key());
    config.backend_key = Some(backend_secret().public_key());
    config.label = String::from("fuzz HEM");
    config
}

/// The snapshot the fixture device boots from: phones A and B paired, one pending nonce per
/// flow.
pub fn snapshot() -> DeviceSnapshot {
    static SNAPSHOT: OnceLock<DeviceSnapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(make_snapshot).clone()
}

fn make_snapshot() -> DeviceSnapshot {
    let mut snapshot = DeviceSnapshot::new(config());
    snapshot.pairings = vec![
        PairingSnapshot {
            pid: PID_A,
            aid: phone_a_secret().public_key(),
            label: String::from("Phone A"),
        },
        PairingSnapshot {
            pid: PID_B,
            aid: phone_b_secret().public_key(),
            label: String::from("Phone B"),
        },
    ];
    let pending = |purpose, jti, exp, scope: Option<&str>| PendingSnapshot {
        purpose,
        jti,
        exp,
        scope: scope.map(String::from),
        ctx: None,
    };
    snapshot.pending = vec![
        pending(NoncePurpose::Login, LOGIN_JTI, LOGIN_EXP, None),
        pending(NoncePurpose::Pairing, PAIRING_JTI, PAIRING_EXP, None),
        pending(
            NoncePurpose::Authreq,
            AUTHREQ_JTI,
            AUTHREQ_EXP,
            Some(REQUESTED_SCOPE),
        ),
    ];
    snapshot
}

/// The fixed per-boot keys.
pub fn boot_keys() -> BootKeys {
    BootKeys::from_parts(session(), TOKEN_KEY)
}

/// A fresh fixture device: booted from [`snapshot`] with [`boot_keys`], clock set to
/// [`START`].
pub fn device() -> Device {
    let mut device = Device::restore_with_boot_keys(snapshot(), boot_keys())
        .expect("the fixture snapshot restores");
    let _ = device.set_clock(UnixTime::from_secs(START));
    device
}

/// Runs `f` on this thread's fixture device, then puts the device back as [`device`] built it.
///
/// Building a device costs four X25519 operations, which under the address sanitizer are most
/// of an execution; one device per thread, reset after every input, runs the message targets
/// about ten times faster. The reset is also a check: it restores only what a successful call
/// is allowed to change (a consumed pending nonce comes back, an added pairing is removed) and
/// then asserts that the device's whole state equals the fixture's, so an operation that
/// changes anything else fails on the input that did it.
pub fn with_device<R>(f: impl FnOnce(&mut Device) -> R) -> R {
    thread_local! {
        static DEVICE: RefCell<Option<Device>> = const { RefCell::new(None) };
    }
    DEVICE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let device = slot.get_or_insert_with(device);
        let out = f(device);
        reset(device);
        out
    })
}

fn reset(device: &mut Device) {
    let fixture = snapshot();
    for p in &fixture.pending {
        if !device.is_pending(p.purpose, &p.jti, UnixTime::from_secs(0)) {
            device.insert_pending(p.purpose, p.jti, p.exp, p.scope.as_deref());
        }
    }
    let extra: Vec<String> = device
        .pairings()
        .iter()
        .filter(|p| !fixture.pairings.iter().any(|f| f.pid == *p.pid()))
        .map(|p| p.kid_hex())
        .collect();
    for kid in extra {
        device
            .unpair(Some(delete_bearer()), &kid, UnixTime::from_secs(START))
            .result
            .expect("the fixture can remove a pairing");
    }
    assert!(
        device.snapshot_with_pending() == fixture,
        "the device changed beyond what the operation reported"
    );
}

/// A user token with `keymgmt:del` that never expires (for [`with_device`]'s reset).
fn delete_bearer() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| bearer(&user(), "keymgmt:del", u64::MAX))
}

/// The seed of [`rng`] (and of the simulated world of the `ops` harnesses).
pub const RNG_SEED: u64 = 0x6865_6d2d_6675_7a7a;

/// A deterministic CSPRNG for the operations that draw randomness.
pub fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(RNG_SEED)
}

/// Phone A as the authenticator role holds it.
pub fn phone_a() -> AuthenticatorPairing {
    static PHONE: OnceLock<AuthenticatorPairing> = OnceLock::new();
    PHONE.get_or_init(make_phone_a).clone()
}

fn make_phone_a() -> AuthenticatorPairing {
    AuthenticatorPairing::new(&codec::encode_std(&PID_A), eid(), phone_a_secret())
        .expect("phone A pairs")
}

/// Phone B as the authenticator role holds it.
pub fn phone_b() -> AuthenticatorPairing {
    static PHONE: OnceLock<AuthenticatorPairing> = OnceLock::new();
    PHONE.get_or_init(make_phone_b).clone()
}

fn make_phone_b() -> AuthenticatorPairing {
    AuthenticatorPairing::new(&codec::encode_std(&PID_B), eid(), phone_b_secret())
        .expect("phone B pairs")
}

/// S1 = X25519(aid_prv, eid) of a phone.
pub fn s1(phone: &SecretKey) -> SharedSecret {
    phone.diffie_hellman(&eid()).expect("contributory")
}

/// Phone A's S1, computed once.
pub fn phone_a_s1() -> SharedSecret {
    static S1: OnceLock<SharedSecret> = OnceLock::new();
    S1.get_or_init(|| s1(&phone_a_secret())).clone()
}

/// Phone B's S1, computed once.
pub fn phone_b_s1() -> SharedSecret {
    static S1: OnceLock<SharedSecret> = OnceLock::new();
    S1.get_or_init(|| s1(&phone_b_secret())).clone()
}

/// The unpaired phone's S1, computed once.
pub fn stranger_s1() -> SharedSecret {
    static S1: OnceLock<SharedSecret> = OnceLock::new();
    S1.get_or_init(|| s1(&stranger_secret())).clone()
}

/// The user's eJWT key, computed once.
pub fn user_login_key() -> SharedSecret {
    static KEY: OnceLock<SharedSecret> = OnceLock::new();
    KEY.get_or_init(|| login_key(&user())).clone()
}

/// The key of an eJWT signed by `signer` for the fixture's session key.
pub fn login_key(signer: &SecretKey) -> SharedSecret {
    signer
        .diffie_hellman(&session().public_key())
        .expect("contributory")
}

/// The key of the device's ECDH JWTs for the broker session: X25519(eid_prv, epk).
pub fn broker_key() -> SharedSecret {
    broker_secret()
        .diffie_hellman(&eid())
        .expect("contributory")
}

/// The broker's state of the fixture login flow (expects the fixture device).
pub fn ext_auth_state() -> ExtAuthState {
    static STATE: OnceLock<ExtAuthState> = OnceLock::new();
    STATE
        .get_or_init(|| ExtAuthState::from_secret(broker_secret(), Some(eid())))
        .clone()
}

/// The broker's state of the fixture pairing flow (expects the fixture device).
pub fn pairing_state() -> PairingState {
    static STATE: OnceLock<PairingState> = OnceLock::new();
    STATE
        .get_or_init(|| PairingState::from_secret(broker_secret(), Some(eid())))
        .clone()
}

/// The phone's event for the pending authreq, with `scope` sealed for `phone` (an S1).
pub fn event_for(phone_s1: &SharedSecret, scope: &str) -> (String, String, String) {
    let sealed = ScopeKey::derive(phone_s1, &AUTHREQ_JTI)
        .seal(scope)
        .expect("sealable");
    (
        codec::encode_std(&AUTHREQ_JTI),
        sealed,
        broker_secret().public_key().to_b64(),
    )
}

/// A valid authreply of `phone` for the pending authreq: the phone opens its event (the
/// requested scope sealed for it) at `START + 5` and approves for `period` seconds.
pub fn authreply(
    phone: &AuthenticatorPairing,
    phone_s1: &SharedSecret,
    scope: &str,
    period: u64,
    writable: bool,
) -> String {
    let (jti, sealed, epk) = event_for(phone_s1, scope);
    let event = Event {
        jti: Cow::Borrowed(&jti),
        scope: Cow::Borrowed(&sealed),
        epk: Cow::Borrowed(&epk),
        exp: AUTHREQ_EXP,
    };
    phone
        .open_event(&event, UnixTime::from_secs(START + 5))
        .expect("the fixture event opens")
        .approve(
            UnixTime::from_secs(START + 5),
            Seconds::new(period),
            Access::from_writable(writable),
        )
        .expect("the fixture event is approved")
        .authreply
}

/// A valid login eJWT for the pending login nonce, signed by `signer`.
pub fn ejwt(signer: &SecretKey, scope: &str, exp: u64) -> String {
    client::build_login_raw(
        signer,
        &session().public_key().to_b64(),
        &codec::encode_std(&LOGIN_JTI),
        scope,
        UnixTime::from_secs(START),
        UnixTime::from_secs(exp),
        None,
    )
    .expect("a valid login")
}

/// An access token the fixture device issued (minted by a real login on a fresh fixture
/// device): `scope` for `signer` (the user or master key), valid until `exp`.
pub fn bearer(signer: &SecretKey, scope: &str, exp: u64) -> String {
    let mut device = device();
    let body = client::login_body(&ejwt(signer, scope, exp));
    let response = device
        .auth_token(body.as_bytes(), UnixTime::from_secs(START), &mut rng())
        .result
        .expect("the fixture login succeeds");
    response.as_str().to_owned()
}

/// The user's `system:config` bearer, valid until [`BEARER_EXP`].
pub fn user_bearer() -> String {
    bearer(&user(), "system:config", BEARER_EXP)
}

/// Wraps a JWT text as the body `{"<member>": jwt}` (JSON-escaped as needed).
pub fn body_with(member: &str, jwt: &str) -> Vec<u8> {
    let mut map = serde_json::Map::new();
    map.insert(
        String::from(member),
        serde_json::Value::String(String::from(jwt)),
    );
    messages::to_json(&map).into_bytes()
}

/// The `ext/validate` body `{"pid": pid, "reply": reply}`.
pub fn body_with_pid(pid: &str, reply: &str) -> Vec<u8> {
    messages::to_json(&messages::ExtValidateRequest {
        pid: Cow::Borrowed(pid),
        reply: Cow::Borrowed(reply),
    })
    .into_bytes()
}
