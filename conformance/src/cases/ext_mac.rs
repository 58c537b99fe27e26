//! `POST /api/auth/ext/mac`: the device's proof to the broker (spec §6.8).

use hem_auth_core::codec;
use hem_auth_core::nonce::TimeNonce;
use serde_json::{json, Value};

use super::{near, negative, nonce_time, positive, status};
use crate::case::{Abort, Case, Check};
use crate::ctx::Ctx;
use crate::proto;
use crate::target::Auth;

const LOGIN: &[&str] = &["auth-token/login"];

pub(super) fn cases() -> Vec<Case> {
    vec![
        positive(
            "ext-mac/ok",
            "ext/mac returns {nonce, mac, eid} with mac = HMAC(X25519(eid, epk), nonce) and a fresh time nonce per call",
            "§6.8: ext/mac = HMAC(X25519(eid_prv, epk), nonce) with a fresh time nonce",
            200,
            LOGIN,
            mac_ok,
        ),
        negative(
            "ext-mac/no-bearer",
            "ext/mac without a token is refused",
            "§8.2, §6.8: ext/mac 401 (bearer missing)",
            401,
            &[],
            mac_no_bearer,
        ),
        negative(
            "ext-mac/wrong-scope",
            "ext/mac with a keymgmt:list token is forbidden",
            "§8.2, §8.5: valid token without the scope 403",
            403,
            LOGIN,
            mac_wrong_scope,
        ),
        negative(
            "ext-mac/epk-missing",
            "ext/mac without epk is malformed",
            "§6.8: ext/mac 400 (epk missing)",
            400,
            LOGIN,
            mac_epk_missing,
        ),
        negative(
            "ext-mac/epk-is-paired-aid",
            "ext/mac for a paired authenticator's aid is refused: its mac would be HMAC(S1, nonce), a scope-sealing key",
            "§2.5, §6.8: ext/mac 400 (epk is the eid, the spk or a paired aid)",
            400,
            &["auth-token/login", "ext-validate/pair-a"],
            mac_epk_is_paired_aid,
        )
        .advisory(),
        negative(
            "ext-mac/epk-long",
            "ext/mac with a 33-byte epk is malformed",
            "§6.8: ext/mac 400 (epk not 32 bytes)",
            400,
            LOGIN,
            mac_epk_long,
        ),
    ]
}

fn mac_epk_is_paired_aid(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("auth:ext:pair")?;
    let aid = ctx.authenticator(0)?.aid.to_b64();
    post_mac(ctx, &json!({ "epk": aid }), Some(&token))
}

fn post_mac(ctx: &mut Ctx, body: &Value, token: Option<&str>) -> Result<Check, Abort> {
    let auth = token.map_or(Auth::None, Auth::Bearer);
    status(ctx.target.post_json("/api/auth/ext/mac", body, auth)?)
}

fn mac_ok(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("auth:ext:pair")?;
    let eid = ctx.eid()?;
    let epk = proto::fresh_key();
    let body = json!({ "epk": epk.public_key().to_b64() });
    let mut nonces = Vec::new();
    let mut c = Check::status(0);
    for _ in 0..2 {
        let r = ctx
            .target
            .post_json("/api/auth/ext/mac", &body, Auth::Bearer(&token))?;
        c.status = r.status;
        if r.status != 200 {
            return Ok(c);
        }
        let v = r.json("ext/mac")?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
        c.expect(s("eid").as_deref() == Some(eid.to_b64().as_str()), || {
            format!("eid {:?} is not the device's", s("eid"))
        });
        if let Some(t) = nonce_time(&mut c, "nonce", s("nonce").as_deref()) {
            c.expect(near(t, ctx.device_now()), || {
                format!("nonce time {t} is not now")
            });
        }
        if let (Some(nonce), Some(mac)) = (s("nonce"), s("mac")) {
            if let Ok(n) = TimeNonce::from_b64(&nonce) {
                let k = proto::shared(&epk, &eid).map_err(Abort::fail)?;
                let want = codec::encode_std(&hem_auth_core::mac::mac(k.as_bytes(), n.as_bytes()));
                c.expect(mac == want, || {
                    format!("mac {mac} is not HMAC(X25519(eid, epk), nonce) = {want}")
                });
            }
            nonces.push(nonce);
        } else {
            c.problems.push(format!("nonce or mac missing: {v}"));
        }
    }
    c.expect(nonces.len() == 2 && nonces[0] != nonces[1], || {
        "two calls returned the same nonce".into()
    });
    Ok(c)
}

fn mac_no_bearer(ctx: &mut Ctx) -> Result<Check, Abort> {
    post_mac(
        ctx,
        &json!({ "epk": proto::fresh_key().public_key().to_b64() }),
        None,
    )
}

fn mac_wrong_scope(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("keymgmt:list")?;
    post_mac(
        ctx,
        &json!({ "epk": proto::fresh_key().public_key().to_b64() }),
        Some(&token),
    )
}

fn mac_epk_missing(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("auth:ext:pair")?;
    post_mac(ctx, &json!({}), Some(&token))
}

fn mac_epk_long(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("auth:ext:pair")?;
    post_mac(
        ctx,
        &json!({ "epk": codec::encode_std(&[5u8; 33]) }),
        Some(&token),
    )
}
