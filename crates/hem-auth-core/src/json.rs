//! Structural JSON checks that serde's derive cannot express: no duplicate member anywhere,
//! bounded member counts. Borrowing, no allocation unless a key contains escapes (and none at
//! all in [`check_object_in_place`]).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

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

/// How far [`check_object_in_place`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checked {
    /// The whole text was checked: one object, no duplicate, no object too large.
    Complete,
    /// A member name with escapes came before any fault: comparing it would need a copy, so
    /// the text is sound up to there and [`check_object`] must decide.
    EscapedName,
}

/// Checks that `text` is one JSON object with no duplicate member at any depth.
pub(crate) fn check_object(text: &[u8]) -> Result<(), JsonFault> {
    if let Some(verdict) = flat_object(text) {
        return verdict;
    }
    match walk(serde_json::Deserializer::from_slice(text), true) {
        Ok(()) => Ok(()),
        Err(Stop::Fault(fault)) => Err(fault),
        // Only the in-place walk stops at an escaped name; fail closed all the same.
        Err(Stop::EscapedName) => Err(JsonFault::Syntax),
    }
}

/// [`check_object`] without any allocation: the same walk, the same faults in the same order,
/// except that it gives up ([`Checked::EscapedName`]) at the first member name written with
/// escapes, which no producer of the protocol writes. Also requires the text to start with `{`.
pub(crate) fn check_object_in_place(text: &str) -> Result<Checked, JsonFault> {
    if !text.starts_with('{') {
        return Err(JsonFault::NotObject);
    }
    if let Some(verdict) = flat_object(text.as_bytes()) {
        return verdict.map(|()| Checked::Complete);
    }
    // Text already known to be UTF-8: serde_json's `str` reader skips the per-string check.
    match walk(serde_json::Deserializer::from_str(text), false) {
        Ok(()) => Ok(Checked::Complete),
        Err(Stop::Fault(fault)) => Err(fault),
        Err(Stop::EscapedName) => Ok(Checked::EscapedName),
    }
}

/// The verdict of the walk for the shape every JWT of the protocol but the authreq has, found
/// in one pass over the bytes: a compact object whose values are unsigned integers of at most
/// 19 digits (always valid JSON numbers) or strings of ASCII without escapes or control
/// characters, and whose names are such strings too (so equal bytes are equal names).
///
/// `None` for anything else (whitespace, nesting, escapes, other values, non-ASCII), which the
/// walk then decides. When it answers, it is the walk's answer: the text is valid JSON, and the
/// first fault in member order is the one [`Checker::remember`] would find.
fn flat_object(text: &[u8]) -> Option<Result<(), JsonFault>> {
    let mut names: [&[u8]; MAX_MEMBERS] = [&[]; MAX_MEMBERS];
    let mut count = 0usize;
    let mut verdict = Ok(());
    let mut rest = text.strip_prefix(b"{")?;
    if rest == b"}" {
        return Some(verdict);
    }
    loop {
        let (name, after) = flat_string(rest)?;
        rest = after.strip_prefix(b":")?;
        rest = match rest.first()? {
            b'"' => flat_string(rest)?.1,
            b'0'..=b'9' => flat_integer(rest)?,
            _ => return None,
        };
        if verdict.is_ok() {
            let seen = names.get(..count).unwrap_or_default();
            // Names are short and mostly differ in length or first byte: test those first.
            let same = |n: &&[u8]| n.len() == name.len() && n.first() == name.first() && *n == name;
            if seen.iter().any(same) {
                verdict = Err(JsonFault::Duplicate);
            } else if let Some(slot) = names.get_mut(count) {
                *slot = name;
                count += 1;
            } else {
                verdict = Err(JsonFault::TooManyMembers);
            }
        }
        match rest {
            [b',', after @ ..] => rest = after,
            b"}" => return Some(verdict),
            _ => return None,
        }
    }
}

/// A string of ASCII characters from 0x20 to 0x7f other than `"` and `\` at the start of
/// `text`: its contents and the rest of the text.
fn flat_string(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let body = text.strip_prefix(b"\"")?;
    // Eight bytes at a time while none of them ends or leaves the plain string, then byte by
    // byte to the closing quote.
    let mut start = 0;
    for chunk in body.chunks_exact(8) {
        let word = u64::from_le_bytes(chunk.try_into().ok()?);
        if !word_is_plain(word) {
            break;
        }
        start += 8;
    }
    for (i, &b) in body.get(start..)?.iter().enumerate() {
        if b == b'"' {
            let (contents, rest) = body.split_at(start + i);
            return Some((contents, rest.get(1..)?));
        }
        if !(0x20..0x80).contains(&b) || b == b'\\' {
            return None;
        }
    }
    None
}

/// Whether none of the eight bytes of `word` is `"`, `\`, below 0x20 or above 0x7f (the
/// zero-byte tests of "Bit Twiddling Hacks": exact when asking whether any byte matches).
const fn word_is_plain(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const fn has_zero(v: u64) -> bool {
        v.wrapping_sub(ONES) & !v & HIGHS != 0
    }
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS != 0;
    let high = word & HIGHS != 0;
    !(high
        || control
        || has_zero(word ^ (ONES * b'"' as u64))
        || has_zero(word ^ (ONES * b'\\' as u64)))
}

/// An unsigned integer without leading zeros, at most 19 digits, at the start of `text`: the
/// rest of the text.
fn flat_integer(text: &[u8]) -> Option<&[u8]> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    let leading_zero = digits > 1 && text.first() == Some(&b'0');
    if digits == 0 || digits > 19 || leading_zero {
        return None;
    }
    text.get(digits..)
}

fn walk<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    copy_escaped: bool,
) -> Walk {
    let outcome = de.deserialize_any(Checker {
        top: true,
        copy_escaped,
    });
    match outcome {
        Ok(Ok(())) => de.end().map_err(|_| Stop::Fault(JsonFault::Syntax)),
        Ok(Err(stop)) => Err(stop),
        Err(_) => Err(Stop::Fault(JsonFault::Syntax)),
    }
}

/// Why a walk stopped looking: a fault, or (in place only) an escaped member name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Fault(JsonFault),
    EscapedName,
}

/// Walks any JSON value; a found fault is returned as `Ok(Err(stop))` so that it is not
/// confused with a syntax error from serde_json.
struct Checker {
    top: bool,
    /// Copy escaped member names to compare them (allocates); else stop at the first one.
    copy_escaped: bool,
}

type Walk = Result<(), Stop>;

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
            Err(Stop::Fault(JsonFault::NotObject))
        } else {
            Ok(())
        };
        while let Some(inner) = seq.next_element_seed(self.inner())? {
            walk = walk.and(inner);
        }
        Ok(walk)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Walk, A::Error> {
        // Names as borrowed from the text; the rare escaped ones (copied) in `copied`, which
        // allocates only when one exists.
        let mut seen: [&'de str; MAX_MEMBERS] = [""; MAX_MEMBERS];
        let mut copied: Vec<String> = Vec::new();
        let mut count = 0usize;
        let mut walk = Ok(());
        while let Some(key) = map.next_key_seed(KeySeed {
            copy_escaped: self.copy_escaped,
        })? {
            if walk.is_ok() {
                walk = self.remember(key, &mut seen, &mut copied, &mut count);
            }
            let inner = map.next_value_seed(self.inner())?;
            walk = walk.and(inner);
        }
        Ok(walk)
    }
}

impl Checker {
    fn scalar(&self) -> Walk {
        if self.top {
            Err(Stop::Fault(JsonFault::NotObject))
        } else {
            Ok(())
        }
    }

    fn inner(&self) -> Checker {
        Checker {
            top: false,
            copy_escaped: self.copy_escaped,
        }
    }

    /// Records one member name of an object, or says why the object is at fault.
    fn remember<'de>(
        &self,
        key: Key<'de>,
        seen: &mut [&'de str; MAX_MEMBERS],
        copied: &mut Vec<String>,
        count: &mut usize,
    ) -> Walk {
        let name = match &key {
            Key::Borrowed(name) => *name,
            Key::Copied(name) => name.as_str(),
            Key::Escaped => return Err(Stop::EscapedName),
        };
        let borrowed = seen.get(..*count - copied.len()).unwrap_or_default();
        if borrowed.contains(&name) || copied.iter().any(|k| k == name) {
            return Err(Stop::Fault(JsonFault::Duplicate));
        }
        if *count == MAX_MEMBERS {
            return Err(Stop::Fault(JsonFault::TooManyMembers));
        }
        match key {
            Key::Borrowed(name) => {
                if let Some(slot) = seen.get_mut(*count - copied.len()) {
                    *slot = name;
                }
            }
            Key::Copied(name) => copied.push(name),
            Key::Escaped => {}
        }
        *count += 1;
        Ok(())
    }
}

/// A member name: borrowed from the text, copied (it has escapes), or only known to have
/// escapes (when the walk must not allocate).
enum Key<'de> {
    Borrowed(&'de str),
    Copied(String),
    Escaped,
}

struct KeySeed {
    copy_escaped: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key<'de>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
        if self.copy_escaped {
            Ok(Key::Copied(String::from(v)))
        } else {
            Ok(Key::Escaped)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_object_in_place_bytes(text: &[u8]) -> Result<Checked, JsonFault> {
        check_object_in_place(core::str::from_utf8(text).unwrap())
    }

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
    fn in_place_accepts_any_object_only() {
        assert_eq!(
            check_object_in_place_bytes(
                br#"{"a":1,"b":{"c":[1,{"d":[null,true,-1.5,"\u0041"]}]}}"#
            ),
            Ok(Checked::Complete)
        );
        assert_eq!(check_object_in_place_bytes(b"{}"), Ok(Checked::Complete));
        assert_eq!(
            check_object_in_place_bytes(b"\"x\""),
            Err(JsonFault::NotObject)
        );
        assert_eq!(check_object_in_place_bytes(b"{"), Err(JsonFault::Syntax));
        let deep = alloc::format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(
            check_object_in_place(&deep),
            Err(JsonFault::Syntax),
            "beyond serde_json's depth limit"
        );
    }

    #[test]
    fn in_place_agrees_with_the_copying_walk() {
        let many: alloc::string::String = (0..=MAX_MEMBERS)
            .map(|i| alloc::format!("\"k{i}\":0"))
            .collect::<alloc::vec::Vec<_>>()
            .join(",");
        let too_many = alloc::format!("{{{many}}}");
        let texts: [&[u8]; 12] = [
            br#"{"a":1,"b":{"c":[1,{"d":2}]}}"#,
            br#"{"a":1,"a":2}"#,
            br#"{"a":{"x":1,"x":1}}"#,
            br#"{"a":[{"x":1,"x":1}]}"#,
            b"{}",
            b"{",
            b"{} x",
            br#"{"a":}"#,
            br#"{"a":[1,2],"b":{"a":1},"c":"\u0041"}"#,
            br#"{"a":1,"b":2,"a":{"c":1,"c":2}}"#,
            br#"{"x":[1,{"y":1,"y":2}],"z":1,"z":2}"#,
            too_many.as_bytes(),
        ];
        for text in texts {
            let copying = check_object(text);
            let in_place = check_object_in_place_bytes(text).map(|c| {
                assert_eq!(c, Checked::Complete);
            });
            assert_eq!(
                in_place,
                copying,
                "{}",
                alloc::string::String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn in_place_stops_at_the_first_escaped_name() {
        // an escaped duplicate is left to the copying walk
        assert_eq!(
            check_object_in_place_bytes(br#"{"exp":1,"\u0065xp":2}"#),
            Ok(Checked::EscapedName)
        );
        assert_eq!(
            check_object(br#"{"exp":1,"\u0065xp":2}"#),
            Err(JsonFault::Duplicate)
        );
        // a fault before the escaped name is final; syntax anywhere still fails
        assert_eq!(
            check_object_in_place_bytes(br#"{"a":1,"a":2,"\u0062":3}"#),
            Err(JsonFault::Duplicate)
        );
        assert_eq!(
            check_object_in_place_bytes(br#"{"\u0062":3,"a":1,"a":2}"#),
            Ok(Checked::EscapedName)
        );
        assert_eq!(
            check_object_in_place_bytes(br#"{"\u0062":3,"a":}"#),
            Err(JsonFault::Syntax)
        );
        // not an object, or not starting with `{`
        assert_eq!(
            check_object_in_place_bytes(b"[1]"),
            Err(JsonFault::NotObject)
        );
        assert_eq!(
            check_object_in_place_bytes(b" {}"),
            Err(JsonFault::NotObject)
        );
    }

    /// The walk alone, without the flat fast path.
    fn walked(text: &[u8]) -> Result<(), JsonFault> {
        match walk(serde_json::Deserializer::from_slice(text), true) {
            Ok(()) => Ok(()),
            Err(Stop::Fault(f)) => Err(f),
            Err(Stop::EscapedName) => unreachable!("the copying walk compares escaped names"),
        }
    }

    #[test]
    fn flat_fast_path_answers_as_the_walk_does() {
        let cases: [&[u8]; 16] = [
            br#"{"scope":"keymgmt:list","sub":"Qq/EGdvacmNrN6JFWVXglQ==","iat":1,"exp":0}"#,
            b"{}",
            br#"{"a":1,"a":2}"#,
            br#"{"a":1,"b":2,"a":"x","c":3}"#,
            br#"{"a":01}"#,
            br#"{"a":1234567890123456789}"#,
            br#"{"a":12345678901234567890}"#,
            br#"{"a":"x"y"}"#,
            br#"{"a":"x","b":}"#,
            br#"{"a":"x",}"#,
            br#"{"a":"x"} "#,
            br#"{"a":"x"}}"#,
            br#"{"a" :1}"#,
            br#"{"a":-1}"#,
            br#"{"a":[1]}"#,
            b"{\"a\":\"\x01\"}",
        ];
        for text in cases {
            if let Some(verdict) = flat_object(text) {
                assert_eq!(
                    verdict,
                    walked(text),
                    "{}",
                    alloc::string::String::from_utf8_lossy(text)
                );
            }
            assert_eq!(check_object(text), walked(text));
        }
        assert_eq!(flat_object(cases[0]), Some(Ok(())));
        assert_eq!(flat_object(cases[2]), Some(Err(JsonFault::Duplicate)));
        let many: alloc::string::String = (0..=MAX_MEMBERS)
            .map(|i| alloc::format!("\"k{i}\":0"))
            .collect::<alloc::vec::Vec<_>>()
            .join(",");
        let too_many = alloc::format!("{{{many}}}");
        assert_eq!(
            flat_object(too_many.as_bytes()),
            Some(Err(JsonFault::TooManyMembers))
        );
    }

    #[test]
    fn word_test_is_exact_for_every_byte_in_every_place() {
        for place in 0..8 {
            for b in 0..=255u8 {
                let mut bytes = [b'a'; 8];
                bytes[place] = b;
                let plain = (0x20..0x80).contains(&b) && b != b'"' && b != b'\\';
                assert_eq!(
                    word_is_plain(u64::from_le_bytes(bytes)),
                    plain,
                    "{b:#x} at {place}"
                );
            }
        }
        // two special bytes in one word, and the borrow between neighbours
        assert!(!word_is_plain(u64::from_le_bytes(*b"\x00\x01aaaaaa")));
        assert!(!word_is_plain(u64::from_le_bytes(*b"a\x20\x1faaaaa")));
        assert!(word_is_plain(u64::from_le_bytes(*b"\x20\x21\x7f\x7e+/=:")));
    }

    proptest::proptest! {
        #[test]
        fn flat_fast_path_never_disagrees_with_the_walk(
            parts in proptest::collection::vec(
                proptest::sample::select(alloc::vec![
                    "{", "}", ",", ":", "\"a\"", "\"b\"", "\"k:/+=\"", "0", "7", "01", "19",
                    "\"\\u0061\"", "\"x\\\"\"", " ", "[", "]", "-1", "1.5", "true", "null",
                    "\"a\":1", ",\"a\":\"v\"", ",\"b\":2", "\u{e9}",
                    "\"abcdefghijklmnopq\"", "\"abcdefgh\\\"ijklm\"", "abcdefgh", "\u{1}",
                    "\"Qq/EGdvacmNrN6JFWVXglQ==\"", "\"abcdefghij\u{7f}klmn\"",
                ]),
                0..24,
            )
        ) {
            let text = alloc::format!("{{{}", parts.concat());
            let bytes = text.as_bytes();
            if let Some(verdict) = flat_object(bytes) {
                proptest::prop_assert_eq!(verdict, walked(bytes), "{}", text);
            }
            proptest::prop_assert_eq!(check_object(bytes), walked(bytes));
            let in_place = check_object_in_place(&text);
            if in_place != Ok(Checked::EscapedName) {
                let expected = if text.starts_with('{') { walked(bytes) } else { Err(JsonFault::NotObject) };
                proptest::prop_assert_eq!(in_place.map(|_| ()), expected, "{}", text);
            }
        }
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
