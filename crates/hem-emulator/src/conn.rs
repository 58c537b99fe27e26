//! The listening socket, with the limits that keep memory bounded under any load: at most
//! [`MAX_CONNECTIONS`] open connections (more wait in the kernel's backlog until one closes),
//! and a connection that moves no byte for [`IDLE_TIMEOUT`] is closed.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Connections served at once. Each costs a few tens of kilobytes (hyper's buffers and a
/// body of at most 7300 bytes); 512 also stays below the usual limit of 1024 open files.
pub(crate) const MAX_CONNECTIONS: usize = 512;
/// A connection with no traffic in either direction for this long is closed. Longer than
/// the idle time after which HTTP clients drop pooled connections (ureq: 15 s).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections the kernel queues before `accept`.
const BACKLOG: u32 = 1024;

/// Binds `addr` (with `SO_REUSEADDR`, so a restart can take the port of a stopped emulator
/// at once). Must run inside a Tokio runtime context.
pub(crate) fn bind(addr: SocketAddr) -> io::Result<Listener> {
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
        permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
    })
}

/// A TCP listener that hands out at most [`MAX_CONNECTIONS`] live connections.
pub(crate) struct Listener {
    inner: TcpListener,
    addr: SocketAddr,
    permits: Arc<Semaphore>,
}

impl Listener {
    /// The bound address.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl axum::serve::Listener for Listener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        // The semaphore is never closed; were it, no connection would be accepted any more.
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return std::future::pending().await;
        };
        // axum's accept loop retries on errors (sleeping on resource exhaustion).
        let (io, peer) = axum::serve::Listener::accept(&mut self.inner).await;
        let _ = io.set_nodelay(true);
        (Conn::new(io, permit), peer)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

/// An accepted connection: holds its permit, and fails with `TimedOut` once it has been idle
/// for [`IDLE_TIMEOUT`].
pub(crate) struct Conn {
    io: TcpStream,
    idle: Pin<Box<Sleep>>,
    _permit: OwnedSemaphorePermit,
}

impl Conn {
    fn new(io: TcpStream, permit: OwnedSemaphorePermit) -> Self {
        Conn {
            io,
            idle: Box::pin(tokio::time::sleep(IDLE_TIMEOUT)),
            _permit: permit,
        }
    }

    /// After progress: the idle time starts again.
    fn touch(&mut self) {
        self.idle.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
    }

    /// While waiting: `Ready(Err)` once the connection has been idle too long.
    fn poll_idle<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.idle.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progress<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match poll {
            Poll::Ready(r) => {
                self.touch();
                Poll::Ready(r)
            }
            Poll::Pending => self.poll_idle(cx),
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
        let poll = Pin::new(&mut this.io).poll_read(cx, buf);
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
/// taken from the accepted connection, as `ConnectInfo<Peer>`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer(pub(crate) SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Listener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Listener>) -> Self {
        Peer(*stream.remote_addr())
    }
}
