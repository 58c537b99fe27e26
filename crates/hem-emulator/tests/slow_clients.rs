//! Slow clients never starve others (spec §9.6, issue 14 attack 1, Slowloris): a crowd of
//! sockets trickling header bytes from other addresses leaves a client on 127.0.0.1 served at
//! once; one address over its cap has its extra connections closed at once; a header or body
//! that trickles in is cut at its deadline however steady the trickle.
//!
//! Every socket is on loopback (Linux routes all of 127.0.0.0/8 to `lo`, so a client socket
//! can be bound to 127.0.0.2 and up); every loop is bounded and every socket is dropped when
//! its test ends.

// Helpers fail loudly: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hem_emulator::{ConnectionLimits, EmulatorConfig, RunningEmulator};
use support::config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout, Instant};

/// The request the crowd trickles and the prompt client sends.
const VERSION: &[u8] =
    b"GET /api/system/version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";

fn emulator(limits: ConnectionLimits) -> RunningEmulator {
    hem_emulator::start(EmulatorConfig { limits, ..config() }).expect("emulator starts")
}

/// A client socket bound to `source` (any 127.x.y.z), connected to `server`.
async fn connect_from(source: Ipv4Addr, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    socket
        .connect(server)
        .await
        .expect("the kernel accepts the connection")
}

/// Whether the server has closed `stream` (end of stream or reset) within `wait`; a byte
/// of an answer counts as not closed.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut byte = [0u8; 1];
    match timeout(wait, stream.read(&mut byte)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(_)) | Err(_) => false,
    }
}

/// `GET /api/system/version` from 127.0.0.1 on a fresh connection: the status line and how
/// long it took, or `None` when no answer came within `limit`.
async fn probe(server: SocketAddr, limit: Duration) -> (Option<String>, Duration) {
    let started = Instant::now();
    let exchange = async {
        let mut stream = connect_from(Ipv4Addr::LOCALHOST, server).await;
        stream.write_all(VERSION).await?;
        let mut answer = Vec::new();
        let mut chunk = [0u8; 1024];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
        io::Result::Ok(answer)
    };
    let status = match timeout(limit, exchange).await {
        Ok(Ok(answer)) => String::from_utf8_lossy(&answer)
            .lines()
            .next()
            .map(String::from),
        Ok(Err(_)) | Err(_) => None,
    };
    (status, started.elapsed())
}

/// 8 addresses × 66 sockets = 528, more than the 512 connections the emulator serves at
/// once, each trickling one header byte a second: the client on 127.0.0.1 is answered at
/// once, and each crowd address holds exactly its 32 connections, the other 34 closed at
/// once. (Before the limits of §9.6 the crowd held all 512 slots and the probe waited.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_crowd_from_other_addresses_does_not_starve_a_client() {
    const SOURCES: u8 = 8;
    const PER_SOURCE: usize = 66;
    const ROUNDS: usize = 4;
    let emu = emulator(ConnectionLimits::default());
    let server = emu.local_addr();
    let (status, baseline) = probe(server, Duration::from_secs(5)).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));

    // Each crowd socket: connect, then one header byte a second for ROUNDS seconds; the
    // result is its source and whether the server closed it (and after how long).
    let mut crowd = JoinSet::new();
    for source in 0..SOURCES {
        let source = Ipv4Addr::new(127, 0, 0, 2 + source);
        for _ in 0..PER_SOURCE {
            crowd.spawn(async move {
                let mut stream = connect_from(source, server).await;
                let connected = Instant::now();
                for &byte in VERSION.iter().take(ROUNDS) {
                    if stream.write_all(&[byte]).await.is_err()
                        || closed_within(&mut stream, Duration::from_secs(1)).await
                    {
                        return (source, Some(connected.elapsed()));
                    }
                }
                (source, None)
            });
        }
    }
    // The crowd has connected and sent its first bytes.
    sleep(Duration::from_millis(700)).await;
    let mut waits = Vec::new();
    for _ in 0..3 {
        let (status, waited) = probe(server, Duration::from_secs(3)).await;
        assert_eq!(
            status.as_deref(),
            Some("HTTP/1.1 200 OK"),
            "the client on 127.0.0.1 got no answer within {waited:?} while 528 slow sockets \
             from 127.0.0.2-9 were open"
        );
        waits.push(waited);
        sleep(Duration::from_millis(500)).await;
    }
    let worst = waits.iter().max().copied().unwrap_or_default();
    eprintln!(
        "{} slow sockets from {SOURCES} addresses: the 127.0.0.1 client waited {waits:?} \
         (without the crowd: {baseline:?})",
        usize::from(SOURCES) * PER_SOURCE
    );
    assert!(worst < Duration::from_secs(2), "waited {worst:?}");

    let mut open = [0usize; SOURCES as usize];
    let mut slowest_close = Duration::ZERO;
    while let Some(result) = crowd.join_next().await {
        let (source, closed) = result.expect("crowd socket task");
        match closed {
            None => {
                let index = usize::from(source.octets()[3] - 2);
                *open.get_mut(index).unwrap() += 1;
            }
            Some(after) => slowest_close = slowest_close.max(after),
        }
    }
    assert_eq!(open, [32; SOURCES as usize], "connections held per address");
    assert!(
        slowest_close < Duration::from_secs(1),
        "an over-cap connection lived {slowest_close:?}"
    );
}

/// 40 connections from one address: 8 are closed at once, 32 stay open; once those close,
/// the address is served again (its slots are given back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_over_its_cap_has_its_extra_connections_closed_at_once() {
    let emu = emulator(ConnectionLimits::default());
    let server = emu.local_addr();
    let source = Ipv4Addr::new(127, 0, 0, 10);
    let mut streams = Vec::new();
    for _ in 0..40 {
        streams.push(connect_from(source, server).await);
    }
    let started = Instant::now();
    let mut closed = 0;
    let mut held = Vec::new();
    for mut stream in streams {
        // Open ones take the whole wait; closed ones answer at once.
        let wait = Duration::from_millis(1000).saturating_sub(started.elapsed());
        if closed_within(&mut stream, wait.max(Duration::from_millis(10))).await {
            closed += 1;
        } else {
            held.push(stream);
        }
    }
    assert_eq!(
        (closed, held.len()),
        (8, 32),
        "(closed, open) of 40 connections from one address"
    );
    // Still full: one more from the same address is closed; another address is served.
    let mut extra = connect_from(source, server).await;
    assert!(closed_within(&mut extra, Duration::from_secs(1)).await);
    let (status, _) = probe(server, Duration::from_secs(3)).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
    // Slots come back when connections close.
    drop(held);
    sleep(Duration::from_millis(200)).await;
    let mut again = connect_from(source, server).await;
    again.write_all(VERSION).await.unwrap();
    let mut answer = [0u8; 12];
    timeout(Duration::from_secs(3), again.read_exact(&mut answer))
        .await
        .expect("answered in time")
        .expect("answered");
    assert_eq!(&answer, b"HTTP/1.1 200");
}

/// Limits short enough for a test: 1 s for a header, 2 s for a whole request.
fn short() -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        ..ConnectionLimits::default()
    }
}

/// A header trickled one byte every 100 ms (it would take 9 s) is cut 1 s after its first
/// byte, unanswered: the progress does not extend the deadline. A keep-alive connection that
/// waits longer than that between requests is not cut (the deadline runs from a request's
/// first byte).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_header_is_cut_at_the_header_deadline() {
    let emu = emulator(short());
    let server = emu.local_addr();
    let mut stream = connect_from(Ipv4Addr::LOCALHOST, server).await;
    let first_byte = Instant::now();
    let mut cut = None;
    for &byte in VERSION {
        if stream.write_all(&[byte]).await.is_err()
            || closed_within(&mut stream, Duration::from_millis(100)).await
        {
            cut = Some(first_byte.elapsed());
            break;
        }
        if first_byte.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    let cut = cut.expect("a trickled header is cut at its deadline (1 s)");
    eprintln!("header trickled one byte per 100 ms: cut after {cut:?} (deadline 1 s)");
    assert!(
        cut >= Duration::from_millis(900) && cut < Duration::from_millis(2000),
        "cut after {cut:?}"
    );

    // Keep-alive: idle between requests for longer than the header deadline.
    let mut stream = connect_from(Ipv4Addr::LOCALHOST, server).await;
    for _ in 0..2 {
        stream.write_all(VERSION).await.unwrap();
        let mut answer = [0u8; 12];
        timeout(Duration::from_secs(3), stream.read_exact(&mut answer))
            .await
            .expect("answered in time")
            .expect("answered");
        assert_eq!(&answer, b"HTTP/1.1 200");
        // Rest of the answer (a small JSON body), then silence past the header deadline.
        let mut rest = [0u8; 1024];
        let _ = timeout(Duration::from_millis(200), stream.read(&mut rest)).await;
        sleep(Duration::from_millis(1500)).await;
    }
}

/// A body trickled one byte every 100 ms is answered 408 with `Connection: close` when the
/// whole-request deadline (2 s from the request's first byte) passes, then the connection
/// closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_gets_408_at_the_request_deadline() {
    let emu = emulator(short());
    let server = emu.local_addr();
    let mut stream = connect_from(Ipv4Addr::LOCALHOST, server).await;
    let first_byte = Instant::now();
    stream
        .write_all(
            b"POST /api/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    for _ in 0..60 {
        if stream.write_all(b" ").await.is_err() {
            break;
        }
        match timeout(Duration::from_millis(100), stream.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(_) => {}
        }
        if answer.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let answered = first_byte.elapsed();
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    eprintln!("body trickled one byte per 100 ms: answered after {answered:?} (deadline 2 s)");
    assert!(answer.starts_with("http/1.1 408"), "answer {answer:?}");
    assert!(answer.contains("connection: close"), "answer {answer:?}");
    assert!(
        answered >= Duration::from_millis(1900) && answered < Duration::from_millis(3000),
        "answered after {answered:?}"
    );
    assert!(closed_within(&mut stream, Duration::from_secs(1)).await);
}
