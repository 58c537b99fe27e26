//! Bearer verification for the protected endpoints (spec §8.2–§8.5).
//!
//! [`Device::authorize`] allocates nothing on success: the token is parsed into stack
//! buffers, its claims borrow from them, and scopes are compared as borrowed strings.

use crate::time::UnixTime;
use alloc::string::String;
use arrayvec::ArrayString;

use super::audit::{cut, push_cut};
use super::{
    AuditEvent, AuditKind, AuditResult, Denial, Device, DeviceError, Outcome, KID_BYTES,
    MAX_AUDIT_DATA_BYTES, MAX_AUDIT_SUB_BYTES,
};
use crate::codec;
use crate::jwt::UntrustedJwt;
use crate::msg::access_token;
use crate::scope::{self, Match};

/// Which subjects may use an endpoint (spec §8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Roles {
    /// Any subject.
    Any,
    /// Only the user (`sub` `U`): `ext/init`, `ext/validate`, `ext/mac`.
    UserOnly,
    /// Anyone but the master key: keymgmt and crypto endpoints.
    NotMaster,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scopes<'r> {
    AnyToken,
    AnyOf(&'r [&'r str]),
    Exact(&'r str),
    AnyOfOrExact(&'r [&'r str], &'r str),
}

/// What an endpoint requires of a bearer token: a scope (prefix match against any of several,
/// or one exact match) and a role rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement<'r> {
    scopes: Scopes<'r>,
    roles: Roles,
}

impl<'r> Requirement<'r> {
    /// Any valid token (`/api/system/selftest`).
    pub const fn any_token() -> Self {
        Requirement {
            scopes: Scopes::AnyToken,
            roles: Roles::Any,
        }
    }

    /// A token whose scope starts with one of `scopes` (`strstr(scope, X) == scope`).
    pub const fn any_of(scopes: &'r [&'r str]) -> Self {
        Requirement {
            scopes: Scopes::AnyOf(scopes),
            roles: Roles::Any,
        }
    }

    /// A token whose scope is exactly `scope` (the crypto endpoints' `keymgmt:use:<kid>`).
    pub const fn exact(scope: &'r str) -> Self {
        Requirement {
            scopes: Scopes::Exact(scope),
            roles: Roles::Any,
        }
    }

    /// A token whose scope starts with one of `prefixes` or is exactly `exact`:
    /// `GET /api/keymgmt/get/{kid}` takes `keymgmt:get`, `keymgmt:gen` or exactly
    /// `keymgmt:use:<kid>` (spec §8.5).
    pub const fn any_of_or_exact(prefixes: &'r [&'r str], exact: &'r str) -> Self {
        Requirement {
            scopes: Scopes::AnyOfOrExact(prefixes, exact),
            roles: Roles::Any,
        }
    }

    /// The same requirement with a role rule.
    pub const fn roles(self, roles: Roles) -> Self {
        Requirement {
            scopes: self.scopes,
            roles,
        }
    }

    /// The first required scope `token_scope` satisfies, `Some("")` for [`Self::any_token`].
    fn matched(&self, token_scope: &str) -> Option<&'r str> {
        match self.scopes {
            Scopes::AnyToken => Some(""),
            Scopes::AnyOf(list) => list
                .iter()
                .copied()
                .find(|r| scope::permits(token_scope, r, Match::Prefix)),
            Scopes::Exact(r) => scope::permits(token_scope, r, Match::Exact).then_some(r),
            Scopes::AnyOfOrExact(list, exact) => list
                .iter()
                .copied()
                .find(|r| scope::permits(token_scope, r, Match::Prefix))
                .or_else(|| scope::permits(token_scope, exact, Match::Exact).then_some(exact)),
        }
    }

    /// The required scopes as the audit event's data: the alternatives joined with `|`, cut
    /// at [`super::MAX_AUDIT_DATA_BYTES`] (far beyond any real endpoint's list).
    fn describe(&self) -> ArrayString<MAX_AUDIT_DATA_BYTES> {
        let mut out = ArrayString::new();
        match self.scopes {
            Scopes::AnyToken => {}
            Scopes::AnyOf(list) => {
                for (i, r) in list.iter().enumerate() {
                    if (i > 0 && !push_cut(&mut out, "|")) || !push_cut(&mut out, r) {
                        break;
                    }
                }
            }
            Scopes::Exact(r) => {
                push_cut(&mut out, r);
            }
            Scopes::AnyOfOrExact(list, exact) => {
                for r in list.iter().chain(core::iter::once(&exact)) {
                    if (!out.is_empty() && !push_cut(&mut out, "|")) || !push_cut(&mut out, r) {
                        break;
                    }
                }
            }
        }
        out
    }
}

/// A failed scope or role check: what its `FAILED_SCOPE_CHECK` event is made of. The event
/// itself (with the requirement written out) is only built when the outcome is.
#[derive(Debug, Clone, Copy)]
pub(super) struct FailedCheck<'r> {
    time: u64,
    subject: Subject,
    requirement: Requirement<'r>,
}

impl FailedCheck<'_> {
    pub(super) fn event(&self) -> AuditEvent {
        AuditEvent::new(
            self.time,
            AuditKind::FailedScopeCheck,
            AuditResult::Failed,
            &self.subject.sub_text(),
            &self.requirement.describe(),
        )
    }
}

impl Requirement<'static> {
    /// `ext/init`, `ext/validate`, `ext/mac`: `auth:ext:pair` or `system:config`, user only.
    pub const EXT_PAIRING: Self =
        Requirement::any_of(&["auth:ext:pair", "system:config"]).roles(Roles::UserOnly);
    /// `DELETE /api/keymgmt/delete/{kid}`: `keymgmt:del`, master denied.
    pub const KEY_DELETE: Self = Requirement::any_of(&["keymgmt:del"]).roles(Roles::NotMaster);
}

/// The subject of an access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// `U`: the user (password login).
    User,
    /// `M`: the master key.
    Master,
    /// An external authenticator, by the kid of its key.
    External {
        /// The kid.
        kid: [u8; KID_BYTES],
    },
}

impl Subject {
    fn parse(sub: &str) -> Option<Self> {
        match sub {
            "U" => Some(Subject::User),
            "M" => Some(Subject::Master),
            other => codec::decode_fixed(other)
                .ok()
                .map(|kid| Subject::External { kid }),
        }
    }

    /// The token's `sub` text: `U`, `M`, or the std-b64 kid.
    pub fn to_sub(&self) -> String {
        match self {
            Subject::User => String::from("U"),
            Subject::Master => String::from("M"),
            Subject::External { kid } => codec::encode_std(kid),
        }
    }

    /// [`Subject::to_sub`] without the heap.
    fn sub_text(&self) -> ArrayString<MAX_AUDIT_SUB_BYTES> {
        match self {
            Subject::User => cut("U"),
            Subject::Master => cut("M"),
            Subject::External { kid } => {
                let mut buf = [0u8; MAX_AUDIT_SUB_BYTES];
                cut(codec::encode_std_into(kid, &mut buf).unwrap_or_default())
            }
        }
    }

    fn allowed(&self, roles: Roles) -> bool {
        match roles {
            Roles::Any => true,
            Roles::UserOnly => *self == Subject::User,
            Roles::NotMaster => *self != Subject::Master,
        }
    }
}

/// Proof that a bearer token passed [`Device::authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Authorized<'r> {
    /// Who the token was issued to.
    pub subject: Subject,
    /// The required scope the token satisfied (empty for [`Requirement::any_token`]).
    pub matched: &'r str,
    /// The token's issue time.
    pub iat: UnixTime,
    /// The token's expiry.
    pub exp: UnixTime,
}

impl Device {
    /// Checks a bearer token (the text after `Bearer `) against an endpoint's requirement.
    ///
    /// 401: no token ([`DeviceError::MissingToken`]); malformed, bad header or signature — a
    /// token from before the last reboot, say — ([`DeviceError::InvalidToken`]); `now >= exp`
    /// ([`DeviceError::TokenExpired`]); with [`super::DeviceConfig::revoke_on_unpair`], a kid
    /// `sub` no longer paired ([`DeviceError::InvalidToken`]). 403 with a `FAILED_SCOPE_CHECK`
    /// event: the subject's role is not allowed ([`DeviceError::WrongRole`]) or no required
    /// scope matches ([`DeviceError::InsufficientScope`]). No heap allocation unless it fails.
    pub fn authorize<'r>(
        &self,
        bearer: Option<&str>,
        requirement: &Requirement<'r>,
        now: UnixTime,
    ) -> Outcome<Authorized<'r>> {
        match self.check_bearer(bearer, requirement, now) {
            Ok(a) => Outcome::ok(a),
            Err(d) => Outcome::denied(d),
        }
    }

    pub(super) fn check_bearer<'r>(
        &self,
        bearer: Option<&str>,
        requirement: &Requirement<'r>,
        now: UnixTime,
    ) -> Result<Authorized<'r>, Denial<'r>> {
        let token = bearer.ok_or(DeviceError::MissingToken)?;
        let jwt = UntrustedJwt::parse(token).map_err(|_| DeviceError::InvalidToken)?;
        let verified =
            access_token::verify(&jwt, &self.token_mac).map_err(|_| DeviceError::InvalidToken)?;
        let claims = verified.claims();
        if now.as_secs() >= claims.exp {
            return Err(DeviceError::TokenExpired.into());
        }
        let subject = Subject::parse(&claims.sub).ok_or(DeviceError::InvalidToken)?;
        // Opt-in `revoke-on-unpair` (spec §8.2 check 6, §8.7): a kid no longer paired.
        if let Subject::External { kid } = &subject {
            if self.config.revoke_on_unpair && !self.pairings.iter().any(|p| p.kid() == kid) {
                return Err(DeviceError::InvalidToken.into());
            }
        }
        let failed = |error: DeviceError| Denial {
            error,
            failed_check: Some(FailedCheck {
                time: now.as_secs(),
                subject,
                requirement: *requirement,
            }),
        };
        if !subject.allowed(requirement.roles) {
            return Err(failed(DeviceError::WrongRole));
        }
        let matched = requirement
            .matched(&claims.scope)
            .ok_or_else(|| failed(DeviceError::InsufficientScope))?;
        Ok(Authorized {
            subject,
            matched,
            iat: UnixTime::from_secs(claims.iat),
            exp: UnixTime::from_secs(claims.exp),
        })
    }
}
