//! The protocol's primitives, for conformance tests (the `x25519`, `hs256-jwt`, `pidx` and
//! `scope-seal` vector kinds) and for tools. The roles above use them; an application rarely
//! needs them directly.

use hem_auth_core::codec;
use hem_auth_core::jwt::{HeaderPolicy, UntrustedJwt};
use hem_auth_core::keys::{PublicKey, SecretKey, SharedSecret};
use hem_auth_core::seal::ScopeKey;
use wasm_bindgen::prelude::*;

use crate::error::{Failure, Outcome};
use crate::js::{self, IntoJs, JsResult};

/// Decodes standard (or URL-safe) base64 of any length.
fn decode_any(text: &str, name: &str) -> Outcome<Vec<u8>> {
    let mut out = vec![0u8; text.len()];
    let len = codec::decode_std_into(text, &mut out)
        .map_err(|e| {
            let f = Failure::from(e);
            Failure::new(f.code, format!("`{name}`: {}", f.message))
        })?
        .len();
    out.truncate(len);
    Ok(out)
}

/// X25519(privateKey, publicKey), standard base64 (spec §2.4). Refuses a non-canonical or
/// low-order public key (spec §2.5) and an all-zero result.
#[wasm_bindgen(unchecked_return_type = "Base64")]
pub fn x25519(
    #[wasm_bindgen(js_name = privateKey, unchecked_param_type = "Base64")] private_key: JsValue,
    #[wasm_bindgen(js_name = publicKey, unchecked_param_type = "Base64")] public_key: JsValue,
) -> JsResult<String> {
    (|| {
        let secret = SecretKey::from_b64(&js::string(&private_key, "privateKey")?)?;
        let public = PublicKey::from_b64(&js::string(&public_key, "publicKey")?)?;
        Ok(codec::encode_std(
            secret.diffie_hellman(&public)?.as_bytes(),
        ))
    })()
    .js()
}

/// The public key of a private key, standard base64.
#[wasm_bindgen(js_name = publicKeyOf, unchecked_return_type = "Base64")]
pub fn public_key_of(
    #[wasm_bindgen(js_name = privateKey, unchecked_param_type = "Base64")] private_key: JsValue,
) -> JsResult<String> {
    (|| {
        let secret = SecretKey::from_b64(&js::string(&private_key, "privateKey")?)?;
        Ok(secret.public_key().to_b64())
    })()
    .js()
}

/// Verifies an HS256 JWT under `key` (standard base64, any length) and returns its payload.
/// `policy` is the header rule (spec §3.3): `"ecdh"` (HS256 with `ecdh: x25519`, every ECDH
/// message) or `"plain"` (HS256, the access tokens). Segments must be canonical, members
/// unique, the token at most 4096 bytes.
#[wasm_bindgen(js_name = verifyHs256Jwt, unchecked_return_type = "Record<string, unknown>")]
pub fn verify_hs256_jwt(
    #[wasm_bindgen(unchecked_param_type = "string")] jwt: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Base64")] key: JsValue,
    #[wasm_bindgen(unchecked_param_type = "\"ecdh\" | \"plain\"")] policy: JsValue,
) -> JsResult<JsValue> {
    (|| {
        let jwt = js::string(&jwt, "jwt")?;
        let key = decode_any(&js::string(&key, "key")?, "key")?;
        let policy = match js::string(&policy, "policy")?.as_str() {
            "ecdh" => HeaderPolicy::Ecdh,
            "plain" => HeaderPolicy::Plain,
            _ => {
                return Err(Failure::input_value(
                    "policy",
                    "must be \"ecdh\" or \"plain\"",
                ))
            }
        };
        let untrusted = UntrustedJwt::parse(&jwt)?;
        let verified = untrusted.verify(&key, policy)?;
        let payload: serde_json::Value = verified.claims()?;
        js::to_js(&payload)
    })()
    .js()
}

/// A pid's URL-path form (spec §2.3): `+` → `-`, `/` → `_`, `=` removed.
#[wasm_bindgen(js_name = pidToPidx)]
pub fn pid_to_pidx(
    #[wasm_bindgen(unchecked_param_type = "string")] pid: JsValue,
) -> JsResult<String> {
    (|| Ok(codec::pid_to_pidx(&js::string(&pid, "pid")?)))().js()
}

fn scope_key(secret: &JsValue, jti: &JsValue) -> Outcome<ScopeKey> {
    let secret: [u8; 32] = codec::decode_fixed(&js::string(secret, "secret")?)?;
    let jti = decode_any(&js::string(jti, "jti")?, "jti")?;
    Ok(ScopeKey::derive(&SharedSecret::from_bytes(secret), &jti))
}

/// Seals a scope, scheme A (spec §5.6): K = HMAC-SHA256(secret, jti); AES-128-CBC under
/// K[0..16] with IV K[16..32]; tag HMAC-SHA256(K, scope). `secret` is S1 (32 bytes), `jti`
/// the raw nonce, both standard base64.
#[wasm_bindgen(js_name = sealScope)]
pub fn seal_scope(
    #[wasm_bindgen(unchecked_param_type = "Base64")] secret: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Base64")] jti: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] scope: JsValue,
) -> JsResult<String> {
    (|| {
        let key = scope_key(&secret, &jti)?;
        Ok(key.seal(&js::string(&scope, "scope")?)?)
    })()
    .js()
}

/// Opens a scheme-A sealed scope (see `sealScope`); the tag is compared in constant time.
/// The plaintext is raw: show it through `displayScope`.
#[wasm_bindgen(js_name = openSealedScope)]
pub fn open_sealed_scope(
    #[wasm_bindgen(unchecked_param_type = "Base64")] secret: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Base64")] jti: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] sealed: JsValue,
) -> JsResult<String> {
    (|| {
        let key = scope_key(&secret, &jti)?;
        let opened = key.open(&js::string(&sealed, "sealed")?)?;
        Ok(opened.as_str().to_string())
    })()
    .js()
}
