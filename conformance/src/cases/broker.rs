//! The `--via-broker` catalogue: the external-authenticator flows through a notify broker, the
//! way the Manager and the SDKs run them (spec §5.1, §6.1, §6.8, §9.4), and the checks the
//! broker makes (spec §12).
//!
//! The runner is only an HTTP client here: it forwards objects verbatim between device and
//! broker and polls at the clients' pace ([`crate::via_broker::Polling`]). The phone is
//! whatever the broker reaches. Cases whose expected status is our broker's choice (marked
//! **ours** in spec §12.2–§12.7) or only inferred (§12.1) are advisory.

use hem_auth_core::client::{qr_payload, UnverifiableAccessToken};
use hem_auth_core::device::kid_from_hex;
use serde_json::Value;

use super::{check_token_grant, key_field, negative, positive, status};
use crate::case::{Abort, Case, Check};
use crate::ctx::Ctx;
use crate::proto::{self, sub_of_kid};
use crate::target::{Auth, Response};
use crate::via_broker::{
    self, anonymous_session, broker, broker_mut, cancel_event, checkin, device_config, device_eid,
    device_epk_call, eid_session, event_new, ext_request, listed_pids, member, object, poll,
    post_session, registration, subscribers_body, subscribers_list, Polled, RemoteLogin, Session,
};

/// The scope of the remote logins (the one bearer call is `GET /api/keymgmt/list`).
const LOGIN_SCOPE: &str = "keymgmt:list";
/// The descriptor prefix of an authenticator key as the device lists it: standard base64 of
/// `EXTAID` (§6.5).
const EXTAID_DESCR_B64: &str = "RVhUQUlE";
/// Lifetime of a broker session (§12.3: `exp` = now + 86 400).
const SESSION_SECS: u64 = 86_400;
/// Allowed difference between the broker's clock and the runner's, seconds.
const BROKER_CLOCK_SLACK_SECS: u64 = 60;

const CHECKED_IN: &[&str] = &["broker/checkin"];
const REGISTERED: &[&str] = &["broker/checkin", "broker/register"];
const FINALISED: &[&str] = &["broker/checkin", "broker/register", "broker/finalise"];
const LOGGED_IN: &[&str] = &[
    "broker/checkin",
    "broker/register",
    "broker/finalise",
    "broker/login",
];

/// The broker catalogue, in run order.
pub(super) fn cases() -> Vec<Case> {
    vec![
        positive(
            "broker/session-anonymous",
            "GET /notify/session answers {epk, exp}: a 32-byte key and an expiry within a day",
            "§12.3: GET /notify/session answers {epk, exp}, exp ≈ now + 24 h",
            200,
            &[],
            session_anonymous_shape,
        ),
        negative(
            "broker/rtc-unset",
            "before any check-in, ext/request with the broker session answers 403 (a device checked in earlier answers 200)",
            "§4.5, §9.4: 403 until check-in; the Manager checks in on a 403",
            403,
            &["broker/session-anonymous"],
            rtc_unset,
        )
        .advisory(),
        positive(
            "broker/checkin",
            "check-in through the broker's /checkin sets the device clock: status OK, then ext/request answers 200",
            "§9.4, §12.7: check-in steps 1–3 through the broker's /checkin",
            200,
            &[],
            checkin_via_broker,
        ),
        positive(
            "broker/session-eid",
            "POST /notify/session {eid} answers {epk, exp, paired}; asking again returns the same epk",
            "§12.3: the eid-bound session is cached and says whether the device is paired",
            200,
            CHECKED_IN,
            session_eid_shape,
        ),
        positive(
            "broker/register",
            "registration: session {eid} → ext/init → register/init → QR → register/check → ext/validate; the phone accepts and the device pairs it",
            "§6.1, §12.5: registration through the broker, ext/init to ext/validate",
            200,
            CHECKED_IN,
            register,
        ),
        negative(
            "broker/finalise-wrong-code",
            "register/finalise with a code that is not the device's is refused",
            "§12.5, §12.1: the broker can check code at finalise (inferred; ours)",
            401,
            REGISTERED,
            finalise_wrong_code,
        )
        .advisory(),
        positive(
            "broker/finalise",
            "register/finalise with the ext/validate answer verbatim; the eid-bound session then says paired",
            "§12.5, §12.3: finalise makes the pid a subscriber; the eid-bound session says paired",
            200,
            REGISTERED,
            finalise,
        ),
        positive(
            "broker/subscribers-list",
            "subscribers/list with the device's ext/mac answer and the session epk names the new pid with its kid",
            "§12.6, §6.8: subscribers/list with the device's ext/mac answer",
            200,
            FINALISED,
            subscribers_list_shows_pid,
        ),
        negative(
            "broker/subscribers-list-bad-mac",
            "subscribers/list with one character of the mac changed is refused",
            "§12.6, §12.1: the broker checks the ext/mac mac (inferred; ours)",
            401,
            FINALISED,
            subscribers_list_bad_mac,
        )
        .advisory(),
        negative(
            "broker/subscribers-list-replay",
            "subscribers/list sent twice with one ext/mac answer: the first answers 200, the replay is refused with 401",
            "§12.6: a subscriber call's nonce is accepted once per session (ours)",
            401,
            FINALISED,
            subscribers_list_replay,
        )
        .advisory(),
        negative(
            "broker/event-new-large-body",
            "a 20 000-byte event/new body (an unknown epk, padded with spaces) is read, not refused for its size: 404",
            "§12.2, §3.6: the body limit is 32 768 bytes, above the largest authreq's event/new body (17 593 bytes) (ours)",
            404,
            &[],
            event_new_large_body,
        )
        .advisory(),
        positive(
            "broker/login",
            "remote login: session → ext/request → event/new → event/check → ext/token; the token lists the EXTAID key",
            "§5.1, §12.4: remote login through the broker; ext/token buys the token",
            200,
            FINALISED,
            remote_login,
        ),
        positive(
            "broker/token-claims",
            "the remote login's token: scope as asked, sub = the authenticator's kid, exp = the authreply's",
            "§5.10, §8.1: the minted token's scope, sub and exp",
            200,
            LOGGED_IN,
            token_claims,
        ),
        negative(
            "broker/ext-token-replay",
            "the authreply the broker handed over, posted to ext/token a second time, is refused",
            "§5.9, §4.2: a replayed authreply is 401",
            401,
            LOGGED_IN,
            ext_token_replay,
        ),
        negative(
            "broker/event-new-eid-epk",
            "event/new with an authreq made for an eid-bound session key is refused",
            "§12.4, §12.1: event/new with an eid-bound epk is 404",
            404,
            CHECKED_IN,
            event_new_eid_epk,
        ),
        negative(
            "broker/event-new-tampered",
            "event/new with one character of the authreq's signature changed is refused",
            "§12.4, §12.1: the broker decodes and checks the authreq (401)",
            401,
            CHECKED_IN,
            event_new_tampered,
        ),
        negative(
            "broker/register-init-anonymous-epk",
            "register/init with a GET-form (anonymous) session key is refused",
            "§12.5, §12.1: register/init with a GET-form epk is 401",
            401,
            CHECKED_IN,
            register_init_anonymous_epk,
        ),
        negative(
            "broker/event-check-unknown",
            "event/check of an id the broker never issued answers 404",
            "§12.4: event/check of an unknown id is 404",
            404,
            &[],
            event_check_unknown,
        ),
        positive(
            "broker/cancel",
            "DELETE /notify/event/{id} cancels a login request: event/check then answers 404",
            "§12.4, §5.1: DELETE on timeout or cancel; event/check then answers 404",
            200,
            FINALISED,
            cancel,
        ),
        positive(
            "broker/unpair",
            "unpairing: subscribers/delete and DELETE /api/keymgmt/delete/{kid}; the list no longer shows the pid and event/new reaches nobody",
            "§6.8, §12.6: subscribers/delete and keymgmt/delete unpair",
            200,
            FINALISED,
            unpair,
        ),
    ]
}

/// Checks a session answer's `epk` and `exp`.
fn session_shape(c: &mut Check, r: &Response) -> Option<serde_json::Map<String, Value>> {
    c.expect(r.is_json_type(), || {
        format!("content type {:?} is not JSON", r.content_type)
    });
    let Ok(m) = object(r, "session") else {
        c.problems
            .push(format!("answer is not a JSON object: {}", r.body_text()));
        return None;
    };
    key_field(c, "epk", m.get("epk").and_then(Value::as_str));
    let now = proto::host_now();
    match m.get("exp").and_then(Value::as_u64) {
        Some(exp) => c.expect(
            exp > now && exp <= now + SESSION_SECS + BROKER_CLOCK_SLACK_SECS,
            || format!("exp {exp} is not within a day of now ({now})"),
        ),
        None => c.problems.push("exp missing or not a number".into()),
    }
    Some(m)
}

fn session_anonymous_shape(ctx: &mut Ctx) -> Result<Check, Abort> {
    let r = via_broker::get_session(ctx)?;
    let mut c = Check::status(r.status);
    if r.status == 200 {
        session_shape(&mut c, &r);
    }
    Ok(c)
}

fn rtc_unset(ctx: &mut Ctx) -> Result<Check, Abort> {
    let session = anonymous_session(ctx)?;
    let r = ext_request(ctx, &session, LOGIN_SCOPE)?;
    ctx.rtc_unset_at_start = Some(r.status == 403);
    status(r)
}

fn checkin_via_broker(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (checked, done) = checkin(ctx)?;
    let mut c = Check::status(done.status);
    c.expect(
        object(&checked, "POST {broker}/checkin")
            .is_ok_and(|m| m.get("checked").is_some_and(Value::is_string)),
        || {
            format!(
                "the broker's answer has no `checked`: {}",
                checked.body_text()
            )
        },
    );
    if done.status != 200 {
        return Ok(c);
    }
    ctx.checked_in = true;
    let state = done.field("POST /api/system/checkin", "status");
    c.expect(matches!(&state, Ok(s) if s == "OK"), || {
        format!("check-in status is not OK: {}", done.body_text())
    });
    let session = anonymous_session(ctx)?;
    let r = ext_request(ctx, &session, LOGIN_SCOPE)?;
    c.expect(r.status == 200, || {
        format!("ext/request after check-in answered {}", r.status)
    });
    // Learn the device's new clock for the token lifetimes of later logins.
    let _ = ctx.challenge();
    Ok(c)
}

fn session_eid_shape(ctx: &mut Ctx) -> Result<Check, Abort> {
    let eid = device_eid(ctx)?;
    let r = post_session(ctx, &eid)?;
    let mut c = Check::status(r.status);
    if r.status != 200 {
        return Ok(c);
    }
    let Some(m) = session_shape(&mut c, &r) else {
        return Ok(c);
    };
    c.expect(m.get("paired").is_some_and(Value::is_boolean), || {
        format!("paired missing or not a boolean: {}", r.body_text())
    });
    let again = eid_session(ctx, &eid)?;
    c.expect(
        m.get("epk").and_then(Value::as_str) == Some(&again.epk),
        || "a second POST /notify/session {eid} returned another epk".into(),
    );
    Ok(c)
}

/// What `register/check` ended with, in words, for a case that needed an acceptance.
fn registration_failure(polled: &Polled, within: std::time::Duration) -> Abort {
    match polled {
        Polled::TimedOut => Abort::fail(format!(
            "register/check: no answer from the authenticator within {} s",
            within.as_secs()
        )),
        Polled::Answer(r) if r.status == 410 => Abort::Fail {
            status: Some(410),
            detail: "register/check answered 410: the authenticator refused the registration"
                .into(),
        },
        Polled::Answer(r) => Abort::Fail {
            status: Some(r.status),
            detail: format!("register/check answered {}: {}", r.status, r.body_text()),
        },
    }
}

fn register(ctx: &mut Ctx) -> Result<Check, Abort> {
    // The Manager pairs with a system:config token (§6.2).
    let token = ctx.token("system:config")?;
    let config = device_config(ctx)?;
    let eid = member(&config, "GET /api/system/config", "eid")?;
    let text = |name: &str| {
        config
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let session = eid_session(ctx, &eid)?;
    let mut init_body = device_epk_call(ctx, "/api/auth/ext/init", &session.epk, &token)?;
    let request = member(&init_body, "ext/init", "request")?;
    let mut c = Check::status(200);
    // The runner cannot verify the request (the broker holds epk_prv); it can read it.
    match proto::decode(&request) {
        Ok(d) => {
            c.expect(d.str("iss") == Some(eid.as_str()), || {
                format!("pairing request iss {:?} is not the eid", d.str("iss"))
            });
            c.expect(d.str("aud") == Some(session.epk.as_str()), || {
                format!(
                    "pairing request aud {:?} is not the session epk",
                    d.str("aud")
                )
            });
        }
        Err(e) => c.problems.push(format!("pairing request: {e}")),
    }
    init_body.insert("epk".into(), Value::String(session.epk.clone()));
    let b = broker(ctx)?;
    let r = b
        .target
        .post_json(
            "/notify/register/init",
            &Value::Object(init_body),
            Auth::None,
        )?
        .require("register/init", 200)?;
    let answer = object(&r, "register/init")?;
    let rid = member(&answer, "register/init", "rid")?;
    let link = member(&answer, "register/init", "link")?;
    c.expect(
        link.starts_with("https://") || link.starts_with("http://"),
        || format!("link {link:?} is not a URL"),
    );
    let qr = qr_payload(
        &link,
        &request,
        &text("user"),
        &text("email"),
        &text("hostname"),
    );
    b.operator.say(&format!(
        "Pair a phone: show this QR payload to the Encedo Authenticator app within {} s \
         (for example `qrencode -t ansiutf8 '<payload>'`):\n{qr}",
        b.polling.register_for.as_secs()
    ));
    let polled = poll(
        &b.target,
        &format!("/notify/register/check/{rid}"),
        b.polling.register_every,
        b.polling.register_for,
    )?;
    let accepted = match polled {
        Polled::Answer(r) if r.status == 200 => r,
        other => return Err(registration_failure(&other, b.polling.register_for)),
    };
    let check_body = object(&accepted, "register/check")?;
    let pid = member(&check_body, "register/check", "pid")?;
    c.expect(
        check_body.get("reply").is_some_and(Value::is_string),
        || "register/check answer has no reply".into(),
    );
    // The register/check answer goes to ext/validate verbatim (§6.5: the Manager posts
    // the whole check body).
    let v = ctx.target.post(
        "/api/auth/ext/validate",
        &accepted.body,
        Auth::Bearer(&token),
    )?;
    c.status = v.status;
    if v.status != 200 {
        return Ok(c);
    }
    let validated = object(&v, "ext/validate")?;
    let kid = member(&validated, "ext/validate", "kid")?;
    c.expect(kid_from_hex(&kid).is_some(), || {
        format!("kid {kid:?} is not 32 hex characters")
    });
    // `code` is an HMAC (spec §6.7), not a key: 32 bytes of base64.
    let code = validated.get("code").and_then(Value::as_str);
    c.expect(
        code.is_some_and(|t| hem_auth_core::codec::decode_fixed::<32>(t).is_ok()),
        || format!("code {code:?} is not base64 of 32 bytes"),
    );
    broker_mut(ctx)?.registration = Some(via_broker::Registration {
        eid,
        rid,
        pid,
        kid,
        validate_body: v.body,
    });
    Ok(c)
}

fn finalise_path(rid: &str) -> String {
    format!("/notify/register/finalise/{rid}")
}

fn finalise_wrong_code(ctx: &mut Ctx) -> Result<Check, Abort> {
    let reg = registration(ctx)?;
    let mut body = serde_json::from_slice::<Value>(&reg.validate_body)
        .map_err(|e| Abort::fail(format!("ext/validate answer: {e}")))?;
    let code = body
        .get("code")
        .and_then(Value::as_str)
        .map(proto::flip_first)
        .ok_or_else(|| Abort::fail("ext/validate answer has no code"))?;
    body["code"] = Value::String(code);
    status(
        broker(ctx)?
            .target
            .post_json(&finalise_path(&reg.rid), &body, Auth::None)?,
    )
}

fn finalise(ctx: &mut Ctx) -> Result<Check, Abort> {
    let reg = registration(ctx)?;
    let r = broker(ctx)?
        .target
        .post(&finalise_path(&reg.rid), &reg.validate_body, Auth::None)?;
    let mut c = Check::status(r.status);
    if r.status != 200 {
        return Ok(c);
    }
    let session = eid_session(ctx, &reg.eid)?;
    c.expect(
        session.object.get("paired") == Some(&Value::Bool(true)),
        || {
            format!(
                "the eid-bound session does not say paired: {}",
                Value::Object(session.object.clone())
            )
        },
    );
    Ok(c)
}

fn subscribers_list_shows_pid(ctx: &mut Ctx) -> Result<Check, Abort> {
    let reg = registration(ctx)?;
    let body = subscribers_body(ctx, &reg.eid)?;
    let r = subscribers_list(ctx, &body)?;
    let mut c = Check::status(r.status);
    if r.status != 200 {
        return Ok(c);
    }
    let items = match r.json("subscribers/list")? {
        Value::Array(items) => items,
        other => {
            c.problems.push(format!("answer is not an array: {other}"));
            return Ok(c);
        }
    };
    match items
        .iter()
        .find(|i| i.get("pid").and_then(Value::as_str) == Some(&reg.pid))
    {
        Some(item) => {
            c.expect(
                item.get("kid").and_then(Value::as_str) == Some(&reg.kid),
                || format!("the entry's kid is not {}: {item}", reg.kid),
            );
            for name in ["label", "created"] {
                c.expect(item.get(name).is_some(), || {
                    format!("the entry has no {name}: {item}")
                });
            }
        }
        None => c
            .problems
            .push(format!("the list does not name pid {}", reg.pid)),
    }
    Ok(c)
}

fn subscribers_list_replay(ctx: &mut Ctx) -> Result<Check, Abort> {
    let reg = registration(ctx)?;
    let body = subscribers_body(ctx, &reg.eid)?;
    subscribers_list(ctx, &body)?.require("subscribers/list (first)", 200)?;
    let replay = subscribers_list(ctx, &body)?;
    let mut c = Check::status(replay.status);
    if replay.status == 401 {
        let err = replay
            .json("subscribers/list (replay)")
            .ok()
            .and_then(|v| v.get("err").and_then(Value::as_str).map(String::from));
        c.expect(err.as_deref() == Some("nonce already used"), || {
            format!("the 401 body's err is {err:?}, not \"nonce already used\"")
        });
    }
    Ok(c)
}

fn event_new_large_body(ctx: &mut Ctx) -> Result<Check, Abort> {
    // A key no session has (all zero), and spaces, which JSON allows between tokens.
    let mut body = format!(r#"{{"authreq":"x.y.z","epk":"{}"}}"#, "A".repeat(43) + "=");
    body.insert_str(1, &" ".repeat(20_000 - body.len()));
    let r = broker(ctx)?
        .target
        .post("/notify/event/new", body.as_bytes(), Auth::None)?;
    status(r)
}

fn subscribers_list_bad_mac(ctx: &mut Ctx) -> Result<Check, Abort> {
    let reg = registration(ctx)?;
    let mut body = subscribers_body(ctx, &reg.eid)?;
    let mac = member(&body, "ext/mac", "mac")?;
    body.insert("mac".into(), Value::String(proto::flip_first(&mac)));
    status(subscribers_list(ctx, &body)?)
}

/// A login request through the broker: session, `ext/request` (required 200) and `event/new`
/// with its answer verbatim. Returns the `ext/request` answer and the `event/new` answer.
fn request_login(
    ctx: &mut Ctx,
    session: &Session,
    scope: &str,
) -> Result<(Response, Response), Abort> {
    let r = ext_request(ctx, session, scope)?.require("ext/request", 200)?;
    if let Ok(d) = r
        .field("ext/request", "authreq")
        .and_then(|t| proto::decode(&t).map_err(Abort::fail))
    {
        if let Some(iat) = d.u64("iat") {
            ctx.observe_device_time(iat);
        }
    }
    let created = event_new(ctx, &r.body)?;
    Ok((r, created))
}

/// The pids of the scope map of an `ext/request` answer's authreq (read, not verified).
fn scope_pids(r: &Response) -> Result<Vec<String>, Abort> {
    let authreq = r.field("ext/request", "authreq")?;
    let d = proto::decode(&authreq).map_err(Abort::fail)?;
    Ok(d.claims
        .get("scope")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default())
}

fn remote_login(ctx: &mut Ctx) -> Result<Check, Abort> {
    let reg = registration(ctx)?;
    // The Manager checks in before every mobile login (§5.1, §9.4).
    let (_, done) = checkin(ctx)?;
    done.require("POST /api/system/checkin", 200)?;
    let session = anonymous_session(ctx)?;
    let (_, created) = request_login(ctx, &session, LOGIN_SCOPE)?;
    let created = created.require("event/new", 200)?;
    let event = object(&created, "event/new")?;
    let eventid = member(&event, "event/new", "eventid")?;
    let mut c = Check::status(0);
    let sent = event.get("sentcnt").and_then(Value::as_u64);
    c.expect(
        event.get("ipinfo_you").is_some_and(Value::is_object),
        || "event/new answer has no ipinfo_you object".into(),
    );
    if sent == Some(0) {
        let _ = cancel_event(ctx, &eventid);
        return Err(Abort::fail(
            "event/new answered sentcnt 0: the broker reached no authenticator",
        ));
    }
    c.expect(sent.is_some(), || {
        format!("event/new answer has no sentcnt: {}", created.body_text())
    });
    let b = broker(ctx)?;
    b.operator.say(&format!(
        "Approve the login request for {LOGIN_SCOPE} on the paired phone within {} s",
        b.polling.event_for.as_secs()
    ));
    let polled = poll(
        &b.target,
        &format!("/notify/event/check/{eventid}"),
        b.polling.event_every,
        b.polling.event_for,
    )?;
    let answer = match polled {
        Polled::Answer(r) if r.status == 200 => object(&r, "event/check")?,
        Polled::Answer(r) => {
            return Err(Abort::Fail {
                status: Some(r.status),
                detail: format!("event/check answered {}: {}", r.status, r.body_text()),
            })
        }
        Polled::TimedOut => {
            // What the clients do on timeout (§5.1).
            let _ = cancel_event(ctx, &eventid);
            return Err(Abort::fail(format!(
                "event/check: no answer from the authenticator within {} s (event cancelled)",
                b.polling.event_for.as_secs()
            )));
        }
    };
    if answer.get("deny") == Some(&Value::Bool(true)) {
        return Err(Abort::Fail {
            status: Some(200),
            detail: "event/check answered {\"deny\":true}: the authenticator denied the login"
                .into(),
        });
    }
    let authreply = member(&answer, "event/check", "authreply")?;
    for name in ["ipinfo_aid", "ipinfo_eid"] {
        c.expect(answer.get(name).is_some(), || {
            format!("event/check answer has no {name}")
        });
    }
    let r = ctx.post_ext_token(&authreply)?;
    c.status = r.status;
    if r.status != 200 {
        return Ok(c);
    }
    let token = match UnverifiableAccessToken::from_response(&r.body) {
        Ok(t) => t,
        Err(e) => {
            c.problems
                .push(format!("ext/token answer: {e}: {}", r.body_text()));
            return Ok(c);
        }
    };
    let list = ctx
        .target
        .get("/api/keymgmt/list", Auth::Bearer(token.token()))?;
    c.expect(list.status == 200, || {
        format!(
            "GET /api/keymgmt/list with the token answered {}",
            list.status
        )
    });
    if list.status == 200 {
        let listed = list.json("keymgmt/list")?;
        let entry = listed.get("list").and_then(Value::as_array).and_then(|l| {
            l.iter()
                .find(|k| k.get("kid").and_then(Value::as_str) == Some(&reg.kid))
        });
        match entry {
            Some(k) => {
                let descr = format!("{EXTAID_DESCR_B64}{}", reg.pid);
                c.expect(
                    k.get("descr").and_then(Value::as_str) == Some(&descr),
                    || format!("the key {} is not listed with descr {descr}: {k}", reg.kid),
                );
            }
            None => c
                .problems
                .push(format!("GET /api/keymgmt/list does not list {}", reg.kid)),
        }
    }
    broker_mut(ctx)?.login = Some(RemoteLogin {
        scope: LOGIN_SCOPE.into(),
        authreply,
        token: token.token().to_string(),
        status: r.status,
    });
    Ok(c)
}

fn stored_login(ctx: &Ctx) -> Result<RemoteLogin, Abort> {
    broker(ctx)?
        .login
        .clone()
        .ok_or_else(|| Abort::fail("no remote login made through the broker"))
}

fn token_claims(ctx: &mut Ctx) -> Result<Check, Abort> {
    let reg = registration(ctx)?;
    let login = stored_login(ctx)?;
    let mut c = Check::status(login.status);
    let authreply_exp = proto::decode(&login.authreply)
        .map_err(Abort::fail)?
        .u64("exp");
    match UnverifiableAccessToken::parse(&login.token) {
        Ok(t) => {
            c.expect(t.scope() == login.scope, || {
                format!("scope {:?} instead of {:?}", t.scope(), login.scope)
            });
            let kid = kid_from_hex(&reg.kid);
            c.expect(kid.is_some() && t.sub_kid() == kid, || {
                format!("sub {:?} is not the kid {}", t.sub(), reg.kid)
            });
            c.expect(Some(t.exp().as_secs()) == authreply_exp, || {
                format!("exp {} is not the authreply's {authreply_exp:?}", t.exp())
            });
        }
        Err(e) => c.problems.push(format!("access token: {e}")),
    }
    // The token's form (header, claim order, iat, jti) is the subject of the main
    // catalogue's auth-token/token-* and ext-token/token-* cases.
    check_token_grant(
        &mut c,
        &login.token,
        &login.scope,
        &sub_of_kid(&reg.kid),
        authreply_exp,
    );
    Ok(c)
}

fn ext_token_replay(ctx: &mut Ctx) -> Result<Check, Abort> {
    let login = stored_login(ctx)?;
    status(ctx.post_ext_token(&login.authreply)?)
}

/// Cancels an event a negative case created by mistake (the broker accepted what it should
/// not have), so no phone is left asked.
fn tidy(ctx: &Ctx, created: &Response) {
    if created.status == 200 {
        if let Ok(id) = created.field("event/new", "eventid") {
            let _ = cancel_event(ctx, &id);
        }
    }
}

fn event_new_eid_epk(ctx: &mut Ctx) -> Result<Check, Abort> {
    let eid = device_eid(ctx)?;
    let session = eid_session(ctx, &eid)?;
    let (_, created) = request_login(ctx, &session, LOGIN_SCOPE)?;
    tidy(ctx, &created);
    status(created)
}

fn event_new_tampered(ctx: &mut Ctx) -> Result<Check, Abort> {
    let session = anonymous_session(ctx)?;
    let r = ext_request(ctx, &session, LOGIN_SCOPE)?.require("ext/request", 200)?;
    let mut body = object(&r, "ext/request")?;
    let authreq = member(&body, "ext/request", "authreq")?;
    body.insert(
        "authreq".into(),
        Value::String(proto::flip_signature(&authreq)),
    );
    let created = event_new(ctx, Value::Object(body).to_string().as_bytes())?;
    tidy(ctx, &created);
    status(created)
}

fn register_init_anonymous_epk(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("system:config")?;
    let session = anonymous_session(ctx)?;
    let mut body = device_epk_call(ctx, "/api/auth/ext/init", &session.epk, &token)?;
    body.insert("epk".into(), Value::String(session.epk));
    status(broker(ctx)?.target.post_json(
        "/notify/register/init",
        &Value::Object(body),
        Auth::None,
    )?)
}

fn event_check_unknown(ctx: &mut Ctx) -> Result<Check, Abort> {
    let mut id = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    status(
        broker(ctx)?
            .target
            .get(&format!("/notify/event/check/{id}"), Auth::None)?,
    )
}

fn cancel(ctx: &mut Ctx) -> Result<Check, Abort> {
    let session = anonymous_session(ctx)?;
    let (_, created) = request_login(ctx, &session, LOGIN_SCOPE)?;
    let created = created.require("event/new", 200)?;
    let eventid = created.field("event/new", "eventid")?;
    let r = cancel_event(ctx, &eventid)?;
    let mut c = Check::status(r.status);
    if r.status != 200 {
        return Ok(c);
    }
    let after = broker(ctx)?
        .target
        .get(&format!("/notify/event/check/{eventid}"), Auth::None)?;
    c.expect(after.status == 404, || {
        format!(
            "event/check after the cancel answered {} instead of 404",
            after.status
        )
    });
    Ok(c)
}

fn unpair(ctx: &mut Ctx) -> Result<Check, Abort> {
    let reg = registration(ctx)?;
    let mut body = subscribers_body(ctx, &reg.eid)?;
    body.insert("pid".into(), Value::String(reg.pid.clone()));
    let r = broker(ctx)?.target.post_json(
        "/notify/subscribers/delete",
        &Value::Object(body),
        Auth::None,
    )?;
    let mut c = Check::status(r.status);
    if r.status != 200 {
        return Ok(c);
    }
    let token = ctx.token("keymgmt:del")?;
    let deleted = ctx.target.delete(
        &format!("/api/keymgmt/delete/{}", reg.kid),
        Auth::Bearer(&token),
    )?;
    c.expect(deleted.status == 200, || {
        format!(
            "DELETE /api/keymgmt/delete/{} answered {}",
            reg.kid, deleted.status
        )
    });
    let body = subscribers_body(ctx, &reg.eid)?;
    let pids = listed_pids(&subscribers_list(ctx, &body)?)?;
    c.expect(!pids.contains(&reg.pid), || {
        format!("subscribers/list still names {}", reg.pid)
    });
    let session = anonymous_session(ctx)?;
    let (requested, created) = request_login(ctx, &session, LOGIN_SCOPE)?;
    let created = created.require("event/new after unpairing", 200)?;
    let sent = object(&created, "event/new")?
        .get("sentcnt")
        .and_then(Value::as_u64);
    // sentcnt counts the authreq's pids that are subscribers: none of ours; on a device with
    // other phones paired, those that the broker still lists.
    let map = scope_pids(&requested)?;
    c.expect(!map.contains(&reg.pid), || {
        format!(
            "the authreq after unpairing still has an entry for {}",
            reg.pid
        )
    });
    let others = map.iter().filter(|p| pids.contains(p)).count() as u64;
    c.expect(sent == Some(others), || {
        format!("event/new after unpairing answered sentcnt {sent:?} instead of {others}")
    });
    tidy(ctx, &created);
    if let Some(b) = ctx.broker.as_mut() {
        b.registration = None;
    }
    Ok(c)
}
