//! Runners of the primitive kinds: `x25519`, `hs256-jwt`, `pidx`, `scope-seal`.

use hem_auth_core::codec;
use hem_auth_core::jwt::{HeaderPolicy, UntrustedJwt};
use hem_auth_core::keys::{PublicKey, SecretKey, SharedSecret};
use hem_auth_core::seal::ScopeKey;
use serde_json::Value;

use super::{decide, required, same, Verdict};
use crate::b64;
use crate::schema::{Case, Hs256JwtCase, PidxCase, ScopeSealCase, X25519Case};

/// `x25519`: the core's key agreement, which refuses an all-zero result.
pub(super) fn x25519(case: &Case) -> Verdict {
    let c: X25519Case = case.read()?;
    let sk =
        SecretKey::from_b64(&c.private).map_err(|e| format!("`private`: {}", crate::chain(&e)))?;
    let got = PublicKey::from_b64(&c.public)
        .and_then(|pk| sk.diffie_hellman(&pk))
        .map(|s| b64::encode(s.as_bytes()))
        .map_err(|e| crate::chain(&e));
    Ok(decide(case, got, |shared| {
        required("shared", c.shared.as_ref(), &shared)
    }))
}

/// The header policy a generic verifier applies: a header that names an `ecdh` member is an
/// ECDH JWT and must say `x25519`; one without is checked as an access token (`alg` only).
///
/// Only the choice of policy is made here, from the header's text; the policy itself, and
/// everything else, is the core's.
fn policy_for(jwt: &str) -> HeaderPolicy {
    let header = jwt.split('.').next().unwrap_or_default();
    let mut buf = vec![0u8; header.len()];
    let named = codec::decode_segment(header.as_bytes(), &mut buf)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok())
        .is_some_and(|v| v.get("ecdh").is_some());
    if named {
        HeaderPolicy::Ecdh
    } else {
        HeaderPolicy::Plain
    }
}

/// `hs256-jwt`: parse, header policy, constant-time HMAC, duplicate-free payload.
pub(super) fn hs256_jwt(case: &Case) -> Verdict {
    let c: Hs256JwtCase = case.read()?;
    let key = b64::decode(&c.key).map_err(|e| format!("`key`: {e}"))?;
    let got = (|| {
        let untrusted = UntrustedJwt::parse(&c.jwt).map_err(|e| crate::chain(&e))?;
        let verified = untrusted
            .verify(&key, policy_for(&c.jwt))
            .map_err(|e| crate::chain(&e))?;
        verified.claims::<Value>().map_err(|e| crate::chain(&e))
    })();
    Ok(decide(case, got, |payload| {
        same("payload", c.payload.as_ref(), &payload)
    }))
}

/// `pidx`: the codec's pid → path mapping (total: every pid has a path form).
pub(super) fn pidx(case: &Case) -> Verdict {
    let c: PidxCase = case.read()?;
    let got: Result<String, String> = Ok(codec::pid_to_pidx(&c.pid));
    Ok(decide(case, got, |pidx| {
        required("pidx", c.pidx.as_ref(), &pidx)
    }))
}

/// `scope-seal`: valid tests must seal to `sealed` and open back to `scope`; invalid ones must
/// not open.
pub(super) fn scope_seal(case: &Case) -> Verdict {
    let c: ScopeSealCase = case.read()?;
    let secret =
        SharedSecret::from_bytes(b64::decode_32(&c.secret).map_err(|e| format!("`secret`: {e}"))?);
    let jti = b64::decode(&c.jti).map_err(|e| format!("`jti`: {e}"))?;
    let key = ScopeKey::derive(&secret, &jti);
    let got = key
        .open(&c.sealed)
        .map(|opened| opened.as_str().to_string())
        .map_err(|e| crate::chain(&e));
    Ok(decide(case, got, |opened| {
        let scope = c
            .scope
            .as_ref()
            .ok_or("valid test lacks the expected `scope`")?;
        same("scope (opened)", Some(scope), &opened)?;
        let sealed = key
            .seal(scope)
            .map_err(|e| format!("sealing: {}", crate::chain(&e)))?;
        same("sealed", Some(&c.sealed), &sealed)
    }))
}
