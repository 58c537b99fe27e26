//! The claim sets of every JWT in the protocol, shared by the role that signs them and the role
//! that verifies them (spec §3.4). Each is defined in its message's module of [`crate::msg`],
//! beside its builder and reader, and named here too.
//!
//! Field order is the producer's claim order, so serialising one of these structs gives the
//! real producer's bytes. Optional claims are skipped when absent. Strings borrow from the
//! verified payload unless they contain escapes (`Cow`). Every numeric date is a `u64`: a
//! string, a fraction or a negative number is a type error, never "absent"; so is `null` in
//! place of any claim, optional claims included (spec §2.2).
//!
//! Read these only from a [`crate::jwt::Verified`] (or, for the reads listed in
//! [`crate::manual`] "Unverified reads", [`crate::jwt::Untrusted::dangerous_unverified`]).

use alloc::borrow::Cow;
use core::fmt;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

// Every claim set lives with its builder and reader in `crate::msg`; named here too.
pub use crate::msg::access_token::AccessTokenClaims;
pub use crate::msg::authreply::AuthreplyClaims;
pub use crate::msg::authreq::AuthreqClaims;
pub use crate::msg::checkin::{CheckClaims, CheckedClaims};
pub use crate::msg::login::LoginClaims;
pub use crate::msg::pairing_reply::{is_valid_label, PairingReplyClaims, MAX_LABEL_CHARS};
pub use crate::msg::pairing_request::PairingRequestClaims;

/// Most entries an authreq scope map can have: the device's pairing limit
/// (`EXT_AUTH_MAX_CLIENTS`, spec §5.3).
pub const MAX_PAIRINGS: usize = 8;

/// The authreq `scope` object: pid → sealed scope, at most [`MAX_PAIRINGS`] entries, held
/// inline so that reading an authreq allocates nothing. Order is kept as received.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ScopeMap<'a> {
    entries: [Option<(Cow<'a, str>, Cow<'a, str>)>; MAX_PAIRINGS],
    len: usize,
}

impl<'a> ScopeMap<'a> {
    /// An empty map.
    pub const fn new() -> Self {
        ScopeMap {
            entries: [const { None }; MAX_PAIRINGS],
            len: 0,
        }
    }

    /// Adds an entry; `false` when the map is full or the pid is already present.
    pub fn push(&mut self, pid: Cow<'a, str>, sealed: Cow<'a, str>) -> bool {
        if self.get(&pid).is_some() {
            return false;
        }
        match self.entries.get_mut(self.len) {
            Some(slot) => {
                *slot = Some((pid, sealed));
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The sealed scope for `pid` (compared as text).
    pub fn get(&self, pid: &str) -> Option<&str> {
        self.iter().find(|(p, _)| *p == pid).map(|(_, s)| s)
    }

    /// `(pid, sealed)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries
            .iter()
            .flatten()
            .map(|(p, s)| (p.as_ref(), s.as_ref()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no entries (no authenticator is paired).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for ScopeMap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for ScopeMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.len))?;
        for (pid, sealed) in self.iter() {
            m.serialize_entry(pid, sealed)?;
        }
        m.end()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for ScopeMap<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = ScopeMap<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "an object of at most {MAX_PAIRINGS} pid → sealed scope strings"
                )
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = ScopeMap::new();
                while let Some((k, v)) = map.next_entry::<BorrowedStr<'de>, BorrowedStr<'de>>()? {
                    if !out.push(k.0, v.0) {
                        return Err(de::Error::custom("too many or duplicate scope entries"));
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(MapVisitor)
    }
}

/// An optional string claim that is present: a string, which borrows when it can
/// (`#[serde(borrow)]` only borrows a bare `Cow<str>`; on `Option<Cow<str>>` serde always
/// copies). Called only for a member that is there (`default` gives `None` when it is not), so
/// `null` is a type error, never "absent" (spec §2.2).
pub(crate) fn opt_borrowed<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'de, str>>, D::Error> {
    Ok(Some(BorrowedStr::deserialize(d)?.0))
}

/// An optional numeric date that is present: an unsigned integer; `null` is a type error,
/// never "absent" (spec §2.2).
pub(crate) fn present_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    u64::deserialize(d).map(Some)
}

/// A string that borrows when it can (serde's `Cow` impl alone always copies).
struct BorrowedStr<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for BorrowedStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BorrowedStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(alloc::string::String::from(v))))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_authreq_payload_round_trips_byte_exact() {
        let payload = r#"{"iss":"rcPF9XEvpsF6tPW3PTvbuC2UCqC+0kCOJuX/kgY1uTk=","aud":"9PgSHRVIPWLvz9gWbCIXk8475ZeRhwLCwG9pk5ibuGM=","iat":1784767764,"exp":1784771364,"jti":"FGVhapdad+8ap9x6t0UQB/2O1G/vabitisjZdQTxJ0M=","ctx":"fixture-ctx","scope":{"SmuPON3X1EeRh/rk2VtVFBsy6PRqZKlvMRgCNd6jnGk=":"A8bOT/ou0PNkTHH+1Sr5700+or/FoBFylYWV5IZ8BxQZkg55EoXElgBqIPNVbptQo"}}"#;
        let c: AuthreqClaims<'_> = serde_json::from_str(payload).unwrap();
        assert!(matches!(c.iss, Cow::Borrowed(_)));
        assert!(matches!(c.ctx, Some(Cow::Borrowed("fixture-ctx"))));
        assert_eq!(c.scope.len(), 1);
        assert_eq!(serde_json::to_string(&c).unwrap(), payload);
    }

    #[test]
    fn documented_token_payload_round_trips_byte_exact() {
        let payload = r#"{"scope":"keymgmt:list","sub":"Qq/EGdvacmNrN6JFWVXglQ==","iat":1647871122,"exp":1647872020,"jti":"koQ4YsCf3L4iTrl2py6g7t3jvV9pwwsIr6//F96OfYI="}"#;
        let c: AccessTokenClaims<'_> = serde_json::from_str(payload).unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), payload);
    }

    #[test]
    fn optional_strings_borrow_unless_escaped() {
        let c: AccessTokenClaims<'_> =
            serde_json::from_str(r#"{"scope":"s","sub":"U","iat":1,"exp":2,"jti":"j","ctx":"c"}"#)
                .unwrap();
        assert!(matches!(c.ctx, Some(Cow::Borrowed("c"))));
        let c: AccessTokenClaims<'_> = serde_json::from_str(
            r#"{"scope":"s","sub":"U","iat":1,"exp":2,"jti":"j","ctx":"a\/b"}"#,
        )
        .unwrap();
        assert!(matches!(c.ctx, Some(Cow::Owned(ref s)) if s == "a/b"));
        let c: AccessTokenClaims<'_> =
            serde_json::from_str(r#"{"scope":"s","sub":"U","iat":1,"exp":2,"jti":"j"}"#).unwrap();
        assert_eq!(c.ctx, None);
        assert!(serde_json::from_str::<AccessTokenClaims<'_>>(
            r#"{"scope":"s","sub":"U","iat":1,"exp":2,"jti":"j","ctx":1}"#
        )
        .is_err());
    }

    #[test]
    fn scope_map_is_bounded() {
        let nine: alloc::vec::Vec<_> = (0..9).map(|i| alloc::format!("\"p{i}\":\"A\"")).collect();
        let json = alloc::format!("{{{}}}", nine.join(","));
        assert!(serde_json::from_str::<ScopeMap<'_>>(&json).is_err());
        assert!(serde_json::from_str::<ScopeMap<'_>>(r#"{"p":"A","p":"B"}"#).is_err());
        assert!(serde_json::from_str::<ScopeMap<'_>>(r#"{"p":1}"#).is_err());
    }
}
