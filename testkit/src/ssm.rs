//! A fake SSM Parameter Store on loopback speaking the JSON protocol aws-sdk-ssm uses
//! (`X-Amz-Target: AmazonSSM.GetParameter`, `GetParameters`, `PutParameter`,
//! `DeleteParameters`): parameters a test (or the agent) puts, each put a new version, and
//! scripted failures (denied, throttled). It records every call with its operation, the names
//! asked for, whether decryption was asked, and the access key id that signed it. It does not verify
//! signatures and never forwards anything anywhere.

use crate::http::{Recorded, Reply, Server};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// One `GetParameter` as the fake understood it.
#[derive(Clone, Debug)]
pub struct Call {
    /// `GetParameter`, `GetParameters`, `PutParameter`, `DeleteParameters`.
    pub operation: String,
    /// The name asked for; for `GetParameters` and `DeleteParameters`, the names joined by
    /// commas.
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
        FakeSsm::start_at(std::net::Ipv4Addr::LOCALHOST.into())
    }

    /// A fake on `ip` (`::1` for an IPv6-only test; see `http::Server::start_at`).
    pub fn start_at(ip: std::net::IpAddr) -> FakeSsm {
        let state = Arc::new(Mutex::new(State::default()));
        let server = {
            let state = Arc::clone(&state);
            Server::start_at(ip, 0, move |req| answer(&state, req))
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

    /// The value of `name`, if it exists.
    pub fn value(&self, name: &str) -> Option<String> {
        let s = self.state.lock().unwrap();
        s.parameters.get(name).map(|(v, _)| v.clone())
    }

    /// Every parameter's name, sorted.
    pub fn names(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        let mut names: Vec<String> = s.parameters.keys().cloned().collect();
        names.sort();
        names
    }
}

fn parameter(name: &str, value: &str, version: i64) -> serde_json::Value {
    serde_json::json!({
        "Name": name,
        "Type": "SecureString",
        "Value": value,
        "Version": version,
        "DataType": "text",
        "ARN": format!("arn:aws:ssm:us-east-1:000000000000:parameter{name}"),
        "LastModifiedDate": 1.7e9,
    })
}

/// One call's answer, on the state (the lock held).
fn operation(s: &mut State, op: &str, input: &serde_json::Value) -> (u16, String, String) {
    let names: Vec<String> = match input["Names"].as_array() {
        Some(list) => list
            .iter()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect(),
        None => vec![input["Name"].as_str().unwrap_or_default().to_owned()],
    };
    let label = names.join(",");
    if s.throttle > 0 {
        s.throttle -= 1;
        return (400, error("ThrottlingException", "Rate exceeded"), label);
    }
    if let Some(name) = names.iter().find(|n| s.denied.contains(*n)) {
        let message = format!("not authorized to perform: ssm:{op} on {name}");
        return (400, error("AccessDeniedException", &message), label);
    }
    let (status, body) = match op {
        "GetParameter" => match s.parameters.get(&names[0]) {
            None => (400, error("ParameterNotFound", "")),
            Some((value, version)) => (
                200,
                serde_json::json!({"Parameter": parameter(&names[0], value, *version)}).to_string(),
            ),
        },
        "GetParameters" => {
            let (mut found, mut invalid) = (Vec::new(), Vec::new());
            for name in &names {
                match s.parameters.get(name) {
                    Some((value, version)) => found.push(parameter(name, value, *version)),
                    None => invalid.push(name.clone()),
                }
            }
            let body = serde_json::json!({"Parameters": found, "InvalidParameters": invalid});
            (200, body.to_string())
        }
        "PutParameter" => {
            let value = input["Value"].as_str().unwrap_or_default();
            let overwrite = input["Overwrite"].as_bool().unwrap_or(false);
            let exists = s.parameters.get(&names[0]).map(|(_, v)| *v);
            match exists {
                Some(_) if !overwrite => (400, error("ParameterAlreadyExists", "")),
                _ if value.len() > 4096 => (400, error("ValidationException", "too long")),
                _ => {
                    let version = exists.map_or(1, |v| v + 1);
                    s.parameters
                        .insert(names[0].clone(), (value.to_owned(), version));
                    let body = serde_json::json!({"Version": version, "Tier": "Standard"});
                    (200, body.to_string())
                }
            }
        }
        "DeleteParameters" => {
            let (mut deleted, mut invalid) = (Vec::new(), Vec::new());
            for name in &names {
                match s.parameters.remove(name) {
                    Some(_) => deleted.push(name.clone()),
                    None => invalid.push(name.clone()),
                }
            }
            let body =
                serde_json::json!({"DeletedParameters": deleted, "InvalidParameters": invalid});
            (200, body.to_string())
        }
        _ => (400, error("UnknownOperationException", op)),
    };
    (status, body, label)
}

fn answer(state: &Mutex<State>, req: &Recorded) -> Reply {
    let mut s = state.lock().unwrap();
    let target = req.header("x-amz-target").unwrap_or_default();
    let op = target
        .strip_prefix("AmazonSSM.")
        .unwrap_or(target)
        .to_owned();
    let (status, body) = match serde_json::from_str::<serde_json::Value>(&req.body) {
        Err(_) => (400, error("SerializationException", "not JSON")),
        Ok(input) => {
            let with_decryption = input["WithDecryption"].as_bool().unwrap_or(false);
            let (status, body, name) = operation(&mut s, &op, &input);
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
                operation: op,
                name,
                with_decryption,
                access_key_id: part(0),
                signing_region: part(2),
                status,
            });
            (status, body)
        }
    };
    Reply::new(status, body).header("Content-Type", "application/x-amz-json-1.1")
}

fn error(code: &str, message: &str) -> String {
    serde_json::json!({"__type": code, "message": message}).to_string()
}
