//! Base64 rules of the protocol (spec §2.1).
//!
//! Three different rules live side by side on the wire, and mixing them up is the most common
//! interop bug, so each has its own function here:
//!
//! * JWT segments: canonical base64url without padding, both ways ([`decode_segment`],
//!   [`encode_segment`]). Padding, the standard alphabet, whitespace and non-canonical trailing
//!   bits are rejected.
//! * Binary values inside JSON (keys, jti, pid, mac, code, sealed scopes): emitted as standard
//!   base64 *with* padding ([`encode_std`]); accepted in either alphabet with optional padding,
//!   but the decoded length must be exact ([`decode_fixed`], [`decode_std_into`]).
//! * A pid inside a URL path (`pidx`): [`pid_to_pidx`].
//!
//! Every decoder works into caller-provided or stack buffers, and so do the `*_into` encoders:
//! nothing here allocates except the `String`-returning encoders.

use alloc::string::String;
use arrayvec::ArrayString;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};

/// The longest base64 text [`decode_fixed`] and [`decode_std_into`] accept, in characters.
///
/// A sealed scope of `seal::MAX_SEALED_BYTES` (1200) bytes is the longest binary field the
/// protocol carries; this bound (its base64 length) keeps the tolerant decoder's scratch buffer
/// on the stack. `seal` asserts the two agree at compile time, so that this module, which
/// `seal` uses, does not use `seal` back.
pub const MAX_STD_B64_CHARS: usize = 1600;

/// Standard alphabet, padding optional, canonical trailing bits: the tolerant input rule once
/// the url alphabet has been mapped onto the standard one.
const STD_TOLERANT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A base64 text that does not follow the rule of the place it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// A character outside the alphabet, misplaced padding, or non-canonical trailing bits.
    InvalidBase64,
    /// The text decodes, but not to the number of bytes this field must have.
    WrongLength {
        /// The length the field must have.
        expected: usize,
    },
    /// The text is longer than any value of this field can be.
    TooLong,
}

impl core::fmt::Display for CodecError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CodecError::InvalidBase64 => f.write_str("invalid base64"),
            CodecError::WrongLength { expected } => {
                write!(f, "base64 value does not decode to {expected} bytes")
            }
            CodecError::TooLong => f.write_str("base64 value too long"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CodecError {}

/// Decodes one JWT segment: canonical base64url, no padding, nothing else.
///
/// Returns the decoded prefix of `out`. Fails if `out` is too small for the decoded bytes.
/// Decoding is the `base64` crate's (`URL_SAFE_NO_PAD`, which rejects padding and
/// non-canonical trailing bits): a hand-written decoder measured only about 3 % faster on a
/// bearer check, not worth owning a decoder for.
pub fn decode_segment<'o>(segment: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], CodecError> {
    if base64::decoded_len_estimate(segment.len()) > out.len() {
        return Err(CodecError::TooLong);
    }
    let n = URL_SAFE_NO_PAD
        .decode_slice(segment, out)
        .map_err(|_| CodecError::InvalidBase64)?;
    out.get(..n).ok_or(CodecError::TooLong)
}

/// Encodes one JWT segment (base64url, no padding).
pub fn encode_segment(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Appends one JWT segment (base64url, no padding) to an inline string; `None` when it does not
/// fit (`out` then holds part of it).
pub(crate) fn append_segment_inline<const N: usize>(
    bytes: &[u8],
    out: &mut ArrayString<N>,
) -> Option<()> {
    // Whole 3-byte groups per chunk, so the chunks' encodings concatenate to the whole's.
    const CHUNK: usize = 192;
    let mut buf = [0u8; CHUNK / 3 * 4];
    for chunk in bytes.chunks(CHUNK) {
        let n = URL_SAFE_NO_PAD.encode_slice(chunk, &mut buf).ok()?;
        // base64 output is ASCII.
        let text = core::str::from_utf8(buf.get(..n)?).ok()?;
        out.try_push_str(text).ok()?;
    }
    Some(())
}

/// Encodes a binary JSON field (standard base64 with padding) into `out`; returns the text, or
/// `None` when `out` is too small.
pub fn encode_std_into<'o>(bytes: &[u8], out: &'o mut [u8]) -> Option<&'o str> {
    let n = STANDARD.encode_slice(bytes, out).ok()?;
    // base64 output is ASCII.
    core::str::from_utf8(out.get(..n)?).ok()
}

/// Appends one JWT segment (base64url, no padding) to `out`.
pub fn append_segment(bytes: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(bytes, out);
}

/// Appends a binary JSON field (standard base64 with padding) to `out`.
pub fn append_std(bytes: &[u8], out: &mut String) {
    STANDARD.encode_string(bytes, out);
}

/// Encodes a binary JSON field: standard base64 with padding.
pub fn encode_std(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes a binary JSON field as the device accepts it: either alphabet, padding optional,
/// into `out`; returns the decoded prefix.
pub fn decode_std_into<'o>(text: &str, out: &'o mut [u8]) -> Result<&'o [u8], CodecError> {
    let text = text.as_bytes();
    if text.len() > MAX_STD_B64_CHARS {
        return Err(CodecError::TooLong);
    }
    // Map the url alphabet onto the standard one in a stack copy; the two alphabets differ in
    // exactly these two characters, so either form (or a mix, as the firmware tolerates) works.
    let mut scratch = [0u8; MAX_STD_B64_CHARS];
    let copy = scratch.get_mut(..text.len()).ok_or(CodecError::TooLong)?;
    for (dst, &src) in copy.iter_mut().zip(text) {
        *dst = match src {
            b'-' => b'+',
            b'_' => b'/',
            other => other,
        };
    }
    if base64::decoded_len_estimate(copy.len()) > out.len() + 2 {
        return Err(CodecError::TooLong);
    }
    let n = STD_TOLERANT
        .decode_slice(&*copy, out)
        .map_err(|e| match e {
            base64::DecodeSliceError::OutputSliceTooSmall => CodecError::TooLong,
            base64::DecodeSliceError::DecodeError(_) => CodecError::InvalidBase64,
        })?;
    out.get(..n).ok_or(CodecError::TooLong)
}

/// Decodes a fixed-size binary JSON field (a key, jti or pid: 32 bytes) tolerantly; the length
/// must be exactly `N`.
pub fn decode_fixed<const N: usize>(text: &str) -> Result<[u8; N], CodecError> {
    // One spare byte tells "exactly N" from "more than N" without a second pass.
    let mut buf = [0u8; 96];
    let room = buf.get_mut(..N + 1).ok_or(CodecError::TooLong)?;
    let decoded = match decode_std_into(text, room) {
        Ok(d) => d,
        // Too long to be N bytes, unless it is not base64 at all.
        Err(CodecError::TooLong) if !is_base64_text(text) => return Err(CodecError::InvalidBase64),
        Err(CodecError::TooLong) => return Err(CodecError::WrongLength { expected: N }),
        Err(e) => return Err(e),
    };
    decoded
        .try_into()
        .map_err(|_| CodecError::WrongLength { expected: N })
}

/// Whether every character of `text` belongs to either base64 alphabet or is padding.
fn is_base64_text(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'='))
}

/// Turns a pid (standard base64) into its URL-path form `pidx`: `+`→`-`, `/`→`_`, `=` dropped.
///
/// Any string maps (the broker treats pids as opaque); url-form input passes through unchanged.
pub fn pid_to_pidx(pid: &str) -> String {
    pid.chars()
        .filter(|&c| c != '=')
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            other => other,
        })
        .collect()
}

/// Turns a `pidx` from a URL path back into the pid's standard base64 form: `-`→`+`, `_`→`/`,
/// and `=` padding restored to a multiple of four characters.
pub fn pidx_to_pid(pidx: &str) -> String {
    let mut pid: String = pidx
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            other => other,
        })
        .collect();
    while !pid.len().is_multiple_of(4) {
        pid.push('=');
    }
    pid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_is_strict() {
        let mut out = [0u8; 8];
        assert_eq!(decode_segment(b"YWJj", &mut out), Ok(&b"abc"[..]));
        assert_eq!(decode_segment(b"YWI", &mut out), Ok(&b"ab"[..]));
        // padding, standard alphabet, whitespace and non-canonical bits
        assert_eq!(
            decode_segment(b"YWI=", &mut out),
            Err(CodecError::InvalidBase64)
        );
        assert_eq!(
            decode_segment(b"+w", &mut out),
            Err(CodecError::InvalidBase64)
        );
        assert_eq!(
            decode_segment(b"YW I", &mut out),
            Err(CodecError::InvalidBase64)
        );
        assert_eq!(
            decode_segment(b"YWJ", &mut out),
            Err(CodecError::InvalidBase64)
        );
        assert_eq!(
            decode_segment(b"Y", &mut out),
            Err(CodecError::InvalidBase64)
        );
    }

    proptest::proptest! {
        #[test]
        fn segment_decoder_answers_as_the_base64_crate(
            text in proptest::collection::vec(
                proptest::sample::select(alloc::vec![
                    b'A', b'B', b'Q', b'g', b'w', b'z', b'0', b'9', b'-', b'_', b'+', b'/',
                    b'=', b' ', b'.', 0xc3, 0x00,
                ]),
                0..40,
            )
        ) {
            let mut out = [0u8; 32];
            let ours = decode_segment(&text, &mut out).map(<[u8]>::to_vec);
            let theirs = URL_SAFE_NO_PAD.decode(&text);
            match (&ours, &theirs) {
                (Ok(a), Ok(b)) => proptest::prop_assert_eq!(a, b),
                (Err(CodecError::TooLong), _) => {
                    proptest::prop_assert!(base64::decoded_len_estimate(text.len()) > 32)
                }
                (Err(_), Err(_)) => {}
                _ => proptest::prop_assert!(false, "{:?} vs {:?} for {:?}", ours, theirs, text),
            }
        }

        #[test]
        fn segment_decoder_round_trips(bytes in proptest::collection::vec(0u8..=255, 0..64)) {
            let text = encode_segment(&bytes);
            let mut out = [0u8; 64];
            proptest::prop_assert_eq!(decode_segment(text.as_bytes(), &mut out), Ok(&bytes[..]));
        }
    }

    #[test]
    fn fixed_is_tolerant_but_exact() {
        let std = "+yiSo/fYgsbaqsRgZHvU0gnWBxrPcrW26XOytEcxcEY=";
        let a: [u8; 32] = decode_fixed(std).unwrap();
        let url = "-yiSo_fYgsbaqsRgZHvU0gnWBxrPcrW26XOytEcxcEY";
        assert_eq!(decode_fixed::<32>(url).unwrap(), a);
        assert_eq!(
            decode_fixed::<32>("+yiSo/fYgsbaqsRgZHvU0gnWBxrPcrW26XOytEcxcE=="),
            Err(CodecError::InvalidBase64)
        );
        assert_eq!(
            decode_fixed::<32>("ZJxI8fbiFTWt0WhmYF9lhQ=="),
            Err(CodecError::WrongLength { expected: 32 })
        );
        assert_eq!(
            decode_fixed::<16>(std),
            Err(CodecError::WrongLength { expected: 16 })
        );
        assert_eq!(encode_std(&a), std);
    }

    #[test]
    fn pidx_round_trip() {
        for pid in [
            "a+b/cw==",
            "MTIzNDU2Nzg5MA==",
            "SmuPON3X1EeRh/rk2VtVFBsy6PRqZKlvMRgCNd6jnGk=",
        ] {
            assert_eq!(pidx_to_pid(&pid_to_pidx(pid)), pid);
        }
        assert_eq!(pid_to_pidx("//++=="), "__--");
    }

    #[test]
    fn overlong_input_is_rejected_not_truncated() {
        let long = "A".repeat(MAX_STD_B64_CHARS + 4);
        let mut out = [0u8; 4];
        assert_eq!(decode_std_into(&long, &mut out), Err(CodecError::TooLong));
    }
}
