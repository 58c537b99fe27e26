//! The Encedo HEM external-authenticator protocol for JavaScript: `hem-auth-core`'s client and
//! authenticator roles compiled to WebAssembly with wasm-bindgen. The npm package is built by
//! `build.sh` into `pkg/`; the README says how to use it.
//!
//! * [`client`]: password login, external-authenticator login with the authreq verified
//!   (pinned to the device's eid) before it is forwarded, pairing, tokens read unverified;
//! * [`authenticator`]: the phone: answer a pairing request, open an event, show its scope
//!   safely, approve or deny;
//! * [`primitives`]: X25519, HS256, pidx and sealed scopes, for conformance tests.
//!
//! Every exported function takes its arguments as JavaScript values and checks their types
//! itself, and every path returns a `Result`: a failure is a thrown `HemError` (an `Error`
//! with a stable `code`, see [`error::CODES`]), never a panic. Time is always a `now` argument
//! (unix seconds); randomness comes from WebCrypto ([`random`]).

#![forbid(unsafe_code)]
#![warn(clippy::indexing_slicing)]

pub mod authenticator;
pub mod client;
#[cfg(feature = "device")]
pub mod device;
pub mod error;
mod js;
pub mod primitives;
mod random;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** Standard base64 with padding, as the protocol carries binary values (spec §2.1). */
export type Base64 = string;
/** Unix time in seconds: a whole number from 0 to Number.MAX_SAFE_INTEGER. */
export type UnixSeconds = number;

/** Every error this package throws: an `Error` whose `name` is `"HemError"`. */
export interface HemError extends Error {
  readonly name: "HemError";
  /** Stable: `<area>.<what>`, derived from the core's error variant. */
  readonly code: HemErrorCode;
  /** The HTTP status the failure stands for, where one applies (none in the client and
   * authenticator roles). */
  readonly status?: number;
}

export type HemErrorCode =
  | "input.type" | "input.value" | "input.consumed" | "random.unavailable"
  | "internal.conversion"
  | "jwt.too_large" | "jwt.segment_count" | "jwt.encoding" | "jwt.header_not_json"
  | "jwt.payload_not_object" | "jwt.duplicate_member" | "jwt.too_many_members"
  | "jwt.header_policy" | "jwt.bad_signature" | "jwt.invalid_claims" | "jwt.other"
  | "key.encoding" | "key.non_contributory" | "key.non_canonical" | "key.low_order"
  | "key.other"
  | "encoding.invalid_base64" | "encoding.wrong_length" | "encoding.too_long"
  | "encoding.other"
  | "body.too_large" | "body.not_object" | "body.fields" | "body.other"
  | "scope.empty" | "scope.too_long" | "scope.bad_character" | "scope.bad_hint"
  | "scope.hint_separator" | "scope.other"
  | "seal.unsupported_scheme" | "seal.encoding" | "seal.length" | "seal.padding"
  | "seal.tag" | "seal.too_long" | "seal.other"
  | "client.wrong_issuer" | "client.wrong_audience" | "client.expired"
  | "client.invalid_lifetime" | "client.bad_code" | "client.bad_kid"
  | "client.bad_context" | "client.bad_note" | "client.other"
  | "authenticator.expired" | "authenticator.label" | "authenticator.period"
  | "authenticator.other"
  | "device.clock" | "device.snapshot";

/** An HTTP request for `Device.handle` / `NotifyBroker.handle`. */
export interface DeviceRequest {
  /** `GET` (default), `HEAD` (as `GET`), `POST`, `DELETE`; anything else is 404. */
  method?: string;
  /** The path; a query string is ignored. */
  path: string;
  /** Only `authorization` is read (any case). */
  headers?: Record<string, string>;
  body?: string | Uint8Array | null;
}

/** What `Device.handle` answers. Refusals are statuses with an empty body. */
export interface DeviceResponse {
  status: number;
  headers: { "content-type": "application/json" };
  body: string;
}

/** `new Device(config)` and `Device.restore(json, config)`: every member optional. */
export interface DeviceConfig {
  /** The device time, unix seconds (fractions dropped); default `Date.now() / 1000`. */
  now?: () => number;
  /** The identity secret (the eid's private key); drawn when absent; `restore` ignores it. */
  identity?: Base64;
  /** The user password: the user key is derived from it as a client does (PBKDF2, §7.2). */
  password?: string;
  /** The user's public key, instead of a password. */
  userKey?: Base64;
  masterKey?: Base64;
  /** The check-in backend's public key: `NotifyBroker.backendKey`. */
  backendKey?: Base64;
  /** The user label of the login challenge. */
  label?: string;
  /** The `ext/token` scope policy. */
  policy?: "as-approved" | "requested-only";
  trustedTime?: boolean;
  initialised?: boolean;
  /** Consumed nonces kept (spec §4.3). */
  nonceCapacity?: number;
  maxTokenLifetime?: number;
  revokeOnUnpair?: boolean;
  /** Boot with the RTC unset: remote login answers 403 until a check-in. */
  rtcUnset?: boolean;
  /** Audit event lines kept in memory (default 10 000; oldest dropped). */
  logLines?: number;
  /** Fixed per-boot keys: for test vectors only. */
  bootKeys?: { sessionKey: Base64; tokenKey: Base64 };
}

/** A login event as the notify broker hands it to a phone (spec §5.7). */
export interface AuthEvent {
  /** The authreq's nonce, standard base64. */
  jti: string;
  /** This phone's sealed scope, `"A"` ‖ base64. */
  scope: string;
  /** The client's session key: keys the approval's MAC. */
  epk: Base64;
  /** The authreq's expiry. */
  exp: UnixSeconds;
}

/** An authreq whose issuer (the pinned eid), signature, audience and lifetime were checked. */
export interface VerifiedAuthreq {
  /** The authreq JWT, verbatim. */
  authreq: string;
  /** The device that signed it. */
  eid: Base64;
  /** The session it is addressed to. */
  epk: Base64;
  jti: string;
  iat: UnixSeconds;
  exp: UnixSeconds;
  ctx: string | null;
  note: string | null;
  /** One per paired phone, in the device's order: its pid and the event to hand it. */
  entries: Array<{ pid: string; event: AuthEvent }>;
}

/** A pairing request whose issuer, signature, audience and expiry were checked. */
export interface VerifiedPairingRequest {
  /** The request JWT, verbatim: for the QR code (`qrPayload`) and the phone. */
  request: string;
  jti: string;
  exp: UnixSeconds;
  eid: Base64;
}

/** The claims of an access token, read **without verification** (no client can verify one:
 * the key never leaves the device). For display and renewal only, never to grant anything. */
export interface UnverifiedAccessToken {
  /** The token, for `Authorization: Bearer <token>`. */
  token: string;
  scope: string;
  /** `"U"`, `"M"`, or the standard base64 of the approving authenticator's kid. */
  sub: string;
  /** The kid (32 lowercase hex) when `sub` is an authenticator's. */
  subKid: string | null;
  iat: UnixSeconds;
  exp: UnixSeconds;
  jti: string;
  ctx: string | null;
}

/** The payload of a pairing request. */
export interface PairingRequestClaims {
  jti: string;
  exp?: UnixSeconds;
  eat?: UnixSeconds;
  aud: Base64;
  iss: Base64;
}

/** A scope made safe to show (spec §8.6). Every string here is printable ASCII. */
export interface DisplayedScope {
  /** The whole rendering: the scope, then ` (key "<label>", type <t>)` for a key hint. */
  text: string;
  /** The scope part alone, escaped. */
  scope: string;
  /** The key hint's label, escaped, when the scope carries a readable hint. */
  hintLabel: string | null;
  /** The key hint's type word, escaped. */
  hintType: string | null;
  /** No device following the spec seals this: warn the person. */
  suspicious: boolean;
}

/** An approval: what the phone sends. */
export interface Approval {
  /** The granted scope (plaintext, as sealed into the authreply; show it with
   * `displayScope`). */
  scope: string;
  /** The authreply JWT for the device. */
  authreply: string;
  /** HMAC(X25519(aid, epk), authreply), standard base64: for the broker. */
  mac: Base64;
  /** The token expiry written into the authreply (`now + periodSecs`). */
  exp: UnixSeconds;
  /** `{"authreply","mac"}`: the body of `POST /notify/event/data/<eventid>/<pidx>`. */
  body: string;
}
"#;

/// Whether `value` is an error thrown by this package (an `Error` named `HemError` with a
/// string `code`).
#[wasm_bindgen(js_name = isHemError, unchecked_return_type = "value is HemError")]
pub fn is_hem_error(#[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue) -> bool {
    use wasm_bindgen::JsCast;
    let Some(error) = value.dyn_ref::<js_sys::Error>() else {
        return false;
    };
    error.name() == "HemError"
        && js_sys::Reflect::get(error, &JsValue::from_str("code"))
            .ok()
            .is_some_and(|code| code.is_string())
}

/// Every `HemError` code, in the order of the `HemErrorCode` type.
#[wasm_bindgen(js_name = errorCodes, unchecked_return_type = "HemErrorCode[]")]
pub fn error_codes() -> Vec<String> {
    error::CODES.iter().map(|c| (*c).to_string()).collect()
}
