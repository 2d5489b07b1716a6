//! The HTTP server loop, with what the open internet needs and `axum::serve` lacks: a
//! deadline for each request's headers, which also ends an idle kept-alive connection
//! (a client sending a byte a second holds nothing for long); a deadline for each write
//! of a response (a client that never reads holds nothing for long either); a cap on
//! open connections in all, and per client address when clients connect directly
//! (past it, new ones are closed at once rather than running the process out of file
//! descriptors); and a budget for request bodies held in memory at once. Bodies have
//! their own deadline where they are read.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tower_service::Service;

/// A request's headers must arrive within this, counted from when the connection starts
/// waiting for them (a new connection, or an idle kept-alive one).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A request's body must arrive within this (api.rs, proxy.rs).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections at most; well under a default file limit of 65536.
pub const MAX_CONNECTIONS: usize = 10_000;
/// Open connections from one client network at most, when clients connect directly: an
/// IPv4 address or IPv6 /64, and all the /64s of one IPv6 /48 together.
pub const MAX_CONNECTIONS_PER_PEER: usize = 128;
pub const MAX_CONNECTIONS_PER_SITE: usize = 512;
/// A write of a response must make progress within this.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Request bodies held in memory at once, in all (api.rs, proxy.rs take from it), and
/// from one client network (an IPv4 address or IPv6 /64): no few clients spend it all.
pub const BODY_BUDGET_BYTES: usize = 256 << 20;
pub const BODY_BUDGET_PER_NETWORK_BYTES: usize = 32 << 20;
/// A connection is closed after this, whatever it does: a client that reads a large
/// response a few bytes at a time (each write makes progress) holds nothing for longer.
pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(300);
/// The most a connection buffers of a request's head (32 kB access tokens fit).
const MAX_HEAD_BYTES: usize = 64 << 10;
/// How long a shutdown waits for requests under way.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` completes, then lets requests under way
/// finish (for at most SHUTDOWN_GRACE).
/// `per_peer`: whether to cap connections per client address (not behind a proxy, whose
/// address every client would share).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    per_peer: bool,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let peers: Arc<Mutex<HashMap<(IpAddr, u8), usize>>> = Arc::default();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was taken: wait a little.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!("{MAX_CONNECTIONS} connections are open: closing one from {peer}");
            drop(stream);
            continue;
        };
        let peer_slot = if per_peer {
            match PeerSlot::take(&peers, peer.ip()) {
                Some(taken) => Some(taken),
                None => {
                    tracing::warn!("too many connections are open from {}'s network: closing another", peer.ip());
                    drop(stream);
                    continue;
                }
            }
        } else {
            None
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            app.clone().call(request.map(axum::body::Body::new))
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(MAX_HEAD_BYTES)
            .serve_connection(TokioIo::new(WriteDeadline::new(stream)), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(MAX_CONNECTION_AGE, connection).await;
            drop((slot, peer_slot));
        });
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still under way after {SHUTDOWN_GRACE:?}: stopping anyway");
    }
}

/// The network a client counts as: an IPv4 address, or an IPv6 /64 (one host's usual
/// share; keyed on the full address, it could be as many clients as it has addresses).
pub fn network_of(ip: IpAddr) -> IpAddr {
    prefix_of(ip, 64)
}

/// An IPv6 address cut to its first `bits` (48 or 64); an IPv4 one (mapped or not) whole.
fn prefix_of(ip: IpAddr, bits: u8) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                let keep = |i: usize| if (i as u8) * 16 < bits { s[i] } else { 0 };
                IpAddr::V6(std::net::Ipv6Addr::new(keep(0), keep(1), keep(2), keep(3), 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// The connection-count keys of a client and the cap of each: its /64 (or IPv4 address),
/// and for IPv6 its /48 too.
fn connection_keys(ip: IpAddr) -> Vec<((IpAddr, u8), usize)> {
    let mut keys = vec![((prefix_of(ip, 64), 64), MAX_CONNECTIONS_PER_PEER)];
    if prefix_of(ip, 48).is_ipv6() {
        keys.push(((prefix_of(ip, 48), 48), MAX_CONNECTIONS_PER_SITE));
    }
    keys
}

/// One connection of a client, counted against its networks, given back when dropped.
struct PeerSlot {
    peers: Arc<Mutex<HashMap<(IpAddr, u8), usize>>>,
    keys: Vec<(IpAddr, u8)>,
}

impl PeerSlot {
    fn take(peers: &Arc<Mutex<HashMap<(IpAddr, u8), usize>>>, ip: IpAddr) -> Option<PeerSlot> {
        let keys = connection_keys(ip);
        let mut open = peers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if keys.iter().any(|(key, cap)| open.get(key).copied().unwrap_or(0) >= *cap) {
            return None;
        }
        for (key, _) in &keys {
            *open.entry(*key).or_insert(0) += 1;
        }
        Some(PeerSlot { peers: peers.clone(), keys: keys.into_iter().map(|(key, _)| key).collect() })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.peers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for key in &self.keys {
            if let Some(count) = open.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    open.remove(key);
                }
            }
        }
    }
}

/// A stream whose writes fail once one has waited WRITE_TIMEOUT without progress: a
/// client that stops reading its response is let go.
struct WriteDeadline<S> {
    inner: S,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteDeadline<S> {
    fn new(inner: S) -> Self {
        WriteDeadline { inner, deadline: None }
    }

    /// Pending: start the clock, or fail once it ran out. Ready: stop it.
    fn watch<T>(&mut self, cx: &mut Context<'_>, result: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        if result.is_ready() {
            self.deadline = None;
            return result;
        }
        let deadline = self.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(WRITE_TIMEOUT)));
        match std::future::Future::poll(deadline.as_mut(), cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the client stopped reading"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, result)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Room for request bodies in memory: in all, and per client network.
#[derive(Clone)]
pub struct BodyBudget {
    total: Arc<tokio::sync::Semaphore>,
    per_network: Arc<Mutex<HashMap<IpAddr, usize>>>,
    network_limit: usize,
}

impl BodyBudget {
    pub fn new(total: usize, network_limit: usize) -> BodyBudget {
        BodyBudget { total: Arc::new(tokio::sync::Semaphore::new(total)), per_network: Arc::default(), network_limit }
    }

    /// `bytes` more for `network`, or None (Busy) when either budget is spent.
    fn take(&self, network: IpAddr, bytes: usize) -> Option<BodyShare> {
        let total = self.total.clone().try_acquire_many_owned(bytes as u32).ok()?;
        let mut held = self.per_network.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mine = held.entry(network).or_insert(0);
        if *mine + bytes > self.network_limit {
            if *mine == 0 {
                held.remove(&network);
            }
            return None;
        }
        *mine += bytes;
        Some(BodyShare { budget: self.clone(), network, bytes, _total: total })
    }
}

/// Bytes held from a BodyBudget, given back when dropped.
pub struct BodyShare {
    budget: BodyBudget,
    network: IpAddr,
    bytes: usize,
    _total: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for BodyShare {
    fn drop(&mut self) {
        let mut held = self.budget.per_network.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(mine) = held.get_mut(&self.network) {
            *mine = mine.saturating_sub(self.bytes);
            if *mine == 0 {
                held.remove(&self.network);
            }
        }
    }
}

/// Reads a request body whole, within BODY_READ_TIMEOUT and `limit` bytes, holding what
/// has arrived from the budget (in all, and the client network's) while it lives. Room is
/// taken as bytes arrive, never for what a client merely declares, and never waited for:
/// when a budget is spent the request is refused at once (Busy), so that slow or large
/// bodies cannot make everyone else's requests queue.
pub async fn read_body(
    body: axum::body::Body,
    limit: usize,
    budget: &BodyBudget,
    client: IpAddr,
) -> Result<ReadBody, BodyError> {
    use http_body_util::BodyExt;
    let network = network_of(client);
    let deadline = tokio::time::Instant::now() + BODY_READ_TIMEOUT;
    let mut body = body;
    let mut bytes = bytes::BytesMut::new();
    let mut room = Vec::new();
    while let Some(frame) = tokio::time::timeout_at(deadline, body.frame()).await.map_err(|_| BodyError::TimedOut)? {
        let Ok(data) = frame.map_err(|_| BodyError::TimedOut)?.into_data() else { continue };
        if bytes.len() + data.len() > limit {
            return Err(BodyError::TooLarge);
        }
        room.push(budget.take(network, data.len()).ok_or(BodyError::Busy)?);
        bytes.extend_from_slice(&data);
    }
    Ok(ReadBody { bytes: bytes.freeze(), _room: room })
}

/// A request body read whole, with its share of the budget, given back when dropped.
pub struct ReadBody {
    pub bytes: bytes::Bytes,
    _room: Vec<BodyShare>,
}

pub enum BodyError {
    TimedOut,
    TooLarge,
    /// The budget for bodies in memory is spent: retry shortly.
    Busy,
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A client that never reads: once the stream's buffer is full, the write fails after
    /// WRITE_TIMEOUT instead of waiting forever.
    #[tokio::test(start_paused = true)]
    async fn a_write_nobody_reads_times_out() {
        let (server_side, _client_side_never_read) = tokio::io::duplex(1024);
        let mut stream = WriteDeadline::new(server_side);
        let started = tokio::time::Instant::now();
        let result = stream.write_all(&[0u8; 64 * 1024]).await;
        assert_eq!(result.map_err(|e| e.kind()), Err(std::io::ErrorKind::TimedOut));
        assert!(started.elapsed() >= WRITE_TIMEOUT);
    }

    /// A client that reads, however slowly, keeps the connection: each write that makes
    /// progress starts the clock again.
    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_is_served() {
        use tokio::io::AsyncReadExt;
        let (server_side, mut client_side) = tokio::io::duplex(1024);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut chunk = [0u8; 1024];
            loop {
                tokio::time::sleep(WRITE_TIMEOUT / 2).await;
                match client_side.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                }
            }
            got.len()
        });
        let mut stream = WriteDeadline::new(server_side);
        stream.write_all(&[1u8; 8 * 1024]).await.expect("a reader that keeps reading is written to");
        drop(stream);
        assert_eq!(reader.await.expect("the reader ends"), 8 * 1024);
    }

    /// Room is taken as bytes arrive and given back with the body; past a budget (in all,
    /// or the client network's) a body is refused at once, and what it took is given back.
    #[tokio::test]
    async fn bodies_take_room_as_they_arrive() {
        let budget = BodyBudget::new(10, 8);
        let one: IpAddr = "203.0.113.9".parse().expect("an address");
        let other: IpAddr = "198.51.100.7".parse().expect("an address");
        let small = read_body(axum::body::Body::from(vec![7u8; 6]), 100, &budget, one).await.ok().expect("room for 6 bytes");
        assert_eq!((small.bytes.len(), budget.total.available_permits()), (6, 4));
        assert!(matches!(read_body(axum::body::Body::from(vec![7u8; 3]), 100, &budget, one).await, Err(BodyError::Busy)),
            "past the network's 8 bytes");
        assert!(read_body(axum::body::Body::from(vec![7u8; 3]), 100, &budget, other).await.is_ok(), "another network has room");
        assert!(matches!(read_body(axum::body::Body::from(vec![7u8; 5]), 100, &budget, other).await, Err(BodyError::Busy)),
            "past the 10 bytes in all");
        assert_eq!(budget.total.available_permits(), 4);
        drop(small);
        assert_eq!(budget.total.available_permits(), 10);
        assert!(budget.per_network.lock().expect("a lock").is_empty());
        assert!(matches!(read_body(axum::body::Body::from(vec![7u8; 101]), 100, &budget, one).await, Err(BodyError::TooLarge)));
    }

    /// Past the caps, a client network gets no more connections (its /64, and its /48
    /// however many /64s it uses); one closed gives room.
    #[test]
    fn connections_per_network_are_capped() {
        let peers: Arc<Mutex<HashMap<(IpAddr, u8), usize>>> = Arc::default();
        let ip: IpAddr = "2001:db8:1:2:3:4:5:6".parse().expect("an address");
        let same_64: IpAddr = "2001:db8:1:2:ffff::1".parse().expect("an address");
        let v4: IpAddr = "198.51.100.7".parse().expect("an address");
        let mut held: Vec<PeerSlot> = (0..MAX_CONNECTIONS_PER_PEER).map(|_| PeerSlot::take(&peers, ip).expect("room")).collect();
        assert!(PeerSlot::take(&peers, same_64).is_none(), "one /64");
        assert!(PeerSlot::take(&peers, v4).is_some());
        held.pop();
        assert!(PeerSlot::take(&peers, ip).is_some());
        drop(held);
        let site: Vec<PeerSlot> = (0..MAX_CONNECTIONS_PER_SITE)
            .map(|i| PeerSlot::take(&peers, format!("2001:db8:1:{:x}::1", i % 64 + 100).parse().expect("an address")).expect("room"))
            .collect();
        assert!(PeerSlot::take(&peers, "2001:db8:1:ffff::1".parse().expect("an address")).is_none(), "one /48");
        assert!(PeerSlot::take(&peers, "2001:db8:2::1".parse().expect("an address")).is_some(), "another /48");
        drop(site);
        assert!(peers.lock().expect("a lock").is_empty());
    }
}
