//! The generator of the project's own vector files (`hem-vectors generate`).
//!
//! Every file is built from fixed seeds (one ChaCha20 stream per kind), so regenerating gives
//! the same bytes and a reviewer can diff them. Valid messages are built from the core's
//! primitives and claim sets (the producers' exact bytes), not by the role under test, so a
//! checker run is a real cross-check of the role against an independent construction. Each
//! invalid test carries exactly one defect, named by its first flag.

use std::path::{Path, PathBuf};

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

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
    /// Free text (an unknown top-level member, which readers ignore).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The groups.
    pub groups: Vec<GroupOut>,
}

impl FileOut {
    fn new(source: impl Into<String>) -> Self {
        FileOut {
            schema: SCHEMA_ID.into(),
            source: source.into(),
            note: None,
            groups: Vec::new(),
        }
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
    kind: &'static str,
    comment: String,
    tests: Vec<CaseOut<Fields>>,
}

impl Tests {
    pub(crate) fn new(kind: &'static str, comment: &str) -> Self {
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

    /// Appends the group to `file`, giving its tests ids after the file's last.
    pub(crate) fn into_file(self, file: &mut FileOut) {
        let mut tests = self.tests;
        for (id, t) in (file.len() as u64 + 1..).zip(tests.iter_mut()) {
            t.id = id;
        }
        file.groups.push(GroupOut {
            kind: self.kind.into(),
            comment: self.comment,
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
    let one = |kind: &str, f: fn(&mut FileOut)| {
        let mut file = FileOut::new(format!(
            "hem-auth project generator (hem-vectors generate), kind {kind}, fixed seeds"
        ));
        f(&mut file);
        (format!("{kind}.json"), file)
    };
    out.push(one("x25519", primitives::x25519));
    out.push(one("hs256-jwt", primitives::hs256_jwt));
    out.push(one("pidx", primitives::pidx));
    out.push(one("scope-seal", primitives::scope_seal));
    out.push(one("authreq", flows::authreq));
    out.push(one("authreply-build", flows::authreply_build));
    out.push(one("pairing-reply-build", flows::pairing_reply_build));
    out.push(one("login-build", flows::login_build));
    out.push(one("ext-token", device::ext_token));
    out.push(one("ext-validate", device::ext_validate));
    out.push(one("login", device::login));
    out.push(one("access-token", device::access_token));
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
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let mut written = Vec::new();
    for (name, file) in files {
        let path = out_dir.join(name);
        std::fs::write(&path, file.to_text()).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push((path, file.len()));
    }
    Ok(written)
}
