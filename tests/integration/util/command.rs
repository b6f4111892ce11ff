//! The command builder, ripgrep style: `TestCommand` runs a program (the real binary, a tool
//! of the test venv, node) with a cleared environment, and fails closed: building a command
//! panics when an endpoint variable is unset or not loopback. `Running` is a command in the
//! background that is killed on drop; `Output` what a finished one said. Also where the venv
//! and the JavaScript SDK that scripts/test.sh installs are (missing is a failure, never a
//! skip).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::story::story;
use super::testdir::TestDir;
use super::wait::wait_for;

pub const BIN: &str = env!("CARGO_BIN_EXE_ec2-assume-role");

/// Where scripts/test.sh installs the AWS SDK for JavaScript v3 (`node_modules/` inside).
/// Missing is a failure, as for the venv.
pub fn node_dir() -> PathBuf {
    let dir = std::env::var_os("EAR_TEST_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".node"));
    let sdk = dir.join("node_modules/@aws-sdk/client-sts/package.json");
    assert!(
        sdk.exists(),
        "{} is missing: run scripts/test.sh once (it installs the AWS SDK for JavaScript v3 \
         into .node), or point EAR_TEST_NODE at such a folder",
        sdk.display()
    );
    dir
}

/// Where scripts/test.sh installs moto, the AWS CLI and boto3. Missing is a failure, never
/// a skip: a test suite that silently skips its end-to-end tests proves nothing.
pub fn venv() -> PathBuf {
    let venv = std::env::var_os("EAR_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv"));
    for tool in ["bin/aws", "bin/python", "bin/moto_server", "bin/cfn-lint"] {
        assert!(
            venv.join(tool).exists(),
            "{} is missing: run scripts/test.sh once (it installs moto, the AWS CLI, boto3 \
             and cfn-lint into .venv), or point EAR_TEST_VENV at such a venv",
            venv.join(tool).display()
        );
    }
    venv
}

/// Panics unless `url` is an http URL on a loopback address.
pub fn assert_loopback(var: &str, url: &str) {
    let host_port = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("{var}={url:?} is not an http:// URL; refusing to run"));
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    assert!(loopback, "{var}={url:?} is not loopback; refusing to run");
}

/// Variables that decide where a process sends requests: each must be set, and loopback.
const ENDPOINT_VARS: &[&str] = &[
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_ENDPOINT_URL_ORGANIZATIONS",
    "AWS_ENDPOINT_URL",
];

/// A command with a cleared environment (PATH and a temp HOME only, plus what the builder adds).
pub struct TestCommand {
    program: OsString,
    wrapper: Vec<OsString>,
    args: Vec<OsString>,
    envs: Vec<(String, OsString)>,
}

impl TestCommand {
    pub(super) fn new(program: impl Into<OsString>, t: &TestDir) -> TestCommand {
        let mut cmd = TestCommand {
            program: program.into(),
            wrapper: Vec::new(),
            args: Vec::new(),
            envs: Vec::new(),
        };
        cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", t.home())
            .env("LANG", "C.UTF-8");
        cmd
    }

    pub fn arg(&mut self, arg: impl Into<OsString>) -> &mut TestCommand {
        self.args.push(arg.into());
        self
    }

    pub fn env(&mut self, name: &str, value: impl Into<OsString>) -> &mut TestCommand {
        self.envs.retain(|(n, _)| n != name);
        self.envs.push((name.to_owned(), value.into()));
        self
    }

    /// Runs the command under `wrapper` (e.g. `timeout 60 unshare ... jd.sh OUT`).
    pub fn wrapped(&mut self, wrapper: &[&str]) -> &mut TestCommand {
        self.wrapper = wrapper.iter().map(OsString::from).collect();
        self
    }

    /// Runs the command as the last arguments of `script ARGS...` inside a private mount
    /// namespace (`unshare -m --propagation private`), bounded by `timeout 60`: the script may
    /// mount there (a private journald, a tiny tmpfs) without touching the host's mounts.
    pub fn in_private_mounts(&mut self, script: &str, args: &[&str]) -> &mut TestCommand {
        let mut wrapper = vec![
            "timeout",
            "60",
            "unshare",
            "-m",
            "--propagation",
            "private",
            script,
        ];
        wrapper.extend_from_slice(args);
        self.wrapped(&wrapper)
    }

    fn value(&self, name: &str) -> Option<String> {
        self.envs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_string_lossy().into_owned())
    }

    fn build(&self) -> Command {
        for var in ENDPOINT_VARS {
            let url = self
                .value(var)
                .unwrap_or_else(|| panic!("{var} is unset; refusing to run"));
            assert_loopback(var, &url);
        }
        if self.program == BIN {
            let imds = self
                .value("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                .expect("AWS_EC2_METADATA_SERVICE_ENDPOINT is unset; refusing to run");
            assert_loopback("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds);
        } else {
            assert_eq!(
                self.value("AWS_EC2_METADATA_DISABLED").as_deref(),
                Some("true"),
                "an AWS client must run with AWS_EC2_METADATA_DISABLED=true"
            );
        }
        let mut parts = self.wrapper.iter().chain([&self.program]);
        let mut cmd = Command::new(parts.next().expect("a program"));
        cmd.args(parts).args(&self.args).env_clear();
        for (name, value) in &self.envs {
            cmd.env(name, value);
        }
        cmd
    }

    /// Runs to completion.
    pub fn run(&self) -> Output {
        let out = self.build().output().expect("starting the command");
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and asserts the exit code, showing the output when it differs.
    pub fn expect_exit(&self, code: i32) -> Output {
        let out = self.run();
        assert_eq!(
            out.code,
            Some(code),
            "{:?} exited {:?}, expected {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.args,
            out.code,
            out.stdout,
            out.stderr
        );
        out
    }

    /// `expect_exit(code)`, and stderr says each of `needles`.
    pub fn expect_saying(&self, code: i32, needles: &[&str]) -> Output {
        let out = self.expect_exit(code);
        for needle in needles {
            assert!(
                out.stderr.contains(needle),
                "{:?}: stderr does not say {needle:?}:\n{}",
                self.args,
                out.stderr
            );
        }
        out
    }

    /// Starts the command in the background (stdin closed, stdout and stderr into temp files
    /// that can be read while it runs); see `Running`.
    pub fn spawn(&self) -> Running {
        let capture = || tempfile::NamedTempFile::new().expect("creating a capture file");
        let (stdout, stderr) = (capture(), capture());
        let child = self
            .build()
            .stdin(Stdio::null())
            .stdout(stdout.reopen().expect("reopening the stdout capture"))
            .stderr(stderr.reopen().expect("reopening the stderr capture"))
            .spawn()
            .expect("starting the command");
        Running {
            child,
            stdout,
            stderr,
        }
    }
}

/// A command running in the background. Dropping it kills the process, so a failed test
/// never leaves a daemon behind.
pub struct Running {
    child: Child,
    stdout: tempfile::NamedTempFile,
    stderr: tempfile::NamedTempFile,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends signal `name` (`HUP`, `TERM`, `INT`) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.stderr.path()).unwrap_or_default()).into_owned()
    }

    pub fn stdout_so_far(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.stdout.path()).unwrap_or_default()).into_owned()
    }

    /// The exit status, if the process exits within `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_for(timeout, || {
            status = self.child.try_wait().expect("waiting for the child");
            status.is_some()
        });
        status
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .try_wait()
            .expect("waiting for the child")
            .is_none()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // No panic here: a test that already failed must still kill its child.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The first line of stderr that contains `needle`; fails showing stderr when none does.
    pub fn stderr_line(&self, needle: &str) -> &str {
        self.stderr
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in stderr:\n{}", self.stderr))
    }
}

/// The safety net itself: a command whose endpoint is not loopback is never started.
#[test]
fn the_helpers_refuse_to_start_anything_off_loopback() {
    for url in [
        "http://169.254.169.254",
        "http://[fd00:ec2::254]",
        "https://sts.amazonaws.com",
        "http://127.0.0.1.example.com:80",
        "",
    ] {
        let mut t = story();
        t.sts_url = url.to_owned();
        let started =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.cmd(&["run"]).run()));
        assert!(started.is_err(), "{url:?} was accepted");
        assert!(t.sts.calls().is_empty());
        assert!(t.imds.requests().is_empty());
    }
    for url in [
        "http://127.0.0.1:1",
        "http://localhost:2/",
        "http://[::1]:3",
    ] {
        assert_loopback("test", url);
    }
}
