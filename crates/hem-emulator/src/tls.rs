//! HTTPS: the certificate the emulator serves and the rustls acceptor around each connection.
//!
//! A real HEM speaks only HTTPS, with a self-signed certificate; clients written for it default
//! to `https://` and turn verification off. [`Tls::SelfSigned`] does the same: a certificate
//! for `localhost`, `127.0.0.1`, `::1` (and the listen address, when it is a specific one) made
//! with rcgen at first start and kept in the state directory (`tls-cert.pem`, `tls-key.pem`,
//! mode 0600), so clients that pinned it keep trusting it across restarts; without a state
//! directory it is made anew at each start. [`Tls::Pem`] serves a given certificate chain and
//! key instead.
//!
//! rustls runs on ring (as the HTTP clients of the suite and the virtual authenticator already
//! do): no C toolchain beyond what ring needs, nothing cargo-deny does not already accept.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::store;
use crate::EmulatorError;

/// The self-signed certificate's file in the state directory.
pub(crate) const CERT_FILE: &str = "tls-cert.pem";
/// Its private key's file in the state directory.
pub(crate) const KEY_FILE: &str = "tls-key.pem";
/// Largest certificate or key file read: a chain of a few certificates is a few kilobytes.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// Serve HTTPS instead of HTTP (see [`crate::EmulatorConfig::tls`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tls {
    /// A self-signed certificate for `localhost`, `127.0.0.1`, `::1` and a specific listen
    /// address, kept in the state directory (`tls-cert.pem`, `tls-key.pem`) once made; made
    /// anew at every start without one.
    SelfSigned,
    /// The certificate chain (leaf first) and its private key, both PEM files.
    Pem {
        /// The certificate chain.
        cert: PathBuf,
        /// The private key (PKCS #8, PKCS #1 or SEC1).
        key: PathBuf,
    },
}

/// What serving HTTPS needs: the acceptor and the certificate chain as PEM (for clients to
/// trust).
#[derive(Clone)]
pub(crate) struct Served {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) cert_pem: String,
}

impl Served {
    /// Loads or makes the certificate `tls` names (in `state_dir` for a kept self-signed one).
    pub(crate) fn load(
        tls: &Tls,
        state_dir: Option<&Path>,
        listen: SocketAddr,
    ) -> Result<Self, EmulatorError> {
        let (cert_pem, key_pem) = match tls {
            Tls::Pem { cert, key } => (read_text(cert)?.to_string(), read_text(key)?),
            Tls::SelfSigned => self_signed(state_dir, listen)?,
        };
        let source = match tls {
            Tls::Pem { cert, .. } => cert.clone(),
            Tls::SelfSigned => state_dir
                .map(|d| d.join(CERT_FILE))
                .unwrap_or_else(|| PathBuf::from("(self-signed, in memory)")),
        };
        let bad = |detail: String| EmulatorError::State {
            path: source.clone(),
            detail,
        };
        let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("not a PEM certificate chain: {e}")))?;
        if chain.is_empty() {
            return Err(bad(String::from("no certificate in the PEM file")));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| bad(format!("no PEM private key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
            .map_err(|e| bad(format!("certificate and key do not serve: {e}")))?;
        let mut config = config;
        // HTTP/1.1 only, as the plain listener.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Served {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            cert_pem: cert_pem.to_string(),
        })
    }
}

/// The kept self-signed certificate and key of `state_dir`, made and kept if there is none;
/// a fresh pair (in memory) without a state directory.
fn self_signed(
    state_dir: Option<&Path>,
    listen: SocketAddr,
) -> Result<(String, zeroize::Zeroizing<String>), EmulatorError> {
    if let Some(dir) = state_dir {
        let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        match (cert.exists(), key.exists()) {
            (true, true) => return Ok((read_text(&cert)?.to_string(), read_text(&key)?)),
            (false, false) => {}
            _ => {
                return Err(EmulatorError::State {
                    path: dir.to_path_buf(),
                    detail: format!("{CERT_FILE} and {KEY_FILE} must both be there or neither"),
                })
            }
        }
    }
    let mut names = vec![
        String::from("localhost"),
        String::from("127.0.0.1"),
        String::from("::1"),
    ];
    let ip = listen.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        names.push(ip.to_string());
    }
    let made = make_certificate(names)?;
    if let Some(dir) = state_dir {
        // The key first: a crash between the two leaves no certificate without its key,
        // and the start after it finds one file and says so.
        for (name, text) in [(KEY_FILE, made.1.as_str()), (CERT_FILE, made.0.as_str())] {
            store::atomic_write(dir, name, text.as_bytes()).map_err(|e| {
                EmulatorError::io(format!("writing {}", dir.join(name).display()), e)
            })?;
        }
    }
    Ok(made)
}

/// A self-signed certificate (ECDSA P-256) for `names` (host names or IP addresses), and its
/// key, both PEM.
fn make_certificate(
    names: Vec<String>,
) -> Result<(String, zeroize::Zeroizing<String>), EmulatorError> {
    let failed = |e: rcgen::Error| EmulatorError::Config(format!("making a certificate: {e}"));
    let mut params = rcgen::CertificateParams::new(names).map_err(failed)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hem-emulator");
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let cert = params.self_signed(&key).map_err(failed)?;
    Ok((cert.pem(), zeroize::Zeroizing::new(key.serialize_pem())))
}

/// A PEM file's text; at most [`MAX_PEM_BYTES`].
fn read_text(path: &Path) -> Result<zeroize::Zeroizing<String>, EmulatorError> {
    let bytes = store::read_secret_file(path, MAX_PEM_BYTES)
        .map_err(|e| EmulatorError::io(format!("reading {}", path.display()), e))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| EmulatorError::State {
        path: path.to_path_buf(),
        detail: String::from("not a PEM file (not UTF-8)"),
    })?;
    Ok(zeroize::Zeroizing::new(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "hem-emulator-tls-{tag}-{}-{}",
            std::process::id(),
            crate::clock::system_now()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn self_signed_is_kept_and_reused() {
        let dir = temp_dir("kept");
        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let first = Served::load(&Tls::SelfSigned, Some(&dir), listen).unwrap();
        assert!(first.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let again = Served::load(&Tls::SelfSigned, Some(&dir), listen).unwrap();
        assert_eq!(
            first.cert_pem, again.cert_pem,
            "a kept certificate is reused"
        );
        let fresh = Served::load(&Tls::SelfSigned, None, listen).unwrap();
        assert_ne!(
            first.cert_pem, fresh.cert_pem,
            "no state: a new one each start"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn half_a_pair_or_garbage_is_refused() {
        let dir = temp_dir("half");
        std::fs::write(dir.join(CERT_FILE), "x").unwrap();
        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let e = Served::load(&Tls::SelfSigned, Some(&dir), listen)
            .err()
            .unwrap();
        assert!(e.to_string().contains("both"), "{e}");
        std::fs::write(dir.join(KEY_FILE), "y").unwrap();
        let e = Served::load(&Tls::SelfSigned, Some(&dir), listen)
            .err()
            .unwrap();
        assert!(e.to_string().contains("no certificate"), "{e}");
        let pem = Tls::Pem {
            cert: dir.join("missing.pem"),
            key: dir.join(KEY_FILE),
        };
        let e = Served::load(&pem, None, listen).err().unwrap();
        assert!(e.to_string().contains("missing.pem"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
