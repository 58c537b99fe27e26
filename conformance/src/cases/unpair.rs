//! Unpairing: `DELETE /api/keymgmt/delete/{kid}` (spec §6.8), last in the run.

use hem_auth_core::device::kid_to_hex;

use super::{negative, positive, status};
use crate::case::{Abort, Case, Check};
use crate::ctx::Ctx;
use crate::target::Auth;

const B: &[&str] = &["rtc/set", "ext-validate/pair-b"];
const A: &[&str] = &["rtc/set", "ext-validate/pair-a"];

pub(super) fn cases() -> Vec<Case> {
    vec![
        negative(
            "unpair/no-bearer",
            "DELETE /api/keymgmt/delete/{kid} without a token is refused",
            "§8.2: no token 401",
            401,
            B,
            no_bearer,
        ),
        negative(
            "unpair/wrong-scope",
            "unpairing with a keymgmt:list token is forbidden",
            "§8.2, §8.5: valid token without the scope 403 (keymgmt:del)",
            403,
            B,
            wrong_scope,
        ),
        negative(
            "unpair/unknown-kid",
            "deleting a kid the device does not have answers 404",
            "§10.1, §9.7: 404 no such object",
            404,
            A,
            unknown_kid,
        )
        .advisory(),
        negative(
            "unpair/stale-authreply",
            "an approval from an authenticator unpaired after the authreq was issued is refused",
            "§5.9, §6.8: ext/token 406 (pid not paired)",
            406,
            A,
            stale_authreply,
        ),
        positive(
            "unpair/b",
            "unpairing B: later authreqs have no entry for B, A's entry stays, and the list no longer shows B",
            "§6.8, §5.3: delete the EXTAID key; one authreq entry per pairing",
            200,
            B,
            unpair_b,
        ),
        positive(
            "unpair/a",
            "unpairing A, the last of the run's authenticators: later authreqs have no entry for it",
            "§6.8, §5.3: zero pairings → scope {} and still 200",
            200,
            A,
            unpair_a,
        ),
    ]
}

fn delete_path(kid: &str) -> String {
    format!("/api/keymgmt/delete/{kid}")
}

fn no_bearer(ctx: &mut Ctx) -> Result<Check, Abort> {
    let b = ctx.authenticator(1)?;
    status(ctx.target.delete(&delete_path(&b.kid), Auth::None)?)
}

fn wrong_scope(ctx: &mut Ctx) -> Result<Check, Abort> {
    let b = ctx.authenticator(1)?;
    let token = ctx.token("keymgmt:list")?;
    status(
        ctx.target
            .delete(&delete_path(&b.kid), Auth::Bearer(&token))?,
    )
}

fn unknown_kid(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("keymgmt:del")?;
    status(ctx.target.delete(
        &delete_path(&kid_to_hex(&[0xeeu8; 16])),
        Auth::Bearer(&token),
    )?)
}

fn stale_authreply(ctx: &mut Ctx) -> Result<Check, Abort> {
    let c = ctx.pair("Conformance (to be unpaired)")?;
    let authreq = ctx.authreq("keymgmt:list")?;
    let approval = ctx.phone_approval(&c, &authreq, false)?;
    ctx.unpair(&c.kid)?;
    status(ctx.post_ext_token(&approval.authreply)?)
}

/// Deletes authenticator `index` and checks that a later authreq has no entry for it while
/// every other authenticator the run holds keeps its entry.
fn unpair_checked(ctx: &mut Ctx, index: usize) -> Result<Check, Abort> {
    let gone = ctx.authenticator(index)?;
    let token = ctx.token("keymgmt:del")?;
    let r = ctx
        .target
        .delete(&delete_path(&gone.kid), Auth::Bearer(&token))?;
    let mut c = Check::status(r.status);
    if r.status != 200 {
        return Ok(c);
    }
    ctx.paired.retain(|a| a.kid != gone.kid);
    let authreq = ctx.authreq("keymgmt:list")?;
    c.expect(authreq.entry(&gone.pid).is_none(), || {
        format!(
            "an authreq after unpairing still has an entry for {}",
            gone.pid
        )
    });
    for a in &ctx.paired {
        c.expect(authreq.entry(&a.pid).is_some(), || {
            format!("unpairing {} also removed {}", gone.label, a.label)
        });
    }
    let list_token = ctx.token("keymgmt:list")?;
    let r = ctx
        .target
        .get("/api/keymgmt/list", Auth::Bearer(&list_token))?
        .require("keymgmt/list after unpairing", 200)?;
    c.expect(
        !String::from_utf8_lossy(&r.body).contains(&gone.kid),
        || format!("the key list still shows {}", gone.kid),
    );
    Ok(c)
}

fn unpair_b(ctx: &mut Ctx) -> Result<Check, Abort> {
    unpair_checked(ctx, 1)
}

fn unpair_a(ctx: &mut Ctx) -> Result<Check, Abort> {
    unpair_checked(ctx, 0)
}
