//! Test support: a small blocking HTTP client and the three roles of the core driving a
//! running emulator (broker for login, pairing and ext-auth; authenticator for the phone).
#![allow(dead_code, unreachable_pub, missing_docs)]
// Test helpers fail loudly: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hem_auth_core::{Access, UnixTime};
use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hem_auth_core::authenticator::{Event, UnverifiedPairingRequest, PERIODS};
use hem_auth_core::client::{self, ExtAuthState, LoginChallenge, UnverifiableAccessToken};
use hem_auth_core::codec;
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::keys::{PublicKey, SecretKey};
pub use hem_auth_sim::Phone;
use hem_emulator::{EmulatorConfig, RunningEmulator};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Every request of a test finishes within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

pub fn host_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A fresh directory path under the system temp directory (removed if it exists).
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "hem-emulator-{tag}-{}-{}",
        std::process::id(),
        host_now()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// The user key every test emulator is configured with.
pub fn user_key() -> SecretKey {
    SecretKey::from_bytes([0x55; 32])
}

/// An emulator on a free loopback port with the test user key.
pub fn config() -> EmulatorConfig {
    EmulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        user_key: Some(user_key().public_key()),
        ..Default::default()
    }
}

pub fn start(config: EmulatorConfig) -> (RunningEmulator, Client) {
    let emulator = hem_emulator::start(config).expect("emulator starts");
    let client = Client::new(&emulator.url());
    (emulator, client)
}

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts the status, then returns the body.
    pub fn expect(self, status: u16) -> Vec<u8> {
        assert_eq!(
            self.status,
            status,
            "body {:?}",
            String::from_utf8_lossy(&self.body)
        );
        self.body
    }

    /// The device's error shape: empty body, `Content-Type: application/json`.
    pub fn assert_error(&self, status: u16) {
        assert_eq!(
            self.status,
            status,
            "body {:?}",
            String::from_utf8_lossy(&self.body)
        );
        assert!(self.body.is_empty(), "error body {:?}", self.body);
        assert_eq!(self.content_type.as_deref(), Some("application/json"));
    }
}

/// A blocking client for one emulator.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    pub base: String,
}

impl Client {
    pub fn new(base: &str) -> Self {
        Self::with_tls(base, ureq::tls::TlsConfig::default())
    }

    /// A client that accepts any certificate, as clients of real (self-signed) HEMs do.
    pub fn insecure(base: &str) -> Self {
        Self::with_tls(
            base,
            ureq::tls::TlsConfig::builder()
                .disable_verification(true)
                .build(),
        )
    }

    /// A client that trusts only the certificates in `pem`.
    pub fn trusting(base: &str, pem: &str) -> Self {
        let certs = ureq::tls::parse_pem(pem.as_bytes()).filter_map(|item| match item.unwrap() {
            ureq::tls::PemItem::Certificate(c) => Some(c),
            _ => None,
        });
        Self::with_tls(
            base,
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::from(certs))
                .build(),
        )
    }

    fn with_tls(base: &str, tls: ureq::tls::TlsConfig) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .proxy(None)
            .tls_config(tls)
            .build()
            .new_agent();
        Client {
            agent,
            base: base.to_string(),
        }
    }

    /// `GET path`, the transport error as text (for tests of what fails to connect).
    pub fn try_get(&self, path: &str) -> Result<u16, String> {
        self.agent
            .get(format!("{}{path}", self.base))
            .call()
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    }

    fn finish(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut r = r.expect("HTTP exchange");
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let body = r.body_mut().read_to_vec().expect("body");
        Reply {
            status: r.status().as_u16(),
            content_type,
            body,
        }
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        Self::finish(req.call())
    }

    pub fn post(&self, path: &str, body: &[u8], token: Option<&str>) -> Reply {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json");
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        Self::finish(req.send(body))
    }

    pub fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.agent.delete(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        Self::finish(req.call())
    }

    /// Password-style login with `user` (spec §7): a token for `scope`, valid for `lifetime`.
    pub fn login_for(&self, user: &SecretKey, scope: &str, lifetime: u64) -> String {
        let challenge = self.get("/api/auth/token", None).expect(200);
        let challenge = LoginChallenge::parse(&challenge).unwrap();
        let now = host_now();
        let ejwt = client::build_login(
            user,
            &challenge,
            scope,
            UnixTime::from_secs(now),
            UnixTime::from_secs(now + lifetime),
            None,
        )
        .unwrap();
        let body = self
            .post(
                "/api/auth/token",
                client::login_body(&ejwt).as_bytes(),
                None,
            )
            .expect(200);
        UnverifiableAccessToken::from_response(&body)
            .unwrap()
            .token()
            .to_string()
    }

    /// A token that expires a few seconds from now, returned once it has expired on the host
    /// clock. The margin keeps the login itself valid on a loaded machine.
    pub fn expired_token(&self, scope: &str) -> String {
        let token = self.login_for(&user_key(), scope, 4);
        let exp = UnverifiableAccessToken::parse(&token)
            .unwrap()
            .exp()
            .as_secs();
        while host_now() <= exp {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        token
    }

    /// A one-hour token for `scope` with the test user key.
    pub fn login(&self, scope: &str) -> String {
        self.login_for(&user_key(), scope, 3600)
    }

    /// The audit log's lines (`GET /api/logger/list`), checked against its `total`.
    pub fn log_lines(&self, token: &str) -> Vec<String> {
        let log = self.get("/api/logger/list", Some(token));
        assert_eq!(log.status, 200);
        let log = log.json();
        let lines: Vec<String> = log["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect();
        assert_eq!(log["total"].as_u64(), Some(lines.len() as u64));
        lines
    }

    /// Pairs a new phone (spec §6): ext/init, the phone's reply, ext/validate.
    pub fn pair(&self, token: &str, eid: PublicKey, label: &str, seed: u64) -> Phone {
        let mut rng = rng(seed);
        let (body, state) = client::start_pairing(Some(eid), &mut rng);
        let init = self
            .post("/api/auth/ext/init", body.as_bytes(), Some(token))
            .expect(200);
        let request = state
            .verify_init_response(&init, UnixTime::from_secs(host_now()))
            .unwrap();
        let seen = UnverifiedPairingRequest::parse(request.request()).unwrap();
        let answered = Phone::answer(&seen, label, "fcm-token", &mut rng).unwrap();
        let reply = &answered.reply;
        let mut pid = [0u8; 32];
        rng.fill_bytes(&mut pid);
        let pid = codec::encode_std(&pid);
        let body = state.validate_body(&pid, &reply.reply);
        let answer = self
            .post("/api/auth/ext/validate", body.as_bytes(), Some(token))
            .expect(200);
        let kid = state
            .verify_validate_response(&request.eid(), &reply.reply, &answer)
            .unwrap();
        let phone = answered.paired(&pid).unwrap();
        assert_eq!(phone.kid, kid);
        phone
    }

    /// Asks for an authreq for `scope` and verifies it.
    pub fn authreq(&self, eid: PublicKey, scope: &str, seed: u64) -> Authreq {
        let (body, session) =
            client::start_ext_auth(scope, None, None, Some(eid), &mut rng(seed)).unwrap();
        let answer = self
            .post("/api/auth/ext/request", body.as_bytes(), None)
            .expect(200);
        let authreq = session.authreq_from_response(&answer).unwrap().into_owned();
        let untrusted = UntrustedJwt::parse(&authreq).unwrap();
        let verified = session
            .verify_authreq(&untrusted, UnixTime::from_secs(host_now()))
            .unwrap();
        let entries = verified
            .entries()
            .map(|(pid, sealed)| (pid.to_string(), sealed.to_string()))
            .collect();
        Authreq {
            jti: verified.jti().to_string(),
            exp: verified.exp().as_secs(),
            entries,
            session,
        }
    }

    /// The full external-authenticator login: authreq, `phone` approves 15 minutes, ext/token.
    pub fn ext_login(&self, eid: PublicKey, phone: &Phone, scope: &str, seed: u64) -> String {
        let authreq = self.authreq(eid, scope, seed);
        let authreply = authreq.approve(phone);
        let body = authreq.session.ext_token_body(&authreply);
        let answer = self
            .post("/api/auth/ext/token", body.as_bytes(), None)
            .expect(200);
        authreq.session.finish(&answer).unwrap().token().to_string()
    }
}

/// A verified authreq and the broker session that asked for it.
pub struct Authreq {
    pub jti: String,
    pub exp: u64,
    pub entries: Vec<(String, String)>,
    pub session: ExtAuthState,
}

impl Authreq {
    pub fn entry(&self, pid: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(p, _)| p == pid)
            .map(|(_, s)| s.as_str())
    }

    /// The phone opens its entry and approves it for 15 minutes: the authreply.
    pub fn approve(&self, phone: &Phone) -> String {
        let sealed = self
            .entry(phone.pairing.pid())
            .expect("an entry for the phone");
        let epk = self.session.epk().to_b64();
        let event = Event {
            jti: Cow::Borrowed(&self.jti),
            scope: Cow::Borrowed(sealed),
            epk: Cow::Borrowed(&epk),
            exp: self.exp,
        };
        let now = host_now();
        phone
            .pairing
            .open_event(&event, UnixTime::from_secs(now))
            .unwrap()
            .approve(UnixTime::from_secs(now), PERIODS[0], Access::ReadOnly)
            .unwrap()
            .authreply
    }

    /// The `ext/token` body for `authreply`.
    pub fn token_body(&self, authreply: &str) -> String {
        self.session.ext_token_body(authreply)
    }
}

/// Sends `request` as is on a new connection and returns what comes back before the server
/// closes it or goes quiet for a second (at most 64 KiB).
pub fn raw(client: &Client, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let addr = client.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    stream.set_write_timeout(Some(REQUEST_TIMEOUT)).unwrap();
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < 65_536 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks the key line and every line's MAC as a log reader does (spec §11.2); returns
/// the event numbers.
pub fn verify_log<L: AsRef<str>>(lines: &[L]) -> Vec<u64> {
    let key_fields: Vec<&str> = lines[0].as_ref().split('|').collect();
    assert_eq!(key_fields.len(), 7);
    assert_eq!(
        (key_fields[0], key_fields[2], key_fields[3]),
        ("0", "0", "0")
    );
    let mut buf = [0u8; 48];
    let key = codec::decode_segment(key_fields[4].as_bytes(), &mut buf).unwrap();
    assert_eq!(key.len(), 32);
    let mut events = Vec::new();
    for (n, line) in lines.iter().map(AsRef::as_ref).enumerate() {
        let cut = line.rfind('|').unwrap() + 1;
        let mac = hem_auth_core::mac::mac(key, &line.as_bytes()[..cut]);
        assert_eq!(&line[cut..], codec::encode_segment(&mac[..16]), "{line}");
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(u64::from_str_radix(fields[0], 16).unwrap(), n as u64);
        events.push(u64::from_str_radix(fields[2], 16).unwrap());
    }
    events
}
