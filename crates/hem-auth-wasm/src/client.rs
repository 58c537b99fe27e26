//! The client role (the core's `broker` module): password login, external-authenticator login
//! with the authreq verified before it is forwarded, pairing with the request and the code
//! verified, and reading (not verifying) access tokens.

use hem_auth_core::client::{
    self, build_login_raw, derive_user_key, ExtAuthState, LoginChallenge as CoreChallenge,
    PairingState, UnverifiableAccessToken, VerifiedAuthreq as CoreVerifiedAuthreq,
};
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_auth_core::UnixTime;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::authenticator::EventData;
use crate::error::Outcome;
use crate::js::{self, IntoJs, JsResult};
use crate::random;

/// The user's login key (X25519), held inside WebAssembly: from a password
/// (`UserKey.fromPassword`) or from stored bytes (`UserKey.fromPrivateKey`).
#[wasm_bindgen]
pub struct UserKey {
    key: SecretKey,
}

#[wasm_bindgen]
impl UserKey {
    /// PBKDF2-HMAC-SHA256(password, salt = the eid text exactly as the device sent it,
    /// 600 000 rounds, 32 bytes) as the X25519 private key (spec §7.2). Deliberately slow
    /// (about a second): it blocks the thread it runs on.
    #[wasm_bindgen(js_name = fromPassword)]
    pub fn from_password(
        #[wasm_bindgen(unchecked_param_type = "string")] password: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Base64")] eid: JsValue,
    ) -> JsResult<UserKey> {
        (|| {
            let password = js::string(&password, "password")?;
            let eid = js::string(&eid, "eid")?;
            Ok(UserKey {
                key: derive_user_key(&password, &eid),
            })
        })()
        .js()
    }

    /// A key from its 32 private bytes, standard base64 (a master key, or a stored one).
    #[wasm_bindgen(js_name = fromPrivateKey)]
    pub fn from_private_key(
        #[wasm_bindgen(js_name = privateKey, unchecked_param_type = "Base64")] private_key: JsValue,
    ) -> JsResult<UserKey> {
        (|| {
            let text = js::string(&private_key, "privateKey")?;
            Ok(UserKey {
                key: SecretKey::from_b64(&text)?,
            })
        })()
        .js()
    }

    /// The public key, standard base64: the device's configured user (or master) key.
    #[wasm_bindgen(getter, js_name = publicKey, unchecked_return_type = "Base64")]
    pub fn public_key(&self) -> String {
        self.key.public_key().to_b64()
    }
}

/// The login challenge of `GET /api/auth/token` (spec §7.1).
#[wasm_bindgen]
pub struct LoginChallenge {
    inner: CoreChallenge,
}

#[wasm_bindgen]
impl LoginChallenge {
    /// Reads the challenge body `{"exp","spk","jti","lbl","eid"}` (`spk` and `eid` must be
    /// keys; their texts are kept verbatim).
    pub fn parse(
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] body: JsValue,
    ) -> JsResult<LoginChallenge> {
        (|| {
            let body = js::body(&body, "body")?;
            Ok(LoginChallenge {
                inner: CoreChallenge::parse(&body)?,
            })
        })()
        .js()
    }

    /// The response deadline (device time).
    #[wasm_bindgen(getter, unchecked_return_type = "UnixSeconds")]
    pub fn exp(&self) -> f64 {
        js::number(self.inner.exp().as_secs())
    }

    /// The device's per-boot session key, as received.
    #[wasm_bindgen(getter, unchecked_return_type = "Base64")]
    pub fn spk(&self) -> String {
        self.inner.spk_text().to_string()
    }

    /// The nonce to echo, as received.
    #[wasm_bindgen(getter)]
    pub fn jti(&self) -> String {
        self.inner.jti().to_string()
    }

    /// The configured user label.
    #[wasm_bindgen(getter)]
    pub fn lbl(&self) -> String {
        self.inner.lbl().to_string()
    }

    /// The device's identity key as received: the salt of `UserKey.fromPassword`.
    #[wasm_bindgen(getter, unchecked_return_type = "Base64")]
    pub fn eid(&self) -> String {
        self.inner.eid_text().to_string()
    }

    /// The login eJWT (spec §7.3) for this challenge: the `auth` of `POST /api/auth/token`
    /// (send `JSON.stringify({ auth })`). `exp` must be after `iat` and becomes the token's
    /// expiry; `scope` must follow the requested-scope grammar (spec §8.6); `ctx` is optional
    /// (1–63 bytes).
    #[wasm_bindgen(js_name = buildLogin)]
    pub fn build_login(
        &self,
        key: &UserKey,
        #[wasm_bindgen(unchecked_param_type = "string")] scope: JsValue,
        #[wasm_bindgen(unchecked_param_type = "UnixSeconds")] iat: JsValue,
        #[wasm_bindgen(unchecked_param_type = "UnixSeconds")] exp: JsValue,
        ctx: Option<js_sys::JsString>,
    ) -> JsResult<String> {
        login_jwt(
            key,
            self.inner.spk_text(),
            self.inner.jti(),
            &scope,
            &iat,
            &exp,
            &ctx,
        )
        .js()
    }
}

fn login_jwt(
    key: &UserKey,
    spk: &str,
    jti: &str,
    scope: &JsValue,
    iat: &JsValue,
    exp: &JsValue,
    ctx: &Option<js_sys::JsString>,
) -> Outcome<String> {
    let scope = js::string(scope, "scope")?;
    let iat = js::seconds(iat, "iat")?;
    let exp = js::seconds(exp, "exp")?;
    let ctx = js::opt_string(ctx, "ctx")?;
    Ok(build_login_raw(
        &key.key,
        spk,
        jti,
        &scope,
        UnixTime::from_secs(iat),
        UnixTime::from_secs(exp),
        ctx.as_deref(),
    )?)
}

/// The login eJWT from the challenge's `spk` and `jti` texts (what
/// `LoginChallenge.buildLogin` does with a parsed challenge).
#[wasm_bindgen(js_name = buildLoginJwt)]
pub fn build_login_jwt(
    key: &UserKey,
    #[wasm_bindgen(unchecked_param_type = "Base64")] spk: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] jti: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] scope: JsValue,
    #[wasm_bindgen(unchecked_param_type = "UnixSeconds")] iat: JsValue,
    #[wasm_bindgen(unchecked_param_type = "UnixSeconds")] exp: JsValue,
    ctx: Option<js_sys::JsString>,
) -> JsResult<String> {
    (|| {
        let spk = js::string(&spk, "spk")?;
        let jti = js::string(&jti, "jti")?;
        login_jwt(key, &spk, &jti, &scope, &iat, &exp, &ctx)
    })()
    .js()
}

/// The device key a flow is pinned to.
fn pinned_eid(eid: &JsValue) -> Outcome<PublicKey> {
    let text = js::string(eid, "eid")?;
    Ok(PublicKey::from_b64(&text)?)
}

/// One external-authenticator login, client side (spec §5): the session key whose public half
/// the authreq is addressed to, pinned to one device.
#[wasm_bindgen]
pub struct ExtAuth {
    state: ExtAuthState,
    request_body: Option<String>,
}

/// `VerifiedAuthreq` as JavaScript receives it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerifiedAuthreqJs<'a> {
    authreq: &'a str,
    eid: String,
    epk: String,
    jti: &'a str,
    iat: u64,
    exp: u64,
    ctx: Option<&'a str>,
    note: Option<&'a str>,
    entries: Vec<EntryJs<'a>>,
}

#[derive(Serialize)]
struct EntryJs<'a> {
    pid: &'a str,
    event: EventData<'a>,
}

fn verified_js(authreq: &str, v: &CoreVerifiedAuthreq<'_>, epk: &str) -> Outcome<JsValue> {
    let entries = v
        .entries()
        .map(|(pid, sealed)| EntryJs {
            pid,
            event: EventData {
                jti: v.jti(),
                scope: sealed,
                epk,
                exp: v.exp().as_secs(),
            },
        })
        .collect();
    js::to_js(&VerifiedAuthreqJs {
        authreq,
        eid: v.eid().to_b64(),
        epk: epk.to_string(),
        jti: v.jti(),
        iat: v.iat().as_secs(),
        exp: v.exp().as_secs(),
        ctx: v.ctx(),
        note: v.note(),
        entries,
    })
}

#[wasm_bindgen]
impl ExtAuth {
    /// Starts a login: a fresh session key (WebCrypto randomness) and the body of
    /// `POST /api/auth/ext/request` (`requestBody`). The authreq will be refused unless the
    /// device `eid` signed it. `scope` must follow the requested-scope grammar (spec §8.6);
    /// `ctx` (1–64 bytes) and `note` (1–128 bytes) are optional.
    pub fn start(
        #[wasm_bindgen(unchecked_param_type = "string")] scope: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Base64")] eid: JsValue,
        ctx: Option<js_sys::JsString>,
        note: Option<js_sys::JsString>,
    ) -> JsResult<ExtAuth> {
        (|| {
            let scope = js::string(&scope, "scope")?;
            let eid = pinned_eid(&eid)?;
            let ctx = js::opt_string(&ctx, "ctx")?;
            let note = js::opt_string(&note, "note")?;
            let mut rng = random::operation_rng()?;
            let (body, state) = client::start_ext_auth(
                &scope,
                ctx.as_deref(),
                note.as_deref(),
                Some(eid),
                &mut rng,
            )?;
            Ok(ExtAuth {
                state,
                request_body: Some(body),
            })
        })()
        .js()
    }

    /// A login around a known session secret (standard base64), pinned to `eid`: test
    /// vectors, or a session key kept elsewhere. It has no request body.
    #[wasm_bindgen(js_name = fromSessionKey)]
    pub fn from_session_key(
        #[wasm_bindgen(js_name = sessionKey, unchecked_param_type = "Base64")] session_key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Base64")] eid: JsValue,
    ) -> JsResult<ExtAuth> {
        (|| {
            let secret = SecretKey::from_b64(&js::string(&session_key, "sessionKey")?)?;
            let eid = pinned_eid(&eid)?;
            Ok(ExtAuth {
                state: ExtAuthState::from_secret(secret, Some(eid)),
                request_body: None,
            })
        })()
        .js()
    }

    /// The body of `POST /api/auth/ext/request` (`{"epk","scope"[,"ctx"][,"note"]}`), when
    /// started with `ExtAuth.start`.
    #[wasm_bindgen(getter, js_name = requestBody)]
    pub fn request_body(&self) -> Option<String> {
        self.request_body.clone()
    }

    /// The session's public key: the authreq's `aud`, and the events' `epk`.
    #[wasm_bindgen(getter, unchecked_return_type = "Base64")]
    pub fn epk(&self) -> String {
        self.state.epk().to_b64()
    }

    /// The device this login is pinned to.
    #[wasm_bindgen(getter, unchecked_return_type = "Base64")]
    pub fn eid(&self) -> String {
        self.state
            .expected_eid()
            .map(|e| e.to_b64())
            .unwrap_or_default()
    }

    /// The requested scope (when started with `ExtAuth.start`).
    #[wasm_bindgen(getter)]
    pub fn scope(&self) -> Option<String> {
        self.state.requested_scope().map(str::to_string)
    }

    /// Reads the `ext/request` answer `{"authreq","epk"}` and verifies the authreq: see
    /// `ExtAuth.verifyAuthreq`. The echoed `epk` must be this session's.
    #[wasm_bindgen(js_name = verifyResponse, unchecked_return_type = "VerifiedAuthreq")]
    pub fn verify_response(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] body: JsValue,
        #[wasm_bindgen(unchecked_param_type = "UnixSeconds")] now: JsValue,
    ) -> JsResult<JsValue> {
        (|| {
            let body = js::body(&body, "body")?;
            let now = js::seconds(&now, "now")?;
            let authreq = self.state.authreq_from_response(&body)?;
            self.verify(&authreq, now)
        })()
        .js()
    }

    /// Verifies an authreq (spec §5.3) before anything is forwarded: issued by the pinned
    /// device (checked before any cryptography), HS256 under X25519(session key, eid) with the
    /// `ecdh: x25519` header, addressed to this session (`aud`), `exp` after `iat`, `now`
    /// before `exp`, `jti` a 32-byte time nonce. Returns the verified claims, and for each
    /// paired phone the event to hand it (`entries[i].event`).
    #[wasm_bindgen(js_name = verifyAuthreq, unchecked_return_type = "VerifiedAuthreq")]
    pub fn verify_authreq(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] authreq: JsValue,
        #[wasm_bindgen(unchecked_param_type = "UnixSeconds")] now: JsValue,
    ) -> JsResult<JsValue> {
        (|| {
            let authreq = js::string(&authreq, "authreq")?;
            let now = js::seconds(&now, "now")?;
            self.verify(&authreq, now)
        })()
        .js()
    }

    /// The body of `POST /api/auth/ext/token`: `{"authreply": …}`.
    #[wasm_bindgen(js_name = tokenBody)]
    pub fn token_body(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] authreply: JsValue,
    ) -> JsResult<String> {
        (|| {
            Ok(self
                .state
                .ext_token_body(&js::string(&authreply, "authreply")?))
        })()
        .js()
    }
}

impl ExtAuth {
    fn verify(&self, authreq: &str, now: u64) -> Outcome<JsValue> {
        let untrusted = UntrustedJwt::parse_authreq(authreq)?;
        let verified = self
            .state
            .verify_authreq(&untrusted, UnixTime::from_secs(now))?;
        verified_js(authreq, &verified, &self.state.epk().to_b64())
    }
}

/// One pairing, client side (spec §6): the session key the pairing request is addressed to,
/// pinned to one device.
#[wasm_bindgen]
pub struct PairingSession {
    state: PairingState,
    eid: PublicKey,
    init_body: Option<String>,
}

#[derive(Serialize)]
struct VerifiedPairingRequestJs<'a> {
    request: &'a str,
    jti: &'a str,
    exp: u64,
    eid: String,
}

#[wasm_bindgen]
impl PairingSession {
    /// Starts a pairing with the device `eid`: a fresh session key and the body of
    /// `POST /api/auth/ext/init` (`initBody`).
    pub fn start(
        #[wasm_bindgen(unchecked_param_type = "Base64")] eid: JsValue,
    ) -> JsResult<PairingSession> {
        (|| {
            let eid = pinned_eid(&eid)?;
            let mut rng = random::operation_rng()?;
            let (body, state) = client::start_pairing(Some(eid), &mut rng);
            Ok(PairingSession {
                state,
                eid,
                init_body: Some(body),
            })
        })()
        .js()
    }

    /// A pairing around a known session secret, pinned to `eid`. It has no init body.
    #[wasm_bindgen(js_name = fromSessionKey)]
    pub fn from_session_key(
        #[wasm_bindgen(js_name = sessionKey, unchecked_param_type = "Base64")] session_key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Base64")] eid: JsValue,
    ) -> JsResult<PairingSession> {
        (|| {
            let secret = SecretKey::from_b64(&js::string(&session_key, "sessionKey")?)?;
            let eid = pinned_eid(&eid)?;
            Ok(PairingSession {
                state: PairingState::from_secret(secret, Some(eid)),
                eid,
                init_body: None,
            })
        })()
        .js()
    }

    /// The body of `POST /api/auth/ext/init` (`{"epk": …}`).
    #[wasm_bindgen(getter, js_name = initBody)]
    pub fn init_body(&self) -> Option<String> {
        self.init_body.clone()
    }

    /// The session's public key: the pairing request's `aud`.
    #[wasm_bindgen(getter, unchecked_return_type = "Base64")]
    pub fn epk(&self) -> String {
        self.state.epk().to_b64()
    }

    /// The device this pairing is pinned to.
    #[wasm_bindgen(getter, unchecked_return_type = "Base64")]
    pub fn eid(&self) -> String {
        self.eid.to_b64()
    }

    /// Checks the `ext/init` answer `{"request","eid"}` (spec §6.2): `eid` and the request's
    /// `iss` the pinned device, HS256 under X25519(session key, eid), `aud` this session, not
    /// expired at `now`. Returns the request to show as a QR code (`qrPayload`) or hand to
    /// the phone.
    #[wasm_bindgen(
        js_name = verifyInitResponse,
        unchecked_return_type = "VerifiedPairingRequest"
    )]
    pub fn verify_init_response(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] body: JsValue,
        #[wasm_bindgen(unchecked_param_type = "UnixSeconds")] now: JsValue,
    ) -> JsResult<JsValue> {
        (|| {
            let body = js::body(&body, "body")?;
            let now = js::seconds(&now, "now")?;
            let v = self
                .state
                .verify_init_response(&body, UnixTime::from_secs(now))?;
            js::to_js(&VerifiedPairingRequestJs {
                request: v.request(),
                jti: v.jti(),
                exp: v.exp().as_secs(),
                eid: v.eid().to_b64(),
            })
        })()
        .js()
    }

    /// The body of `POST /api/auth/ext/validate`: `{"pid","reply"}`.
    #[wasm_bindgen(js_name = validateBody)]
    pub fn validate_body(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] pid: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] reply: JsValue,
    ) -> JsResult<String> {
        (|| {
            let pid = js::string(&pid, "pid")?;
            let reply = js::string(&reply, "reply")?;
            Ok(self.state.validate_body(&pid, &reply))
        })()
        .js()
    }

    /// Checks the `ext/validate` answer `{"kid","code"}`: `code` must be
    /// HMAC-SHA256(X25519(session key, eid), reply) (spec §6.7), proof that the pinned device
    /// accepted exactly this `reply`. Returns the kid.
    #[wasm_bindgen(js_name = verifyValidateResponse)]
    pub fn verify_validate_response(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] reply: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] body: JsValue,
    ) -> JsResult<String> {
        (|| {
            let reply = js::string(&reply, "reply")?;
            let body = js::body(&body, "body")?;
            Ok(self
                .state
                .verify_validate_response(&self.eid, &reply, &body)?)
        })()
        .js()
    }
}

/// The QR code's JSON (spec §6.3): `{"link","hash","user","email","hostname"}`, `hash` the
/// standard base64 SHA-256 of the request JWT text.
#[wasm_bindgen(js_name = qrPayload)]
pub fn qr_payload(
    #[wasm_bindgen(unchecked_param_type = "string")] link: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] request: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] user: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] email: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] hostname: JsValue,
) -> JsResult<String> {
    (|| {
        Ok(client::qr_payload(
            &js::string(&link, "link")?,
            &js::string(&request, "request")?,
            &js::string(&user, "user")?,
            &js::string(&email, "email")?,
            &js::string(&hostname, "hostname")?,
        ))
    })()
    .js()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenJs<'a> {
    token: &'a str,
    scope: &'a str,
    sub: &'a str,
    sub_kid: Option<String>,
    iat: u64,
    exp: u64,
    jti: &'a str,
    ctx: Option<&'a str>,
}

fn token_js(t: &UnverifiableAccessToken) -> Outcome<JsValue> {
    js::to_js(&TokenJs {
        token: t.token(),
        scope: t.scope(),
        sub: t.sub(),
        sub_kid: t.sub_kid().map(|kid| {
            kid.iter().fold(String::with_capacity(32), |mut s, b| {
                use std::fmt::Write;
                let _ = write!(s, "{b:02x}");
                s
            })
        }),
        iat: t.iat().as_secs(),
        exp: t.exp().as_secs(),
        jti: t.jti(),
        ctx: t.ctx(),
    })
}

/// Reads an access token's claims **without verifying it**: it is signed with a per-boot
/// secret that never leaves the device (spec §8.1), so no client can check it. Use the values
/// to show a session or to know when to log in again, never to grant anything.
#[wasm_bindgen(
    js_name = readAccessTokenUnverified,
    unchecked_return_type = "UnverifiedAccessToken"
)]
pub fn read_access_token_unverified(
    #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
) -> JsResult<JsValue> {
    (|| {
        token_js(&UnverifiableAccessToken::parse(&js::string(
            &token, "token",
        )?)?)
    })()
    .js()
}

/// `readAccessTokenUnverified` on a `{"token": …}` answer (`POST /api/auth/token`,
/// `POST /api/auth/ext/token`).
#[wasm_bindgen(
    js_name = readTokenResponseUnverified,
    unchecked_return_type = "UnverifiedAccessToken"
)]
pub fn read_token_response_unverified(
    #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] body: JsValue,
) -> JsResult<JsValue> {
    (|| {
        token_js(&UnverifiableAccessToken::from_response(&js::body(
            &body, "body",
        )?)?)
    })()
    .js()
}
