//! The device in process: `new Device(config)` with `handle(request) → response` over the
//! core's `Device::handle`, and `new NotifyBroker()` over `NotifyBroker::handle`, so that a JS
//! test serves `fetch` from them with no server (`hem-auth-wasm/fetch` is the shim).
//!
//! This is an adapter, as the emulator is one (`crates/hem-emulator/src/http.rs`): the core
//! decides status, body and audit lines; what the core cannot know comes from here:
//!
//! * the time: `config.now()` (a callback returning unix seconds) or `Date.now() / 1000`, plus
//!   an offset that `setTime` / `advance` move (tests) and that a check-in's `ClockSet` moves;
//! * randomness: one ChaCha20 per device, seeded from WebCrypto `getRandomValues` when the
//!   device boots (`new` or `restore`), so no request can fail for want of entropy;
//! * the audit log: kept in memory, bounded (`logLines`, oldest event lines dropped; the key
//!   line stays), answering `GET /api/logger/list` with `device::logger_list_body`;
//! * the uptime: device seconds since boot.
//!
//! Every core call that takes the time is in [`JsDevice::call`] and [`JsDevice::boot`] (and
//! the broker's in [`JsNotifyBroker::handle`]).

use std::collections::VecDeque;

use hem_auth_core::device::{
    self, AuditChain, AuditKey, BootKeys, Device, DeviceConfig, DeviceSnapshot, Effect,
    Requirement, ScopePolicy,
};
use hem_auth_core::http::Method;
use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_auth_core::notify::{self, NotifyBroker, NotifyConfig, NotifyEvent};
use hem_auth_core::{Seconds, UnixTime};
use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use zeroize::Zeroizing;

use crate::error::{Failure, Outcome};
use crate::js::{self, IntoJs, JsResult};
use crate::random;

/// The `format` of [`JsDevice::snapshot`].
const SNAPSHOT_FORMAT: &str = "hem-auth-wasm-device/1";
/// Audit event lines kept in memory unless `logLines` says otherwise.
const DEFAULT_LOG_LINES: usize = 10_000;

/// `config` of `new Device(config)` and `Device.restore(json, config)`, as JSON (the `now`
/// callback is read apart).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Config {
    /// The identity secret (standard base64); drawn when absent. Ignored by `restore`.
    identity: Option<String>,
    /// The user password: the user key is derived from it (PBKDF2, spec §7.2).
    password: Option<String>,
    /// The user's public key, instead of a password.
    user_key: Option<String>,
    master_key: Option<String>,
    backend_key: Option<String>,
    label: Option<String>,
    policy: Option<ScopePolicy>,
    trusted_time: Option<bool>,
    initialised: Option<bool>,
    nonce_capacity: Option<usize>,
    max_token_lifetime: Option<u64>,
    revoke_on_unpair: Option<bool>,
    /// Boot with the RTC unset (remote login waits for a check-in), as `--rtc-unset`.
    #[serde(default)]
    rtc_unset: bool,
    /// Audit event lines kept in memory.
    log_lines: Option<usize>,
    /// Fixed per-boot keys, for test vectors only.
    boot_keys: Option<BootKeysConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BootKeysConfig {
    /// The session secret (`spk`), standard base64.
    session_key: String,
    /// The access-token key, standard base64 of 32 bytes.
    token_key: String,
}

/// What `snapshot()` writes.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    format: String,
    device: DeviceSnapshot,
    /// The logger key, standard base64.
    logger_key: String,
    /// The stored audit lines, the key line first.
    log: Vec<String>,
}

fn key(text: &Option<String>, name: &str) -> Outcome<Option<PublicKey>> {
    text.as_deref()
        .map(|t| PublicKey::from_b64(t).map_err(|e| Failure::input_value(name, &e.to_string())))
        .transpose()
}

impl Config {
    fn read(value: &JsValue) -> Outcome<(Config, Option<js_sys::Function>)> {
        if value.is_undefined() || value.is_null() {
            return Ok((Config::default(), None));
        }
        if !value.is_object() || value.is_function() {
            return Err(Failure::input_type("config", "an object"));
        }
        let now = js_sys::Reflect::get(value, &JsValue::from_str("now"))
            .map_err(|_| Failure::input_type("config.now", "a function"))?;
        let now = match now {
            n if n.is_undefined() || n.is_null() => None,
            n => Some(
                n.dyn_into::<js_sys::Function>()
                    .map_err(|_| Failure::input_type("config.now", "a function"))?,
            ),
        };
        let text = js::json_text(value, "config")?;
        let config: Config = serde_json::from_str(&text)
            .map_err(|e| Failure::input_value("config", &format!("is not a device config: {e}")))?;
        Ok((config, now))
    }

    /// Applies the configuration to a device's (new or restored) one: given keys replace,
    /// absent ones keep, as the emulator's start options do.
    fn apply(&self, device: &mut DeviceConfig) -> Outcome<()> {
        if let Some(password) = &self.password {
            let eid_text = device.identity.public_key().to_b64();
            device.user_key =
                Some(hem_auth_core::client::derive_user_key(password, &eid_text).public_key());
        } else if let Some(k) = key(&self.user_key, "config.userKey")? {
            device.user_key = Some(k);
        }
        if let Some(k) = key(&self.master_key, "config.masterKey")? {
            device.master_key = Some(k);
        }
        if let Some(k) = key(&self.backend_key, "config.backendKey")? {
            device.backend_key = Some(k);
        }
        if let Some(label) = &self.label {
            device.label.clone_from(label);
        }
        if let Some(policy) = self.policy {
            device.scope_policy = policy;
        }
        if let Some(v) = self.trusted_time {
            device.trusted_time = v;
        }
        if let Some(v) = self.initialised {
            device.initialised = v;
        }
        if let Some(v) = self.nonce_capacity {
            device.nonce_capacity = v;
        }
        if self.max_token_lifetime.is_some() {
            device.max_token_lifetime = self.max_token_lifetime;
        }
        if let Some(v) = self.revoke_on_unpair {
            device.revoke_on_unpair = v;
        }
        Ok(())
    }

    fn boot_keys(&self, rng: &mut ChaCha20Rng) -> Outcome<BootKeys> {
        let Some(b) = &self.boot_keys else {
            return Ok(BootKeys::generate(rng));
        };
        let session = SecretKey::from_b64(&b.session_key)
            .map_err(|e| Failure::input_value("config.bootKeys.sessionKey", &e.to_string()))?;
        let token: [u8; 32] = hem_auth_core::codec::decode_fixed(&b.token_key)
            .map_err(|e| Failure::input_value("config.bootKeys.tokenKey", &e.to_string()))?;
        Ok(BootKeys::from_parts(session, token))
    }
}

/// The device time: a source (the `now` callback, or `Date.now()`) plus an offset.
struct Clock {
    source: Option<js_sys::Function>,
    offset: i64,
}

impl Clock {
    fn source_now(&self) -> Outcome<f64> {
        let Some(f) = &self.source else {
            return Ok((js_sys::Date::now() / 1000.0).floor());
        };
        let bad = || Failure::new("device.clock", "config.now() must return unix seconds");
        let v = f.call0(&JsValue::UNDEFINED).map_err(|_| bad())?;
        let n = v.as_f64().ok_or_else(bad)?.floor();
        if !(n.is_finite() && n >= 0.0 && n <= js::MAX_SAFE_INTEGER as f64) {
            return Err(bad());
        }
        Ok(n)
    }

    fn now(&self) -> Outcome<u64> {
        // Whole and within 0..=2^53-1 (checked above), offset clamped to that range.
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let t = (self.source_now()? as i64).saturating_add(self.offset);
        #[allow(clippy::cast_sign_loss)]
        Ok(t.clamp(0, js::MAX_SAFE_INTEGER as i64) as u64)
    }

    /// Moves the offset so that `now()` is `time`.
    fn set(&mut self, time: u64) -> Outcome<()> {
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let (source, time) = (self.source_now()? as i64, time as i64);
        self.offset = time.saturating_sub(source);
        Ok(())
    }
}

/// The audit log in memory: the key line and the newest event lines.
struct Log {
    key_line: Option<String>,
    lines: VecDeque<(u64, String)>,
    capacity: usize,
}

impl Log {
    fn store(&mut self, counter: u64, text: String) {
        if counter == 0 {
            self.key_line = Some(text);
            return;
        }
        if self.lines.len() >= self.capacity {
            self.lines.pop_front();
        }
        self.lines.push_back((counter, text));
    }

    /// `GET /api/logger/list`'s body (spec §11.4), as the emulator's log pages it.
    fn page(&self, from: u64, count: usize) -> String {
        let mut lines: Vec<&str> = self.key_line.as_deref().into_iter().collect();
        let at = self.lines.partition_point(|(c, _)| *c < from);
        let mut last_listed = None;
        for (c, text) in self.lines.range(at..).take(count) {
            lines.push(text);
            last_listed = Some(*c);
        }
        let last = self.lines.back().map_or(0, |(c, _)| *c);
        let total = u64::from(self.key_line.is_some()) + self.lines.len() as u64;
        let next = last_listed.filter(|l| *l < last).map(|l| l + 1);
        device::logger_list_body(total, &lines, next)
    }
}

/// The whole device in process: the core's device behind its HTTP behaviour, with a clock,
/// randomness and an audit log of its own. See the README ("The device in process").
#[wasm_bindgen(js_name = Device)]
pub struct JsDevice {
    device: Device,
    clock: Clock,
    rng: ChaCha20Rng,
    log: Log,
    logger_key: Zeroizing<[u8; 32]>,
    booted: u64,
}

/// A request as `handle` reads it.
struct JsRequest {
    method: Method,
    path: String,
    authorization: Option<String>,
    body: Vec<u8>,
}

/// The JS strings every request and response uses, made once: decoding a string out of
/// WebAssembly memory costs more than the rest of a `handle` call's boundary.
struct Names {
    method: JsValue,
    path: JsValue,
    headers: JsValue,
    body: JsValue,
    status: JsValue,
    content_type: JsValue,
    json: JsValue,
    now: JsValue,
    base_url: JsValue,
}

thread_local! {
    static NAMES: Names = Names {
        method: JsValue::from_str("method"),
        path: JsValue::from_str("path"),
        headers: JsValue::from_str("headers"),
        body: JsValue::from_str("body"),
        status: JsValue::from_str("status"),
        content_type: JsValue::from_str("content-type"),
        json: JsValue::from_str("application/json"),
        now: JsValue::from_str("now"),
        base_url: JsValue::from_str("baseUrl"),
    };
}

fn get(object: &JsValue, name: impl Fn(&Names) -> &JsValue) -> JsValue {
    NAMES.with(|n| js_sys::Reflect::get(object, name(n)).unwrap_or(JsValue::UNDEFINED))
}

fn method_of(text: &str) -> Method {
    match text.to_ascii_uppercase().as_str() {
        "GET" | "HEAD" => Method::Get,
        "POST" => Method::Post,
        "DELETE" => Method::Delete,
        _ => Method::Other,
    }
}

/// The path without query string or fragment.
fn path_of(text: &str) -> &str {
    text.split(['?', '#']).next().unwrap_or("")
}

impl JsRequest {
    fn read(value: &JsValue) -> Outcome<JsRequest> {
        if !value.is_object() || value.is_function() {
            return Err(Failure::input_type("request", "an object"));
        }
        let method = get(value, |n| &n.method);
        let method = if method.is_undefined() {
            Method::Get
        } else {
            method_of(&js::string(&method, "request.method")?)
        };
        let path = js::string(&get(value, |n| &n.path), "request.path")?;
        let headers = get(value, |n| &n.headers);
        let mut authorization = None;
        if !(headers.is_undefined() || headers.is_null()) {
            if !headers.is_object() {
                return Err(Failure::input_type("request.headers", "an object"));
            }
            let object: &js_sys::Object = headers.unchecked_ref();
            // `Reflect.ownKeys` (not `Object.keys`): a throwing proxy is caught here.
            let names = js_sys::Reflect::own_keys(object)
                .map_err(|_| Failure::input_type("request.headers", "an object"))?;
            for name in names.iter() {
                let Some(n) = name.as_string() else { continue };
                if n.eq_ignore_ascii_case("authorization") {
                    let v = js_sys::Reflect::get(object, &name).unwrap_or(JsValue::UNDEFINED);
                    // A value that is not text is an invalid token, as for the emulator.
                    authorization = Some(v.as_string().unwrap_or_default());
                }
            }
        }
        let body = get(value, |n| &n.body);
        let body = if body.is_undefined() || body.is_null() {
            Vec::new()
        } else {
            js::body(&body, "request.body")?
        };
        Ok(JsRequest {
            method,
            path: path_of(&path).to_owned(),
            authorization,
            body,
        })
    }
}

/// `{status, headers: {"content-type": "application/json"}, body}`.
fn response(status: u16, body: &str) -> JsValue {
    let object = js_sys::Object::new();
    let headers = js_sys::Object::new();
    // Setting properties on fresh, extensible objects cannot fail.
    NAMES.with(|n| {
        let _ = js_sys::Reflect::set(&headers, &n.content_type, &n.json);
        let _ = js_sys::Reflect::set(&object, &n.status, &JsValue::from(status));
        let _ = js_sys::Reflect::set(&object, &n.headers, &headers);
        let _ = js_sys::Reflect::set(&object, &n.body, &JsValue::from_str(body));
    });
    object.into()
}

impl JsDevice {
    /// Boots `device` (new or restored): the clock, the audit chain under `logger_key`
    /// resuming after `log`, and, unless `rtc_unset`, the RTC set to the current time.
    fn boot(
        device: Device,
        config: &Config,
        source: Option<js_sys::Function>,
        rng: ChaCha20Rng,
        logger_key: Zeroizing<[u8; 32]>,
        log: Vec<String>,
    ) -> Outcome<JsDevice> {
        let clock = Clock { source, offset: 0 };
        let now = clock.now()?;
        let mut this = JsDevice {
            device,
            clock,
            rng,
            log: Log {
                key_line: None,
                lines: VecDeque::new(),
                capacity: config.log_lines.unwrap_or(DEFAULT_LOG_LINES).max(1),
            },
            logger_key,
            booted: now,
        };
        let audit_key = AuditKey::new(this.logger_key.clone());
        let mut next = 1;
        if log.is_empty() {
            this.log.key_line = Some(audit_key.key_line(UnixTime::from_secs(now)));
        }
        for line in log {
            let counter = device::audit_line_counter(&line).unwrap_or(0);
            next = next.max(counter.saturating_add(1));
            this.log.store(counter, line);
        }
        this.device
            .set_audit_chain(AuditChain::new(audit_key, next));
        if !config.rtc_unset {
            let (_, events) = this.device.set_clock(UnixTime::from_secs(now)).into_parts();
            for line in this
                .device
                .audit_lines(&events, UnixTime::from_secs(now), &mut this.rng)
            {
                this.log.store(line.counter, line.text);
            }
        }
        Ok(this)
    }

    /// One request through the core at the device's time; the effects applied.
    fn call(&mut self, req: &JsRequest) -> Outcome<(u16, String)> {
        let now = self.clock.now()?;
        let request = device::Request::new(req.method, &req.path)
            .authorization(req.authorization.as_deref())
            .body(&req.body)
            .uptime(Seconds::new(now.saturating_sub(self.booted)));
        let mut answer = self
            .device
            .handle(&request, UnixTime::from_secs(now), &mut self.rng);
        for effect in answer.effects.drain(..) {
            match effect {
                Effect::Audit(line) => self.log.store(line.counter, line.text),
                Effect::ClockSet(time) => self.clock.set(time.as_secs())?,
                Effect::ReadLog { from, count } => answer.body = self.log.page(from, count),
                // StateChanged: the caller takes `snapshot()` when it wants to; newer effects
                // this adapter does not know: nothing to do.
                _ => {}
            }
        }
        Ok((answer.status, answer.body))
    }
}

#[wasm_bindgen(js_class = Device)]
impl JsDevice {
    /// A new device (the emulator's defaults: initialised, empty label, the `as-approved`
    /// policy, RTC set to the current time unless `rtcUnset`). Throws `input.*` for a bad
    /// config, `random.unavailable` without WebCrypto.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "DeviceConfig | undefined")] config: JsValue,
    ) -> JsResult<JsDevice> {
        (|| {
            let (config, source) = Config::read(&config)?;
            let mut rng = random::operation_rng()?;
            let identity = match &config.identity {
                Some(text) => SecretKey::from_b64(text)
                    .map_err(|e| Failure::input_value("config.identity", &e.to_string()))?,
                None => SecretKey::generate(&mut rng),
            };
            let mut device_config = DeviceConfig::new(identity);
            config.apply(&mut device_config)?;
            let boot = config.boot_keys(&mut rng)?;
            let mut logger_key = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(&mut *logger_key);
            let device = Device::with_boot_keys(device_config, boot);
            JsDevice::boot(device, &config, source, rng, logger_key, Vec::new())
        })()
        .js()
    }

    /// Boots a device from `snapshot()`'s JSON (a reboot: new per-boot keys, so earlier
    /// tokens and issued nonces are void; pairings, configuration, pending nonces and the audit
    /// log kept). `config` is applied over the saved configuration (its `identity` is ignored)
    /// and gives the clock. Throws `device.snapshot` for JSON no device wrote.
    pub fn restore(
        #[wasm_bindgen(unchecked_param_type = "string")] json: JsValue,
        #[wasm_bindgen(unchecked_param_type = "DeviceConfig | undefined")] config: JsValue,
    ) -> JsResult<JsDevice> {
        (|| {
            let text = js::string(&json, "json")?;
            let (config, source) = Config::read(&config)?;
            let bad = |why: String| Failure::new("device.snapshot", why);
            let file: SnapshotFile = serde_json::from_str(&text)
                .map_err(|e| bad(format!("not a device snapshot: {e}")))?;
            if file.format != SNAPSHOT_FORMAT {
                return Err(bad(format!("unknown snapshot format {:?}", file.format)));
            }
            let logger_key: [u8; 32] = hem_auth_core::codec::decode_fixed(&file.logger_key)
                .map_err(|e| bad(format!("loggerKey: {e}")))?;
            let mut snapshot = file.device;
            config.apply(&mut snapshot.config)?;
            let mut rng = random::operation_rng()?;
            let boot = config.boot_keys(&mut rng)?;
            let device = Device::restore_with_boot_keys(snapshot, boot)
                .map_err(|e| bad(format!("the device state cannot be restored: {e}")))?;
            JsDevice::boot(
                device,
                &config,
                source,
                rng,
                Zeroizing::new(logger_key),
                file.log,
            )
        })()
        .js()
    }

    /// Answers one HTTP request: `{method, path, headers?: {authorization?}, body?: string |
    /// Uint8Array}` → `{status, headers: {"content-type": "application/json"}, body}`. The
    /// device's refusals are statuses with an empty body, never exceptions; only a request
    /// that is not such an object (`input.type`) or a failing `config.now` (`device.clock`)
    /// throws.
    #[wasm_bindgen(unchecked_return_type = "DeviceResponse")]
    pub fn handle(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "DeviceRequest")] request: JsValue,
    ) -> JsResult<JsValue> {
        (|| {
            let req = JsRequest::read(&request)?;
            let (status, body) = self.call(&req)?;
            Ok(response(status, &body))
        })()
        .js()
    }

    /// The bearer check alone (spec §8.2, §8.5): 200 when `token` grants `scope` (a prefix
    /// match, or only exactly `scope` with `exact`), else the status the device answers
    /// (401 invalid or expired, 403 too narrow). For conformance tests of scopes no endpoint
    /// of the emulator requires.
    #[wasm_bindgen(js_name = checkBearer)]
    pub fn check_bearer(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] scope: JsValue,
        #[wasm_bindgen(unchecked_param_type = "boolean | undefined")] exact: JsValue,
    ) -> JsResult<u16> {
        (|| {
            let token = js::string(&token, "token")?;
            let scope = js::string(&scope, "scope")?;
            let exact = exact.is_truthy();
            let now = self.clock.now()?;
            let scopes = [scope.as_str()];
            let requirement = if exact {
                Requirement::exact(&scope)
            } else {
                Requirement::any_of(&scopes)
            };
            Ok(
                match self
                    .device
                    .authorize(Some(&token), &requirement, UnixTime::from_secs(now))
                    .result
                {
                    Ok(_) => 200,
                    Err(e) => e.status(),
                },
            )
        })()
        .js()
    }

    /// The persistent state as JSON: configuration (identity secret included: keep it as
    /// secret as the device), pairings, pending nonces given by a restored snapshot, the
    /// logger key and the audit lines.
    pub fn snapshot(&self) -> JsResult<String> {
        let file = SnapshotFile {
            format: SNAPSHOT_FORMAT.to_owned(),
            device: self.device.snapshot_with_pending(),
            logger_key: hem_auth_core::codec::encode_std(&*self.logger_key),
            log: self
                .log
                .key_line
                .iter()
                .cloned()
                .chain(self.log.lines.iter().map(|(_, t)| t.clone()))
                .collect(),
        };
        serde_json::to_string(&file)
            .map_err(|e| Failure::new("internal.conversion", e.to_string()))
            .js()
    }

    /// The identity key (`eid`), standard base64.
    #[wasm_bindgen(getter, unchecked_return_type = "Base64")]
    pub fn eid(&self) -> String {
        self.device.eid().to_b64()
    }

    /// The device time now (unix seconds).
    #[wasm_bindgen(unchecked_return_type = "UnixSeconds")]
    pub fn now(&self) -> JsResult<f64> {
        self.clock.now().map(js::number).js()
    }

    /// Sets the device clock to `time` (unix seconds); it runs on from there with its source.
    #[wasm_bindgen(js_name = setTime)]
    pub fn set_time(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "UnixSeconds")] time: JsValue,
    ) -> JsResult<()> {
        (|| {
            let time = js::seconds(&time, "time")?;
            self.clock.set(time)
        })()
        .js()
    }

    /// Moves the device clock forward by `secs` seconds.
    pub fn advance(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "number")] secs: JsValue,
    ) -> JsResult<()> {
        (|| {
            let secs = js::seconds(&secs, "secs")?;
            let secs = i64::try_from(secs).unwrap_or(i64::MAX);
            self.clock.offset = self.clock.offset.saturating_add(secs);
            Ok(())
        })()
        .js()
    }

    /// The stored audit lines, the key line first (what `logger/list` pages through).
    #[wasm_bindgen(js_name = auditLines)]
    pub fn audit_lines(&self) -> Vec<String> {
        self.log
            .key_line
            .iter()
            .cloned()
            .chain(self.log.lines.iter().map(|(_, t)| t.clone()))
            .collect()
    }
}

/// The notify broker in process (spec §12): `handle` as the device's, for the paths
/// `/checkin`, `/notify`, `/notify/…` (`isNotifyPath`).
#[wasm_bindgen(js_name = NotifyBroker)]
pub struct JsNotifyBroker {
    broker: NotifyBroker,
    clock: Clock,
    rng: ChaCha20Rng,
    base_url: String,
}

#[wasm_bindgen(js_class = NotifyBroker)]
impl JsNotifyBroker {
    /// A broker with a fresh check-in backend key (give `backendKey` to the device's config).
    /// `config`: `{ now?: () => number, baseUrl?: string }` (the prefix of registration links,
    /// default `http://device.invalid`).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(
            unchecked_param_type = "{ now?: () => number; baseUrl?: string } | undefined"
        )]
        config: JsValue,
    ) -> JsResult<JsNotifyBroker> {
        (|| {
            let mut source = None;
            let mut base_url = String::from("http://device.invalid");
            if !(config.is_undefined() || config.is_null()) {
                if !config.is_object() {
                    return Err(Failure::input_type("config", "an object"));
                }
                let now = get(&config, |n| &n.now);
                if !(now.is_undefined() || now.is_null()) {
                    source = Some(
                        now.dyn_into::<js_sys::Function>()
                            .map_err(|_| Failure::input_type("config.now", "a function"))?,
                    );
                }
                let url = get(&config, |n| &n.base_url);
                if !url.is_undefined() {
                    base_url = js::string(&url, "config.baseUrl")?
                        .trim_end_matches('/')
                        .to_owned();
                }
            }
            let mut rng = random::operation_rng()?;
            let backend = SecretKey::generate(&mut rng);
            let broker = NotifyBroker::new(NotifyConfig::with_backend(backend));
            Ok(JsNotifyBroker {
                broker,
                clock: Clock { source, offset: 0 },
                rng,
                base_url,
            })
        })()
        .js()
    }

    /// The check-in backend's public key: the device's `backendKey`.
    #[wasm_bindgen(getter, js_name = backendKey, unchecked_return_type = "Base64")]
    pub fn backend_key(&self) -> String {
        self.broker
            .backend_public()
            .map(|k| k.to_b64())
            .unwrap_or_default()
    }

    /// Whether `path` (query string allowed) is the broker's: `/checkin`, `/notify`,
    /// `/notify/…`. What the fetch shim routes here.
    pub fn serves(&self, #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue) -> bool {
        path.as_string()
            .is_some_and(|p| notify::is_notify_path(path_of(&p)))
    }

    /// Answers one request, as `Device.handle` (statuses, never exceptions, for any request
    /// object). Paths that are not the broker's are 404.
    #[wasm_bindgen(unchecked_return_type = "DeviceResponse")]
    pub fn handle(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "DeviceRequest")] request: JsValue,
    ) -> JsResult<JsValue> {
        (|| {
            let req = JsRequest::read(&request)?;
            let now = self.clock.now()?;
            let answer = self.broker.handle(
                &notify::Request {
                    method: req.method,
                    path: &req.path,
                    body: &req.body,
                    peer: "127.0.0.1",
                    base_url: &self.base_url,
                },
                UnixTime::from_secs(now),
                &mut self.rng,
            );
            // Links and subscriber changes need no follow-up in process: the phone is the
            // test's, and the broker is not persisted.
            let _: &[NotifyEvent] = &answer.events;
            Ok(response(answer.status, &answer.body))
        })()
        .js()
    }
}
