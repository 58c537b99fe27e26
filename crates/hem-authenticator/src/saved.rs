//! `authenticator.json`: the virtual authenticator's pairings across restarts, as the phone
//! app keeps `{pid, eid, aid_prv}` (spec §6.4). Mode 0600, replaced atomically
//! ([`crate::files::atomic_write`]).

use std::io;
use std::path::{Path, PathBuf};

use hem_auth_core::codec;
use hem_auth_core::keys::{PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use hem_auth_sim::Phone;

use crate::files::{atomic_write, read_secret_file, to_json_exact};
use crate::{Error, LABEL};

/// The `format` member of `authenticator.json`.
const FORMAT: &str = "hem-emulator-authenticator/1";
/// The file's name in the state directory.
pub(crate) const FILE: &str = "authenticator.json";

#[derive(Serialize, Deserialize)]
struct SavedFile {
    format: String,
    pairings: Vec<SavedPairing>,
}

/// One pairing, all standard base64.
#[derive(Serialize, Deserialize)]
struct SavedPairing {
    pid: String,
    eid: String,
    /// The phone's secret key for this pairing.
    aid: String,
}

impl Drop for SavedPairing {
    fn drop(&mut self) {
        self.aid.zeroize();
    }
}

/// The pairings saved in `dir`; none when the file does not exist.
pub(crate) fn load(dir: &Path) -> Result<Vec<Phone>, Error> {
    let path = dir.join(FILE);
    // The file holds the phone's secrets: read and written without reallocating buffers.
    let bytes = match read_secret_file(&path, 1 << 20) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    let bad = |detail: String| Error::State {
        path: path.clone(),
        detail,
    };
    let file: SavedFile = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("not an authenticator file: {e}")))?;
    if file.format != FORMAT {
        return Err(bad(format!("unknown format {:?}", file.format)));
    }
    file.pairings
        .iter()
        .map(|p| {
            let eid = PublicKey::from_b64(&p.eid)
                .map_err(|_| bad(format!("pairing {}: eid is not a key", p.pid)))?;
            let aid = SecretKey::from_b64(&p.aid)
                .map_err(|_| bad(format!("pairing {}: aid is not a key", p.pid)))?;
            Phone::new(&p.pid, eid, aid, LABEL).map_err(|e| bad(format!("pairing {}: {e}", p.pid)))
        })
        .collect()
}

/// Replaces `authenticator.json` in `dir` with `pairings` and their secrets.
pub(crate) fn save(dir: &Path, pairings: &[Phone]) -> io::Result<()> {
    let file = SavedFile {
        format: String::from(FORMAT),
        pairings: pairings
            .iter()
            .map(|p| SavedPairing {
                pid: p.pairing.pid().to_string(),
                eid: p.pairing.eid().to_b64(),
                aid: codec::encode_std(&*p.aid_prv.to_bytes()),
            })
            .collect(),
    };
    let json = to_json_exact(&file)?;
    atomic_write(dir, FILE, &json)
}

/// The file's path in `dir`, for messages.
pub(crate) fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}
