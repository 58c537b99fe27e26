//! The flags of the project's vector files and where each one's rule lives in `docs/spec`.
//!
//! A flag is an informative label of a test (`docs/vectors.md`, "Common rules"); an invalid
//! test the generator writes carries exactly one, naming its one defect. [`FLAGS`] is the one
//! table of them: the generator writes the entries of the flags a file uses as the file's
//! top-level `notes` glossary (`"Replay": "§4.2: …"`), as Wycheproof files carry theirs.

/// One flag: its name, the spec sections its rule lives in, and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagNote {
    /// The flag as tests carry it (`UpperCamelCase`).
    pub name: &'static str,
    /// The `docs/spec` sections (`§N.N`) that state the rule the flagged test breaks.
    pub sections: &'static [&'static str],
    /// What the flagged test does wrong and what a role must do with it.
    pub text: &'static str,
}

impl FlagNote {
    /// The glossary text of a file's `notes`: the section ids, then the text
    /// (`"§5.8, §5.9: iss is not …"`).
    pub fn note(&self) -> String {
        format!("{}: {}", self.sections.join(", "), self.text)
    }
}

const fn f(name: &'static str, sections: &'static [&'static str], text: &'static str) -> FlagNote {
    FlagNote {
        name,
        sections,
        text,
    }
}

/// Every flag the generator writes, by name.
pub const FLAGS: &[FlagNote] = &[
    // JWT header (§3.3).
    f(
        "AlgNone",
        &["§3.3"],
        "the header says alg \"none\"; an incoming JWT must say HS256 (401 at the device)",
    ),
    f(
        "WrongAlg",
        &["§3.3"],
        "the header names an algorithm other than HS256 (HS512)",
    ),
    f(
        "MissingAlg",
        &["§3.3"],
        "the header has no alg member; it is refused before the signature is looked at",
    ),
    f(
        "MissingEcdh",
        &["§3.3"],
        "an ECDH JWT's header lacks \"ecdh\":\"x25519\"",
    ),
    f(
        "WrongEcdh",
        &["§3.3"],
        "the header's ecdh names a curve other than x25519",
    ),
    f(
        "Crit",
        &["§3.3"],
        "the header carries crit; a crit member of any value, null included, is refused",
    ),
    f(
        "DuplicateMember",
        &["§2.2", "§3.3"],
        "a header member appears twice; duplicates are refused, never resolved",
    ),
    f(
        "MalformedHeader",
        &["§3.1", "§3.3"],
        "the header segment decodes to text that is not a JSON object",
    ),
    // JWT payload and JSON (§2.2, §3.1).
    f(
        "PayloadNotObject",
        &["§2.2", "§3.1"],
        "the payload is JSON but not an object",
    ),
    f(
        "DuplicateClaim",
        &["§2.2"],
        "a payload member appears twice, at the top or nested; duplicates are refused (400 at \
         the device)",
    ),
    f(
        "ExpString",
        &["§2.2"],
        "exp is a JSON string; a claim of the wrong type is an error, never absent, and numeric \
         dates are integers (400 at the device)",
    ),
    f(
        "ExpFloat",
        &["§2.2"],
        "exp has a fraction; numeric dates are integers (400 at the device)",
    ),
    f(
        "MissingClaim",
        &["§5.3", "§5.8", "§6.2"],
        "a claim the receiver requires (the authreq's exp, the authreply's pid, the pairing \
         request's exp or eat) is absent (400 at the device)",
    ),
    // Segments and the compact form (§2.1, §3.1).
    f(
        "Padding",
        &["§2.1"],
        "a JWT segment carries = padding; segments are canonical base64url without padding (400 \
         at the device)",
    ),
    f(
        "NonUrlCharacter",
        &["§2.1"],
        "a JWT segment uses a standard-alphabet character (+ or /), re-signed so that a tolerant \
         decoder would read the same bytes",
    ),
    f("Whitespace", &["§2.1"], "a JWT segment contains a space"),
    f(
        "NonCanonicalBase64",
        &["§2.1"],
        "the unused trailing bits of a JWT segment are not zero, so a lenient decoder would read \
         the same bytes",
    ),
    f(
        "SegmentCount",
        &["§3.1"],
        "the token does not have exactly three segments",
    ),
    f(
        "BadSignatureLength",
        &["§3.1"],
        "the signature segment does not decode to 32 bytes",
    ),
    f(
        "Oversized",
        &["§3.6"],
        "a received JWT over its size limit, correctly signed: 4096 bytes, or 17 526 for an \
         authreq (the largest a device emits); refused before any crypto (400 in a request body)",
    ),
    // MAC, keys and signatures.
    f(
        "BitFlip",
        &["§3.1", "§5.6"],
        "one bit of a signed or sealed value (a JWT segment, a sealed scope's ciphertext or tag) \
         is flipped and nothing re-signed, so the MAC or tag no longer matches",
    ),
    f(
        "WrongKey",
        &["§3.5", "§4.6", "§5.6"],
        "signed or sealed under a key other than the one the receiver derives: another pairing's \
         S1, another broker session, another jti, the master key for the user's iss, or the \
         token key of an earlier boot",
    ),
    f(
        "BadMac",
        &["§5.6", "§5.7"],
        "the sealed scope's tag does not match (the phone app's published tampered event); the \
         authenticator refuses the event",
    ),
    f(
        "LowOrderPoint",
        &["§2.5"],
        "a received public key is a low-order point, so X25519 with it is all zero; refused",
    ),
    f(
        "NullClaim",
        &["§2.2"],
        "a claim is null: a claim of the wrong JSON type, never absent (400 at the device)",
    ),
    f(
        "NonCanonicalKey",
        &["§2.5"],
        "a received public key is not the canonical encoding: bit 255 set, or u not below \
         2^255 - 19; the same key to X25519 as a canonical one, so refused (400 at the device)",
    ),
    f(
        "BadKeyLength",
        &["§2.5", "§6.6"],
        "a received public key (a reply's epk, a request's iss) does not decode to 32 bytes (400 \
         at the device)",
    ),
    // Sealed scopes (§5.6).
    f(
        "UnsupportedScheme",
        &["§5.6", "§5.9"],
        "the sealed scope does not start with the scheme letter A (406 at the device)",
    ),
    f(
        "Truncated",
        &["§5.6", "§5.9"],
        "the sealed blob is shorter than ciphertext plus tag, or its ciphertext is not whole \
         16-byte blocks (406 at the device)",
    ),
    f(
        "Encoding",
        &["§2.1", "§5.6"],
        "the sealed blob after the scheme letter is not base64",
    ),
    f(
        "BadPadding",
        &["§5.6", "§5.9"],
        "the decrypted scope's PKCS#7 padding is wrong while the tag is over the right scope; \
         every pad byte is checked (406 at the device)",
    ),
    // Time.
    f(
        "Expired",
        &["§5.3", "§5.7", "§5.8", "§7.3", "§8.1"],
        "the message's exp is not after now (exp == now included; an eJWT's exp 0 too): the \
         client refuses the authreq, the phone the event (only when now > exp), the device the \
         authreply or eJWT (401), the bearer check the token (401)",
    ),
    // Nonces (§4.2).
    f(
        "Replay",
        &["§4.2"],
        "the nonce was consumed by an earlier successful call, so the device no longer holds it \
         (pending is empty): 401",
    ),
    f(
        "UnknownNonce",
        &["§4.2"],
        "the message's jti is not a nonce the device holds (it holds another): 401",
    ),
    f(
        "ExpiredNonce",
        &["§4.2", "§4.4"],
        "the nonce is held but now is at or past its expiry: 401",
    ),
    // Pairings and identities.
    f(
        "UnknownPid",
        &["§5.3", "§5.8", "§5.9"],
        "the pid names no pairing: the authreq has no entry for it, the device holds none under \
         it (406, before the MAC)",
    ),
    f(
        "IssMismatch",
        &["§5.8", "§5.9"],
        "iss is not the aid paired under pid (here another paired aid): 406, before the MAC",
    ),
    f(
        "BadPidLength",
        &["§2.3", "§5.9"],
        "the authreply's pid does not decode to 32 bytes: 400",
    ),
    f(
        "WrongIss",
        &["§5.3"],
        "the authreq's iss is not the eid the client expects (signed with the right key)",
    ),
    f(
        "WrongAud",
        &["§5.3", "§5.8"],
        "aud is not the receiver: the authreq's is not the client's epk; an authreply's, when \
         present, is not the eid (401)",
    ),
    f(
        "UnknownKey",
        &["§7.3", "§7.4"],
        "the eJWT's iss is neither the configured user key nor the master key (signed correctly \
         for it): 401",
    ),
    // Scopes.
    f(
        "ScopeMismatch",
        &["§5.11"],
        "under the requested-only policy the approved scope differs from the requested one (other \
         than storage:diskN's :rw): 406",
    ),
    f(
        "ScopeTooLong",
        &["§3.6", "§7.4"],
        "the login scope is longer than 127 characters: 400",
    ),
    f(
        "ScopeTooNarrow",
        &["§8.2", "§8.4"],
        "a valid token whose scope does not prefix-match the endpoint's: 403",
    ),
    f(
        "UseExactness",
        &["§8.4"],
        "keymgmt:use:<kid> must equal the endpoint's scope exactly (no prefix match, no key-hint \
         suffix): 403",
    ),
    // Pairing (§6.5, §6.6).
    f(
        "TooManyPairings",
        &["§6.5", "§6.6"],
        "the device already holds 8 pairings: 406",
    ),
    f(
        "DuplicateAid",
        &["§6.5", "§6.6"],
        "the aid is already paired, under another pid: 406",
    ),
    f(
        "LabelTooLong",
        &["§6.4", "§6.6"],
        "the label is longer than 32 characters: the device answers 400, the phone does not \
         send it",
    ),
    f("EmptyLabel", &["§6.6"], "the label is empty: 400"),
    f(
        "LabelCharacter",
        &["§6.6"],
        "the label has a character outside printable ASCII: 400",
    ),
];

/// The entry of flag `name`, if the table has one.
pub fn flag_note(name: &str) -> Option<&'static FlagNote> {
    FLAGS.iter().find(|n| n.name == name)
}

/// The numeric parts of a section id (`"§5.10"` → `(5, 10)`); `None` unless it is `§N.N`.
pub fn section_number(id: &str) -> Option<(u32, u32)> {
    let (chapter, section) = id.strip_prefix('§')?.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(chapter) || !digits(section) {
        return None;
    }
    Some((chapter.parse().ok()?, section.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_flag_with_ids_in_spec_order() {
        for (i, n) in FLAGS.iter().enumerate() {
            assert!(
                FLAGS[..i].iter().all(|m| m.name != n.name),
                "{} twice",
                n.name
            );
            assert!(!n.sections.is_empty(), "{}", n.name);
            let ids: Vec<_> = n
                .sections
                .iter()
                .map(|s| section_number(s).unwrap_or_else(|| panic!("{}: {s}", n.name)))
                .collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "{}: {ids:?}", n.name);
            assert!(n.note().starts_with('§'));
        }
    }

    #[test]
    fn section_ids() {
        assert_eq!(section_number("§5.10"), Some((5, 10)));
        assert_eq!(section_number("§5"), None);
        assert_eq!(section_number("5.1"), None);
        assert_eq!(section_number("§5.1a"), None);
    }
}
