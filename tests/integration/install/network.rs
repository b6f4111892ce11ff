//! IPv6-only and FIPS instances. The agent against fakes listening on `[::1]` only; IMDS over
//! IPv6 (`fd00:ec2::254`) chosen by the SDK's setting, in the environment or the AWS config
//! file; and, for every partition, the endpoint the agent really connects to with FIPS and
//! dual-stack on or off (in our config, the environment or the AWS config file), checked
//! against the Rust SDK's own endpoint resolution, for STS and for a role set's AWS
//! Organizations.
//! Backs docs/install.md (IPv6 and FIPS instances).
//!
//! The last two need addresses and names that are not the machine's: each runs in a network
//! namespace the test makes, with only its loopback up, so every packet stays in it. The
//! endpoint test maps each STS host name to a loopback address of its own in a hosts file
//! mounted over `/etc/hosts` in a mount namespace of the agent's (and an empty
//! `/etc/resolv.conf`, so no name is ever asked of a DNS server), listens on port 443 of all
//! of them, and tells from the address a connection came to which host the agent called. Its
//! TLS handshake then fails, which the test does not need. Needs root, as CI has.

use crate::util::{ip, story_with, TestDir, BIN, PROFILE_1, PROFILE_2, REFERENCE_CONFIG, ROLE_2};
use aws_sdk_sts::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::imds::{FakeImds, ImdsConfig};
use testkit::sts::FakeSts;

#[test]
fn an_ipv6_only_instance_works_against_fakes_on_v6_loopback() {
    let t = TestDir::with_fakes_at(Ipv6Addr::LOCALHOST.into(), ImdsConfig::default());
    assert!(
        t.imds.url().starts_with("http://[::1]:"),
        "{}",
        t.imds.url()
    );
    assert!(t.sts_url.starts_with("http://[::1]:"), "{}", t.sts_url);
    t.write_config(REFERENCE_CONFIG);
    let check = t.cmd(&["check"]).expect_exit(0);
    let line = check.stderr_line("STS endpoint");
    assert!(
        line.contains(&format!(
            "STS endpoint {} (set by AWS_ENDPOINT_URL_STS): {PROFILE_1}, {PROFILE_2}",
            t.sts_url
        )),
        "{line}"
    );
    t.cmd(&["run"]).expect_exit(0);
    assert_eq!(t.sts.assume_role_calls().len(), 2);
    assert_eq!(t.imds.tokenless_gets(), 0);
    // Real clients, over IPv6 too.
    assert!(t.caller_arn(PROFILE_1).contains("111111111111"));
    assert!(t.caller_arn(PROFILE_2).contains("222222222222"));

    // The config from SSM, over IPv6 as well.
    let text = std::fs::read_to_string(t.config_path()).unwrap();
    t.ssm.put("/ec2-assume-role/config", &text);
    t.cmd_config("ssm:/ec2-assume-role/config", &["run"])
        .expect_exit(0);
    assert!(!t.ssm.calls().is_empty(), "SSM was not asked");
    assert_eq!(t.sts.assume_role_calls().len(), 4);
}

/// A network namespace with its loopback up, removed (with everything in it) on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test needs root (network namespaces), as CI has"
        );
        let name = format!("ear-{tag}{}", std::process::id() % 100_000);
        ip(&["netns", "add", &name]);
        let ns = Netns(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    /// Runs `f` on a thread inside the namespace (setns applies to the calling thread, and
    /// threads it starts inherit it), which then stays parked there, keeping what `f` made
    /// alive until the test ends. What `f` returned.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = Path::new("/var/run/netns").join(&self.0);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let fd = File::open(&path).expect("opening the namespace");
            nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("entering it");
            assert!(testkit::http::in_own_netns());
            let _ = tx.send(f());
            loop {
                std::thread::park();
            }
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the thread in the namespace")
    }

    /// `ip netns exec NS unshare --mount sh -c SCRIPT BIN ARGS...`, with only `envs`, PATH
    /// and HOME in its environment: SCRIPT may mount files over /etc, then `exec "$@"`.
    fn command(&self, script: &str, args: &[&str], envs: &[(&str, String)]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0, "unshare", "--mount", "sh", "-c"])
            .arg(script)
            .arg("sh")
            .arg(BIN)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The environment of an agent run in a namespace: its own HOME and AWS files (empty unless
/// a test writes them), no ambient credentials.
fn base_env(t: &TestDir) -> Vec<(&'static str, String)> {
    let empty = t.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    vec![
        ("HOME", t.home().display().to_string()),
        ("AWS_CONFIG_FILE", empty.display().to_string()),
        ("AWS_SHARED_CREDENTIALS_FILE", empty.display().to_string()),
    ]
}

/// `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`, or `ec2_metadata_service_endpoint_mode =
/// IPv6` in the AWS config file, and no endpoint: the agent asks IMDS at its IPv6 address,
/// `[fd00:ec2::254]:80` (here an address of the namespace's loopback), and nothing else.
#[test]
fn imds_over_ipv6_is_chosen_by_the_sdks_setting() {
    let ns = Netns::new("v6");
    ip(&[
        "-n",
        &ns.0,
        "addr",
        "add",
        "fd00:ec2::254/128",
        "dev",
        "lo",
        "nodad",
    ]);
    let imds_ip: IpAddr = "fd00:ec2::254".parse().unwrap();
    let (imds, sts) = ns.run(move || {
        let imds = FakeImds::start_at(imds_ip, 80, ImdsConfig::default());
        let sts = FakeSts::start_at(Ipv6Addr::LOCALHOST.into());
        (Arc::new(imds), Arc::new(sts))
    });
    assert_eq!(imds.url(), "http://[fd00:ec2::254]:80");
    let t = story_with(ImdsConfig::default());
    let ways = [
        (
            "the environment",
            Some(("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6")),
            "",
        ),
        (
            "the AWS config file",
            None,
            "[default]\nec2_metadata_service_endpoint_mode = IPv6\n",
        ),
    ];
    for (n, (way, env, file)) in ways.into_iter().enumerate() {
        let mut envs = base_env(&t);
        envs.push(("AWS_ENDPOINT_URL_STS", sts.url().to_owned()));
        if let Some((k, v)) = env {
            envs.push((k, v.to_owned()));
        }
        if !file.is_empty() {
            let path = t.path().join("aws-config");
            std::fs::write(&path, file).unwrap();
            envs.retain(|(k, _)| *k != "AWS_CONFIG_FILE");
            envs.push(("AWS_CONFIG_FILE", path.display().to_string()));
        }
        let config = t.config_path().display().to_string();
        let out = ns
            .command(
                "exec \"$@\"",
                &["--config", &config, "--log", "stderr", "run"],
                &envs,
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{way}: {stderr}");
        assert_eq!(sts.assume_role_calls().len(), 2 * (n + 1), "{way}");
        let asked = imds.requests();
        assert!(
            asked.iter().any(|r| r.method == "PUT"),
            "{way}: no token was asked of [fd00:ec2::254]"
        );
        assert_eq!(imds.tokenless_gets(), 0, "{way}");
    }
    let creds = t.read(t.credentials_path());
    assert!(creds.contains(&format!("[{PROFILE_2}]")), "{creds}");
}

/// One row: a role in `partition` calling STS in `region`, its TOML keys, its environment
/// and its AWS config file; and the FIPS and dual-stack settings that should win.
struct Row {
    /// STS (a `[[role]]`), or AWS Organizations (a `[[role_set]]` whose accounts it lists).
    organizations: bool,
    partition: &'static str,
    region: &'static str,
    keys: &'static str,
    env: &'static [(&'static str, &'static str)],
    aws_config: &'static str,
    fips: bool,
    dual_stack: bool,
}

/// The host the Rust SDK's own endpoint rules give STS for the row.
fn sdk_host(region: &str, fips: bool, dual_stack: bool) -> String {
    let params = Params::builder()
        .region(region)
        .use_fips(fips)
        .use_dual_stack(dual_stack)
        .build()
        .unwrap();
    host_of(DefaultResolver::new().resolve_endpoint(&params))
}

/// The same for AWS Organizations, a global service of the partition `region` is in.
fn sdk_organizations_host(region: &str, fips: bool, dual_stack: bool) -> String {
    use aws_sdk_organizations::config::endpoint as org;
    let params = org::Params::builder()
        .region(region)
        .use_fips(fips)
        .use_dual_stack(dual_stack)
        .build()
        .unwrap();
    let resolver = org::DefaultResolver::new();
    host_of(org::ResolveEndpoint::resolve_endpoint(&resolver, &params))
}

/// The host of the endpoint a resolver's future gives.
fn host_of(future: aws_smithy_runtime_api::client::endpoint::EndpointFuture<'_>) -> String {
    let url = ec2_assume_role::aws::sts::resolved(future).unwrap();
    url.trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned()
}

impl Row {
    fn host(&self, fips: bool, dual_stack: bool) -> String {
        if self.organizations {
            sdk_organizations_host(self.region, fips, dual_stack)
        } else {
            sdk_host(self.region, fips, dual_stack)
        }
    }
}

fn rows() -> Vec<Row> {
    let regions = [
        ("aws", "eu-central-1"),
        ("aws-cn", "cn-north-1"),
        ("aws-us-gov", "us-gov-east-1"),
        ("aws-iso", "us-iso-east-1"),
        ("aws-iso-b", "us-isob-east-1"),
        ("aws-iso-e", "eu-isoe-west-1"),
        ("aws-iso-f", "us-isof-south-1"),
        ("aws-eusc", "eusc-de-east-1"),
    ];
    let keys = [
        ("", false, false),
        ("use_fips_endpoint = true\n", true, false),
        ("use_dualstack_endpoint = true\n", false, true),
        (
            "use_fips_endpoint = true\nuse_dualstack_endpoint = true\n",
            true,
            true,
        ),
    ];
    let mut rows = Vec::new();
    for (partition, region) in regions {
        for (keys, fips, dual_stack) in keys {
            rows.push(Row {
                organizations: false,
                partition,
                region,
                keys,
                env: &[],
                aws_config: "",
                fips,
                dual_stack,
            });
        }
    }
    // The SDK's own settings, when our config says nothing; ours, when it does. (In a
    // region where FIPS changes the host: GovCloud's STS is FIPS either way.)
    let sdk = |env, aws_config, keys, fips, dual_stack| Row {
        organizations: false,
        partition: "aws",
        region: "us-west-2",
        keys,
        env,
        aws_config,
        fips,
        dual_stack,
    };
    rows.push(sdk(
        &[("AWS_USE_FIPS_ENDPOINT", "true")],
        "",
        "",
        true,
        false,
    ));
    rows.push(sdk(
        &[("AWS_USE_DUALSTACK_ENDPOINT", "true")],
        "",
        "",
        false,
        true,
    ));
    rows.push(sdk(
        &[],
        "[default]\nuse_fips_endpoint = true\nuse_dualstack_endpoint = true\n",
        "",
        true,
        true,
    ));
    rows.push(sdk(
        &[("AWS_USE_FIPS_ENDPOINT", "true")],
        "",
        "use_fips_endpoint = false\n",
        false,
        false,
    ));
    // A role set's own calls: Organizations, in the set's partition.
    for (partition, region) in [("aws", "us-east-1"), ("aws-us-gov", "us-gov-west-1")] {
        for (keys, fips) in [("", false), ("use_fips_endpoint = true\n", true)] {
            rows.push(Row {
                organizations: true,
                partition,
                region,
                keys,
                env: &[],
                aws_config: "",
                fips,
                dual_stack: false,
            });
        }
    }
    rows
}

/// Accepts connections on port 443 of every address of the namespace, recording the address
/// each came to (the host its client resolved), and closes them.
fn listen_443(seen: Arc<Mutex<Vec<IpAddr>>>) {
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 443)).expect("port 443");
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            if let Ok(local) = conn.local_addr() {
                seen.lock().unwrap().push(local.ip());
            }
        }
    });
}

#[test]
fn fips_and_dual_stack_endpoints_in_every_partition_are_the_sdks() {
    let ns = Netns::new("ep");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let imds = {
        let seen = Arc::clone(&seen);
        ns.run(move || {
            listen_443(seen);
            Arc::new(FakeImds::start(ImdsConfig::default()))
        })
    };
    let t = TestDir::new();
    let rows = rows();
    // Every host a row may call, each at a loopback address of its own.
    let mut hosts: Vec<String> = Vec::new();
    for row in &rows {
        for (fips, dual) in [(false, false), (true, false), (false, true), (true, true)] {
            let host = row.host(fips, dual);
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
    }
    let address = |i: usize| Ipv4Addr::new(127, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8);
    let hosts_file: String = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| format!("{} {h}\n", address(i)))
        .collect();
    let etc_hosts = t.path().join("hosts");
    std::fs::write(&etc_hosts, format!("127.0.0.1 localhost\n{hosts_file}")).unwrap();
    let resolv = t.path().join("resolv.conf");
    std::fs::write(&resolv, "").unwrap();
    let script = format!(
        "mount --bind {} /etc/hosts && mount --bind {} /etc/resolv.conf && exec \"$@\"",
        etc_hosts.display(),
        resolv.display()
    );
    let head = REFERENCE_CONFIG.split("[[role]]").next().unwrap();
    let mut table = Vec::new();
    for row in &rows {
        let arn = ROLE_2.replacen("arn:aws:", &format!("arn:{}:", row.partition), 1);
        let config = t.path().join("row.toml");
        let role = if row.organizations {
            format!(
                "[discovery]\ncache_file = \"{}\"\n\n[[role_set]]\nrole_name = \"R\"\n\
                 profile = \"p-{{account_id}}\"\npartition = \"{}\"\nregion = \"{}\"\n{}\
                 [role_set.organization]\n",
                t.path().join("accounts.json").display(),
                row.partition,
                row.region,
                row.keys
            )
        } else {
            format!(
                "[[role]]\nprofile = \"p\"\nrole_arn = \"{arn}\"\nregion = \"{}\"\n{}",
                row.region, row.keys
            )
        };
        let text = format!("{head}{role}").replace(
            "CREDENTIALS_FILE",
            &t.credentials_path().display().to_string(),
        );
        std::fs::write(&config, text).unwrap();
        let mut envs = base_env(&t);
        envs.push(("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url().to_owned()));
        for (k, v) in row.env {
            envs.push((k, (*v).to_owned()));
        }
        if !row.aws_config.is_empty() {
            let path = t.path().join("aws-config");
            std::fs::write(&path, row.aws_config).unwrap();
            envs.retain(|(k, _)| *k != "AWS_CONFIG_FILE");
            envs.push(("AWS_CONFIG_FILE", path.display().to_string()));
        }
        let cfg = config.display().to_string();
        let want = row.host(row.fips, row.dual_stack);
        if !row.organizations {
            // `check` says the same before any call.
            let out = ns
                .command(
                    &script,
                    &["--config", &cfg, "--log", "stderr", "check"],
                    &envs,
                )
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(
                said.contains(&format!("STS endpoint https://{want}: p\n")),
                "{} {} keys {:?} env {:?}: check said\n{said}",
                row.partition,
                row.region,
                row.keys,
                row.env
            );
        }
        seen.lock().unwrap().clear();
        let child = ns
            .command(
                &script,
                &["--config", &cfg, "--log", "stderr", "run"],
                &envs,
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut child = Killed(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while seen.lock().unwrap().is_empty() && Instant::now() < deadline {
            if let Ok(Some(_)) = child.0.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let first = seen.lock().unwrap().first().copied();
        let Some(called) = first else {
            let _ = child.0.kill();
            let out = std::mem::replace(&mut child.0, Command::new("true").spawn().unwrap())
                .wait_with_output()
                .unwrap();
            panic!(
                "{} {} {:?} {:?}: no connection to port 443 (want {want}); the agent said:\n{}",
                row.partition,
                row.region,
                row.keys,
                row.env,
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let host = hosts
            .iter()
            .enumerate()
            .find(|(i, _)| IpAddr::V4(address(*i)) == called)
            .map(|(_, h)| h.clone())
            .unwrap_or_else(|| format!("an unknown address {called}"));
        assert_eq!(
            host, want,
            "{} {} keys {:?} env {:?} config {:?}",
            row.partition, row.region, row.keys, row.env, row.aws_config
        );
        table.push(format!(
            "{:<13} {:<10} {:<16} fips={:<5} dual={:<5} {host}",
            if row.organizations {
                "Organizations"
            } else {
                "STS"
            },
            row.partition,
            row.region,
            row.fips,
            row.dual_stack
        ));
    }
    // Spot checks the SDK's data would have to change to break.
    for host in [
        "sts.eu-central-1.amazonaws.com",
        "sts.eusc-de-east-1.amazonaws.eu",
        "sts.cn-north-1.amazonaws.com.cn",
        "sts-fips.eu-central-1.api.aws",
        "sts-fips.us-west-2.amazonaws.com",
        "organizations-fips.us-east-1.amazonaws.com",
    ] {
        let called = table.iter().any(|l| l.ends_with(&format!(" {host}")));
        assert!(called, "no row called {host}:\n{}", table.join("\n"));
    }
    println!("{}", table.join("\n"));
}
