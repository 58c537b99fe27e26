//! The listening socket and its connections, with the limits of spec §9.6 that keep any
//! number of slow or idle clients from starving others and keep memory bounded
//! ([`ConnectionLimits`]):
//!
//! - at most `max_connections` open connections, and `max_connections_per_address` from one
//!   client address; a connection over either cap is closed at once (not queued, so one
//!   address cannot hold the queue either);
//! - a request's header must be complete within `header_timeout` of its first byte, however
//!   steadily its bytes trickle in (the connection is closed, unanswered);
//! - its body must be complete within `request_timeout` of that first byte (the handlers
//!   read bodies until [`RequestDeadline`] and answer 408 with `Connection: close`);
//! - a connection with no request in progress and no traffic for `idle_timeout` is closed.
//!
//! hyper's own `header_read_timeout` is not used: it runs from when hyper starts waiting for
//! a request head (at accept and right after every answer), so it would close an idle
//! keep-alive connection at the header deadline instead of the idle one. Here the I/O wrapper
//! [`Conn`] sees a request's first byte and the service [`Tracked`] sees its head parsed and
//! its answer made; they share the connection's [`Track`].
//!
//! The connection loop is hyper's HTTP/1 server under the axum router (what `axum::serve`
//! does, plus the above). With HTTPS ([`crate::Tls`]) the rustls acceptor runs in the
//! connection's own task, around [`Conn`]: the handshake's bytes are the first request's
//! first bytes, so a handshake counts towards that request's header deadline, and a silent
//! client is closed at the idle deadline as on plain HTTP.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;

use crate::ConnectionLimits;

/// Connections the kernel queues before `accept`.
const BACKLOG: u32 = 1024;

/// Binds `addr` (with `SO_REUSEADDR`, so a restart can take the port of a stopped emulator
/// at once). Must run inside a Tokio runtime context.
pub(crate) fn bind(addr: SocketAddr, limits: ConnectionLimits) -> io::Result<Listener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let inner = socket.listen(BACKLOG)?;
    let addr = inner.local_addr()?;
    Ok(Listener {
        inner,
        addr,
        limits,
        total: Arc::new(Semaphore::new(limits.max_connections)),
        per_address: Arc::default(),
    })
}

/// A TCP listener that hands out only connections within the caps.
pub(crate) struct Listener {
    inner: TcpListener,
    addr: SocketAddr,
    limits: ConnectionLimits,
    total: Arc<Semaphore>,
    per_address: Counts,
}

impl Listener {
    /// The bound address.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The next connection within both caps; one over a cap is closed (dropped) at once.
    async fn accept(&mut self) -> (Conn, SocketAddr) {
        loop {
            // axum's accept retries on errors (sleeping on resource exhaustion).
            let (io, peer) = axum::serve::Listener::accept(&mut self.inner).await;
            let Ok(total) = self.total.clone().try_acquire_owned() else {
                continue;
            };
            let Some(slot) = AddressSlot::take(
                &self.per_address,
                peer.ip(),
                self.limits.max_connections_per_address,
            ) else {
                continue;
            };
            let _ = io.set_nodelay(true);
            return (Conn::new(io, &self.limits, total, slot), peer);
        }
    }
}

/// Open connections per client address; an address is present only while it has one.
type Counts = Arc<Mutex<HashMap<IpAddr, usize>>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics under these locks; were it, the counts would still be whole numbers.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One connection's place in its address's count, given back on drop.
struct AddressSlot {
    counts: Counts,
    ip: IpAddr,
}

impl AddressSlot {
    /// A place for one more connection from `ip`, unless it has `cap` already. An IPv4
    /// client of a dual-stack socket (`::ffff:a.b.c.d`) counts as `a.b.c.d`.
    fn take(counts: &Counts, ip: IpAddr, cap: usize) -> Option<Self> {
        let ip = ip.to_canonical();
        let mut map = lock(counts);
        let open = map.entry(ip).or_insert(0);
        if *open >= cap {
            if *open == 0 {
                map.remove(&ip);
            }
            return None;
        }
        *open += 1;
        Some(AddressSlot {
            counts: counts.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = lock(&self.counts);
        if let Some(open) = map.get_mut(&self.ip) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Where a connection is in its request cycle; shared by its I/O ([`Conn`]) and its
/// service ([`Tracked`]).
#[derive(Debug, Default)]
pub(crate) struct Track(Mutex<Phase>);

#[derive(Debug, Default, Clone, Copy)]
enum Phase {
    /// No request in progress.
    #[default]
    Idle,
    /// A request's first byte arrived at this instant; its head is not complete.
    Head(Instant),
    /// A request's head has been parsed; its handler runs (and reads its body).
    Busy,
}

impl Track {
    /// Bytes arrived: with no request in progress, they begin one. Returns when it began.
    fn bytes_arrived(&self) -> Option<Instant> {
        let mut phase = lock(&self.0);
        match *phase {
            Phase::Idle => {
                let now = Instant::now();
                *phase = Phase::Head(now);
                Some(now)
            }
            Phase::Head(_) | Phase::Busy => None,
        }
    }

    fn in_head(&self) -> bool {
        matches!(*lock(&self.0), Phase::Head(_))
    }

    /// The head is parsed: returns when the request's first byte arrived (now, when hyper
    /// had the whole head buffered already, pipelined behind the previous request).
    fn head_complete(&self) -> Instant {
        let mut phase = lock(&self.0);
        let began = match *phase {
            Phase::Head(began) => began,
            Phase::Idle | Phase::Busy => Instant::now(),
        };
        *phase = Phase::Busy;
        began
    }

    /// The answer is made: the next byte begins the next request.
    fn answered(&self) {
        *lock(&self.0) = Phase::Idle;
    }
}

/// An accepted connection: holds its places in both caps, and fails with `TimedOut` when
/// its request's header is late or it has been idle too long.
pub(crate) struct Conn {
    io: TcpStream,
    track: Arc<Track>,
    header_timeout: Duration,
    idle_timeout: Duration,
    /// Armed at a request's first byte; counts only while its head is incomplete.
    header: Pin<Box<Sleep>>,
    /// Reset by every byte moved.
    idle: Pin<Box<Sleep>>,
    _total: OwnedSemaphorePermit,
    _slot: AddressSlot,
}

impl Conn {
    fn new(
        io: TcpStream,
        limits: &ConnectionLimits,
        total: OwnedSemaphorePermit,
        slot: AddressSlot,
    ) -> Self {
        // A header late for the whole request is late.
        let header_timeout = limits.header_timeout.min(limits.request_timeout);
        Conn {
            io,
            track: Arc::default(),
            header_timeout,
            idle_timeout: limits.idle_timeout,
            header: Box::pin(tokio::time::sleep(header_timeout)),
            idle: Box::pin(tokio::time::sleep(limits.idle_timeout)),
            _total: total,
            _slot: slot,
        }
    }

    /// `Err` once the current request's header is late.
    fn check_header(&self) -> io::Result<()> {
        if self.track.in_head() && self.header.is_elapsed() {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request header not complete in time",
            ))
        } else {
            Ok(())
        }
    }

    /// After an I/O poll: progress restarts the idle time; while waiting, a passed deadline
    /// is an error (the connection is then closed).
    fn progress<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match poll {
            Poll::Ready(r) => {
                self.idle.as_mut().reset(Instant::now() + self.idle_timeout);
                Poll::Ready(r)
            }
            Poll::Pending => {
                if self.idle.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection idle too long",
                    )));
                }
                if self.track.in_head() && self.header.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "request header not complete in time",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check_header()?;
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            if let Some(began) = this.track.bytes_arrived() {
                this.header.as_mut().reset(began + this.header_timeout);
            }
        }
        this.progress(cx, poll)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write(cx, buf);
        this.progress(cx, poll)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_flush(cx);
        this.progress(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.progress(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The client's address, for handlers that report it (the broker's `ipinfo_*` objects);
/// a request extension, as `ConnectInfo<Peer>`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer(pub(crate) SocketAddr);

/// When a request's body must be complete (its first byte plus `request_timeout`); a
/// request extension.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestDeadline(pub(crate) Instant);

impl RequestDeadline {
    /// The deadline of `request`'s body. Every request served has one; were one missing,
    /// the whole-request time from now stands in.
    pub(crate) fn of<B>(request: &Request<B>) -> Instant {
        request.extensions().get::<RequestDeadline>().map_or_else(
            || Instant::now() + ConnectionLimits::DEFAULT.request_timeout,
            |d| d.0,
        )
    }
}

/// The router as one connection's hyper service: marks the connection's request cycle and
/// gives each request its [`Peer`] and [`RequestDeadline`].
struct Tracked {
    router: TowerToHyperService<Router>,
    track: Arc<Track>,
    peer: SocketAddr,
    request_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let began = self.track.head_complete();
        let extensions = request.extensions_mut();
        extensions.insert(ConnectInfo(Peer(self.peer)));
        extensions.insert(RequestDeadline(began + self.request_timeout));
        let answer = self.router.call(request);
        let answered = Answered(self.track.clone());
        Box::pin(async move {
            let response = answer.await;
            drop(answered);
            response
        })
    }
}

/// Marks the request answered when dropped (its answer made, or the connection gone).
struct Answered(Arc<Track>);

impl Drop for Answered {
    fn drop(&mut self) {
        self.0.answered();
    }
}

/// Serves `router` on `listener` (HTTPS with `tls`) until `stop` turns true (or its sender is
/// dropped), then lets open connections finish for at most `grace`.
pub(crate) async fn serve(
    mut listener: Listener,
    router: Router,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    // Off (and no timer): the deadlines are [`Conn`]'s, from a request's first byte.
    http.header_read_timeout(None);
    let request_timeout = listener.limits.request_timeout;
    loop {
        let (conn, peer) = tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => accepted,
        };
        let service = Tracked {
            router: TowerToHyperService::new(router.clone()),
            track: conn.track.clone(),
            peer,
            request_timeout,
        };
        match &tls {
            None => {
                let connection = graceful.watch(http.serve_connection(TokioIo::new(conn), service));
                tokio::spawn(async move {
                    // A connection's end, error or not, concerns no one else.
                    let _ = connection.await;
                });
            }
            Some(acceptor) => {
                let handshake = acceptor.accept(conn);
                let (http, watcher) = (http.clone(), graceful.watcher());
                tokio::spawn(async move {
                    // A failed or late handshake (Conn's deadlines) closes the connection.
                    let Ok(tls) = handshake.await else {
                        return;
                    };
                    let _ = watcher
                        .watch(http.serve_connection(TokioIo::new(tls), service))
                        .await;
                });
            }
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
}
