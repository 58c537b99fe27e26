//! Structural JSON checks that serde's derive cannot express: no duplicate member anywhere,
//! bounded member counts. Borrowing, no allocation unless a key contains escapes.

use alloc::borrow::Cow;
use core::fmt;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Most members one JSON object in a protocol message may have. The largest real object is the
/// authreq scope map (at most 8 pairings) or an init `cfg` (about 15 members).
pub(crate) const MAX_MEMBERS: usize = 32;

/// What is wrong with a JSON text's structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonFault {
    /// Not JSON, or trailing bytes after the value.
    Syntax,
    /// The top-level value is not an object.
    NotObject,
    /// Some object has the same member twice.
    Duplicate,
    /// Some object has more than [`MAX_MEMBERS`] members.
    TooManyMembers,
}

/// Checks that `text` is one JSON object with no duplicate member at any depth.
pub(crate) fn check_object(text: &[u8]) -> Result<(), JsonFault> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let outcome = de.deserialize_any(Checker { top: true });
    match outcome {
        Ok(Ok(())) => de.end().map_err(|_| JsonFault::Syntax),
        Ok(Err(fault)) => Err(fault),
        Err(_) => Err(JsonFault::Syntax),
    }
}

/// Whether `text` is one JSON object (any members, duplicates included), without allocating.
///
/// `serde_json`'s `IgnoredAny` keeps a heap stack for containers nested two deep; this walk
/// recurses on the call stack instead (bounded by serde_json's depth limit of 128).
pub(crate) fn is_object(text: &[u8]) -> bool {
    if text.first() != Some(&b'{') {
        return false;
    }
    let mut de = serde_json::Deserializer::from_slice(text);
    Skip.deserialize(&mut de).is_ok() && de.end().is_ok()
}

/// Reads any JSON value and keeps nothing.
struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Skip)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }
}

/// Walks any JSON value; a found fault is returned as `Ok(Err(fault))` so that it is not
/// confused with a syntax error from serde_json.
struct Checker {
    top: bool,
}

type Walk = Result<(), JsonFault>;

impl<'de> DeserializeSeed<'de> for Checker {
    type Value = Walk;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Walk, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checker {
    type Value = Walk;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Walk, E> {
        Ok(self.scalar())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Walk, E> {
        Ok(self.scalar())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Walk, E> {
        Ok(self.scalar())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Walk, E> {
        Ok(self.scalar())
    }
    fn visit_str<E>(self, _: &str) -> Result<Walk, E> {
        Ok(self.scalar())
    }
    fn visit_unit<E>(self) -> Result<Walk, E> {
        Ok(self.scalar())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Walk, A::Error> {
        // serde_json insists that a sequence is read to its end, so a fault is remembered and
        // the walk goes on.
        let mut walk = if self.top {
            Err(JsonFault::NotObject)
        } else {
            Ok(())
        };
        while let Some(inner) = seq.next_element_seed(Checker { top: false })? {
            walk = walk.and(inner);
        }
        Ok(walk)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Walk, A::Error> {
        let mut seen: [Option<Cow<'de, str>>; MAX_MEMBERS] = [const { None }; MAX_MEMBERS];
        let mut count = 0usize;
        let mut walk = Ok(());
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if walk.is_ok() {
                if seen.iter().flatten().any(|k| *k == key.0) {
                    walk = Err(JsonFault::Duplicate);
                } else if let Some(slot) = seen.get_mut(count) {
                    *slot = Some(key.0);
                    count += 1;
                } else {
                    walk = Err(JsonFault::TooManyMembers);
                }
            }
            let inner = map.next_value_seed(Checker { top: false })?;
            walk = walk.and(inner);
        }
        Ok(walk)
    }
}

impl Checker {
    fn scalar(&self) -> Walk {
        if self.top {
            Err(JsonFault::NotObject)
        } else {
            Ok(())
        }
    }
}

/// A member name, borrowed unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(alloc::string::String::from(v))))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_anywhere_are_found() {
        assert_eq!(check_object(br#"{"a":1,"b":{"c":[1,{"d":2}]}}"#), Ok(()));
        assert_eq!(check_object(br#"{"a":1,"a":2}"#), Err(JsonFault::Duplicate));
        assert_eq!(
            check_object(br#"{"a":{"x":1,"x":1}}"#),
            Err(JsonFault::Duplicate)
        );
        assert_eq!(
            check_object(br#"{"a":[{"x":1,"x":1}]}"#),
            Err(JsonFault::Duplicate)
        );
        // an escaped spelling of the same name is the same name
        assert_eq!(
            check_object(br#"{"exp":1,"\u0065xp":2}"#),
            Err(JsonFault::Duplicate)
        );
    }

    #[test]
    fn is_object_accepts_any_object_only() {
        assert!(is_object(
            br#"{"a":1,"b":{"c":[1,{"d":[null,true,-1.5,"\u0041"]}]}}"#
        ));
        assert!(
            is_object(br#"{"a":1,"a":2}"#),
            "duplicates are not its concern"
        );
        assert!(is_object(b"{}"));
        assert!(!is_object(b"[1]"));
        assert!(!is_object(b" {}"));
        assert!(!is_object(b"\"x\""));
        assert!(!is_object(b"{"));
        assert!(!is_object(b"{} x"));
        assert!(!is_object(br#"{"a":}"#));
        let deep = alloc::format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert!(
            !is_object(deep.as_bytes()),
            "beyond serde_json's depth limit"
        );
    }

    #[test]
    fn shape_faults() {
        assert_eq!(check_object(b"[1]"), Err(JsonFault::NotObject));
        assert_eq!(check_object(b"\"x\""), Err(JsonFault::NotObject));
        assert_eq!(check_object(b"{"), Err(JsonFault::Syntax));
        assert_eq!(check_object(b"{} x"), Err(JsonFault::Syntax));
        let many: alloc::string::String = (0..=MAX_MEMBERS)
            .map(|i| alloc::format!("\"k{i}\":0"))
            .collect::<alloc::vec::Vec<_>>()
            .join(",");
        assert_eq!(
            check_object(alloc::format!("{{{many}}}").as_bytes()),
            Err(JsonFault::TooManyMembers)
        );
    }
}
