//! A tiny loopback HTTP server for the fakes: binds 127.0.0.1:0, answers from a handler on a
//! background thread (tiny_http handles keep-alive), records every request so a test can count
//! calls, and stops when dropped. It must never bind anything but loopback.
#![allow(dead_code)] // shared by several test binaries and the demo; each uses a part

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

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
}

type Handler = Box<dyn Fn(&Recorded) -> Reply + Send + Sync>;

pub struct Server {
    server: Arc<tiny_http::Server>,
    log: Arc<Mutex<Vec<Recorded>>>,
    thread: Option<JoinHandle<()>>,
    url: String,
}

impl Server {
    /// Starts serving on a free loopback port.
    pub fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Server {
        Server::start_on(0, handler)
    }

    /// Starts serving on loopback `port` (0: any free port).
    pub fn start_on(
        port: u16,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let server = Arc::new(
            tiny_http::Server::http(("127.0.0.1", port)).expect("binding a loopback port"),
        );
        let port = server.server_addr().to_ip().expect("a TCP listener").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Box::new(handler);
        let thread = {
            let server = Arc::clone(&server);
            let log = Arc::clone(&log);
            std::thread::spawn(move || serve(&server, &log, &handler))
        };
        Server {
            server,
            log,
            thread: Some(thread),
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(server: &tiny_http::Server, log: &Mutex<Vec<Recorded>>, handler: &Handler) {
    for mut request in server.incoming_requests() {
        // A body that is not UTF-8 is recorded lossily rather than dropping the request.
        let mut raw = Vec::new();
        let _ = request.as_reader().read_to_end(&mut raw);
        let body = String::from_utf8_lossy(&raw).into_owned();
        let url = request.url();
        let recorded = Recorded {
            method: request.method().as_str().to_owned(),
            path: url.split('?').next().unwrap_or(url).to_owned(),
            headers: request
                .headers()
                .iter()
                .map(|h| {
                    (
                        h.field.as_str().as_str().to_owned(),
                        h.value.as_str().to_owned(),
                    )
                })
                .collect(),
            body,
        };
        log.lock().unwrap().push(recorded.clone());
        let reply = handler(&recorded);
        let mut response =
            tiny_http::Response::from_string(reply.body).with_status_code(reply.status);
        for (name, value) in &reply.headers {
            if let Ok(h) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                response.add_header(h);
            }
        }
        if reply.delay.is_zero() {
            let _ = request.respond(response);
        } else {
            // Held on its own thread, so that the one serving thread answers the others.
            std::thread::spawn(move || {
                std::thread::sleep(reply.delay);
                let _ = request.respond(response);
            });
        }
    }
}
