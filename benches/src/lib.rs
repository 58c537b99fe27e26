//! Fixtures and measured operations shared by the criterion benches (`benches/hot_paths.rs`),
//! the allocation tests (`tests/`) and the instruction-count driver (`src/bin/hem-bench-iter.rs`),
//! so that all three measure exactly the same code.
//!
//! Every fixture is deterministic (a seeded ChaCha20 RNG): two runs, or two machines, time the
//! same bytes.

/// Every bench id, in the README's table order (the criterion benches' names; `bench-report`
/// and the instruction-count driver both read this list).
pub const BENCH_NAMES: &[&str] = &[
    "x25519/diffie_hellman",
    "token_verify/hem-auth-core",
    "token_verify/jsonwebtoken",
    "token_verify/jwt-simple",
    "ext_token/cached",
    "ext_token/cold",
    "ext_request/1_pairing",
    "ext_request/8_pairings",
    "authreq_verify/client",
    "approve/authenticator",
    "login/verify",
    "seal/open",
];

use hem_auth_core::{Access, Seconds, UnixTime};
use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use hem_auth_core::authenticator::{Approval, AuthenticatorPairing, Event};
use hem_auth_core::claims::{AccessTokenClaims, AuthreplyClaims, AuthreqClaims, ScopeMap};
use hem_auth_core::client::{self, ExtAuthState};
use hem_auth_core::jwt::{self, Header, HeaderPolicy, UntrustedJwt};
use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_auth_core::mac::MacKey;
use hem_auth_core::messages::{to_json, ExtRequest, ExtTokenRequest};
use hem_auth_core::nonce::TimeNonce;
use hem_auth_core::seal::ScopeKey;
use hem_auth_sim::{Phone, World};
use rand_chacha::rand_core::SeedableRng;
use serde::Deserialize;

/// The per-boot token key of the access-token benches (any 32 bytes).
pub const TOKEN_KEY: [u8; 32] = [0x5a; 32];
/// Lifetime of the benchmark access token: the longest period a phone grants (spec §5.7),
/// so that a token made when a run starts outlives the run.
pub const TOKEN_LIFETIME_SECS: u64 = 86_400;
/// Length of the benchmark access token, in characters: the size the issue's floor was
/// measured on.
pub const TOKEN_CHARS: usize = 273;
/// The time every protocol fixture is built at (the real device capture's `iat`).
pub const FIXTURE_NOW: u64 = 1_784_767_764;

/// The device's access token of spec §8.1: header `{"typ":"JWT","alg":"HS256"}`, claims
/// `{scope, sub, iat, exp, jti}` with a kid `sub` (an external-authenticator token), issued at
/// `now` for [`TOKEN_LIFETIME_SECS`], [`TOKEN_CHARS`] characters long, signed with
/// [`TOKEN_KEY`].
///
/// The peer libraries check the claims against the real clock (jwt-simple also refuses an
/// `iat` in its future), so the benches issue it at [`unix_now`].
pub fn access_token(now: u64) -> String {
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

/// Unix seconds by the system clock: what every verifier reads once per request (the peers
/// read it inside their verify call, so ours reads it in the measured loop too).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a bearer check failed, for the three libraries alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Shape, header, signature or claim types.
    Invalid,
    /// `now >= exp`.
    Expired,
}

/// Our key for [`TOKEN_KEY`], prepared once ([`MacKey::new`]) as a server keeps it, and as the
/// peers' key objects are built once in [`Peers::new`].
pub fn hem_key() -> MacKey {
    MacKey::new(&TOKEN_KEY)
}

/// Our bearer check: [`UntrustedJwt::parse`], [`UntrustedJwt::verify_with`] the prepared key
/// and [`HeaderPolicy::Plain`], typed [`AccessTokenClaims`], then `now < exp`. Returns the
/// scope's length and `exp` so that nothing read can be optimised away.
pub fn verify_hem(token: &str, key: &MacKey, now: u64) -> Result<(usize, u64), Rejected> {
    let untrusted = UntrustedJwt::parse(token).map_err(|_| Rejected::Invalid)?;
    let verified = untrusted
        .verify_with(key, HeaderPolicy::Plain)
        .map_err(|_| Rejected::Invalid)?;
    let claims: AccessTokenClaims<'_> = verified.claims().map_err(|_| Rejected::Invalid)?;
    if now >= claims.exp {
        return Err(Rejected::Expired);
    }
    Ok((
        claims.scope.len() + claims.sub.len() + claims.jti.len(),
        claims.exp,
    ))
}

/// The access-token claims as the peer libraries read them (owned: both require
/// `DeserializeOwned`).
#[derive(Debug, Deserialize)]
pub struct PeerClaims {
    /// Granted scope.
    pub scope: String,
    /// Role or kid.
    pub sub: String,
    /// Issue time.
    pub iat: u64,
    /// Expiry.
    pub exp: u64,
    /// Nonce.
    pub jti: String,
}

/// The custom part of the claims for jwt-simple, which reads the registered claims itself.
#[derive(Debug, Deserialize)]
pub struct PeerScope {
    /// Granted scope.
    pub scope: String,
}

/// The keys and settings a server keeps for the peer libraries, built once.
pub struct Peers {
    jwt_key: jsonwebtoken::DecodingKey,
    jwt_validation: jsonwebtoken::Validation,
    simple_key: jwt_simple::prelude::HS256Key,
}

impl Peers {
    /// Each library's HS256 key for `key`, with its default validation (signature, `alg`,
    /// `exp` required and checked against the system clock).
    pub fn new(key: &[u8]) -> Self {
        let jwt_key = match jsonwebtoken::DecodingKey::from_secret(key) {
            Ok(k) => k,
            Err(e) => unreachable!("an HMAC secret of any length is a key: {e}"),
        };
        Peers {
            jwt_key,
            jwt_validation: jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256),
            simple_key: jwt_simple::prelude::HS256Key::from_bytes(key),
        }
    }

    /// jsonwebtoken's normal verification: `decode` with `Validation::new(HS256)`.
    pub fn verify_jsonwebtoken(&self, token: &str) -> Result<(usize, u64), Rejected> {
        let data = jsonwebtoken::decode::<PeerClaims>(token, &self.jwt_key, &self.jwt_validation)
            .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => Rejected::Expired,
            _ => Rejected::Invalid,
        })?;
        let c = data.claims;
        Ok((c.scope.len() + c.sub.len() + c.jti.len(), c.exp))
    }

    /// jwt-simple's normal verification: `verify_token` with the default options (which check
    /// `exp` against the clock, with its default 15-minute tolerance).
    pub fn verify_jwt_simple(&self, token: &str) -> Result<(usize, u64), Rejected> {
        use jwt_simple::prelude::MACLike;
        let c = self
            .simple_key
            .verify_token::<PeerScope>(token, None)
            .map_err(|_| Rejected::Invalid)?;
        let len = c.custom.scope.len()
            + c.subject.as_ref().map_or(0, String::len)
            + c.jwt_id.as_ref().map_or(0, String::len);
        Ok((len, c.expires_at.map_or(0, |t| t.as_secs())))
    }
}

/// One paired phone and one broker session, with everything derived from them: the inputs of
/// the broker, authenticator and seal benches.
pub struct Scenario {
    /// The device identity key.
    pub eid_prv: SecretKey,
    /// Its public half.
    pub eid: PublicKey,
    /// The broker session (its `epk_prv`), expecting [`Scenario::eid`].
    pub broker: ExtAuthState,
    /// The phone's pairing: pid, eid and its `aid_prv` (with `S1` cached).
    pub phone: AuthenticatorPairing,
    /// The pid, standard base64.
    pub pid: String,
    /// The authreq's time nonce.
    pub jti: TimeNonce,
    /// `K = HMAC(S1, jti)`, the sealing key of this request.
    pub scope_key: ScopeKey,
    /// The scope sealed for the phone.
    pub sealed: String,
    /// The device's authreq for this broker session, with one scope entry.
    pub authreq: String,
}

/// The requested scope of the protocol fixtures.
pub const FIXTURE_SCOPE: &str = "keymgmt:list";

impl Scenario {
    /// Builds the scenario from a fixed seed, with the device side made of core primitives
    /// (the exact bytes the device role writes: spec §5.3, §5.6).
    pub fn new() -> Self {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let eid_prv = SecretKey::generate(&mut rng);
        let eid = eid_prv.public_key();
        let broker = ExtAuthState::from_secret(SecretKey::generate(&mut rng), Some(eid));
        let aid_prv = SecretKey::generate(&mut rng);
        let aid = aid_prv.public_key();
        let mut pid_raw = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rng, &mut pid_raw);
        let pid = hem_auth_core::codec::encode_std(&pid_raw);
        let phone = match AuthenticatorPairing::new(&pid, eid, aid_prv) {
            Ok(p) => p,
            Err(e) => unreachable!("a generated eid is not low-order: {e}"),
        };
        let s1 = match eid_prv.diffie_hellman(&aid) {
            Ok(s) => s,
            Err(e) => unreachable!("a generated aid is not low-order: {e}"),
        };
        let jti = TimeNonce::generate(UnixTime::from_secs(FIXTURE_NOW), &mut rng);
        let scope_key = ScopeKey::derive(&s1, jti.as_bytes());
        let sealed = match scope_key.seal(FIXTURE_SCOPE) {
            Ok(s) => s,
            Err(e) => unreachable!("a short scope seals: {e}"),
        };
        let mut scope = ScopeMap::new();
        scope.push(Cow::Borrowed(&pid), Cow::Borrowed(&sealed));
        let claims = AuthreqClaims {
            iss: Cow::Owned(eid.to_b64()),
            aud: Cow::Owned(broker.epk().to_b64()),
            iat: FIXTURE_NOW,
            exp: FIXTURE_NOW + 3600,
            jti: Cow::Owned(jti.to_b64()),
            ctx: None,
            note: None,
            scope,
        };
        let key = match eid_prv.diffie_hellman(&broker.epk()) {
            Ok(k) => k,
            Err(e) => unreachable!("a generated epk is not low-order: {e}"),
        };
        let authreq = jwt::sign(Header::Device, &claims, key.as_bytes());
        Scenario {
            eid_prv,
            eid,
            broker,
            phone,
            pid,
            jti,
            scope_key,
            sealed,
            authreq,
        }
    }

    /// The broker's work on a fresh authreq: parse it and [`ExtAuthState::verify_authreq`]
    /// (one X25519, by design: the broker derives the key from the `iss` it reads). Returns the
    /// number of scope entries.
    pub fn client_verify(&self, authreq: &str, now: u64) -> Option<usize> {
        let untrusted = UntrustedJwt::parse(authreq).ok()?;
        let verified = self
            .broker
            .verify_authreq(&untrusted, UnixTime::from_secs(now))
            .ok()?;
        Some(verified.entries().count())
    }

    /// The event the notify broker hands the phone for this authreq (spec §5.7).
    pub fn event(&self) -> (String, String) {
        (self.jti.to_b64(), self.broker.epk().to_b64())
    }

    /// The phone's work on one approval: open the event (expiry, `K`, the sealed scope) and
    /// approve it for 15 minutes (seal, sign the authreply, one X25519 for the broker MAC).
    pub fn approve(&self, jti: &str, epk: &str, now: u64) -> Option<Approval> {
        let event = Event {
            jti: Cow::Borrowed(jti),
            scope: Cow::Borrowed(&self.sealed),
            epk: Cow::Borrowed(epk),
            exp: FIXTURE_NOW + 3600,
        };
        let opened = self
            .phone
            .open_event(&event, UnixTime::from_secs(now))
            .ok()?;
        opened
            .approve(
                UnixTime::from_secs(now),
                Seconds::new(900),
                Access::ReadOnly,
            )
            .ok()
    }

    /// Opens the sealed scope with the cached `K`; returns the plaintext length.
    pub fn open_sealed(&self, sealed: &str) -> Option<usize> {
        self.scope_key.open(sealed).ok().map(|s| s.as_str().len())
    }
}

impl Default for Scenario {
    fn default() -> Self {
        Self::new()
    }
}

/// The baseline: one X25519 Diffie-Hellman with x25519-dalek, as the issue's floor was measured.
pub struct X25519Baseline {
    secret: x25519_dalek::StaticSecret,
    peer: x25519_dalek::PublicKey,
}

impl X25519Baseline {
    /// Two fixed keys.
    pub fn new() -> Self {
        let secret = x25519_dalek::StaticSecret::from([0x11u8; 32]);
        let peer = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([0x22u8; 32]));
        X25519Baseline { secret, peer }
    }

    /// One Diffie-Hellman; returns the shared secret's first byte.
    pub fn diffie_hellman(&self, peer: &x25519_dalek::PublicKey) -> u8 {
        self.secret.diffie_hellman(peer).as_bytes()[0]
    }

    /// The peer key.
    pub fn peer(&self) -> &x25519_dalek::PublicKey {
        &self.peer
    }
}

impl Default for X25519Baseline {
    fn default() -> Self {
        Self::new()
    }
}

/// A device with paired phones, built through the real flows of the simulated world
/// (`hem-auth-sim`: password login, `ext/init`, the phone's reply, `ext/validate`), with what
/// the device benches feed it.
pub struct DeviceBench {
    /// The world: the device, its identity and user keys, the RNG.
    world: World,
    phones: Vec<Phone>,
    ext_request_body: String,
    /// When the next single-use input is issued, and when the next one is used: both advance
    /// by [`INPUT_STEP_SECS`] per input, so each input is used 5 s after its own issue however
    /// many are prepared ahead, and the consumed nonces expire as on a device in use.
    issue_at: u64,
    use_at: u64,
}

/// Seconds between two single-use inputs (a login challenge or an authreq) of the device
/// benches. Every success records its nonce in the device's consumed set until the nonce
/// expires (spec §4.3): at 4 s per input at most 900 authreq nonces (3600 s) are live, below
/// the default capacity of 1024, so runs of any length never fill it.
pub const INPUT_STEP_SECS: u64 = 4;

/// Why a device fixture step failed (setting up, or a measured operation refused).
#[derive(Debug)]
pub struct FixtureError(pub String);

impl<E: std::fmt::Display> From<E> for FixtureError {
    fn from(e: E) -> Self {
        FixtureError(e.to_string())
    }
}

/// The requested scope of the device benches' logins.
pub const LOGIN_SCOPE: &str = "keymgmt:list";

impl DeviceBench {
    /// A device at [`FIXTURE_NOW`] with `pairings` phones paired (at most 8).
    pub fn new(pairings: usize) -> Result<Self, FixtureError> {
        let mut world = World::with(11, |config| {
            // the bench device knows the user key only
            config.master_key = None;
            config.backend_key = None;
        });
        world.now = FIXTURE_NOW;
        world.set_clock();
        // A system:config token for the pairing endpoints.
        let token = world.login("system:config")?;
        let phones = (0..pairings)
            .map(|i| world.pair(&token, &format!("phone {i}")))
            .collect::<Result<Vec<_>, _>>()?;
        let epk = SecretKey::generate(&mut world.rng).public_key();
        let ext_request_body = to_json(&ExtRequest {
            epk: Cow::Owned(epk.to_b64()),
            scope: Cow::Borrowed(FIXTURE_SCOPE),
            ctx: None,
            note: None,
        });
        Ok(DeviceBench {
            world,
            phones,
            ext_request_body,
            issue_at: FIXTURE_NOW,
            use_at: FIXTURE_NOW,
        })
    }

    /// The time of the next single-use input's issue.
    fn next_issue(&mut self) -> u64 {
        let t = self.issue_at;
        self.issue_at += INPUT_STEP_SECS;
        t
    }

    /// The time of the next single-use input's use: 5 s after its issue.
    fn next_use(&mut self) -> u64 {
        let t = self.use_at;
        self.use_at += INPUT_STEP_SECS;
        t + 5
    }

    /// The body of an `ext/request` from a broker session (always the same epk).
    pub fn ext_request_body(&self) -> &[u8] {
        self.ext_request_body.as_bytes()
    }

    /// The device's `ext/request`: one X25519 with the broker's epk, then one sealed scope per
    /// pairing and the signed authreq. Returns the authreq's length.
    pub fn ext_request(&mut self, body: &[u8]) -> Result<usize, FixtureError> {
        let world = &mut self.world;
        let response = world
            .device
            .ext_request(body, UnixTime::from_secs(FIXTURE_NOW), &mut world.rng)
            .result?;
        Ok(response.authreq.len())
    }

    /// An authreq the device issued (`ext/request`: its nonce proves itself, spec §4.3, so
    /// `ext/token` pays for the tag check and records the nonce in its consumed set), and the
    /// first phone's approving `ext/token` body for it, as the phone would build it (spec
    /// §5.7) but without its broker MAC, which the device never sees. Not timed by the benches.
    pub fn prepare_ext_token(&mut self) -> Result<String, FixtureError> {
        let now = self.next_issue();
        let world = &mut self.world;
        let response = world
            .device
            .ext_request(
                self.ext_request_body.as_bytes(),
                UnixTime::from_secs(now),
                &mut world.rng,
            )
            .result?;
        let authreq = UntrustedJwt::parse(&response.authreq)?;
        let issued: AuthreqClaims<'_> = authreq.dangerous_unverified_claims()?;
        let jti = TimeNonce::from_b64(&issued.jti)?;
        let phone = self
            .phones
            .first()
            .ok_or_else(|| FixtureError("no pairing".into()))?;
        let sealed = ScopeKey::derive(&phone.s1, jti.as_bytes()).seal(FIXTURE_SCOPE)?;
        let claims = AuthreplyClaims {
            aud: Some(Cow::Owned(self.world.device.eid().to_b64())),
            jti: Cow::Owned(jti.to_b64()),
            exp: now + 900,
            iat: Some(now),
            pid: Cow::Borrowed(phone.pid()),
            iss: Cow::Owned(phone.aid().to_b64()),
            scope: Cow::Owned(sealed),
            ctx: None,
        };
        let authreply = jwt::sign(Header::App, &claims, phone.s1.as_bytes());
        Ok(to_json(&ExtTokenRequest {
            authreply: Cow::Owned(authreply),
        }))
    }

    /// The device's `ext/token` with the pairing secret S1 cached (as the device keeps it):
    /// no Diffie-Hellman. Returns the token's length.
    pub fn ext_token(&mut self, body: &[u8]) -> Result<usize, FixtureError> {
        let now = self.next_use();
        let world = &mut self.world;
        let response = world
            .device
            .ext_token(body, UnixTime::from_secs(now), &mut world.rng)
            .result?;
        Ok(response.as_str().len())
    }

    /// [`DeviceBench::ext_token`] as a device that keeps no S1 would do it: X25519(eid_prv,
    /// aid) and S1's HMAC key schedule (the device keeps S1 prepared as a [`MacKey`]; one
    /// that kept nothing would prepare it once per request), then the same work.
    pub fn ext_token_cold(&mut self, body: &[u8]) -> Result<usize, FixtureError> {
        let aid = self
            .phones
            .first()
            .ok_or_else(|| FixtureError("no pairing".into()))?
            .aid();
        let s1 = self.world.identity.diffie_hellman(&aid)?;
        std::hint::black_box(MacKey::new(std::hint::black_box(s1.as_bytes())));
        self.ext_token(body)
    }

    /// A fresh login challenge from the device and the client's eJWT for it (one X25519 on the
    /// client's side). Not timed by the benches.
    pub fn prepare_login(&mut self) -> Result<String, FixtureError> {
        let now = self.next_issue();
        let world = &mut self.world;
        let challenge = world
            .device
            .auth_token_challenge(UnixTime::from_secs(now), &mut world.rng);
        let challenge = to_json(&challenge.result?);
        let challenge = client::LoginChallenge::parse(challenge.as_bytes())?;
        let ejwt = client::build_login(
            &world.user,
            &challenge,
            LOGIN_SCOPE,
            UnixTime::from_secs(now),
            UnixTime::from_secs(now + 600),
            None,
        )?;
        Ok(client::login_body(&ejwt))
    }

    /// The device's side of a password login once the client has derived its key (no PBKDF2
    /// here): X25519(spk_prv, iss), the eJWT's MAC and claims, the nonce, a new token.
    /// Returns the token's length.
    pub fn login(&mut self, body: &[u8]) -> Result<usize, FixtureError> {
        let now = self.next_use();
        let world = &mut self.world;
        let response = world
            .device
            .auth_token(body, UnixTime::from_secs(now), &mut world.rng)
            .result?;
        Ok(response.as_str().len())
    }
}
