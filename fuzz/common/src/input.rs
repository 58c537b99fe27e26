//! The input format of the message targets: `[mode: u8][clock offset: i32 LE][message…]`.
//!
//! The mode says what the message is (raw body, raw JWT, a payload for the [`crate::oracle`]
//! to sign, …: each target documents its modes); the offset moves the device's clock around
//! [`crate::fixture::START`], so that expiry checks are fuzzed too. Shorter inputs are read
//! with zeros for the missing header bytes.

use crate::fixture::START;

/// A decoded input.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// What the message is; targets reduce it modulo their number of modes.
    pub mode: u8,
    /// The time of the call: [`START`] plus the signed offset.
    pub now: u64,
    /// The message.
    pub message: &'a [u8],
}

/// Reads an input.
pub fn decode(data: &[u8]) -> Input<'_> {
    let mode = data.first().copied().unwrap_or(0);
    let mut offset = [0u8; 4];
    for (dst, src) in offset.iter_mut().zip(data.iter().skip(1)) {
        *dst = *src;
    }
    let offset = i64::from(i32::from_le_bytes(offset));
    Input {
        mode,
        now: START.saturating_add_signed(offset),
        message: data.get(5..).unwrap_or_default(),
    }
}

/// Writes an input (for the seed generator).
pub fn encode(mode: u8, offset: i32, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + message.len());
    out.push(mode);
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(message);
    out
}

impl Input<'_> {
    /// The message as text, replacing invalid UTF-8 (a body can carry only text).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.message)
    }
}

/// The request body of a device target whose JWT travels as `{"<member>": jwt}`, by mode:
/// 0, the message is the body; 1, the message is the JWT; 2, the message is a header pick and
/// payload that [`crate::oracle`] signs with `key`.
pub fn jwt_body(input: &Input<'_>, member: &str, key: &[u8]) -> Vec<u8> {
    match input.mode % 3 {
        0 => input.message.to_vec(),
        1 => crate::fixture::body_with(member, &input.text()),
        _ => {
            let (header, payload) = crate::oracle::split_header(input.message);
            crate::fixture::body_with(member, &crate::oracle::sign(&header, payload, key))
        }
    }
}
