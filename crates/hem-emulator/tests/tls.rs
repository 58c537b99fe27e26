//! `hem-emulator --tls`: HTTPS with a self-signed certificate, as a real HEM serves it. A
//! client that insists on HTTPS and turns verification off (as clients of real devices do)
//! runs its flows; one that verifies trusts the emulator's certificate or fails.

// Helpers fail loudly: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use hem_emulator::{ConnectionLimits, EmulatorConfig, Tls};
use support::{config, temp_dir, user_key, Client};

fn tls_config() -> EmulatorConfig {
    EmulatorConfig {
        tls: Some(Tls::SelfSigned),
        ..config()
    }
}

/// Password-style login, pairing and the external-authenticator login, all over `https://`
/// with verification off.
#[test]
fn flows_run_over_https_with_verification_off() {
    let emulator = hem_emulator::start(tls_config()).unwrap();
    let url = emulator.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let c = Client::insecure(&url);
    let version = c.get("/api/system/version", None);
    assert_eq!(version.status, 200);
    let pair_token = c.login("auth:ext:pair");
    let phone = c.pair(&pair_token, emulator.eid(), "tls-phone", 1);
    let token = c.ext_login(emulator.eid(), &phone, "keymgmt:list", 2);
    let list = c.get("/api/keymgmt/list", Some(&token)).json();
    assert_eq!(list["list"][0]["kid"].as_str(), Some(phone.kid.as_str()));
    let direct = c.login_for(&user_key(), "keymgmt:list", 3600);
    assert_eq!(c.get("/api/keymgmt/list", Some(&direct)).status, 200);
}

/// A verifying client trusts exactly the emulator's certificate; plain HTTP on the HTTPS
/// port gets no answer.
#[test]
fn verifying_clients_need_the_certificate() {
    let emulator = hem_emulator::start(tls_config()).unwrap();
    let url = emulator.url();
    let pem = emulator.certificate_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert_eq!(
        Client::trusting(&url, pem).try_get("/api/system/version"),
        Ok(200)
    );
    // By name too: the certificate names localhost.
    let by_name = url.replace("127.0.0.1", "localhost");
    assert_eq!(
        Client::trusting(&by_name, pem).try_get("/api/system/version"),
        Ok(200)
    );
    let untrusted = Client::new(&url).try_get("/api/system/version");
    assert!(untrusted.is_err(), "{untrusted:?}");
    let other = hem_emulator::start(tls_config()).unwrap();
    let wrong =
        Client::trusting(&url, other.certificate_pem().unwrap()).try_get("/api/system/version");
    assert!(wrong.is_err(), "another emulator's certificate: {wrong:?}");
    let plain = Client::new(&url.replace("https://", "http://")).try_get("/api/system/version");
    assert!(plain.is_err(), "plain HTTP on the HTTPS port: {plain:?}");
    assert_eq!(
        hem_emulator::start(config()).unwrap().certificate_pem(),
        None
    );
}

/// The self-signed certificate is kept in the state directory: a restart serves the same one.
#[test]
fn the_certificate_is_kept_across_restarts() {
    let dir = temp_dir("tls-kept");
    let with_state = || EmulatorConfig {
        state_dir: Some(dir.clone()),
        ..tls_config()
    };
    let first = hem_emulator::start(with_state()).unwrap();
    let pem = first.certificate_pem().unwrap().to_string();
    first.stop();
    assert!(dir.join("tls-cert.pem").exists() && dir.join("tls-key.pem").exists());
    let second = hem_emulator::start(with_state()).unwrap();
    assert_eq!(second.certificate_pem(), Some(pem.as_str()));
    assert_eq!(
        Client::trusting(&second.url(), &pem).try_get("/api/system/version"),
        Ok(200)
    );
    second.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `Tls::Pem` serves a given certificate and key (here: one kept by another emulator).
#[test]
fn a_given_certificate_is_served() {
    let dir = temp_dir("tls-given");
    let maker = hem_emulator::start(EmulatorConfig {
        state_dir: Some(dir.clone()),
        ..tls_config()
    })
    .unwrap();
    let pem = maker.certificate_pem().unwrap().to_string();
    maker.stop();
    let served = hem_emulator::start(EmulatorConfig {
        tls: Some(Tls::Pem {
            cert: dir.join("tls-cert.pem"),
            key: dir.join("tls-key.pem"),
        }),
        ..config()
    })
    .unwrap();
    assert_eq!(served.certificate_pem(), Some(pem.as_str()));
    assert_eq!(
        Client::trusting(&served.url(), &pem).try_get("/api/system/version"),
        Ok(200)
    );
    let missing = hem_emulator::start(EmulatorConfig {
        tls: Some(Tls::Pem {
            cert: dir.join("nothing.pem"),
            key: dir.join("tls-key.pem"),
        }),
        ..config()
    });
    let e = missing.err().unwrap().to_string();
    assert!(e.contains("nothing.pem"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A client that connects and never starts its handshake is closed at the header deadline:
/// the handshake counts towards the first request's deadlines.
#[test]
fn a_stalled_handshake_is_closed() {
    use std::io::{Read, Write};
    let emulator = hem_emulator::start(EmulatorConfig {
        limits: ConnectionLimits {
            header_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(300),
            ..ConnectionLimits::DEFAULT
        },
        ..tls_config()
    })
    .unwrap();
    let mut stream = std::net::TcpStream::connect(emulator.local_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // The first bytes of a TLS record header, then nothing.
    stream.write_all(&[0x16, 0x03, 0x01]).unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "closed at the deadline, not {:?}",
        started.elapsed()
    );
}
