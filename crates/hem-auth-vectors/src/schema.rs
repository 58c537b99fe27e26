//! The `hem-auth-vectors/1` format (`docs/vectors.md`) as serde types.
//!
//! A file is read in two steps so that one bad case never hides the others: the envelope
//! ([`VectorFile`], [`Group`]) keeps each test as raw JSON, then [`Case::from_value`] reads the
//! common members (`id`, `comment`, `result`, `flags`) and leaves the kind's own members in
//! [`Case::fields`], which the kind's runner reads into one of the `*Case` structs below.
//! Unknown members are ignored at every level, as `docs/vectors.md` asks; the JSON Schema of
//! `vectors/schema/` is the strict reading that catches a misspelt member.
//!
//! The same structs serialise the generated files: member order is the struct's, optional
//! members are left out when absent, so a generated file is stable and diffable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The value of the top-level `schema` member this crate reads and writes.
pub const SCHEMA_ID: &str = "hem-auth-vectors/1";

/// One vector file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorFile {
    /// Must be [`SCHEMA_ID`].
    pub schema: String,
    /// Who or what produced the file.
    #[serde(default)]
    pub source: String,
    /// The glossary of the flags the file's tests carry: flag → text, each text beginning with
    /// the `docs/spec` section ids of the flag's rule. Optional: files of other
    /// implementations may have none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: BTreeMap<String, String>,
    /// One group per kind (a kind may have several groups).
    pub groups: Vec<Group>,
}

impl VectorFile {
    /// The flags some test of the file carries that [`VectorFile::notes`] does not explain,
    /// sorted, each once. Tests whose `flags` cannot be read are passed over (the checker
    /// fails them on their own).
    pub fn flags_without_notes(&self) -> Vec<String> {
        let mut missing = std::collections::BTreeSet::new();
        for group in &self.groups {
            for raw in &group.tests {
                if let Ok(case) = Case::from_value(raw) {
                    missing.extend(
                        case.flags
                            .into_iter()
                            .filter(|f| !self.notes.contains_key(f)),
                    );
                }
            }
        }
        missing.into_iter().collect()
    }
}

/// A group of tests of one kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The kind, e.g. `scope-seal`; an unknown kind is reported as skipped.
    pub kind: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// The `docs/spec` sections (`§N.N`) the group's kind exercises. Optional.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spec: Vec<String>,
    /// The tests, kept as raw JSON until a runner reads them.
    pub tests: Vec<Value>,
}

/// What a case expects of the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// The operation must succeed and every expected member must match.
    Valid,
    /// The operation must fail (with `status`, where given).
    Invalid,
}

/// The members every test has, plus the kind's own members.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Unique within the file.
    pub id: u64,
    /// Free text.
    pub comment: String,
    /// `valid` or `invalid`.
    pub result: Expect,
    /// Informative labels (`Replay`, `BadMac`, ...).
    pub flags: Vec<String>,
    /// Every other member: the kind's inputs and expected outputs.
    pub fields: Map<String, Value>,
}

impl Case {
    /// Reads the common members of one raw test.
    ///
    /// Fails (with a reason) when `id`, `result` or `flags` are missing or mistyped; the
    /// checker reports such a test as failed.
    pub fn from_value(value: &Value) -> Result<Case, String> {
        let Value::Object(map) = value else {
            return Err("test is not a JSON object".into());
        };
        let mut fields = map.clone();
        let id = match fields.remove("id") {
            Some(v) => v
                .as_u64()
                .ok_or_else(|| format!("`id` is not a non-negative integer: {v}"))?,
            None => return Err("test has no `id`".into()),
        };
        let comment = match fields.remove("comment") {
            None => String::new(),
            Some(Value::String(s)) => s,
            Some(v) => return Err(format!("`comment` is not a string: {v}")),
        };
        let result = match fields.remove("result") {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|_| format!("`result` must be \"valid\" or \"invalid\", not {v}"))?,
            None => return Err("test has no `result`".into()),
        };
        let flags = match fields.remove("flags") {
            None => Vec::new(),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|_| format!("`flags` is not an array of strings: {v}"))?,
        };
        Ok(Case {
            id,
            comment,
            result,
            flags,
            fields,
        })
    }

    /// Reads the kind's members into `T`.
    pub fn read<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_value(Value::Object(self.fields.clone()))
            .map_err(|e| format!("malformed test: {e}"))
    }
}

/// A test as the generator writes it: common members first, then the kind's.
#[derive(Debug, Clone, Serialize)]
pub struct CaseOut<T> {
    /// Unique within the file.
    pub id: u64,
    /// What the case is about (for an invalid case: its one defect).
    pub comment: String,
    /// `valid` or `invalid`.
    pub result: Expect,
    /// Labels; an invalid case carries the one naming its defect.
    pub flags: Vec<String>,
    /// The kind's members.
    #[serde(flatten)]
    pub fields: T,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `x25519`: `shared` = X25519(`private`, `public`); invalid when the result is all zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct X25519Case {
    /// Private key.
    pub private: String,
    /// Peer public key.
    pub public: String,
    /// Expected shared secret (valid cases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<String>,
}

/// `hs256-jwt`: `jwt` verifies under `key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hs256JwtCase {
    /// The HMAC key (any length).
    pub key: String,
    /// The compact JWT.
    pub jwt: String,
    /// Expected decoded payload (valid cases, optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

/// `pidx`: the URL-path form of a pid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidxCase {
    /// The pid (standard base64, or any text).
    pub pid: String,
    /// Expected path form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pidx: Option<String>,
}

/// `scope-seal`: scheme-A sealing under K = HMAC(`secret`, `jti`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeSealCase {
    /// S1, the pairing secret (32 bytes).
    pub secret: String,
    /// The raw request nonce (any length: the v1 vectors use 16 bytes).
    pub jti: String,
    /// The plaintext scope (valid cases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The sealed form.
    pub sealed: String,
}

/// `authreq`: the broker verifies the authreq, then the authenticator opens its entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthreqCase {
    /// The broker session's private key (its public half is the authreq's `aud`).
    pub epk_private: String,
    /// The device identity the broker expects.
    pub eid: String,
    /// The authreq JWT.
    pub authreq: String,
    /// Broker time.
    pub now: u64,
    /// The authenticator's private key, to open the entry of `pid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aid_private: Option<String>,
    /// The pairing whose entry is opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// Expected `jti`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Expected `iat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Expected `exp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Expected `ctx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctx: Option<String>,
    /// Expected opened scope of `pid`'s entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The event an authenticator fetches from the broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFields {
    /// The authreq `jti`.
    pub jti: String,
    /// This authenticator's sealed scope.
    pub scope: String,
    /// The broker session key of the event.
    pub epk: String,
    /// The authreq `exp`.
    pub exp: u64,
}

/// `authreply-build`: the authenticator approves an event, byte-exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthreplyBuildCase {
    /// The authenticator's private key.
    pub aid_private: String,
    /// The device identity.
    pub eid: String,
    /// The pairing id.
    pub pid: String,
    /// The event.
    pub event: EventFields,
    /// Phone time.
    pub now: u64,
    /// Access period chosen by the user, in seconds.
    pub period: u64,
    /// The "permission to write" toggle.
    pub writable: bool,
    /// Expected granted scope (plaintext).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Expected authreply JWT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authreply: Option<String>,
    /// Expected broker MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

/// `pairing-reply-build`: the authenticator answers a pairing request, byte-exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairingReplyBuildCase {
    /// The authenticator's (new) private key.
    pub aid_private: String,
    /// The request JWT (a string) or its payload (an object).
    pub request: Value,
    /// Phone name.
    pub label: String,
    /// Push token.
    pub fid: String,
    /// Expected reply JWT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Expected broker MAC over `reply ‖ fid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Expected public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aid: Option<String>,
}

/// A pairing the device already holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingFields {
    /// Pairing id.
    pub pid: String,
    /// The authenticator's public key.
    pub aid: String,
}

/// A nonce the device issued and still holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingFields {
    /// The nonce.
    pub jti: String,
    /// Its expiry.
    pub exp: u64,
    /// The scope requested with it (authreq nonces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The claims of a device-issued access token that a case compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenFields {
    /// Granted scope.
    pub scope: String,
    /// `U`, `M` or the std-b64 kid.
    pub sub: String,
    /// Expiry.
    pub exp: u64,
}

/// `ext-token`: the device turns an authreply into an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtTokenCase {
    /// The device identity's private key.
    pub eid_private: String,
    /// Pairings held.
    pub pairings: Vec<PairingFields>,
    /// Authreq nonces held.
    pub pending: Vec<PendingFields>,
    /// Device time.
    pub now: u64,
    /// The authreply JWT.
    pub authreply: String,
    /// `as-approved` (default) or `requested-only`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Expected HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Expected token claims (valid cases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenFields>,
}

/// `ext-validate`: the device completes a pairing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtValidateCase {
    /// The device identity's private key.
    pub eid_private: String,
    /// Pairings already held.
    pub pairings: Vec<PairingFields>,
    /// Pairing-request nonces held.
    pub pending: Vec<PendingFields>,
    /// Device time.
    pub now: u64,
    /// The pid the broker assigned.
    pub pid: String,
    /// The phone's reply JWT.
    pub reply: String,
    /// Expected HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Expected kid (32 lowercase hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Expected confirmation code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// `login`: the device verifies a password (or master-key) eJWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginCase {
    /// The per-boot session private key.
    pub spk_private: String,
    /// The configured user key.
    pub user_public: String,
    /// The configured master key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_public: Option<String>,
    /// Login-challenge nonces held.
    pub pending: Vec<PendingFields>,
    /// Device time.
    pub now: u64,
    /// The eJWT.
    pub auth: String,
    /// Expected HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Expected token claims (valid cases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenFields>,
}

/// `login-build`: the client derives its key from a password and builds the eJWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginBuildCase {
    /// The passphrase.
    pub password: String,
    /// The salt text (the device's eid as text).
    pub eid: String,
    /// The challenge's spk.
    pub spk: String,
    /// The challenge's jti, verbatim.
    pub jti: String,
    /// Requested scope.
    pub scope: String,
    /// Client time.
    pub iat: u64,
    /// Requested expiry.
    pub exp: u64,
    /// Expected user public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Expected eJWT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
}

/// `access-token`: the device checks a bearer token for an endpoint's scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenCase {
    /// The per-boot token key.
    pub token_key: String,
    /// The bearer token.
    pub token: String,
    /// Device time.
    pub now: u64,
    /// The scope the endpoint requires.
    pub required_scope: String,
    /// Exact match (the crypto endpoints' `keymgmt:use:<kid>`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub exact: bool,
    /// Expected HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}
