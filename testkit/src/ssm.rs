//! A fake SSM Parameter Store on loopback speaking the JSON protocol aws-sdk-ssm uses
//! (`X-Amz-Target: AmazonSSM.GetParameter`): parameters a test puts (each put a new version),
//! and scripted failures (denied, throttled). It records every call with the name asked for,
//! whether decryption was asked, and the access key id that signed it. It does not verify
//! signatures and never forwards anything anywhere.

use crate::http::{Recorded, Reply, Server};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// One `GetParameter` as the fake understood it.
#[derive(Clone, Debug)]
pub struct Call {
    pub name: String,
    pub with_decryption: bool,
    /// The key id in the SigV4 `Authorization` header's `Credential=` scope.
    pub access_key_id: Option<String>,
    /// The region in that scope.
    pub signing_region: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct State {
    /// name -> (value, version)
    parameters: HashMap<String, (String, i64)>,
    denied: HashSet<String>,
    /// Answer this many calls with `ThrottlingException` first.
    throttle: usize,
    calls: Vec<Call>,
}

pub struct FakeSsm {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl FakeSsm {
    pub fn start() -> FakeSsm {
        let state = Arc::new(Mutex::new(State::default()));
        let server = {
            let state = Arc::clone(&state);
            Server::start(move |req| answer(&state, req))
        };
        FakeSsm { server, state }
    }

    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// Creates or overwrites `name` (a new version, as SSM's `PutParameter --overwrite`).
    pub fn put(&self, name: &str, value: &str) {
        let mut s = self.state.lock().unwrap();
        let version = s.parameters.get(name).map_or(1, |(_, v)| v + 1);
        s.parameters
            .insert(name.to_owned(), (value.to_owned(), version));
    }

    pub fn delete(&self, name: &str) {
        self.state.lock().unwrap().parameters.remove(name);
    }

    /// Every read of `name` is refused with `AccessDeniedException`.
    pub fn deny(&self, name: &str) {
        self.state.lock().unwrap().denied.insert(name.to_owned());
    }

    /// The next `n` calls are throttled.
    pub fn throttle(&self, n: usize) {
        self.state.lock().unwrap().throttle = n;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }
}

fn answer(state: &Mutex<State>, req: &Recorded) -> Reply {
    let mut s = state.lock().unwrap();
    let target = req.header("x-amz-target").unwrap_or_default();
    let (status, body) = if target != "AmazonSSM.GetParameter" {
        (400, error("UnknownOperationException", target))
    } else {
        match serde_json::from_str::<serde_json::Value>(&req.body) {
            Err(_) => (400, error("SerializationException", "not JSON")),
            Ok(input) => {
                let name = input["Name"].as_str().unwrap_or_default().to_owned();
                let with_decryption = input["WithDecryption"].as_bool().unwrap_or(false);
                let (status, body) = if s.throttle > 0 {
                    s.throttle -= 1;
                    (400, error("ThrottlingException", "Rate exceeded"))
                } else if s.denied.contains(&name) {
                    (
                        400,
                        error(
                            "AccessDeniedException",
                            &format!("not authorized to perform: ssm:GetParameter on {name}"),
                        ),
                    )
                } else {
                    match s.parameters.get(&name) {
                        None => (400, error("ParameterNotFound", "")),
                        Some((value, version)) => (
                            200,
                            serde_json::json!({"Parameter": {
                                "Name": name,
                                "Type": "SecureString",
                                "Value": value,
                                "Version": version,
                                "DataType": "text",
                                "ARN": format!("arn:aws:ssm:us-east-1:000000000000:parameter{name}"),
                                "LastModifiedDate": 1.7e9,
                            }})
                            .to_string(),
                        ),
                    }
                };
                let auth = req.header("authorization").unwrap_or_default();
                let scope = auth
                    .split("Credential=")
                    .nth(1)
                    .map(|c| c.split(',').next().unwrap_or_default().to_owned());
                let part = |i: usize| {
                    scope
                        .as_ref()
                        .and_then(|c| c.split('/').nth(i))
                        .map(str::to_owned)
                };
                s.calls.push(Call {
                    name,
                    with_decryption,
                    access_key_id: part(0),
                    signing_region: part(2),
                    status,
                });
                (status, body)
            }
        }
    };
    Reply::new(status, body).header("Content-Type", "application/x-amz-json-1.1")
}

fn error(code: &str, message: &str) -> String {
    serde_json::json!({"__type": code, "message": message}).to_string()
}
