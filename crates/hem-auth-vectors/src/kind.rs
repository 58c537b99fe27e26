//! The twelve kinds of `hem-auth-vectors/1` (`docs/vectors.md`, "Kinds"), and the one table of
//! the spec sections (`docs/spec`, `§N.N`) each kind exercises.
//!
//! The generator writes a kind's sections as its groups' `spec` member; the spec's coverage
//! table and any other reader take them from [`Kind::spec_sections`], never from a copy.

use std::fmt;

/// A kind: the role it exercises and the members its tests carry (`docs/vectors.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `x25519`: the key agreement every role uses.
    X25519,
    /// `hs256-jwt`: any verifier of an HS256 JWT.
    Hs256Jwt,
    /// `pidx`: a pid's URL-path form.
    Pidx,
    /// `scope-seal`: scheme-A sealing of a scope (device and authenticator).
    ScopeSeal,
    /// `authreq`: the client checks an authreq, then the authenticator opens its entry.
    Authreq,
    /// `authreply-build`: the authenticator approves an event, byte-exactly.
    AuthreplyBuild,
    /// `pairing-reply-build`: the authenticator answers a pairing request, byte-exactly.
    PairingReplyBuild,
    /// `ext-token`: the device turns an authreply into an access token.
    ExtToken,
    /// `ext-validate`: the device completes a pairing.
    ExtValidate,
    /// `login`: the device checks a password (or master-key) eJWT.
    Login,
    /// `login-build`: the client derives its key from a password and builds the eJWT.
    LoginBuild,
    /// `access-token`: the device checks a bearer token against an endpoint's scope.
    AccessToken,
}

impl Kind {
    /// Every kind, in the order `docs/vectors.md` lists them.
    pub const ALL: [Kind; 12] = [
        Kind::X25519,
        Kind::Hs256Jwt,
        Kind::Pidx,
        Kind::ScopeSeal,
        Kind::Authreq,
        Kind::AuthreplyBuild,
        Kind::PairingReplyBuild,
        Kind::ExtToken,
        Kind::ExtValidate,
        Kind::Login,
        Kind::LoginBuild,
        Kind::AccessToken,
    ];

    /// The name a group's `kind` member carries.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::X25519 => "x25519",
            Kind::Hs256Jwt => "hs256-jwt",
            Kind::Pidx => "pidx",
            Kind::ScopeSeal => "scope-seal",
            Kind::Authreq => "authreq",
            Kind::AuthreplyBuild => "authreply-build",
            Kind::PairingReplyBuild => "pairing-reply-build",
            Kind::ExtToken => "ext-token",
            Kind::ExtValidate => "ext-validate",
            Kind::Login => "login",
            Kind::LoginBuild => "login-build",
            Kind::AccessToken => "access-token",
        }
    }

    /// The kind named `name`; `None` for a kind this crate does not know (the checker skips
    /// its tests).
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The sections of `docs/spec` whose rules this kind's tests exercise, in spec order.
    ///
    /// A flag's own rule may live in a further section; that one is cited by the flag's note
    /// ([`crate::flag::FLAGS`]).
    pub const fn spec_sections(self) -> &'static [&'static str] {
        match self {
            // X25519 (RFC 7748, clamping, raw output as HMAC key); low-order keys refused.
            Kind::X25519 => &["§2.4", "§2.5"],
            // Segments, JSON, compact form and signature, header bytes and policy, 4096 bytes.
            Kind::Hs256Jwt => &["§2.1", "§2.2", "§3.1", "§3.2", "§3.3", "§3.6"],
            // The pid and its path form.
            Kind::Pidx => &["§2.3"],
            // HMAC, AES-128-CBC; scheme A.
            Kind::ScopeSeal => &["§2.4", "§5.6"],
            // The client's check of the authreq (key, header, claims, lifetime, key hint), then
            // the authenticator's opening of its entry.
            Kind::Authreq => &[
                "§2.1", "§2.2", "§2.5", "§3.3", "§3.5", "§3.6", "§4.4", "§5.3", "§5.4", "§5.6",
            ],
            // The phone's approval: open, grant, seal again, authreply bytes and broker MAC.
            Kind::AuthreplyBuild => &["§2.5", "§3.2", "§3.4", "§3.5", "§5.6", "§5.7"],
            // The phone's answer to a pairing request: reply bytes and broker MAC.
            Kind::PairingReplyBuild => &["§2.5", "§3.2", "§3.4", "§3.5", "§6.2", "§6.4"],
            // The device's ext/token: checks, error order, nonce, minted token, scope policy.
            Kind::ExtToken => &[
                "§2.1", "§2.2", "§2.6", "§3.3", "§3.6", "§4.2", "§4.3", "§5.6", "§5.8", "§5.9",
                "§5.10", "§5.11",
            ],
            // The device's ext/validate: checks, error order, kid, code, pairing nonce.
            Kind::ExtValidate => &[
                "§2.2", "§2.5", "§2.6", "§3.3", "§4.2", "§4.4", "§6.5", "§6.6", "§6.7",
            ],
            // The device's password login: eJWT checks, error order, challenge nonce.
            Kind::Login => &["§2.2", "§3.3", "§4.2", "§4.4", "§7.3", "§7.4"],
            // The client's password key and eJWT bytes.
            Kind::LoginBuild => &["§2.5", "§3.2", "§3.4", "§3.5", "§7.2", "§7.3"],
            // The bearer check: per-boot key, validity, 401 before 403, scope matching.
            Kind::AccessToken => &["§4.6", "§8.1", "§8.2", "§8.4"],
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kinds' names, in the order of [`Kind::ALL`].
pub const KINDS: [&str; 12] = {
    let mut names = [""; 12];
    let mut i = 0;
    while i < names.len() {
        names[i] = Kind::ALL[i].name();
        i += 1;
    }
    names
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_name(k.name()), Some(k));
        }
        assert_eq!(Kind::from_name("ed25519"), None);
    }

    #[test]
    fn sections_are_ids_in_spec_order() {
        for k in Kind::ALL {
            let ids: Vec<_> = k
                .spec_sections()
                .iter()
                .map(|s| crate::flag::section_number(s).unwrap_or_else(|| panic!("{k}: {s}")))
                .collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "{k}: {ids:?}");
        }
    }
}
