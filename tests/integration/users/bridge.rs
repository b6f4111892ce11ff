//! The credential endpoint for containers on a bridge network, as EKS Pod Identity serves
//! pods: the daemon listens on 169.254.170.23 (an address of its host's loopback), and a
//! process in a container (its own network, mount and pid namespaces) on a bridge reaches it
//! through its default route. Everything happens in two network namespaces this test makes,
//! "host" and "container"; no address or packet is ever in the machine's own namespace. The
//! fakes (IMDS, STS) listen on the host namespace's loopback. Needs root, as CI has.
//! Backs docs/users.md (containers).

use crate::util::{
    ip, venv, wait_for, BIN, PROFILE_1, PROFILE_2, REFERENCE_CONFIG, ROLE_1, ROLE_2,
};
use std::fs::File;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The two namespaces, removed (with everything in them) on drop.
struct Netns {
    host: String,
    container: String,
}

impl Netns {
    /// host: loopback with 169.254.170.23, and a bridge `br0` at 10.254.0.1/24 (docker0's
    /// part); container: `eth0` at 10.254.0.2 on that bridge, its default route through it.
    fn new() -> Netns {
        let tag = std::process::id() % 100_000;
        let n = Netns {
            host: format!("ear-h{tag}"),
            container: format!("ear-c{tag}"),
        };
        let (h, c) = (n.host.as_str(), n.container.as_str());
        ip(&["netns", "add", h]);
        ip(&["netns", "add", c]);
        let veth = format!("ear-v{tag}");
        ip(&[
            "-n", h, "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", c,
        ]);
        for args in [
            vec!["link", "set", "lo", "up"],
            vec!["addr", "add", "169.254.170.23/32", "dev", "lo"],
            vec!["link", "add", "br0", "type", "bridge"],
            vec!["addr", "add", "10.254.0.1/24", "dev", "br0"],
            vec!["link", "set", "br0", "up"],
            vec!["link", "set", veth.as_str(), "master", "br0"],
            vec!["link", "set", veth.as_str(), "up"],
        ] {
            let mut all = vec!["-n", h];
            all.extend(args);
            ip(&all);
        }
        for args in [
            vec!["link", "set", "lo", "up"],
            vec!["addr", "add", "10.254.0.2/24", "dev", "eth0"],
            vec!["link", "set", "eth0", "up"],
            vec!["route", "add", "default", "via", "10.254.0.1"],
        ] {
            let mut all = vec!["-n", c];
            all.extend(args);
            ip(&all);
        }
        n
    }

    fn path(name: &str) -> PathBuf {
        Path::new("/var/run/netns").join(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for name in [&self.host, &self.container] {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// Starts the fake IMDS and STS on the loopback of network namespace `ns`: from a thread
/// that entered it (setns applies to the calling thread, and the fakes' server threads
/// inherit it), which keeps them alive until the test ends. Their URLs.
fn fakes_in(ns: &str) -> (String, String) {
    let (tx, rx) = std::sync::mpsc::channel();
    let path = Netns::path(ns);
    std::thread::spawn(move || {
        let fd = File::open(&path).expect("opening the namespace");
        nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("entering it");
        let imds = testkit::imds::FakeImds::start(testkit::imds::ImdsConfig::default());
        let sts = testkit::sts::FakeSts::start();
        tx.send((imds.url().to_owned(), sts.url().to_owned()))
            .unwrap();
        loop {
            std::thread::park();
        }
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("the fakes")
}

/// `ip netns exec NS ARGS...`, with only `envs` and PATH in its environment.
fn in_ns(ns: &str, args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).args(args).env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// In the container: its own mount and pid namespaces too (`unshare`), python from the test
/// venv asking the endpoint through botocore's container provider or plain urllib.
fn in_container(ns: &str, script: &str, envs: &[(&str, &str)]) -> Output {
    let python = venv().join("bin/python");
    let python = python.to_str().unwrap();
    in_ns(
        ns,
        &[
            "unshare",
            "--mount",
            "--pid",
            "--fork",
            "--mount-proc",
            python,
            "-c",
            script,
        ],
        envs,
    )
    .output()
    .expect("running the container's process")
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_container_on_a_bridge_gets_its_owners_profiles_and_no_other() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the bridge test needs root (network namespaces), as CI has"
    );
    let ns = Netns::new();
    let (imds, sts) = fakes_in(&ns.host);
    let dir = tempfile::Builder::new()
        .prefix("ec2-assume-role-test.")
        .tempdir()
        .unwrap();
    let (home, nobody) = (dir.path().join("home"), dir.path().join("nobody"));
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::create_dir_all(nobody.join(".aws")).unwrap();
    for d in [&nobody, &nobody.join(".aws")] {
        chown(d, Some(65534), Some(65534)).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let tokens = dir.path().join("tokens");
    let head = REFERENCE_CONFIG.split("[[role]]").next().unwrap();
    let config = format!(
        "{head}[[user]]\nname = \"nobody\"\ncredentials_file = \"{}\"\n\n\
         [[role]]\nprofile = \"{PROFILE_1}\"\nrole_arn = \"{ROLE_1}\"\n\n\
         [[role]]\nprofile = \"{PROFILE_2}\"\nrole_arn = \"{ROLE_2}\"\nusers = [\"nobody\"]\n\n\
         [daemon]\nstate_file = \"{}\"\n\n\
         [endpoint]\nlisten = [\"169.254.170.23:8722\"]\ntoken_dir = \"{}\"\n",
        nobody.join(".aws/credentials").display(),
        dir.path().join("state.json").display(),
        tokens.display()
    )
    .replace(
        "CREDENTIALS_FILE",
        &home.join(".aws/credentials").display().to_string(),
    );
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config).unwrap();
    let home_s = home.display().to_string();
    let cfg = config_path.display().to_string();
    let envs = [
        ("HOME", home_s.as_str()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.as_str()),
        ("AWS_ENDPOINT_URL_STS", sts.as_str()),
        ("AWS_ENDPOINT_URL", sts.as_str()),
    ];
    let child = in_ns(
        &ns.host,
        &[BIN, "--config", &cfg, "--log", "stderr", "daemon"],
        &envs,
    )
    .stderr(Stdio::null())
    .spawn()
    .expect("starting the daemon");
    let _daemon = Daemon(child);
    let root_token = tokens.join("root.token");
    let up = wait_for(Duration::from_secs(20), || {
        root_token.exists()
            && tokens.join("nobody.token").exists()
            && home.join(".aws/credentials").exists()
    });
    assert!(up, "the daemon did not start serving in the host namespace");

    // botocore's own container provider, in the container, through the bridge.
    let token_file = root_token.display().to_string();
    let uri = |profile: &str| format!("http://169.254.170.23:8722/v1/credentials/{profile}");
    let out = in_container(
        &ns.container,
        "from botocore.credentials import ContainerProvider\n\
         print(ContainerProvider().load().get_frozen_credentials().access_key)",
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri(PROFILE_1)),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token_file),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(home.join(".aws/credentials")).unwrap();
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        key.starts_with("ASIA") && written.contains(&key),
        "{key}\n{written}"
    );

    // The same token cannot open nobody's profile; nobody's token can.
    let status_of = |uri: &str, token: &Path| {
        let out = in_container(
            &ns.container,
            "import os, urllib.request, urllib.error\n\
             req = urllib.request.Request(os.environ['URI'], headers={'Authorization': open(os.environ['TOKEN']).read()})\n\
             try:\n    print(urllib.request.urlopen(req, timeout=5).status)\n\
             except urllib.error.HTTPError as e:\n    print(e.code)",
            &[("URI", uri), ("TOKEN", token.to_str().unwrap())],
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let status = |profile: &str, token: &Path| status_of(&uri(profile), token);
    assert_eq!(status(PROFILE_2, &root_token), "403");
    assert_eq!(status(PROFILE_2, &tokens.join("nobody.token")), "200");
    // The metrics (every owner's profiles) are for loopback peers only, token or not.
    let metrics = uri(PROFILE_1).replace(&format!("/v1/credentials/{PROFILE_1}"), "/metrics");
    assert!(metrics.ends_with("/metrics"), "{metrics}");
    assert_eq!(status_of(&metrics, &root_token), "403");
    // So is the health check, which names profiles.
    let health = metrics.replace("/metrics", "/healthz");
    assert_eq!(status_of(&health, &root_token), "403");
}
