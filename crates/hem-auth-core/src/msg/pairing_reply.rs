//! The pairing reply (spec §6.4): a JWT the **authenticator** builds when its user accepts a
//! pairing ([`build`], through [`crate::authenticator::reply_to_pairing`]; app header, claims
//! `jti, [eat], iss, aud, epk, label`, HS256 keyed S1 = X25519(aid_prv, eid)); the **device**
//! verifies it at `POST /api/auth/ext/validate` (§6.5, §6.6) through [`read`] and
//! [`crate::jwt::Untrusted::verify`]: one parse, the `label`, `epk` and `iss` read unverified
//! (the label's shape and the duplicate checks come first, as the firmware's; `iss` gives S1),
//! every other claim out of the [`crate::jwt::Verified`] the MAC check returns. The **notify
//! broker** holds no S1: it reads `jti`, `iss` and `label` through [`read`] and
//! [`crate::jwt::Untrusted::dangerous_unverified`], only to match the reply to its registration
//! (§12.3), after checking the phone's `mac` over it.

use alloc::borrow::Cow;
use alloc::string::String;
use serde::{Deserialize, Serialize};

use crate::jwt::{self, Header, JwtError, Untrusted, UntrustedJwt};

/// Longest pairing `label`, in characters: the device stores it as a key label of at most 32
/// printable ASCII characters (spec §2.3; §6.6: anything else is the
/// device's 400).
pub const MAX_LABEL_CHARS: usize = 32;

/// Whether `label` can be the device key's label: 1 to [`MAX_LABEL_CHARS`] printable ASCII
/// characters, space included.
pub fn is_valid_label(label: &str) -> bool {
    (1..=MAX_LABEL_CHARS).contains(&label.len())
        && label.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// Pairing reply, phone → device (spec §6.4). Order: `jti, [eat], iss, aud, epk, label`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingReplyClaims<'a> {
    /// Echo of the request `jti`.
    #[serde(borrow)]
    pub jti: Cow<'a, str>,
    /// Echo of the request `eat`, only when the request had one.
    #[serde(
        default,
        deserialize_with = "crate::claims::present_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub eat: Option<u64>,
    /// The phone's new public key `aid`.
    #[serde(borrow)]
    pub iss: Cow<'a, str>,
    /// The device's eid (not required by the device).
    #[serde(
        borrow,
        default,
        deserialize_with = "crate::claims::opt_borrowed",
        skip_serializing_if = "Option::is_none"
    )]
    pub aud: Option<Cow<'a, str>>,
    /// The broker's pairing epk (the request's `aud`); keys `code`.
    #[serde(borrow)]
    pub epk: Cow<'a, str>,
    /// Phone name, the stored key's label.
    #[serde(borrow)]
    pub label: Cow<'a, str>,
}

/// Signs `claims` as the phone app does (app header, keyed `s1` = X25519(aid_prv, eid)).
/// Checks nothing: [`crate::authenticator::reply_to_pairing`] checks the label and keys first.
pub fn build(claims: &PairingReplyClaims<'_>, s1: &[u8]) -> String {
    jwt::sign(Header::App, claims, s1)
}

/// Reads the claims of a pairing reply once, untrusted: the device verifies them with
/// [`Untrusted::verify`] under X25519(eid_prv, `iss`); the notify broker, which cannot, reads
/// them with [`Untrusted::dangerous_unverified`].
pub fn read<'s, 'a>(
    jwt: &'s UntrustedJwt<'a>,
) -> Result<Untrusted<'s, 'a, PairingReplyClaims<'s>>, JwtError> {
    jwt.untrusted_claims()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::HeaderPolicy;

    #[test]
    fn labels() {
        assert!(is_valid_label("Alice's phone"));
        assert!(is_valid_label(&"x".repeat(MAX_LABEL_CHARS)));
        assert!(!is_valid_label(&"x".repeat(MAX_LABEL_CHARS + 1)));
        assert!(!is_valid_label(""));
        assert!(!is_valid_label("tab\there"));
        assert!(!is_valid_label("é"));
    }

    #[test]
    fn build_then_read_and_verify_round_trips() {
        let claims = PairingReplyClaims {
            jti: "j".into(),
            eat: None,
            iss: "aid".into(),
            aud: Some("eid".into()),
            epk: "epk".into(),
            label: "phone".into(),
        };
        let token = build(&claims, &[5; 32]);
        let jwt = UntrustedJwt::parse(&token).unwrap();
        assert_eq!(read(&jwt).unwrap().dangerous_unverified().label, "phone");
        let verified = read(&jwt)
            .unwrap()
            .verify(&[5; 32], HeaderPolicy::Ecdh)
            .unwrap();
        assert_eq!(*verified.claims(), claims);
        assert!(read(&jwt)
            .unwrap()
            .verify(&[6; 32], HeaderPolicy::Ecdh)
            .is_err());
    }
}
