//! The generator of the project's own vector files (`hem-vectors generate`).
//!
//! Every file is built from fixed seeds (one ChaCha20 stream per kind), so regenerating gives
//! the same bytes and a reviewer can diff them. Valid messages are built from the core's
//! primitives and claim sets (the producers' exact bytes), not by the role under test, so a
//! checker run is a real cross-check of the role against an independent construction. Each
//! invalid test carries exactly one defect, named by its one flag.
//!
//! Each group cites the spec sections of its kind ([`Kind::spec_sections`]) as `spec`, and each
//! file explains every flag it uses in its `notes` glossary, from [`crate::flag::FLAGS`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

use crate::flag::flag_note;
use crate::kind::Kind;
use crate::schema::{
    AccessTokenCase, AuthreplyBuildCase, AuthreqCase, CaseOut, Expect, ExtTokenCase,
    ExtValidateCase, Hs256JwtCase, LoginBuildCase, LoginCase, PairingReplyBuildCase, PidxCase,
    ScopeSealCase, X25519Case, SCHEMA_ID,
};

mod defect;
mod device;
mod flows;
pub mod interop;
mod primitives;

/// The kind-specific members of a generated test (serialised without a tag).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
#[allow(missing_docs)]
pub enum Fields {
    X25519(X25519Case),
    Hs256Jwt(Hs256JwtCase),
    Pidx(PidxCase),
    ScopeSeal(ScopeSealCase),
    Authreq(AuthreqCase),
    AuthreplyBuild(AuthreplyBuildCase),
    PairingReplyBuild(PairingReplyBuildCase),
    ExtToken(ExtTokenCase),
    ExtValidate(ExtValidateCase),
    Login(LoginCase),
    LoginBuild(LoginBuildCase),
    AccessToken(AccessTokenCase),
}

/// A group as written.
#[derive(Debug, Clone, Serialize)]
pub struct GroupOut {
    /// The kind.
    pub kind: String,
    /// What the group covers.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// The spec sections the kind exercises ([`Kind::spec_sections`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spec: Vec<String>,
    /// The tests.
    pub tests: Vec<CaseOut<Fields>>,
}

/// A file as written.
#[derive(Debug, Clone, Serialize)]
pub struct FileOut {
    /// [`SCHEMA_ID`].
    pub schema: String,
    /// Who produced it.
    pub source: String,
    /// Free text about the file as a whole (the loader does not read it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The glossary of the flags the tests use, from [`crate::flag::FLAGS`]; each group added
    /// brings the entries of its flags.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: BTreeMap<String, String>,
    /// The groups.
    pub groups: Vec<GroupOut>,
}

impl FileOut {
    fn new(source: impl Into<String>) -> Self {
        FileOut {
            schema: SCHEMA_ID.into(),
            source: source.into(),
            note: None,
            notes: BTreeMap::new(),
            groups: Vec::new(),
        }
    }

    /// The flags some test uses that [`crate::flag::FLAGS`] has no entry for (and so `notes`
    /// cannot explain), sorted.
    pub fn flags_without_notes(&self) -> Vec<String> {
        let mut missing: Vec<String> = self
            .groups
            .iter()
            .flat_map(|g| &g.tests)
            .flat_map(|t| &t.flags)
            .filter(|f| !self.notes.contains_key(*f))
            .cloned()
            .collect();
        missing.sort();
        missing.dedup();
        missing
    }

    /// Number of tests.
    pub fn len(&self) -> usize {
        self.groups.iter().map(|g| g.tests.len()).sum()
    }

    /// Whether the file has no test.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The file's text: pretty JSON, two-space indent, final newline.
    pub fn to_text(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Collects the tests of one group, numbering them from the file's running id.
pub(crate) struct Tests {
    kind: Kind,
    comment: String,
    tests: Vec<CaseOut<Fields>>,
}

impl Tests {
    pub(crate) fn new(kind: Kind, comment: &str) -> Self {
        Tests {
            kind,
            comment: comment.into(),
            tests: Vec::new(),
        }
    }

    pub(crate) fn valid(&mut self, comment: &str, flags: &[&str], fields: Fields) {
        self.push(Expect::Valid, comment, flags, fields);
    }

    /// An invalid test; `flag` names its one defect.
    pub(crate) fn invalid(&mut self, comment: &str, flag: &str, fields: Fields) {
        self.push(Expect::Invalid, comment, &[flag], fields);
    }

    fn push(&mut self, result: Expect, comment: &str, flags: &[&str], fields: Fields) {
        self.tests.push(CaseOut {
            id: 0,
            comment: comment.into(),
            result,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            fields,
        });
    }

    /// Appends the group to `file`, giving its tests ids after the file's last, and adds the
    /// notes of the flags it uses to the file's glossary.
    pub(crate) fn into_file(self, file: &mut FileOut) {
        let mut tests = self.tests;
        for (id, t) in (file.len() as u64 + 1..).zip(tests.iter_mut()) {
            t.id = id;
        }
        for flag in tests.iter().flat_map(|t| &t.flags) {
            if let Some(entry) = flag_note(flag) {
                file.notes.insert(flag.clone(), entry.note());
            }
        }
        file.groups.push(GroupOut {
            kind: self.kind.name().into(),
            comment: self.comment,
            spec: self
                .kind
                .spec_sections()
                .iter()
                .map(|s| s.to_string())
                .collect(),
            tests,
        });
    }
}

/// The deterministic random stream of one kind.
pub(crate) fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A fixed "now" for the generated flows: 2026-05-29 13:46:40 UTC.
pub(crate) const T0: u64 = 1_780_062_400;

/// The project's own files, by file name, in a fixed order.
pub fn files() -> Vec<(String, FileOut)> {
    let mut out = Vec::new();
    let one = |kind: Kind, f: fn(&mut FileOut)| {
        let mut file = FileOut::new(format!(
            "hem-auth project generator (hem-vectors generate), kind {kind}, fixed seeds"
        ));
        f(&mut file);
        (format!("{kind}.json"), file)
    };
    out.push(one(Kind::X25519, primitives::x25519));
    out.push(one(Kind::Hs256Jwt, primitives::hs256_jwt));
    out.push(one(Kind::Pidx, primitives::pidx));
    out.push(one(Kind::ScopeSeal, primitives::scope_seal));
    out.push(one(Kind::Authreq, flows::authreq));
    out.push(one(Kind::AuthreplyBuild, flows::authreply_build));
    out.push(one(Kind::PairingReplyBuild, flows::pairing_reply_build));
    out.push(one(Kind::LoginBuild, flows::login_build));
    out.push(one(Kind::ExtToken, device::ext_token));
    out.push(one(Kind::ExtValidate, device::ext_validate));
    out.push(one(Kind::Login, device::login));
    out.push(one(Kind::AccessToken, device::access_token));
    out
}

/// Writes [`files`] into `out_dir`; returns each path with its number of tests.
pub fn write_all(out_dir: &Path) -> Result<Vec<(PathBuf, usize)>, String> {
    write_files(out_dir, files())
}

pub(crate) fn write_files(
    out_dir: &Path,
    files: Vec<(String, FileOut)>,
) -> Result<Vec<(PathBuf, usize)>, String> {
    for (name, file) in &files {
        let missing = file.flags_without_notes();
        if !missing.is_empty() {
            return Err(format!(
                "{name}: flag(s) {} have no entry in hem_auth_vectors::flag::FLAGS",
                missing.join(", ")
            ));
        }
    }
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let mut written = Vec::new();
    for (name, file) in files {
        let path = out_dir.join(name);
        std::fs::write(&path, file.to_text()).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push((path, file.len()));
    }
    Ok(written)
}
