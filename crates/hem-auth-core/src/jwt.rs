//! HS256 JWTs as the HEM ecosystem writes them (spec §3), untrusted first, verified second.
//!
//! * [`UntrustedJwt::parse`] checks the shape only: the size limit, exactly three strict
//!   base64url segments, a 32-byte signature, a JSON header and a JSON object payload. It
//!   decodes the header and payload once, into buffers inside the value (no heap), and walks
//!   the payload once for duplicate members; a duplicate is reported when claims are read.
//! * [`UntrustedJwt::verify`] applies the header policy and checks the HMAC over the
//!   **received** bytes in constant time. Only it builds a [`VerifiedJwt`], and only a
//!   [`VerifiedJwt`] hands out claims.
//! * [`sign`] emits each producer's exact header bytes ([`Header`]) and the payload in the
//!   order of the caller's struct, so our output is byte-identical to the real producers'.
//!
//! ```
//! use hem_auth_core::jwt::{self, Header, HeaderPolicy, UntrustedJwt};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Claims<'a> { sub: &'a str, exp: u64 }
//!
//! let key = [7u8; 32];
//! let token = jwt::sign(Header::AccessToken, &Claims { sub: "U", exp: 1 }, &key);
//! let untrusted = UntrustedJwt::parse(&token)?;
//! let verified = untrusted.verify(&key, HeaderPolicy::Plain)?;
//! let claims: Claims<'_> = verified.claims()?;
//! assert_eq!(claims.sub, "U");
//! # Ok::<(), hem_auth_core::jwt::JwtError>(())
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use arrayvec::{ArrayString, ArrayVec};
use hmac::Mac;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::json::{self, Checked, JsonFault};
use crate::mac::{mac, HmacSha256, MacKey};

/// Longest JWT accepted, in bytes (spec §3.6: checked before any crypto).
pub const MAX_JWT_BYTES: usize = 4096;
/// Longest decoded payload: the base64url expansion of [`MAX_JWT_BYTES`].
pub const MAX_PAYLOAD_BYTES: usize = MAX_JWT_BYTES / 4 * 3;
/// Longest authreq accepted by the roles that receive one (the client, the notify broker), in
/// bytes: the largest a device can emit (spec §3.6: 8 pairings, a 1023-character scope, a
/// 64-character `ctx` and a 128-character `note` of escaped characters, 20-digit dates). Read
/// an authreq with [`UntrustedJwt::parse_authreq`]; every other received JWT stays within
/// [`MAX_JWT_BYTES`].
pub const MAX_AUTHREQ_BYTES: usize = 17_526;
/// Longest decoded authreq payload: the base64url expansion of [`MAX_AUTHREQ_BYTES`].
pub const MAX_AUTHREQ_PAYLOAD_BYTES: usize = MAX_AUTHREQ_BYTES / 4 * 3;
/// Longest decoded header; real headers are about 45 bytes.
pub const MAX_HEADER_BYTES: usize = 192;
/// Length of an HS256 signature in bytes.
pub const SIGNATURE_BYTES: usize = 32;

/// Why a JWT was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtError {
    /// Longer than [`MAX_JWT_BYTES`] ([`MAX_AUTHREQ_BYTES`] for an authreq).
    TooLarge,
    /// Not exactly three `.`-separated segments.
    SegmentCount,
    /// A segment is not canonical unpadded base64url, or the signature is not 32 bytes.
    Encoding,
    /// The header does not decode to JSON.
    HeaderNotJson,
    /// The payload is not a JSON object (or not JSON at all).
    PayloadNotObject,
    /// The payload has the same member twice somewhere.
    DuplicateMember,
    /// A payload object has too many members.
    TooManyMembers,
    /// The header breaks the policy: not an object, a duplicate member, a `crit` member (of any
    /// value, `null` included), `alg` not
    /// `HS256`, or `ecdh` not `x25519` where required.
    HeaderPolicy,
    /// The HMAC does not match.
    BadSignature,
    /// A claim is missing, or of the wrong JSON type, for the message being read.
    InvalidClaims,
}

impl JwtError {
    /// Whether this is a malformation (the device's 400) rather than a failed proof (401).
    pub const fn is_malformed(&self) -> bool {
        !matches!(self, JwtError::HeaderPolicy | JwtError::BadSignature)
    }
}

impl core::fmt::Display for JwtError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            JwtError::TooLarge => "JWT too large",
            JwtError::SegmentCount => "JWT must have exactly three segments",
            JwtError::Encoding => "JWT segment is not canonical base64url",
            JwtError::HeaderNotJson => "JWT header is not JSON",
            JwtError::PayloadNotObject => "JWT payload is not a JSON object",
            JwtError::DuplicateMember => "JWT payload has a duplicate member",
            JwtError::TooManyMembers => "JWT payload object has too many members",
            JwtError::HeaderPolicy => "JWT header rejected by policy",
            JwtError::BadSignature => "JWT signature does not verify",
            JwtError::InvalidClaims => "JWT claims missing or of the wrong type",
        };
        f.write_str(s)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for JwtError {}

/// The header a producer emits, byte for byte (spec §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Header {
    /// Phone app, Manager, SDKs: eJWT login, init JWT, pairing reply, authreply.
    App,
    /// The device's ECDH JWTs: authreq, pairing request, check-in `check`.
    Device,
    /// The device's access token (no `ecdh`).
    AccessToken,
    /// The PHP API tester's order (also accepted by the device).
    Php,
}

impl Header {
    /// The exact JSON bytes.
    pub const fn json(self) -> &'static str {
        match self {
            Header::App => r#"{"ecdh":"x25519","alg":"HS256","typ":"JWT"}"#,
            Header::Device => r#"{"ecdh":"x25519","typ":"JWT","alg":"HS256"}"#,
            Header::AccessToken => r#"{"typ":"JWT","alg":"HS256"}"#,
            Header::Php => r#"{"alg":"HS256","typ":"JWT","ecdh":"x25519"}"#,
        }
    }

    /// The exact base64url segment of [`Header::json`] (spec §3.2).
    pub const fn segment(self) -> &'static str {
        match self {
            Header::App => "eyJlY2RoIjoieDI1NTE5IiwiYWxnIjoiSFMyNTYiLCJ0eXAiOiJKV1QifQ",
            Header::Device => "eyJlY2RoIjoieDI1NTE5IiwidHlwIjoiSldUIiwiYWxnIjoiSFMyNTYifQ",
            Header::AccessToken => "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9",
            Header::Php => "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImVjZGgiOiJ4MjU1MTkifQ",
        }
    }

    const ALL: [Header; 4] = [
        Header::App,
        Header::Device,
        Header::AccessToken,
        Header::Php,
    ];
}

/// What a verifier demands of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderPolicy {
    /// ECDH JWTs: `alg` = `HS256` and `ecdh` = `x25519`.
    Ecdh,
    /// Access tokens: `alg` = `HS256`; `ecdh` is not looked at.
    Plain,
}

/// The facts about a header that the policies look at, found once at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HeaderFacts {
    /// Object, no duplicate, no `crit`, `alg` = `HS256`.
    hs256: bool,
    /// `ecdh` = `x25519`.
    ecdh_x25519: bool,
}

impl HeaderFacts {
    /// The facts of a header the ecosystem emits, recognised by its segment before decoding:
    /// canonical base64url is one-to-one, so equal segments are equal header bytes.
    fn known(segment: &str) -> Option<Self> {
        Header::ALL
            .into_iter()
            .find(|known| segment == known.segment())
            .map(|known| HeaderFacts {
                hs256: true,
                ecdh_x25519: known != Header::AccessToken,
            })
    }

    /// The facts of any other header (the four known ones never get here: see
    /// [`HeaderFacts::known`]).
    fn read(header: &[u8]) -> Result<Self, JwtError> {
        match json::check_object(header) {
            Ok(()) => {}
            Err(JsonFault::Syntax) => return Err(JwtError::HeaderNotJson),
            Err(_) => {
                return Ok(HeaderFacts {
                    hs256: false,
                    ecdh_x25519: false,
                })
            }
        }
        #[derive(Deserialize)]
        struct Raw<'a> {
            #[serde(borrow, default)]
            alg: Option<&'a str>,
            #[serde(borrow, default)]
            ecdh: Option<&'a str>,
            /// Whether the header has a `crit` member, whatever its value: `null` included
            /// (spec §3.3), which `Option` would read as absent.
            #[serde(default, deserialize_with = "present")]
            crit: bool,
        }
        fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
            serde::de::IgnoredAny::deserialize(d).map(|_| true)
        }
        // A header whose members have the wrong types (or escapes) breaks the policy.
        let Ok(raw) = serde_json::from_slice::<Raw<'_>>(header) else {
            return Ok(HeaderFacts {
                hs256: false,
                ecdh_x25519: false,
            });
        };
        Ok(HeaderFacts {
            hs256: raw.alg == Some("HS256") && !raw.crit,
            ecdh_x25519: raw.ecdh == Some("x25519"),
        })
    }

    fn allows(self, policy: HeaderPolicy) -> bool {
        match policy {
            HeaderPolicy::Ecdh => self.hs256 && self.ecdh_x25519,
            HeaderPolicy::Plain => self.hs256,
        }
    }
}

/// A JWT whose shape is checked but whose signature is not: nothing in it may be trusted.
///
/// Holds the decoded payload (up to `N` bytes: [`MAX_PAYLOAD_BYTES`], or
/// [`MAX_AUTHREQ_PAYLOAD_BYTES`] for an [`UntrustedAuthreq`]) inline, so parsing and verifying
/// allocate nothing.
pub struct UntrustedJwt<'a, const N: usize = MAX_PAYLOAD_BYTES> {
    signed: &'a str,
    signature: [u8; SIGNATURE_BYTES],
    header: HeaderFacts,
    /// The decoded payload. Only the bytes the decoder writes to are ever initialised: making
    /// the value does not zero 3 KiB.
    payload: ArrayVec<u8, N>,
    structure: Structure,
}

/// An authreq whose shape is checked but whose signature is not
/// ([`UntrustedJwt::parse_authreq`]): up to [`MAX_AUTHREQ_BYTES`], its 13 KiB payload inline.
pub type UntrustedAuthreq<'a> = UntrustedJwt<'a, MAX_AUTHREQ_PAYLOAD_BYTES>;

/// Zeros to open room in the payload buffer for the decoder to write into.
const ZEROS: [u8; MAX_PAYLOAD_BYTES] = [0u8; MAX_PAYLOAD_BYTES];

/// What the walk at parse time found out about the payload's members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Structure {
    /// No duplicate member, no object too large.
    Sound,
    /// A duplicate member or an object too large: reported when claims are read.
    Fault(JwtError),
    /// A member name has escapes: the walk that copies it decides when claims are read.
    EscapedName,
}

impl<const N: usize> core::fmt::Debug for UntrustedJwt<'_, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UntrustedJwt")
            .field("signed", &self.signed)
            .finish_non_exhaustive()
    }
}

impl<'a> UntrustedJwt<'a> {
    /// Checks the shape of `token` (see the module docs). No key is needed.
    pub fn parse(token: &'a str) -> Result<Self, JwtError> {
        // The payload is decoded straight into the value's own buffer: no second 3 KiB copy.
        let mut jwt = UntrustedJwt::empty();
        jwt.parse_in_place(token)?;
        Ok(jwt)
    }

    /// A value to parse into with [`UntrustedJwt::parse_in_place`]. It holds no JWT: its header
    /// allows no policy and its payload is empty. Costs nothing (the buffer is not
    /// initialised).
    pub(crate) fn empty() -> Self {
        UntrustedJwt::blank()
    }

    /// [`UntrustedJwt::parse`] into a value the caller holds (see [`UntrustedJwt::empty`]), so
    /// that the 3 KiB value is never moved. On an error the value must not be used.
    pub(crate) fn parse_in_place(&mut self, token: &'a str) -> Result<(), JwtError> {
        self.parse_within(token, MAX_JWT_BYTES)
    }
}

impl<'a> UntrustedAuthreq<'a> {
    /// Checks the shape of an authreq as [`UntrustedJwt::parse`] checks any JWT, but with the
    /// authreq's own size limit, [`MAX_AUTHREQ_BYTES`] (spec §3.6): what the roles that receive
    /// authreqs call (the client with the `ext/request` answer, the notify broker at
    /// `event/new`). The value is about 13 KiB.
    pub fn parse_authreq(token: &'a str) -> Result<Self, JwtError> {
        let mut jwt = UntrustedJwt::blank();
        jwt.parse_within(token, MAX_AUTHREQ_BYTES)?;
        Ok(jwt)
    }
}

impl<'a, const N: usize> UntrustedJwt<'a, N> {
    /// A value that holds no JWT (see [`UntrustedJwt::empty`]).
    fn blank() -> Self {
        UntrustedJwt {
            signed: "",
            signature: [0u8; SIGNATURE_BYTES],
            header: HeaderFacts {
                hs256: false,
                ecdh_x25519: false,
            },
            payload: ArrayVec::new(),
            structure: Structure::Sound,
        }
    }

    /// Parses `token` in place, refusing one longer than `max` bytes before anything else.
    fn parse_within(&mut self, token: &'a str, max: usize) -> Result<(), JwtError> {
        if token.len() > max {
            return Err(JwtError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::SegmentCount);
        };
        self.fill(token, h, p, s)
    }

    /// The body of [`UntrustedJwt::parse`] once the segments are split.
    fn fill(&mut self, token: &'a str, h: &str, p: &str, s: &str) -> Result<(), JwtError> {
        let mut signature = [0u8; SIGNATURE_BYTES + 1];
        let sig =
            codec::decode_segment(s.as_bytes(), &mut signature).map_err(|_| JwtError::Encoding)?;
        self.signature = sig.try_into().map_err(|_| JwtError::Encoding)?;

        let known = HeaderFacts::known(h);
        let mut header_buf = [0u8; MAX_HEADER_BYTES];
        let header = match known {
            Some(_) => &[][..],
            None => codec::decode_segment(h.as_bytes(), &mut header_buf).map_err(|e| match e {
                codec::CodecError::TooLong => JwtError::HeaderNotJson,
                _ => JwtError::Encoding,
            })?,
        };

        // Room for the longest payload this segment can decode to (a segment too long for the
        // buffer is an encoding fault, as the decoder reports it), then only what it wrote.
        self.payload.clear();
        let room = base64::decoded_len_estimate(p.len());
        if room > N {
            return Err(JwtError::Encoding);
        }
        // One round for any JWT of at most `MAX_JWT_BYTES`; five for the largest authreq.
        while self.payload.len() < room {
            let zeros = ZEROS
                .get(..(room - self.payload.len()).min(ZEROS.len()))
                .ok_or(JwtError::Encoding)?;
            self.payload
                .try_extend_from_slice(zeros)
                .map_err(|_| JwtError::Encoding)?;
        }
        let payload_len = codec::decode_segment(p.as_bytes(), &mut self.payload)
            .map_err(|_| JwtError::Encoding)?
            .len();
        self.payload.truncate(payload_len);
        self.header = match known {
            Some(facts) => facts,
            None => HeaderFacts::read(header)?,
        };
        // The signed input is the first two segments exactly as received.
        self.signed = token
            .get(..h.len() + 1 + p.len())
            .ok_or(JwtError::SegmentCount)?;
        // JSON outside strings is ASCII and serde_json checks strings, so a payload that is not
        // UTF-8 was never an object; checking it whole, once, spares the per-string checks.
        let payload = self.payload_str().ok_or(JwtError::PayloadNotObject)?;
        self.structure = match json::check_object_in_place(payload) {
            Ok(Checked::Complete) => Structure::Sound,
            Ok(Checked::EscapedName) => Structure::EscapedName,
            Err(JsonFault::Duplicate) => Structure::Fault(JwtError::DuplicateMember),
            Err(JsonFault::TooManyMembers) => Structure::Fault(JwtError::TooManyMembers),
            Err(JsonFault::Syntax | JsonFault::NotObject) => {
                return Err(JwtError::PayloadNotObject)
            }
        };
        Ok(())
    }

    /// The payload as text; `None` only before [`UntrustedJwt::fill`] has checked it.
    fn payload_str(&self) -> Option<&str> {
        core::str::from_utf8(self.payload_bytes()).ok()
    }

    fn payload_bytes(&self) -> &[u8] {
        &self.payload
    }

    /// The first two segments as received: the bytes the signature covers.
    pub fn signed_part(&self) -> &'a str {
        self.signed
    }

    /// Applies `policy` to the header, then checks the HMAC-SHA256 under `key` over the
    /// received bytes with a constant-time comparison.
    pub fn verify(&self, key: &[u8], policy: HeaderPolicy) -> Result<VerifiedJwt<'_>, JwtError> {
        // A per-call state, not a `MacKey`: its overwrite on drop would cost a key schedule.
        let mut mac = HmacSha256::new_from_slice(key).map_err(|_| JwtError::BadSignature)?;
        self.verify_state(&mut mac, policy)
    }

    /// [`UntrustedJwt::verify`] under a key prepared once with [`MacKey::new`]: what a server
    /// that checks many tokens under one key calls (it saves the two SHA-256 blocks of the
    /// HMAC key schedule on every token, about a tenth of a bearer check).
    pub fn verify_with(
        &self,
        key: &MacKey,
        policy: HeaderPolicy,
    ) -> Result<VerifiedJwt<'_>, JwtError> {
        let mut scratch = key.scratch();
        self.verify_state(&mut scratch.state, policy)
    }

    /// The header policy, then the MAC of the received bytes under the keyed state `mac`.
    fn verify_state(
        &self,
        mac: &mut HmacSha256,
        policy: HeaderPolicy,
    ) -> Result<VerifiedJwt<'_>, JwtError> {
        if !self.header.allows(policy) {
            return Err(JwtError::HeaderPolicy);
        }
        mac.update(self.signed.as_bytes());
        // `verify_slice_reset` compares in constant time (subtle), and leaves the state with
        // the caller (a `MacKey`'s copy is then overwritten).
        mac.verify_slice_reset(&self.signature)
            .map_err(|_| JwtError::BadSignature)?;
        Ok(VerifiedJwt {
            payload: self.payload_str().ok_or(JwtError::PayloadNotObject)?,
            structure: self.structure,
        })
    }

    /// Reads claims **without** any verification.
    ///
    /// Only for the two places the protocol needs it: finding the key that will verify the
    /// token (a pid or `iss` lookup), and the phone reading a pairing request it has no key
    /// for yet (spec §6.4). Never decide anything else from these values.
    pub fn dangerous_unverified_claims<'s, T: Deserialize<'s>>(&'s self) -> Result<T, JwtError> {
        let payload = self.payload_str().ok_or(JwtError::PayloadNotObject)?;
        read_claims(payload, self.structure)
    }
}

impl<'a, const N: usize> UntrustedJwt<'a, N> {
    /// Reads the claims once, **before** any verification, into an [`Untrusted`] that hands
    /// them out only as [`Untrusted::dangerous_unverified`] (to find the key) or, after
    /// [`Untrusted::verify_with`], as a [`Verified`]: the single parse of a hot path (the
    /// device's `ext/token`) without a second read of the payload after the MAC.
    pub fn untrusted_claims<'s, T: Deserialize<'s>>(
        &'s self,
    ) -> Result<Untrusted<'s, 'a, T, N>, JwtError> {
        let payload = self.payload_str().ok_or(JwtError::PayloadNotObject)?;
        Ok(Untrusted {
            jwt: self,
            claims: read_claims(payload, self.structure)?,
        })
    }
}

/// Claims parsed from a JWT whose header and MAC are **not** checked yet (see
/// [`UntrustedJwt::untrusted_claims`]).
///
/// The claims were read from the very payload bytes the MAC covers, so [`Untrusted::verify`]
/// and [`Untrusted::verify_with`] can hand the same values on as a [`Verified`] without reading
/// them again. Before that they are readable only through [`Untrusted::dangerous_unverified`].
pub struct Untrusted<'s, 'a, T, const N: usize = MAX_PAYLOAD_BYTES> {
    jwt: &'s UntrustedJwt<'a, N>,
    claims: T,
}

impl<T, const N: usize> core::fmt::Debug for Untrusted<'_, '_, T, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Untrusted").finish_non_exhaustive()
    }
}

impl<'s, T, const N: usize> Untrusted<'s, '_, T, N> {
    /// The claims **without** verification: only to find the key that will verify them (a
    /// pid or `iss` lookup). Every such read is listed in [`crate::manual`] ("Unverified
    /// reads").
    pub fn dangerous_unverified(&self) -> &T {
        &self.claims
    }

    /// [`UntrustedJwt::verify`], then the claims already read, as a [`Verified`].
    pub fn verify(self, key: &[u8], policy: HeaderPolicy) -> Result<Verified<T>, JwtError> {
        self.jwt.verify(key, policy)?;
        Ok(Verified {
            claims: self.claims,
        })
    }

    /// [`UntrustedJwt::verify_with`], then the claims already read, as a [`Verified`].
    pub fn verify_with(self, key: &MacKey, policy: HeaderPolicy) -> Result<Verified<T>, JwtError> {
        self.jwt.verify_with(key, policy)?;
        Ok(Verified {
            claims: self.claims,
        })
    }
}

/// Claims of a JWT whose header policy and HMAC have been checked: proof by type that the MAC
/// check ran. Only [`Untrusted::verify`], [`Untrusted::verify_with`] and
/// [`VerifiedJwt::verified_claims`] build one; code outside this module cannot:
///
/// ```compile_fail
/// let forged = hem_auth_core::jwt::Verified { claims: 1u64 };
/// ```
///
/// ```
/// use hem_auth_core::jwt::{self, Header, HeaderPolicy, UntrustedJwt, Verified};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Claims { exp: u64 }
///
/// let token = jwt::sign(Header::AccessToken, &Claims { exp: 5 }, &[1; 32]);
/// let untrusted = UntrustedJwt::parse(&token)?;
/// let read = untrusted.untrusted_claims::<Claims>()?;
/// let verified: Verified<Claims> = read.verify(&[1; 32], HeaderPolicy::Plain)?;
/// assert_eq!(verified.claims().exp, 5);
/// let forged = jwt::sign(Header::AccessToken, &Claims { exp: 5 }, &[2; 32]);
/// let untrusted = UntrustedJwt::parse(&forged)?;
/// let read = untrusted.untrusted_claims::<Claims>()?;
/// assert!(read.verify(&[1; 32], HeaderPolicy::Plain).is_err());
/// # Ok::<(), hem_auth_core::jwt::JwtError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<T> {
    claims: T,
}

impl<T> Verified<T> {
    /// The verified claims.
    pub fn claims(&self) -> &T {
        &self.claims
    }

    /// The verified claims, by value.
    pub fn into_claims(self) -> T {
        self.claims
    }
}

/// A JWT whose header policy and HMAC have been checked: its claims can be read.
///
/// Only [`UntrustedJwt::verify`] builds one. Borrows the untrusted value's buffer.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedJwt<'v> {
    payload: &'v str,
    structure: Structure,
}

impl<'v> VerifiedJwt<'v> {
    /// Reads the claims into `T`, borrowing strings from the payload where they have no
    /// escapes. Duplicate members anywhere, and claims of the wrong JSON type, are rejected.
    pub fn claims<T: Deserialize<'v>>(&self) -> Result<T, JwtError> {
        read_claims(self.payload, self.structure)
    }

    /// [`VerifiedJwt::claims`] as a [`Verified`], for a caller that passes the proof on.
    pub fn verified_claims<T: Deserialize<'v>>(&self) -> Result<Verified<T>, JwtError> {
        Ok(Verified {
            claims: self.claims()?,
        })
    }

    /// The decoded payload JSON.
    pub fn payload_json(&self) -> &'v [u8] {
        self.payload.as_bytes()
    }
}

fn read_claims<'s, T: Deserialize<'s>>(
    payload: &'s str,
    structure: Structure,
) -> Result<T, JwtError> {
    match structure {
        Structure::Sound => {}
        Structure::Fault(e) => return Err(e),
        Structure::EscapedName => json::check_object(payload.as_bytes()).map_err(|f| match f {
            JsonFault::Duplicate => JwtError::DuplicateMember,
            JsonFault::TooManyMembers => JwtError::TooManyMembers,
            JsonFault::Syntax | JsonFault::NotObject => JwtError::PayloadNotObject,
        })?,
    }
    serde_json::from_str(payload).map_err(|_| JwtError::InvalidClaims)
}

/// Signs `claims` as an HS256 JWT with `header`'s exact bytes; claims are serialised compactly
/// in the struct's field order.
pub fn sign<T: Serialize + ?Sized>(header: Header, claims: &T, key: &[u8]) -> String {
    sign_json(header, &serialize(claims), key)
}

/// The compact JSON of `claims`. Serialising a plain struct of strings and integers cannot
/// fail; an error gives an empty payload.
#[cfg(feature = "std")]
fn serialize<T: Serialize + ?Sized>(claims: &T) -> Vec<u8> {
    // Room for every claim set of the protocol but a large authreq: one allocation.
    let mut payload = Vec::with_capacity(SIGN_PAYLOAD_CAPACITY);
    if serde_json::to_writer(&mut payload, claims).is_err() {
        payload.clear();
    }
    payload
}

/// The compact JSON of `claims` (without `std`, serde_json only writes into its own vector).
#[cfg(not(feature = "std"))]
fn serialize<T: Serialize + ?Sized>(claims: &T) -> Vec<u8> {
    serde_json::to_vec(claims).unwrap_or_default()
}

/// The payload buffer [`sign`] starts with, in bytes: an access token's claims are about 150.
#[cfg(feature = "std")]
const SIGN_PAYLOAD_CAPACITY: usize = 512;

/// Signs an already serialised payload. The token is built in one allocation.
pub fn sign_json(header: Header, payload_json: &[u8], key: &[u8]) -> String {
    let segment = header.segment();
    let capacity = segment.len() + 1 + payload_json.len().div_ceil(3) * 4 + 1 + 44;
    let mut token = String::with_capacity(capacity);
    token.push_str(segment);
    token.push('.');
    codec::append_segment(payload_json, &mut token);
    let tag = mac(key, token.as_bytes());
    token.push('.');
    codec::append_segment(&tag, &mut token);
    token
}

/// Signs `claims` exactly as [`sign`] does, but appends the token to `out` instead of making a
/// new `String`. `None` when the token does not fit in `out`, or its payload in
/// [`MAX_PAYLOAD_BYTES`] (`out` then holds part of it).
///
/// With `std`, nothing is allocated: the claims are serialised into a stack buffer. Without
/// `std`, serde_json can only write into its own vector, so the payload takes one allocation.
pub(crate) fn sign_inline<T: Serialize + ?Sized, const N: usize>(
    header: Header,
    claims: &T,
    key: &MacKey,
    out: &mut ArrayString<N>,
) -> Option<()> {
    let payload = serialize_inline(claims)?;
    let start = out.len();
    out.try_push_str(header.segment()).ok()?;
    out.try_push('.').ok()?;
    codec::append_segment_inline(&payload, out)?;
    let tag = key.mac(out.as_bytes().get(start..)?);
    out.try_push('.').ok()?;
    codec::append_segment_inline(&tag, out)
}

/// The compact JSON of `claims` in an inline buffer; `None` when it does not fit.
#[cfg(feature = "std")]
fn serialize_inline<T: Serialize + ?Sized>(claims: &T) -> Option<ArrayVec<u8, MAX_PAYLOAD_BYTES>> {
    let mut payload = ArrayVec::new();
    serde_json::to_writer(&mut payload, claims).ok()?;
    Some(payload)
}

/// The compact JSON of `claims` in an inline buffer; `None` when it does not fit.
#[cfg(not(feature = "std"))]
fn serialize_inline<T: Serialize + ?Sized>(claims: &T) -> Option<ArrayVec<u8, MAX_PAYLOAD_BYTES>> {
    let json = serde_json::to_vec(claims).ok()?;
    let mut payload = ArrayVec::new();
    payload.try_extend_from_slice(&json).ok()?;
    Some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER_SEGMENTS: [(Header, &str); 4] = [
        (
            Header::App,
            "eyJlY2RoIjoieDI1NTE5IiwiYWxnIjoiSFMyNTYiLCJ0eXAiOiJKV1QifQ",
        ),
        (
            Header::Php,
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImVjZGgiOiJ4MjU1MTkifQ",
        ),
        (
            Header::Device,
            "eyJlY2RoIjoieDI1NTE5IiwidHlwIjoiSldUIiwiYWxnIjoiSFMyNTYifQ",
        ),
        (Header::AccessToken, "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9"),
    ];

    #[test]
    fn header_bytes_match_facts() {
        for (h, seg) in HEADER_SEGMENTS {
            assert_eq!(codec::encode_segment(h.json().as_bytes()), seg, "{h:?}");
            assert_eq!(h.segment(), seg, "{h:?}");
        }
    }

    fn forge(header: &str, payload: &str, key: &[u8]) -> String {
        let mut t = codec::encode_segment(header.as_bytes());
        t.push('.');
        t.push_str(&codec::encode_segment(payload.as_bytes()));
        let tag = mac(key, t.as_bytes());
        t.push('.');
        t.push_str(&codec::encode_segment(&tag));
        t
    }

    #[test]
    fn header_policy() {
        let k = [1u8; 32];
        let cases = [
            (r#"{"alg":"HS256","ecdh":"x25519"}"#, Ok(()), Ok(())),
            (
                r#"{"ecdh":"x25519"}"#,
                Err(JwtError::HeaderPolicy),
                Err(JwtError::HeaderPolicy),
            ),
            (
                r#"{"alg":"none","ecdh":"x25519"}"#,
                Err(JwtError::HeaderPolicy),
                Err(JwtError::HeaderPolicy),
            ),
            (
                r#"{"alg":"HS512","ecdh":"x25519"}"#,
                Err(JwtError::HeaderPolicy),
                Err(JwtError::HeaderPolicy),
            ),
            (r#"{"alg":"HS256"}"#, Err(JwtError::HeaderPolicy), Ok(())),
            (
                r#"{"alg":"HS256","ecdh":"p256"}"#,
                Err(JwtError::HeaderPolicy),
                Ok(()),
            ),
            (
                r#"{"alg":"HS256","alg":"HS256","ecdh":"x25519"}"#,
                Err(JwtError::HeaderPolicy),
                Err(JwtError::HeaderPolicy),
            ),
            (
                r#"{"alg":"HS256","ecdh":"x25519","crit":["x"]}"#,
                Err(JwtError::HeaderPolicy),
                Err(JwtError::HeaderPolicy),
            ),
            (
                r#"{"alg":"HS256","ecdh":"x25519","crit":null}"#,
                Err(JwtError::HeaderPolicy),
                Err(JwtError::HeaderPolicy),
            ),
            (
                r#"{"crit":[],"alg":"HS256","ecdh":"x25519"}"#,
                Err(JwtError::HeaderPolicy),
                Err(JwtError::HeaderPolicy),
            ),
            (
                r#"{"alg":"HS256","crit":false}"#,
                Err(JwtError::HeaderPolicy),
                Err(JwtError::HeaderPolicy),
            ),
            (
                r#"["alg"]"#,
                Err(JwtError::HeaderPolicy),
                Err(JwtError::HeaderPolicy),
            ),
            (
                r#"{"alg":1,"ecdh":"x25519"}"#,
                Err(JwtError::HeaderPolicy),
                Err(JwtError::HeaderPolicy),
            ),
        ];
        for (header, ecdh, plain) in cases {
            let t = forge(header, r#"{"a":1}"#, &k);
            let u = UntrustedJwt::parse(&t).unwrap();
            assert_eq!(
                u.verify(&k, HeaderPolicy::Ecdh).map(|_| ()),
                ecdh,
                "{header}"
            );
            assert_eq!(
                u.verify(&k, HeaderPolicy::Plain).map(|_| ()),
                plain,
                "{header}"
            );
        }
        let t = forge("not json", r#"{"a":1}"#, &k);
        assert_eq!(UntrustedJwt::parse(&t).err(), Some(JwtError::HeaderNotJson));
    }

    #[test]
    fn shape() {
        let k = [1u8; 32];
        let good = sign(Header::App, &serde_json::json!({"a":1}), &k);
        assert!(UntrustedJwt::parse(&good).is_ok());
        assert_eq!(
            UntrustedJwt::parse("a.b").err(),
            Some(JwtError::SegmentCount)
        );
        assert_eq!(
            UntrustedJwt::parse(&alloc::format!("{good}.x")).err(),
            Some(JwtError::SegmentCount)
        );
        let padded = good.replacen('.', "=.", 1);
        assert_eq!(UntrustedJwt::parse(&padded).err(), Some(JwtError::Encoding));
        let short_sig = &good[..good.len() - 1];
        assert_eq!(
            UntrustedJwt::parse(short_sig).err(),
            Some(JwtError::Encoding)
        );
        let big = alloc::format!("{}.{}.{}", "a".repeat(10), "b".repeat(MAX_JWT_BYTES), "c");
        assert_eq!(UntrustedJwt::parse(&big).err(), Some(JwtError::TooLarge));
        // not UTF-8, inside a string or out of one
        for payload in [&b"{\"a\":\"\xff\"}"[..], b"{\"a\":1}\xff", b"{\"\xc3\":1}"] {
            let mut t = codec::encode_segment(Header::App.json().as_bytes());
            t.push('.');
            t.push_str(&codec::encode_segment(payload));
            let tag = mac(&k, t.as_bytes());
            t.push('.');
            t.push_str(&codec::encode_segment(&tag));
            assert_eq!(
                UntrustedJwt::parse(&t).err(),
                Some(JwtError::PayloadNotObject)
            );
        }
        let arr = forge(Header::App.json(), "[1,2]", &k);
        assert_eq!(
            UntrustedJwt::parse(&arr).err(),
            Some(JwtError::PayloadNotObject)
        );
    }

    #[test]
    fn claims_types_and_duplicates() {
        #[derive(Deserialize)]
        struct C {
            exp: u64,
        }
        let k = [2u8; 32];
        let read = |p: &str| {
            let t = forge(Header::App.json(), p, &k);
            let u = UntrustedJwt::parse(&t).unwrap();
            let v = u.verify(&k, HeaderPolicy::Ecdh).unwrap();
            v.claims::<C>().map(|c| c.exp)
        };
        assert_eq!(read(r#"{"exp":5}"#), Ok(5));
        assert_eq!(read(r#"{"exp":"5"}"#), Err(JwtError::InvalidClaims));
        assert_eq!(read(r#"{"exp":5.0}"#), Err(JwtError::InvalidClaims));
        assert_eq!(read(r#"{"exp":-5}"#), Err(JwtError::InvalidClaims));
        assert_eq!(read(r#"{"x":1}"#), Err(JwtError::InvalidClaims));
        assert_eq!(read(r#"{"exp":5,"exp":6}"#), Err(JwtError::DuplicateMember));
        assert_eq!(
            read(r#"{"exp":5,"o":{"a":1,"a":1}}"#),
            Err(JwtError::DuplicateMember)
        );
        // escaped member names: the same name, or not
        assert_eq!(
            read(r#"{"exp":5,"\u0065xp":6}"#),
            Err(JwtError::DuplicateMember)
        );
        assert_eq!(read(r#"{"\u0065xp":5}"#), Ok(5));
        assert_eq!(
            read(r#"{"\u0061":1,"exp":5,"o":{"a":1,"a":1}}"#),
            Err(JwtError::DuplicateMember)
        );
    }
}
