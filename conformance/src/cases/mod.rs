//! The catalogue: every case, in run order.
//!
//! Groups run in protocol order: what needs no authentication, the RTC-unset phase and
//! check-in, password login, pairing, `ext/mac`, `ext/request`, `ext/token`, bearer use,
//! the wire rules, the audit log, unpairing, and last what moves the device's clock or reboots
//! it (the `time/` cases: they make earlier tokens expire). Each case sends its own requests;
//! cases share state (tokens, paired authenticators) only through their declared `needs`.

use hem_auth_core::keys::PublicKey;
use hem_auth_core::nonce::TimeNonce;

use crate::case::{Abort, Case, CaseFn, Check, Kind};
use crate::proto::Decoded;
use crate::target::Response;

mod auth_token;
mod bearer;
mod broker;
mod checkin;
mod ext_mac;
mod ext_request;
mod ext_token;
mod logger;
mod pairing;
mod system;
mod time;
mod unpair;
mod wire;

/// Every case, in run order.
pub fn catalogue() -> Vec<Case> {
    let mut all = Vec::new();
    all.extend(system::cases());
    all.extend(checkin::cases());
    all.extend(auth_token::cases());
    all.extend(pairing::cases());
    all.extend(ext_mac::cases());
    all.extend(ext_request::cases());
    all.extend(ext_token::cases());
    all.extend(bearer::cases());
    all.extend(wire::cases());
    all.extend(logger::cases());
    all.extend(unpair::cases());
    all.extend(time::cases());
    all
}

/// The `--via-broker` catalogue: the external-authenticator flows through a notify broker,
/// in run order (ids `broker/...`).
pub fn broker_catalogue() -> Vec<Case> {
    broker::cases()
}

/// A case with conforming input.
const fn positive(
    id: &'static str,
    title: &'static str,
    spec: &'static str,
    expected: u16,
    needs: &'static [&'static str],
    run: CaseFn,
) -> Case {
    Case {
        id,
        title,
        spec,
        kind: Kind::Positive,
        required: true,
        expected,
        needs,
        run,
    }
}

/// A case with one defect.
const fn negative(
    id: &'static str,
    title: &'static str,
    spec: &'static str,
    expected: u16,
    needs: &'static [&'static str],
    run: CaseFn,
) -> Case {
    positive(id, title, spec, expected, needs, run).with_kind(Kind::Negative)
}

impl Case {
    const fn with_kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// Marks a case advisory: it checks behaviour the spec implies but does not fix, so its
    /// failure is reported but does not fail the run.
    const fn advisory(mut self) -> Self {
        self.required = false;
        self
    }
}

/// The case's result is just the status of `r`.
fn status(r: Response) -> Result<Check, Abort> {
    Ok(Check::status(r.status))
}

/// Allowed difference between a device time and the runner's estimate of it, in seconds.
const CLOCK_SLACK_SECS: u64 = 5;

fn near(a: u64, b: u64) -> bool {
    a.abs_diff(b) <= CLOCK_SLACK_SECS
}

/// Checks that `text` is a device time nonce (32 bytes) and returns its embedded time.
fn nonce_time(check: &mut Check, what: &str, text: Option<&str>) -> Option<u64> {
    match text.map(TimeNonce::from_b64) {
        Some(Ok(n)) => Some(u64::from(n.time())),
        Some(Err(e)) => {
            check
                .problems
                .push(format!("{what} is not a 32-byte nonce: {e}"));
            None
        }
        None => {
            check.problems.push(format!("{what} missing"));
            None
        }
    }
}

/// Checks that `text` is standard base64 of a 32-byte key.
fn key_field(check: &mut Check, what: &str, text: Option<&str>) -> Option<PublicKey> {
    match text.map(PublicKey::from_b64) {
        Some(Ok(k)) => Some(k),
        Some(Err(e)) => {
            check
                .problems
                .push(format!("{what} is not a 32-byte key: {e}"));
            None
        }
        None => {
            check.problems.push(format!("{what} missing"));
            None
        }
    }
}

/// Checks what a login is for: `token` is a JWT whose claims grant `scope` to `sub` until
/// `exp` (when given). Later cases rely on this much only; the token's form (§8.1: header
/// bytes, claim order, `iat`, `jti`) is checked by cases of its own ([`TokenDetail`]), so a
/// device wrong in one detail fails that detail's case and nothing else.
fn check_token_grant(
    check: &mut Check,
    token: &str,
    scope: &str,
    sub: &str,
    exp: Option<u64>,
) -> Option<Decoded> {
    let d = match crate::proto::decode(token) {
        Ok(d) => d,
        Err(e) => {
            check.problems.push(format!("access token: {e}"));
            return None;
        }
    };
    check.expect(d.str("scope") == Some(scope), || {
        format!(
            "token scope {:?} instead of {scope:?}",
            d.claims.get("scope")
        )
    });
    check.expect(d.str("sub") == Some(sub), || {
        format!("token sub {:?} instead of {sub:?}", d.claims.get("sub"))
    });
    if let Some(exp) = exp {
        check.expect(d.u64("exp") == Some(exp), || {
            format!(
                "token exp {:?} instead of {exp} (verbatim)",
                d.claims.get("exp")
            )
        });
    }
    Some(d)
}

/// One detail of an access token's form (§8.1), each the subject of a case of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenDetail {
    /// The header is exactly `{"typ":"JWT","alg":"HS256"}`.
    Header,
    /// The claims are `scope, sub, iat, exp, jti`, in this order (no `ctx` is ever sent).
    ClaimOrder,
    /// `iat` is the device's time of minting.
    Iat,
    /// `jti` is a 32-byte time nonce (§4.1) whose time is `iat`.
    Jti,
}

/// The claim names of a token minted for a login without `ctx`, in order (§8.1).
const TOKEN_CLAIM_ORDER: [&str; 5] = ["scope", "sub", "iat", "exp", "jti"];

/// Checks `detail` of the access token `d`, minted at about `now`.
fn check_token_detail(check: &mut Check, detail: TokenDetail, d: &Decoded, now: u64) {
    match detail {
        TokenDetail::Header => {
            let header = hem_auth_core::jwt::Header::AccessToken.json();
            check.expect(d.header == header, || {
                format!("token header {} instead of {header}", d.header)
            });
        }
        TokenDetail::ClaimOrder => match crate::proto::claim_names(&d.token) {
            Ok(names) => check.expect(names == TOKEN_CLAIM_ORDER, || {
                format!("token claims {names:?} instead of {TOKEN_CLAIM_ORDER:?}")
            }),
            Err(e) => check.problems.push(format!("access token: {e}")),
        },
        TokenDetail::Iat => {
            let iat = d.u64("iat");
            check.expect(iat.is_some_and(|t| near(t, now)), || {
                format!("token iat {iat:?} is not now ({now})")
            });
        }
        TokenDetail::Jti => {
            if let Some(t) = nonce_time(check, "token jti", d.str("jti")) {
                let iat = d.u64("iat");
                check.expect(Some(t) == iat, || {
                    format!("token jti time {t} differs from iat {iat:?}")
                });
            }
        }
    }
}

/// The body of a token-detail case: `issue` obtains a fresh token (a setup step, which the
/// case's prerequisite has shown to work), then `detail` of it is checked.
fn token_detail_case(
    ctx: &mut crate::ctx::Ctx,
    detail: TokenDetail,
    issue: impl FnOnce(&mut crate::ctx::Ctx) -> Result<String, Abort>,
) -> Result<Check, Abort> {
    let token = issue(ctx)?;
    let now = ctx.device_now();
    let d = crate::proto::decode(&token).map_err(|e| Abort::fail(format!("access token: {e}")))?;
    let mut c = Check::status(200);
    check_token_detail(&mut c, detail, &d, now);
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn catalogue_is_well_formed() {
        let all = catalogue();
        well_formed(&all);
        let negatives = all.iter().filter(|c| c.kind == Kind::Negative).count();
        assert!(all.len() >= 60, "{} cases", all.len());
        assert!(negatives >= 40, "{negatives} negative cases");
    }

    #[test]
    fn broker_catalogue_is_well_formed() {
        let all = broker_catalogue();
        well_formed(&all);
        assert!(all.iter().all(|c| c.group() == "broker"));
        let negatives = all.iter().filter(|c| c.kind == Kind::Negative).count();
        assert!(negatives >= 7, "{negatives} negative cases");
    }

    fn well_formed(all: &[Case]) {
        let mut seen = HashSet::new();
        for c in all {
            assert!(seen.insert(c.id), "duplicate id {}", c.id);
            assert!(c.id.contains('/'), "{} has no group", c.id);
            assert!(!c.id.contains(':') && !c.id.contains(' '), "{}", c.id);
            assert!(!c.title.is_empty() && !c.spec.is_empty(), "{}", c.id);
            for need in c.needs {
                assert!(
                    seen.contains(need),
                    "{} needs {need}, which does not run before it",
                    c.id
                );
            }
        }
    }
}
