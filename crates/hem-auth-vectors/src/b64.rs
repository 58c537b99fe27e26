//! Base64 as vector files carry it: binary values are standard base64 with padding (the
//! generator writes exactly that); the checker reads them the way the device reads binary JSON
//! fields, either alphabet and padding optional, so that a file from another implementation is
//! not failed over a spelling the protocol itself accepts.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};

const TOLERANT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Standard base64 with padding.
pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard or url-alphabet base64, padding optional.
pub fn decode(text: &str) -> Result<Vec<u8>, String> {
    let mapped: String = text
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            other => other,
        })
        .collect();
    TOLERANT
        .decode(mapped)
        .map_err(|e| format!("not base64 ({e}): {text:?}"))
}

/// Decodes exactly 32 bytes.
pub fn decode_32(text: &str) -> Result<[u8; 32], String> {
    decode(text)?
        .try_into()
        .map_err(|v: Vec<u8>| format!("{} bytes where 32 are needed: {text:?}", v.len()))
}
