//! What more than one test binary of the runner needs.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::PathBuf;

/// A fresh directory under the system's temp dir, unique to this process and moment.
pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "hem-conformance-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
