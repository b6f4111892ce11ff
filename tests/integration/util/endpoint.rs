//! The credential endpoint with two owners, for the limits and audit stories: owner A (the
//! running user, root in CI) gets PROFILE_2 through `[credentials]`, owner B (`nobody`, a
//! `[[user]]`) gets PROFILE_1; and a keep-alive HTTP/1.1 client that times each answer.
//! Needs root (files owned by nobody), as CI has.

use super::daemon::{state_path, LIFETIME};
use super::{free_port, wait_for, Running, TestDir, PROFILE_1, PROFILE_2, REFERENCE_CONFIG};
use super::{ROLE_1, ROLE_2};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The token file in `tokens` of the user running the tests (by name, or by uid when the
/// uid has none), once daemon `d` serves: that file and `t`'s credentials file exist.
pub fn own_token_once_serving(t: &TestDir, tokens: &Path, d: &Running) -> PathBuf {
    let owner = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map_or_else(|| nix::unistd::geteuid().to_string(), |u| u.name);
    let token_file = tokens.join(format!("{owner}.token"));
    let up = wait_for(Duration::from_secs(20), || {
        token_file.exists() && t.credentials_path().exists()
    });
    assert!(
        up,
        "the daemon did not start serving:\n{}",
        d.stderr_so_far()
    );
    token_file
}

/// The daemon serving two owners on loopback `port`.
pub struct TwoOwners {
    pub t: TestDir,
    pub d: Running,
    pub port: u16,
    /// The running user's token (PROFILE_2).
    pub a_token: String,
    /// nobody's token (PROFILE_1).
    pub b_token: String,
}

/// The config of `TwoOwners` with `extra` lines in `[endpoint]`, written into `t`.
pub fn two_owners_config(t: &TestDir, port: u16, extra: &str) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the two-owner endpoint stories need root (a file owned by nobody), as CI has"
    );
    let nobody = t.path().join("nobody");
    std::fs::create_dir_all(nobody.join(".aws")).unwrap();
    for d in [&nobody, &nobody.join(".aws")] {
        chown(d, Some(65534), Some(65534)).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let head = REFERENCE_CONFIG.split("[[role]]").next().unwrap();
    t.write_config(&format!(
        "{head}[[user]]\nname = \"nobody\"\ncredentials_file = \"{}\"\n\n\
         [[role]]\nprofile = \"{PROFILE_1}\"\nrole_arn = \"{ROLE_1}\"\nusers = [\"nobody\"]\n\n\
         [[role]]\nprofile = \"{PROFILE_2}\"\nrole_arn = \"{ROLE_2}\"\n\n\
         [daemon]\nstate_file = \"{}\"\n\n\
         [endpoint]\nlisten = [\"127.0.0.1:{port}\"]\ntoken_dir = \"{}\"\n{extra}\n",
        nobody.join(".aws/credentials").display(),
        state_path(t).display(),
        t.path().join("tokens").display()
    ));
}

/// Starts `d` (the daemon, however wrapped) on `two_owners_config` and waits for both tokens
/// and both owners' credentials.
pub fn two_owners_started(t: TestDir, port: u16, d: Running) -> TwoOwners {
    let a_name = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map_or_else(|| nix::unistd::geteuid().to_string(), |u| u.name);
    let tokens = t.path().join("tokens");
    let (a_file, b_file) = (
        tokens.join(format!("{a_name}.token")),
        tokens.join("nobody.token"),
    );
    let up = wait_for(Duration::from_secs(30), || {
        let client = Client::connect(port);
        let token = std::fs::read_to_string(&b_file).unwrap_or_default();
        a_file.exists()
            && client.is_some_and(|mut c| c.get(PROFILE_1, Some(&token)).0 == 200)
            && t.credentials_path().exists()
    });
    assert!(up, "the daemon did not serve:\n{}", d.stderr_so_far());
    TwoOwners {
        a_token: std::fs::read_to_string(&a_file).unwrap(),
        b_token: std::fs::read_to_string(&b_file).unwrap(),
        t,
        d,
        port,
    }
}

/// The two-owner daemon, logging to stderr, with `extra` lines in `[endpoint]`.
pub fn two_owners(extra: &str) -> TwoOwners {
    let t = TestDir::new();
    t.sts.set_lifetime(LIFETIME);
    let port = free_port();
    two_owners_config(&t, port, extra);
    let d = t.cmd(&["daemon"]).spawn();
    two_owners_started(t, port, d)
}

impl TwoOwners {
    pub fn client(&self) -> Client {
        Client::connect(self.port).expect("connecting to the endpoint")
    }
}

/// One keep-alive HTTP/1.1 connection to the endpoint.
pub struct Client {
    reader: BufReader<TcpStream>,
}

/// One answer: status, headers (lowercase names), body, and how long it took.
pub struct Answer(pub u16, pub Vec<(String, String)>, pub String, pub Duration);

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        (self.1.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Client {
    pub fn connect(port: u16) -> Option<Client> {
        let s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.set_nodelay(true).unwrap();
        Some(Client {
            reader: BufReader::new(s),
        })
    }

    /// `GET /v1/credentials/PROFILE` with `token`, if any.
    pub fn get(&mut self, profile: &str, token: Option<&str>) -> Answer {
        let auth = token.map_or(String::new(), |t| format!("Authorization: {t}\r\n"));
        self.send(&format!(
            "GET /v1/credentials/{profile} HTTP/1.1\r\nHost: x\r\n{auth}"
        ))
    }

    /// One request (`head` without the final blank line) and its answer.
    pub fn send(&mut self, head: &str) -> Answer {
        let started = Instant::now();
        let s = self.reader.get_mut();
        s.write_all(format!("{head}\r\n").as_bytes()).unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("a status line");
        let status = (line.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("a header line");
            let Some((name, value)) = line.trim_end().split_once(':') else {
                break;
            };
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        let length: usize = (headers.iter())
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).expect("the body");
        let body = String::from_utf8_lossy(&body).into_owned();
        Answer(status, headers, body, started.elapsed())
    }
}

/// The `q` quantile (0..1) of `times`, sorted in place.
pub fn quantile(times: &mut [Duration], q: f64) -> Duration {
    times.sort();
    let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
    times[i]
}

/// The path of the journal sandbox script.
pub fn jd_script() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/jd.sh"))
}
