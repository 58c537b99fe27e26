//! Files that hold secrets: written atomically with mode 0600, serialised and read into
//! buffers that never reallocate and are wiped on drop. The emulator's state directory uses
//! them too.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use serde::Serialize;
use zeroize::Zeroizing;

/// Pretty JSON of `value` in a buffer of exactly its size that never reallocates and is wiped
/// on drop: for values that hold secrets.
pub fn to_json_exact<T: Serialize>(value: &T) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut counter = Counter(0);
    serde_json::to_writer_pretty(&mut counter, value).map_err(io::Error::other)?;
    let mut out = Fixed(Zeroizing::new(Vec::with_capacity(counter.0)));
    serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::other)?;
    Ok(out.0)
}

/// A writer that only counts.
struct Counter(usize);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A writer into a vector's spare capacity that refuses to grow it (a reallocation would
/// leave the old block's content in freed memory).
struct Fixed(Zeroizing<Vec<u8>>);

impl Write for Fixed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.0.capacity() - self.0.len() {
            return Err(io::Error::other(
                "the value grew between two serialisations",
            ));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads a whole file that holds secrets into one buffer of the file's size, wiped on drop:
/// no growing buffer leaves a copy in freed memory. Refuses a file larger than `max` bytes,
/// or one that grows while it is read.
pub fn read_secret_file(path: &Path, max: u64) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    if len > max {
        return Err(io::Error::other(format!("larger than {max} bytes")));
    }
    let len = usize::try_from(len).map_err(io::Error::other)?;
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    file.read_exact(&mut bytes)?;
    if file.read(&mut [0u8; 1])? != 0 {
        return Err(io::Error::other("changed while it was read"));
    }
    Ok(bytes)
}

/// Replaces `dir/name` with `bytes` (mode 0600) so that a crash leaves the old or the new
/// content, never a mix: temporary file, fsync, rename, fsync of the directory.
pub fn atomic_write(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    // A leftover temporary file from a crash keeps its old mode: set it again.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn atomic_write_replaces_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!(
            "hem-authenticator-files-{}-{}",
            std::process::id(),
            crate::system_now()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        atomic_write(&dir, "f", b"one").unwrap();
        atomic_write(&dir, "f", b"two").unwrap();
        assert_eq!(fs::read(dir.join("f")).unwrap(), b"two");
        let mode = fs::metadata(dir.join("f")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!dir.join(".f.tmp").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
