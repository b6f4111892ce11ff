//! A fault-injecting loopback proxy, for the outage stories: a tiny HTTP server in the test
//! process, in front of a real fake (the fake IMDS, STS, SSM or Organizations, or moto). Each
//! new connection's first request takes the next fault of a script: what load balancers and
//! corporate proxies send in an outage (500/502/503/504 with an HTML, empty or garbage body),
//! a connection reset before any answer, a 200 cut off mid-body, or no answer at all until
//! the client gives up. A faulted connection is closed; once the script is spent, connections
//! are spliced to the fake unchanged. It listens on 127.0.0.1 only and forwards only to a
//! loopback URL (the fakes' own check, `assert_loopback`).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::command::assert_loopback;

/// What an answer's body is, as an outage answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// `Content-Type: text/html`, a load balancer's error page.
    Html,
    /// No body at all (`Content-Length: 0`, no `Content-Type`).
    Empty,
    /// Bytes that claim to be JSON and are not.
    Garbage,
}

/// One request's fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// An answer with this status and body.
    Status(u16, Body),
    /// The connection reset (SO_LINGER 0, then closed) before any answer.
    Reset,
    /// A 200's headers and part of its body, then a reset.
    Cut,
    /// No answer at all until the client closes the connection (its timeout).
    Stall,
}

/// The faults every outage test walks through: 500/502/503/504 with each kind of body, a
/// reset, and a 200 cut off.
pub const OUTAGE: [Fault; 6] = [
    Fault::Status(503, Body::Html),
    Fault::Status(502, Body::Empty),
    Fault::Status(500, Body::Garbage),
    Fault::Status(504, Body::Html),
    Fault::Reset,
    Fault::Cut,
];

/// A proxy on a loopback port of its own; it stops accepting when the test process ends
/// (its threads are detached, each bounded by its connection).
pub struct FaultProxy {
    url: String,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    script: VecDeque<Fault>,
    /// Answered to every request once the script is spent, instead of forwarding.
    forever: Option<Fault>,
    served: Vec<Fault>,
    forwarded: usize,
}

impl FaultProxy {
    /// A proxy to `upstream` (`http://127.0.0.1:PORT`) that answers `script`, one fault a
    /// connection, then forwards.
    pub fn start(upstream: &str, script: impl IntoIterator<Item = Fault>) -> FaultProxy {
        FaultProxy::with_state(
            upstream,
            State {
                script: script.into_iter().collect(),
                ..State::default()
            },
        )
    }

    /// A proxy that answers every request with `fault` and never forwards: an outage that
    /// outlasts every deadline.
    pub fn down(upstream: &str, fault: Fault) -> FaultProxy {
        FaultProxy::with_state(
            upstream,
            State {
                forever: Some(fault),
                ..State::default()
            },
        )
    }

    fn with_state(upstream: &str, state: State) -> FaultProxy {
        assert_loopback("the proxy's upstream", upstream);
        let target = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the fault proxy");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(state));
        let shared = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (state, target) = (shared.clone(), target.clone());
                std::thread::spawn(move || serve(conn, &state, &target));
            }
        });
        FaultProxy { url, state }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The faults answered so far, in order.
    pub fn served(&self) -> Vec<Fault> {
        self.lock().served.clone()
    }

    /// How many connections were forwarded to the fake.
    pub fn forwarded(&self) -> usize {
        self.lock().forwarded
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One connection: its first request faulted, or the whole connection forwarded.
fn serve(mut conn: TcpStream, state: &Mutex<State>, target: &str) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(120)));
    let Some(request) = read_request(&mut conn) else {
        return;
    };
    let fault = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        let fault = s.script.pop_front().or(s.forever);
        match fault {
            Some(f) => s.served.push(f),
            None => s.forwarded += 1,
        }
        fault
    };
    match fault {
        Some(fault) => answer(conn, fault),
        None => forward(conn, &request, target),
    }
}

/// The bytes of one request: its head and its `Content-Length` body. `None` if the client
/// closed first.
fn read_request(conn: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = conn.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf)
}

fn answer(mut conn: TcpStream, fault: Fault) {
    match fault {
        Fault::Status(status, body) => {
            let (kind, text) = match body {
                Body::Html => (
                    Some("text/html"),
                    format!(
                        "<html>\r\n<head><title>{status} Service Temporarily Unavailable</title>\
                         </head>\r\n<body><center><h1>{status} Service Temporarily \
                         Unavailable</h1></center></body>\r\n</html>\r\n"
                    ),
                ),
                Body::Empty => (None, String::new()),
                Body::Garbage => (Some("application/json"), "\u{1}{{{ not json at all".into()),
            };
            let kind = kind
                .map(|k| format!("Content-Type: {k}\r\n"))
                .unwrap_or_default();
            let reply = format!(
                "HTTP/1.1 {status} Outage\r\n{kind}Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = conn.write_all(reply.as_bytes());
            let _ = conn.shutdown(Shutdown::Write);
            // Let the client read the answer before the socket goes.
            let _ = conn.read(&mut [0u8; 1]);
        }
        Fault::Reset => reset(conn),
        Fault::Cut => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 4096\r\n\r\n";
            let _ = conn.write_all(format!("{head}<Response><Partial>").as_bytes());
            let _ = conn.flush();
            std::thread::sleep(Duration::from_millis(50));
            reset(conn);
        }
        Fault::Stall => {
            // Held until the client's timeout closes it (or two minutes pass).
            let mut sink = [0u8; 1024];
            while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
        }
    }
}

/// Closes `conn` with SO_LINGER 0: the peer sees a reset (ECONNRESET), not an orderly end.
fn reset(conn: TcpStream) {
    socket2::SockRef::from(&conn)
        .set_linger(Some(Duration::ZERO))
        .expect("setting SO_LINGER 0");
    drop(conn);
}

/// Splices `conn` to `target`, `request` first, until either side closes.
fn forward(conn: TcpStream, request: &[u8], target: &str) {
    let Ok(mut upstream) = TcpStream::connect(target) else {
        return reset(conn);
    };
    if upstream.write_all(request).is_err() {
        return;
    }
    let (mut down_from, mut down_to) = (upstream.try_clone().unwrap(), conn.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut down_from, &mut down_to);
        let _ = down_to.shutdown(Shutdown::Write);
    });
    let mut conn = conn;
    let _ = conn.set_read_timeout(None);
    let _ = std::io::copy(&mut conn, &mut upstream);
    let _ = upstream.shutdown(Shutdown::Write);
}
