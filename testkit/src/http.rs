//! The one HTTP server of the fakes: HTTP/1.1 with keep-alive (hyper) on a tokio runtime of
//! its own thread, bound to 127.0.0.1 only. It records every request so a test can count
//! calls, answers from a handler, and holds an answer back (the server's latency, then the
//! reply's own delay: a slow or hung service) while it serves every other request, as many
//! at once as the clients send, counting the most it held in flight. It stops when dropped,
//! dropping every connection still held. It must never bind anything but loopback, but in a
//! network namespace a test made (`start_at` refuses other addresses anywhere else).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a handler answers.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// How long the answer is held back (a hung service); other requests are served meanwhile.
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// Holds the answer back for `delay`.
    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The value of header `name` (case-insensitive), if set.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request-rate limit over a sliding window, as AWS's per-second quotas are: at most
/// `limit` calls admitted in any window.
#[derive(Clone, Debug)]
pub struct RateWindow {
    limit: usize,
    admitted: VecDeque<Instant>,
}

impl RateWindow {
    pub fn new(limit: usize) -> RateWindow {
        RateWindow {
            limit,
            admitted: VecDeque::new(),
        }
    }

    /// Whether a call at `now` fits within `limit` per `window`; if so it counts.
    pub fn admit(&mut self, now: Instant, window: Duration) -> bool {
        while self.admitted.front().is_some_and(|&t| now - t >= window) {
            self.admitted.pop_front();
        }
        if self.admitted.len() >= self.limit {
            return false;
        }
        self.admitted.push_back(now);
        true
    }
}

type Handler = Box<dyn Fn(&Recorded) -> Reply + Send + Sync>;

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// Whether the calling thread is in a network namespace other than its process's (the
/// machine's, for a test): one a test made and entered with setns. Unknown counts as no.
pub fn in_own_netns() -> bool {
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &str| std::fs::metadata(p).map(|m| (m.dev(), m.ino()));
    match (ino("/proc/thread-self/ns/net"), ino("/proc/self/ns/net")) {
        (Ok(me), Ok(process)) => me != process,
        _ => false,
    }
}

/// What every connection of one server shares.
struct Shared {
    handler: Handler,
    latency: Duration,
    log: Mutex<Vec<Recorded>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

pub struct Server {
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    url: String,
}

impl Server {
    /// Starts serving on a free loopback port.
    pub fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Server {
        Server::spawn(LOOPBACK, 0, Duration::ZERO, Box::new(handler))
    }

    /// Starts serving on loopback `port` (0: any free port).
    pub fn start_on(
        port: u16,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Server {
        Server::spawn(LOOPBACK, port, Duration::ZERO, Box::new(handler))
    }

    /// Starts serving on `ip` (`::1` for an IPv6-only test) and `port` (0: any free port). An
    /// address that is not loopback is refused (a panic) unless the calling thread is in a
    /// network namespace other than the machine's: one a test made, where it stays.
    pub fn start_at(
        ip: IpAddr,
        port: u16,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Server {
        Server::spawn(ip, port, Duration::ZERO, Box::new(handler))
    }

    /// Starts serving on a free loopback port, holding every request for `latency` before the
    /// handler sees it, as a distant service does.
    pub fn start_with_latency(
        latency: Duration,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Server {
        Server::spawn(LOOPBACK, 0, latency, Box::new(handler))
    }

    fn spawn(ip: IpAddr, port: u16, latency: Duration, handler: Handler) -> Server {
        assert!(
            ip.is_loopback() || in_own_netns(),
            "refusing to listen on {ip}, which is not loopback, in the machine's own network \
             namespace"
        );
        let listener = std::net::TcpListener::bind((ip, port)).expect("binding a loopback port");
        let port = listener.local_addr().expect("a TCP listener").port();
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let shared = Arc::new(Shared {
            handler,
            latency,
            log: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for a fake")
                    .block_on(serve(listener, shared, stopped));
            })
        };
        Server {
            shared,
            stop: Some(stop),
            thread: Some(thread),
            url: format!("http://{}", std::net::SocketAddr::new(ip, port)),
        }
    }

    /// `http://127.0.0.1:PORT` (or the address it was started at), no trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.log.lock().unwrap().clone()
    }

    /// The most requests held at once (arrived, not yet answered).
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections until `stopped`; returning drops the runtime and with it every
/// connection task, answered or not.
async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        // A reply may go out in two writes; without this, Nagle holds the second back ~40 ms.
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(answer(&shared, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Counts a request in flight from arrival until it is answered or dropped.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> InFlight<'a> {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn answer(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let held = InFlight::enter(shared);
    let (parts, body) = req.into_parts();
    // A body that is not UTF-8 is recorded lossily rather than dropping the request.
    let raw = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect(),
        body: String::from_utf8_lossy(&raw).into_owned(),
    };
    shared.log.lock().unwrap().push(recorded.clone());
    tokio::time::sleep(shared.latency).await;
    let reply = (shared.handler)(&recorded);
    tokio::time::sleep(reply.delay).await;
    drop(held);
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    response
        .body(Full::new(Bytes::from(reply.body)))
        .expect("a fake's status and headers are valid")
}
