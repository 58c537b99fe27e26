//! Using access tokens on protected endpoints (spec §8.2–§8.5).

use std::time::Duration;

use hem_auth_core::codec;
use serde_json::{json, Value};

use super::{negative, positive, status};
use crate::case::{Abort, Case, Check};
use crate::ctx::Ctx;
use crate::proto;
use crate::target::Auth;

const LIST_TOKEN: &[&str] = &["ext-token/keymgmt-list", "ext-validate/pair-b"];
const LOGIN: &[&str] = &["auth-token/login"];
const A: &[&str] = &["rtc/set", "ext-validate/pair-a"];
const LIST: &str = "/api/keymgmt/list";

pub(super) fn cases() -> Vec<Case> {
    vec![
        positive(
            "bearer/keymgmt-list-ext",
            "an ext token for keymgmt:list lists the keys, the paired authenticators A and B among them",
            "§8.5: keymgmt/list needs keymgmt:list",
            200,
            LIST_TOKEN,
            list_ext,
        ),
        positive(
            "bearer/keymgmt-list-user",
            "a U token for keymgmt:list lists the keys too",
            "§8.5: keymgmt/list needs keymgmt:list",
            200,
            LIST_TOKEN,
            list_user,
        ),
        positive(
            "bearer/keymgmt-list-page",
            "GET /api/keymgmt/list/0/1 lists at most one key",
            "§8.5, §9.7: keymgmt/list[/{offset}[/{count}]]",
            200,
            LIST_TOKEN,
            list_page,
        ),
        positive(
            "bearer/prefix-match",
            "a token for keymgmt:list:extra may use an endpoint needing keymgmt:list (prefix match)",
            "§8.4: scope matching is a prefix match",
            200,
            LOGIN,
            prefix_match,
        ),
        negative(
            "bearer/prefix-direction",
            "a token for keymgmt:lis (a prefix of the required scope) is forbidden",
            "§8.4: the token scope must start with the required one",
            403,
            LOGIN,
            prefix_direction,
        ),
        negative(
            "bearer/missing",
            "GET /api/keymgmt/list without a token is refused",
            "§8.2: no token 401",
            401,
            &[],
            missing,
        ),
        negative(
            "bearer/garbage",
            "a bearer that is not a JWT is refused",
            "§8.2: invalid token 401",
            401,
            &[],
            garbage,
        ),
        negative(
            "bearer/forged",
            "a device token with one signature bit flipped is refused",
            "§8.2: invalid token 401",
            401,
            LIST_TOKEN,
            forged,
        ),
        negative(
            "bearer/payload-altered",
            "a device token whose exp was raised after signing is refused",
            "§8.2: invalid token 401",
            401,
            LIST_TOKEN,
            payload_altered,
        ),
        negative(
            "bearer/unsigned",
            "a device token re-headed alg none with an empty signature is refused",
            "§8.2, §3.3: invalid token 401; alg must be HS256",
            401,
            LIST_TOKEN,
            unsigned,
        ),
        negative(
            "bearer/self-signed",
            "a token the runner signed itself (U, keymgmt:list) is refused: only the device's per-boot key signs tokens",
            "§4.6, §8.1: only the device's per-boot access-token key signs tokens",
            401,
            &[],
            self_signed,
        ),
        negative(
            "bearer/expired",
            "a U token used after its exp is refused",
            "§8.1, §8.2: a token is valid while now < exp",
            401,
            LOGIN,
            expired,
        ),
        negative(
            "bearer/too-narrow",
            "an ext keymgmt:list token on GET /api/logger/list is forbidden",
            "§8.2, §8.5: valid token without the scope 403",
            403,
            LIST_TOKEN,
            too_narrow,
        ),
        negative(
            "bearer/user-too-narrow",
            "a U auth:ext:pair token on GET /api/keymgmt/list is forbidden",
            "§8.2, §8.5: valid token without the scope 403",
            403,
            LOGIN,
            user_too_narrow,
        ),
        negative(
            "bearer/use-exact",
            "keymgmt:use:<kid>x does not grant keymgmt:use:<kid> (exact match) on GET /api/keymgmt/get/{kid}",
            "§8.4: keymgmt:use:<kid> must match exactly",
            403,
            A,
            use_exact,
        ),
        negative(
            "bearer/ext-role-init",
            "an ext token (sub = kid) for auth:ext:pair cannot start pairing",
            "§8.3: ext/init|validate|mac require sub U (403)",
            403,
            A,
            ext_role_init,
        ),
        negative(
            "bearer/ext-role-mac",
            "an ext token (sub = kid) for auth:ext:pair cannot call ext/mac",
            "§8.3: ext/init|validate|mac require sub U (403)",
            403,
            A,
            ext_role_mac,
        ),
        positive(
            "bearer/system-config",
            "GET /api/system/config with an auth:ext:pair token answers the eid",
            "§8.5, §9.3: system/config needs system:config OR logger:get OR auth:ext:pair; it answers the eid",
            200,
            LOGIN,
            system_config,
        ),
        negative(
            "bearer/system-config-no-bearer",
            "GET /api/system/config without a token is refused",
            "§8.2: no token 401",
            401,
            &[],
            system_config_no_bearer,
        ),
        negative(
            "bearer/system-config-wrong-scope",
            "GET /api/system/config with a keymgmt:list token is forbidden",
            "§8.2, §8.5: valid token without the scope 403",
            403,
            LOGIN,
            system_config_wrong_scope,
        ),
    ]
}

fn get(ctx: &mut Ctx, path: &str, token: &str) -> Result<Check, Abort> {
    status(ctx.target.get(path, Auth::Bearer(token))?)
}

/// Lists with `token` and checks that every paired authenticator's kid appears.
fn list_with(ctx: &mut Ctx, token: &str) -> Result<Check, Abort> {
    let r = ctx.target.get(LIST, Auth::Bearer(token))?;
    let mut c = Check::status(r.status);
    if r.status == 200 {
        let body = r.json("keymgmt/list")?.to_string();
        for a in &ctx.paired {
            c.expect(body.contains(&a.kid), || {
                format!("the list has no key {} ({}): {body}", a.kid, a.label)
            });
        }
    }
    Ok(c)
}

fn list_ext(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.ext_token("keymgmt:list")?;
    list_with(ctx, &token)
}

fn list_user(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("keymgmt:list")?;
    list_with(ctx, &token)
}

fn list_page(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("keymgmt:list")?;
    let r = ctx
        .target
        .get(&format!("{LIST}/0/1"), Auth::Bearer(&token))?;
    let mut c = Check::status(r.status);
    if r.status == 200 {
        let body = r.json("keymgmt/list/0/1")?.to_string();
        let shown = ctx.paired.iter().filter(|a| body.contains(&a.kid)).count();
        c.expect(shown <= 1, || {
            format!("a page of one shows {shown} of our keys: {body}")
        });
        let r = ctx.target.get(&format!("{LIST}/1"), Auth::Bearer(&token))?;
        c.expect(r.status == 200, || {
            format!("GET {LIST}/1 answered {}", r.status)
        });
    }
    Ok(c)
}

fn prefix_match(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("keymgmt:list:extra")?;
    get(ctx, LIST, &token)
}

fn prefix_direction(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("keymgmt:lis")?;
    get(ctx, LIST, &token)
}

fn missing(ctx: &mut Ctx) -> Result<Check, Abort> {
    status(ctx.target.get(LIST, Auth::None)?)
}

fn garbage(ctx: &mut Ctx) -> Result<Check, Abort> {
    get(ctx, LIST, "not-a-token")
}

fn forged(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.ext_token("keymgmt:list")?;
    get(ctx, LIST, &proto::flip_signature(&token))
}

fn payload_altered(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("keymgmt:list")?;
    let d = proto::decode(&token).map_err(Abort::fail)?;
    let mut claims = d.claims.clone();
    let exp = d.u64("exp").unwrap_or_default();
    claims["exp"] = json!(exp + 86_400);
    get(ctx, LIST, &proto::swap_payload(&token, &claims.to_string()))
}

fn unsigned(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("keymgmt:list")?;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let header = codec::encode_segment(br#"{"typ":"JWT","alg":"none"}"#);
    get(ctx, LIST, &format!("{header}.{payload}."))
}

fn self_signed(ctx: &mut Ctx) -> Result<Check, Abort> {
    let now = ctx.device_now();
    let payload = json!({
        "scope": "keymgmt:list", "sub": "U", "iat": now, "exp": now + 3600,
        "jti": proto::random_b64_32(),
    });
    let token = proto::forge(
        hem_auth_core::jwt::Header::AccessToken.json(),
        &payload.to_string(),
        &[0u8; 32],
    );
    get(ctx, LIST, &token)
}

fn expired(ctx: &mut Ctx) -> Result<Check, Abort> {
    let exp = ctx.device_now() + 2;
    let token = ctx.login("keymgmt:list", exp)?;
    ctx.target
        .get(LIST, Auth::Bearer(&token))?
        .require("the token before it expires", 200)?;
    let wait = exp + 1 - ctx.device_now().min(exp + 1);
    std::thread::sleep(Duration::from_millis(wait * 1000 + 200));
    get(ctx, LIST, &token)
}

fn too_narrow(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.ext_token("keymgmt:list")?;
    get(ctx, "/api/logger/list", &token)
}

fn user_too_narrow(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("auth:ext:pair")?;
    get(ctx, LIST, &token)
}

fn use_exact(ctx: &mut Ctx) -> Result<Check, Abort> {
    let a = ctx.authenticator(0)?;
    let path = format!("/api/keymgmt/get/{}", a.kid);
    let exact = ctx.token(&format!("keymgmt:use:{}", a.kid))?;
    let control = ctx.target.get(&path, Auth::Bearer(&exact))?;
    if control.status == 404 {
        return Err(Abort::skip(
            "the target has no GET /api/keymgmt/get/{kid}, the only API endpoint here that requires keymgmt:use:<kid>",
        ));
    }
    let control = control.require("GET keymgmt/get with the exact keymgmt:use token", 200)?;
    drop(control);
    let near_miss = ctx.token(&format!("keymgmt:use:{}x", a.kid))?;
    get(ctx, &path, &near_miss)
}

fn ext_pair_token(ctx: &mut Ctx) -> Result<String, Abort> {
    ctx.ext_token("auth:ext:pair")
}

fn ext_role_init(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ext_pair_token(ctx)?;
    status(ctx.target.post_json(
        "/api/auth/ext/init",
        &json!({ "epk": proto::fresh_key().public_key().to_b64() }),
        Auth::Bearer(&token),
    )?)
}

fn ext_role_mac(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ext_pair_token(ctx)?;
    status(ctx.target.post_json(
        "/api/auth/ext/mac",
        &json!({ "epk": proto::fresh_key().public_key().to_b64() }),
        Auth::Bearer(&token),
    )?)
}

fn system_config(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("auth:ext:pair")?;
    let eid = ctx.eid()?;
    let r = ctx.target.get("/api/system/config", Auth::Bearer(&token))?;
    let mut c = Check::status(r.status);
    if r.status == 200 {
        let v = r.json("system/config")?;
        c.expect(
            v.get("eid").and_then(Value::as_str) == Some(eid.to_b64().as_str()),
            || format!("config eid {:?} is not the device's {eid}", v.get("eid")),
        );
    }
    Ok(c)
}

fn system_config_no_bearer(ctx: &mut Ctx) -> Result<Check, Abort> {
    status(ctx.target.get("/api/system/config", Auth::None)?)
}

fn system_config_wrong_scope(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("keymgmt:list")?;
    get(ctx, "/api/system/config", &token)
}
