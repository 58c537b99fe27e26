//! `make-corpus OUT_DIR [PUBLISHED_DIR] [VECTORS_DIR]`: writes the seed corpus of every fuzz
//! target into `OUT_DIR/<target>/`, replacing what is there.
//!
//! Seeds are the messages the real roles produce for the fixture device (valid authreqs,
//! authreplies, eJWTs, pairing replies, tokens, snapshots), the same in every input mode of
//! each target (see `common::input`), plus every JWT, sealed scope and body found in the
//! published artefacts (`PUBLISHED_DIR/*.json`, default `../vectors/interop/published`) and
//! in the vector files (every `VECTORS_DIR/**/*.json` whose `schema` is `hem-auth-vectors/…`,
//! default `../vectors`; the published artefacts and the JSON Schema beside them are not
//! vector files). Both inputs are part of the repository; if either is missing or yields no
//! file the generator stops before it touches `OUT_DIR`, so a wrong path can never replace the
//! committed seeds with a smaller corpus. For the structure-aware `device_ops`
//! target, random operation sequences are played and the ones that get furthest are kept.
//! Output is deterministic: the same sources give the same files.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arbitrary::{Arbitrary, Unstructured};
use hem_auth_core::authenticator::{reply_to_pairing, UnverifiedPairingRequest};
use hem_auth_core::claims::PairingRequestClaims;
use hem_auth_core::client;
use hem_auth_core::codec;
use hem_auth_core::device::{Device, DeviceSnapshot};
use hem_auth_core::jwt::{self, Header, UntrustedJwt};
use hem_auth_core::messages::{self, ExtInitResponse, ExtRequest, ExtValidateResponse};
use hem_auth_fuzz_common::fixture::{self, PAIRING_JTI, START};
use hem_auth_fuzz_common::input::encode;
use hem_auth_fuzz_common::ops::{self, Op};
use hem_auth_fuzz_common::oracle;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// Most seeds per target taken from artefact and vector files.
const MAX_ARTEFACT_SEEDS: usize = 48;

/// Seeds per target: file name → bytes.
#[derive(Default)]
struct Corpus(BTreeMap<&'static str, BTreeMap<String, Vec<u8>>>);

impl Corpus {
    fn add(&mut self, target: &'static str, name: impl Into<String>, bytes: Vec<u8>) {
        self.0.entry(target).or_default().insert(name.into(), bytes);
    }

    /// The same message in modes 0 (as given) and the JWT-only mode 1 of a message target.
    fn add_modes(&mut self, target: &'static str, name: &str, body: &[u8], jwt: &str) {
        self.add(target, format!("{name}-body"), encode(0, 0, body));
        self.add(target, format!("{name}-jwt"), encode(1, 0, jwt.as_bytes()));
    }

    /// Mode 2 (the oracle signs): header pick, then the payload of `jwt`.
    fn add_oracle(&mut self, target: &'static str, name: &str, mode: u8, prefix: &[u8], jwt: &str) {
        let header = match header_of(jwt) {
            Some(h) => h,
            None => return,
        };
        let mut msg = prefix.to_vec();
        msg.push(header);
        msg.extend_from_slice(&payload_of(jwt));
        self.add(target, format!("{name}-oracle"), encode(mode, 0, &msg));
    }

    /// Keeps every seed made from the roles and at most [`MAX_ARTEFACT_SEEDS`] of those taken
    /// from files, evenly spread over them, so the committed corpus stays small.
    fn trim(&mut self) {
        for seeds in self.0.values_mut() {
            let from_files: Vec<String> = seeds
                .keys()
                .filter(|n| n.starts_with("interop-") || n.starts_with("vectors-"))
                .cloned()
                .collect();
            if from_files.len() > MAX_ARTEFACT_SEEDS {
                let step = from_files.len().div_ceil(MAX_ARTEFACT_SEEDS);
                for (i, name) in from_files.iter().enumerate() {
                    if i % step != 0 {
                        seeds.remove(name);
                    }
                }
            }
        }
    }

    fn write(&self, out: &Path) {
        for (target, seeds) in &self.0 {
            let dir = out.join(target);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).expect("old corpus removed");
            }
            std::fs::create_dir_all(&dir).expect("corpus dir");
            for (name, bytes) in seeds {
                std::fs::write(dir.join(name), bytes).expect("seed written");
            }
            println!("{target}: {} seeds", seeds.len());
        }
    }
}

/// The decoded payload of a JWT.
fn payload_of(jwt: &str) -> Vec<u8> {
    let payload = jwt.split('.').nth(1).unwrap_or_default();
    let mut out = vec![0u8; payload.len()];
    codec::decode_segment(payload.as_bytes(), &mut out)
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// Which of the four known headers a JWT has (the oracle's header pick).
fn header_of(jwt: &str) -> Option<u8> {
    let segment = jwt.split('.').next()?;
    [
        Header::App,
        Header::Device,
        Header::AccessToken,
        Header::Php,
    ]
    .iter()
    .position(|h| codec::encode_segment(h.json().as_bytes()) == segment)
    .and_then(|i| u8::try_from(i).ok())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| String::from("corpus")));
    let published = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../vectors/interop/published"));
    let vectors = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../vectors"));
    // Read every input first: nothing in OUT_DIR is removed unless both were found.
    let published_files = input_files(&published, "published artefacts", |_| true);
    let vector_files = input_files(&vectors, "vector files", is_vector_file);
    let mut corpus = Corpus::default();
    roles(&mut corpus);
    artefacts(&mut corpus, &published_files, "interop");
    artefacts(&mut corpus, &vector_files, "vectors");
    device_ops(&mut corpus);
    corpus.trim();
    corpus.write(&out);
}

/// Messages the roles produce for the fixture.
fn roles(c: &mut Corpus) {
    let a = fixture::phone_a();
    let b = fixture::phone_b();
    let (s1a, s1b) = (fixture::phone_a_s1(), fixture::phone_b_s1());

    // authreply (ext/token)
    let replies = [
        (
            "a-list",
            fixture::authreply(&a, &s1a, "keymgmt:list", 900, false),
        ),
        (
            "a-storage-rw",
            fixture::authreply(&a, &s1a, "storage:disk0", 3600, true),
        ),
        (
            "a-use-hint",
            fixture::authreply(
                &a,
                &s1a,
                "keymgmt:use:42afc419dbda72636b37a2455955e095#eyJ0IjoiOTgxNCIsImwiOiJQaG9uZSBBIn0=",
                28800,
                false,
            ),
        ),
        (
            "b-list",
            fixture::authreply(&b, &s1b, "keymgmt:list", 86400, false),
        ),
    ];
    for (name, reply) in &replies {
        let body = fixture::body_with("authreply", reply);
        c.add_modes("authreply", name, &body, reply);
        c.add_oracle("authreply", name, 2, &[], reply);
        c.add(
            "jwt",
            format!("authreply-{name}"),
            encode(0, 0, reply.as_bytes()),
        );
        c.add_oracle("jwt", &format!("authreply-{name}"), 1, &[], reply);
    }
    // a late authreply: the nonce expired
    c.add(
        "authreply",
        "a-list-late",
        encode(1, 3700, replies[0].1.as_bytes()),
    );

    // phone events and sealed scopes
    let (jti, sealed, epk) = fixture::event_for(&s1a, "keymgmt:list");
    let event = format!(
        r#"{{"jti":"{jti}","scope":"{sealed}","epk":"{epk}","exp":{},"ipinfo_eid":{{}}}}"#,
        fixture::AUTHREQ_EXP
    );
    c.add(
        "authenticator_event",
        "event",
        encode(0, 0, event.as_bytes()),
    );
    c.add(
        "authenticator_event",
        "event-late",
        encode(0, 3601, event.as_bytes()),
    );
    for (i, scope) in [
        "keymgmt:list",
        "storage:disk0:rw",
        "keymgmt:use:42afc419dbda72636b37a2455955e095#eyJ0IjoiOTgxNCIsImwiOiJQaG9uZSBBIn0=",
        "system:upgrade",
    ]
    .iter()
    .enumerate()
    {
        let flags = [0u8, 0x81, 2, 3][i];
        let mut msg = vec![flags];
        msg.extend_from_slice(scope.as_bytes());
        c.add(
            "authenticator_event",
            format!("approve-{i}"),
            encode(1, 10, &msg),
        );
        c.add(
            "scope_open",
            format!("seal-{i}"),
            encode(1, 0, scope.as_bytes()),
        );
        c.add(
            "scope_open",
            format!("grammar-{i}"),
            encode(3, 0, scope.as_bytes()),
        );
        let mut flip = vec![7, 0, 3];
        flip.extend_from_slice(scope.as_bytes());
        c.add("scope_open", format!("flip-{i}"), encode(2, 0, &flip));
    }
    c.add(
        "scope_open",
        "open-fixture",
        encode(0, 0, sealed.as_bytes()),
    );
    let own = hem_auth_core::seal::ScopeKey::derive(
        &hem_auth_core::keys::SharedSecret::from_bytes([0x33; 32]),
        &[0x44; 32],
    )
    .seal("keymgmt:list")
    .expect("sealable");
    c.add("scope_open", "open-own", encode(0, 0, own.as_bytes()));

    // login (auth/token)
    let logins = [
        (
            "user",
            fixture::ejwt(&fixture::user(), "keymgmt:list", START + 3600),
        ),
        (
            "master",
            fixture::ejwt(&fixture::master(), "system:config", START + 28800),
        ),
        (
            "stranger",
            fixture::ejwt(&fixture::stranger_secret(), "keymgmt:list", START + 3600),
        ),
    ];
    for (name, ejwt) in &logins {
        let body = client::login_body(ejwt).into_bytes();
        c.add_modes("login", name, &body, ejwt);
        c.add_oracle("login", name, 2, &[], ejwt);
        c.add("jwt", format!("ejwt-{name}"), encode(0, 0, ejwt.as_bytes()));
    }

    // bearers (authorize)
    let bearers = [
        ("user-config", fixture::user_bearer()),
        (
            "user-del",
            fixture::bearer(&fixture::user(), "keymgmt:del", START + 600),
        ),
        (
            "master-config",
            fixture::bearer(&fixture::master(), "system:config", START + 600),
        ),
        (
            "user-use",
            fixture::bearer(
                &fixture::user(),
                "keymgmt:use:42afc419dbda72636b37a2455955e095",
                START + 600,
            ),
        ),
    ];
    for (i, (name, token)) in bearers.iter().enumerate() {
        for pick in 0..5u8 {
            let mut msg = vec![pick];
            msg.extend_from_slice(token.as_bytes());
            c.add("access_token", format!("{name}-{pick}"), encode(0, 0, &msg));
        }
        c.add_oracle(
            "access_token",
            name,
            1,
            &[u8::try_from(i).unwrap_or(0)],
            token,
        );
        c.add(
            "jwt",
            format!("token-{name}"),
            encode(0, 0, token.as_bytes()),
        );
    }

    // authreq (broker role): a fixture device answering the fixture broker session
    let mut device = fixture::device();
    let mut rng = fixture::rng();
    for (name, scope, ctx) in [
        ("list", "keymgmt:list", Some("app")),
        ("use", "keymgmt:use:00112233445566778899aabbccddeeff", None),
    ] {
        let body = messages::to_json(&ExtRequest {
            epk: fixture::broker_secret().public_key().to_b64().into(),
            scope: scope.into(),
            ctx: ctx.map(Cow::Borrowed),
            note: Some("note".into()),
        });
        let response = device
            .ext_request(
                body.as_bytes(),
                hem_auth_core::UnixTime::from_secs(START),
                &mut rng,
            )
            .result
            .expect("the fixture answers");
        let json = messages::to_json(&response);
        let authreq = response.authreq.into_owned();
        c.add(
            "authreq_verify",
            format!("{name}-jwt"),
            encode(0, 0, authreq.as_bytes()),
        );
        c.add(
            "authreq_verify",
            format!("{name}-body"),
            encode(1, 0, json.as_bytes()),
        );
        c.add_oracle("authreq_verify", name, 2, &[], &authreq);
        c.add(
            "jwt",
            format!("authreq-{name}"),
            encode(0, 0, authreq.as_bytes()),
        );
    }

    // pairing: the request the fixture device would send, a new phone's reply
    let request = jwt::sign(
        Header::Device,
        &PairingRequestClaims {
            jti: codec::encode_std(&PAIRING_JTI).into(),
            exp: Some(fixture::PAIRING_EXP),
            eat: None,
            aud: fixture::broker_secret().public_key().to_b64().into(),
            iss: fixture::eid().to_b64().into(),
        },
        fixture::broker_key().as_bytes(),
    );
    let init = messages::to_json(&ExtInitResponse {
        request: request.as_str().into(),
        eid: fixture::eid().to_b64().into(),
    });
    c.add(
        "pairing_request",
        "request-jwt",
        encode(0, 0, request.as_bytes()),
    );
    c.add(
        "pairing_request",
        "init-body",
        encode(1, 0, init.as_bytes()),
    );
    c.add_oracle("pairing_request", "init", 2, &[], &request);
    c.add("jwt", "pairing-request", encode(0, 0, request.as_bytes()));
    let seen = UnverifiedPairingRequest::parse(&request).expect("readable");
    let reply = reply_to_pairing(
        &fixture::stranger_secret(),
        &seen,
        "Pixel 8 (Android)",
        "fcm",
    )
    .expect("a reply")
    .reply;
    let reply_const = "eyJlY2RoIjoieDI1NTE5IiwiYWxnIjoiSFMyNTYiLCJ0eXAiOiJKV1QifQ.e30.x";
    let code = codec::encode_std(&oracle::hmac(
        fixture::broker_key().as_bytes(),
        reply_const.as_bytes(),
    ));
    let validated = messages::to_json(&ExtValidateResponse {
        kid: "42afc419dbda72636b37a2455955e095".into(),
        code: code.into(),
    });
    c.add(
        "pairing_request",
        "validate-body",
        encode(3, 0, validated.as_bytes()),
    );
    let pid = codec::encode_std(&[0x50; 32]);
    let body = fixture::body_with_pid(&pid, &reply);
    for pick in [0u8, 1, 2, 3] {
        let mut msg = vec![pick];
        msg.extend_from_slice(&body);
        c.add(
            "pairing_validate",
            format!("body-{pick}"),
            encode(0, 0, &msg),
        );
    }
    let mut msg = vec![0u8];
    msg.extend_from_slice(reply.as_bytes());
    c.add("pairing_validate", "reply-jwt", encode(1, 0, &msg));
    c.add_oracle("pairing_validate", "reply", 2, &[0], &reply);
    let taken = fixture::body_with_pid(&codec::encode_std(&fixture::PID_A), &reply);
    let mut msg = vec![0u8];
    msg.extend_from_slice(&taken);
    c.add("pairing_validate", "body-pid-taken", encode(0, 0, &msg));
    c.add("jwt", "pairing-reply", encode(0, 0, reply.as_bytes()));

    // snapshots
    let snapshot = fixture::snapshot();
    c.add(
        "snapshot",
        "fixture",
        serde_json::to_vec(&snapshot).expect("json"),
    );
    let mut bare = DeviceSnapshot::new(fixture::config());
    bare.config.nonce_capacity = 2;
    c.add("snapshot", "bare", serde_json::to_vec(&bare).expect("json"));
    let restored = Device::restore(snapshot, &mut rng).expect("restores");
    c.add(
        "snapshot",
        "saved",
        serde_json::to_vec(&restored.snapshot()).expect("json"),
    );

    // base64
    for (i, text) in [
        "",
        "YWJj",
        "YWI",
        "YWI=",
        "+/+/",
        "-_-_",
        "SmuPON3X1EeRh/rk2VtVFBsy6PRqZKlvMRgCNd6jnGk=",
        "SmuPON3X1EeRh_rk2VtVFBsy6PRqZKlvMRgCNd6jnGk",
        "YWJ",
        "Y===",
    ]
    .iter()
    .enumerate()
    {
        c.add("base64_diff", format!("text-{i}"), text.as_bytes().to_vec());
    }
    c.add("base64_diff", "bytes-32", (0u8..32).collect());
}

/// Whether a JSON document is a vector file (`hem-auth-vectors/1` or a later version).
fn is_vector_file(value: &serde_json::Value) -> bool {
    value["schema"]
        .as_str()
        .is_some_and(|s| s.starts_with("hem-auth-vectors/"))
}

/// The JSON files under `dir` (recursively) that `keep` accepts, sorted, each with its text.
/// Exits with an error, before any output is written, when `dir` is missing or unreadable,
/// holds a JSON file that cannot be read or parsed, or holds none that `keep` accepts.
fn input_files(
    dir: &Path,
    what: &str,
    keep: fn(&serde_json::Value) -> bool,
) -> Vec<(PathBuf, String)> {
    let fail = |why: String| -> ! {
        eprintln!(
            "make-corpus: {what}: {why}; the corpus is left as it is (run from fuzz/, or give \
             the directories: make-corpus OUT_DIR [PUBLISHED_DIR] [VECTORS_DIR])"
        );
        std::process::exit(1)
    };
    if !dir.is_dir() {
        fail(format!("{} is not a directory", dir.display()));
    }
    let mut paths = Vec::new();
    if let Err(e) = collect_json(dir, &mut paths) {
        fail(format!("cannot list {}: {e}", dir.display()));
    }
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| fail(format!("cannot read {}: {e}", path.display())));
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(value) if keep(&value) => files.push((path, text)),
            Ok(_) => {}
            Err(e) => fail(format!("{} is not JSON: {e}", path.display())),
        }
    }
    if files.is_empty() {
        fail(format!("no {what} in {}", dir.display()));
    }
    files
}

/// Every JSON string in a file that looks like a JWT, a sealed scope or a JSON body.
fn artefacts(c: &mut Corpus, files: &[(PathBuf, String)], tag: &str) {
    for (path, text) in files {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
            continue;
        };
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("file")
            .to_owned();
        let mut strings = Vec::new();
        strings_of(&value, &mut strings);
        strings.sort();
        strings.dedup();
        for (i, s) in strings.iter().enumerate() {
            let name = format!("{tag}-{stem}-{i}");
            if UntrustedJwt::parse(s).is_ok() {
                c.add("jwt", name.clone(), encode(0, 0, s.as_bytes()));
                c.add("authreply", name.clone(), encode(1, 0, s.as_bytes()));
                c.add("authreq_verify", name.clone(), encode(0, 0, s.as_bytes()));
                c.add("login", name.clone(), encode(1, 0, s.as_bytes()));
            } else if s.starts_with('A')
                && s.len() >= 65
                && codec::decode_std_into(&s[1..], &mut [0u8; 2048]).is_ok()
            {
                c.add("scope_open", name.clone(), encode(0, 0, s.as_bytes()));
            } else if s.len() <= 200 {
                c.add("base64_diff", name.clone(), s.as_bytes().to_vec());
            }
        }
        if tag == "vectors" {
            c.add(
                "vectors_load",
                format!("{stem}.json"),
                text.clone().into_bytes(),
            );
        }
    }
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_json(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

fn strings_of(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings_of(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| strings_of(v, out)),
        _ => {}
    }
}

/// Random operation sequences; the twelve that get furthest are kept.
fn device_ops(c: &mut Corpus) {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(6);
    let mut scored: Vec<(usize, Vec<u8>)> = Vec::new();
    for round in 0..3000 {
        let len = 64 + (round % 16) * 48;
        let mut bytes = vec![0u8; len];
        rng.fill_bytes(&mut bytes);
        let Ok(ops) = Vec::<Op>::arbitrary_take_rest(Unstructured::new(&bytes)) else {
            continue;
        };
        let score = ops::run(&ops);
        scored.push((score, bytes));
    }
    scored.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    for (i, (score, bytes)) in scored.into_iter().take(12).enumerate() {
        c.add("device_ops", format!("ops-{i:02}-score-{score}"), bytes);
    }
}
