//! Test helpers, ripgrep style: a `TestDir` (temp dir + fakes) and a command builder that
//! runs the real `ec2-assume-role` binary, so every test reads like a shell session.
//!
//! Fail closed: every process started from here (the binary, the AWS CLI, boto3) gets a
//! cleared environment whose endpoint variables point at loopback fakes, and building a
//! command panics if one is unset or not loopback. Nothing here may ever reach
//! 169.254.169.254 or anything off this machine.

pub mod notify;
pub mod procfs;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use testkit::imds::{FakeImds, ImdsConfig};
use testkit::organizations::FakeOrganizations;
use testkit::ssm::FakeSsm;
use testkit::sts::FakeSts;

pub const BIN: &str = env!("CARGO_BIN_EXE_ec2-assume-role");

/// The reference story's roles.
pub const ROLE_1: &str = "arn:aws:iam::111111111111:role/PerformSecurityAudit";
pub const ROLE_2: &str = "arn:aws:iam::222222222222:role/PerformSecurityAudit";
pub const PROFILE_1: &str = "audit-111111111111";
pub const PROFILE_2: &str = "audit-222222222222";
/// The session name the reference config gives (`{instance_id}` of the fake instance).
pub const SESSION: &str = "i-0123456789abcdef0";

/// Ambient credentials a careless binary would pick up; nothing may ever be signed with them.
pub const AMBIENT_KEY_ID: &str = "AKIAAMBIENTBOGUS0001";
pub const AMBIENT_SECRET: &str = "AmbientBogusSecret/MustNotBeUsed+00001";
pub const AMBIENT_PROFILE_KEY_ID: &str = "AKIAAMBIENTPROFILE01";

/// The marker line that makes a section ours.
pub const MARKER: &str =
    "# Managed by ec2-assume-role: rewritten on every refresh; edits here are lost.";

/// The reference story's config (README); `CREDENTIALS_FILE` is replaced by
/// `TestDir::write_config`. scripts/demo.sh uses the same file.
pub const REFERENCE_CONFIG: &str = include_str!("../../../testdata/reference.toml");

/// A temporary directory with a fake IMDS and a fake STS, and a home inside it.
pub struct TestDir {
    dir: tempfile::TempDir,
    pub imds: FakeImds,
    pub sts: FakeSts,
    /// The STS endpoint processes get: the fake, or moto in the end-to-end tests.
    pub sts_url: String,
    pub ssm: FakeSsm,
    /// AWS Organizations, for discovered role sets.
    pub orgs: FakeOrganizations,
    /// The Organizations endpoint processes get: the fake, or moto in the end-to-end tests.
    pub orgs_url: String,
    /// The SSM endpoint processes get: the fake, or moto in the end-to-end tests.
    pub ssm_url: String,
}

impl TestDir {
    /// The reference story's instance.
    pub fn new() -> TestDir {
        TestDir::with_imds(ImdsConfig::default())
    }

    pub fn with_imds(config: ImdsConfig) -> TestDir {
        TestDir::with_fakes_at(std::net::Ipv4Addr::LOCALHOST.into(), config)
    }

    /// The fakes of IMDS, STS and SSM on `ip` (`::1`: an IPv6-only instance).
    pub fn with_fakes_at(ip: std::net::IpAddr, config: ImdsConfig) -> TestDir {
        let dir = tempfile::Builder::new()
            .prefix("ec2-assume-role-test.")
            .tempdir()
            .expect("creating a temp dir");
        let sts = FakeSts::start_at(ip);
        let ssm = FakeSsm::start_at(ip);
        let orgs = FakeOrganizations::start();
        let t = TestDir {
            dir,
            imds: FakeImds::start_at(ip, 0, config),
            sts_url: sts.url().to_owned(),
            sts,
            ssm_url: ssm.url().to_owned(),
            ssm,
            orgs_url: orgs.url().to_owned(),
            orgs,
        };
        // Ambient AWS files with bogus keys, to prove the binary never reads them.
        t.create(
            "ambient/credentials",
            format!(
                "[default]\naws_access_key_id = {AMBIENT_PROFILE_KEY_ID}\naws_secret_access_key = x\n\
                 [ambient]\naws_access_key_id = {AMBIENT_PROFILE_KEY_ID}\naws_secret_access_key = x\n"
            ),
        );
        t.create(
            "ambient/config",
            "[default]\nregion = us-west-2\n[profile ambient]\nregion = us-west-2\n",
        );
        std::fs::create_dir_all(t.home()).expect("creating the test home");
        t
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    /// Where the reference config writes credentials.
    pub fn credentials_path(&self) -> PathBuf {
        self.home().join(".aws/credentials")
    }

    /// The AWS config file beside it (the binary's default).
    pub fn aws_config_path(&self) -> PathBuf {
        self.home().join(".aws/config")
    }

    /// `$STATE_DIRECTORY` for the binary (the kept copy of a config from SSM is there).
    pub fn state_dir(&self) -> PathBuf {
        self.path().join("state")
    }

    pub fn config_path(&self) -> PathBuf {
        self.path().join("config.toml")
    }

    /// Writes the binary's config, with `CREDENTIALS_FILE` replaced by `credentials_path()`.
    pub fn write_config(&self, text: &str) {
        let text = text.replace(
            "CREDENTIALS_FILE",
            &self.credentials_path().display().to_string(),
        );
        std::fs::write(self.config_path(), text).expect("writing config.toml");
    }

    /// Creates `rel` (and its parents) under the temp dir.
    pub fn create(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) {
        let path = self.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("creating parent dirs");
        }
        std::fs::write(&path, contents).expect("writing a test file");
    }

    /// `path`'s bytes, or empty when it does not exist.
    pub fn read_bytes(&self, path: impl AsRef<Path>) -> Vec<u8> {
        match std::fs::read(path.as_ref()) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("reading {}: {e}", path.as_ref().display()),
        }
    }

    pub fn read(&self, path: impl AsRef<Path>) -> String {
        String::from_utf8(self.read_bytes(path)).expect("a UTF-8 file")
    }

    /// `ec2-assume-role --config <config.toml> --log stderr ARGS...` against the fakes.
    pub fn cmd(&self, args: &[&str]) -> TestCommand {
        self.cmd_logging_to("stderr", args)
    }

    /// The same with `--log TARGET`.
    pub fn cmd_logging_to(&self, target: &str, args: &[&str]) -> TestCommand {
        self.cmd_with(&self.config_path().display().to_string(), target, args)
    }

    /// `ec2-assume-role --config CONFIG --log stderr ARGS...` (e.g. `ssm:/name`).
    pub fn cmd_config(&self, config: &str, args: &[&str]) -> TestCommand {
        self.cmd_with(config, "stderr", args)
    }

    fn cmd_with(&self, config: &str, target: &str, args: &[&str]) -> TestCommand {
        let imds = self.imds.url().to_owned();
        let mut cmd = TestCommand::new(BIN, self);
        cmd.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds)
            .env("AWS_ENDPOINT_URL_STS", &self.sts_url)
            .env("AWS_ENDPOINT_URL_SSM", &self.ssm_url)
            .env("AWS_ENDPOINT_URL_ORGANIZATIONS", &self.orgs_url)
            .env("AWS_ENDPOINT_URL", &self.sts_url)
            .env("AWS_ACCESS_KEY_ID", AMBIENT_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", AMBIENT_SECRET)
            .env("AWS_SESSION_TOKEN", "AmbientBogusSessionToken")
            .env("AWS_PROFILE", "ambient")
            .env("AWS_CONFIG_FILE", self.path().join("ambient/config"))
            // systemd's, for StateDirectory=: where the kept copy of an SSM config goes.
            .env("STATE_DIRECTORY", self.state_dir())
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.path().join("ambient/credentials"),
            );
        cmd.arg("--config").arg(config).arg("--log").arg(target);
        for a in args {
            cmd.arg(a);
        }
        cmd
    }

    /// `aws --profile PROFILE sts get-caller-identity`'s ARN, as a user would check it.
    pub fn caller_arn(&self, profile: &str) -> String {
        let out = self.whoami(&["--profile", profile]).expect_exit(0);
        out.stdout.trim().to_owned()
    }

    /// `aws ARGS... sts get-caller-identity --query Arn --output text`, to run with the
    /// environment a test gives it.
    pub fn whoami(&self, args: &[&str]) -> TestCommand {
        let query = [
            "sts",
            "get-caller-identity",
            "--query",
            "Arn",
            "--output",
            "text",
        ];
        let all: Vec<&str> = args.iter().copied().chain(query).collect();
        self.aws(&all)
    }

    /// The AWS CLI from the test venv, reading the files the binary wrote.
    pub fn aws(&self, args: &[&str]) -> TestCommand {
        self.venv_tool("aws", args)
    }

    /// `TOOL ARGS...` from the test venv's `bin/` (the AWS CLI, cfn-lint), with the AWS
    /// clients' environment.
    pub fn venv_tool(&self, tool: &str, args: &[&str]) -> TestCommand {
        let mut cmd = TestCommand::new(venv().join("bin").join(tool), self);
        self.aws_client_env(&mut cmd);
        for a in args {
            cmd.arg(a);
        }
        cmd
    }

    /// `node -e SCRIPT` with the AWS SDK for JavaScript v3 (`node_dir`), with the AWS
    /// clients' environment.
    pub fn node(&self, script: &str) -> TestCommand {
        let mut cmd = TestCommand::new("node", self);
        self.aws_client_env(&mut cmd);
        cmd.env("NODE_PATH", node_dir().join("node_modules"));
        cmd.arg("-e").arg(script);
        cmd
    }

    /// `python -c SCRIPT` from the test venv (boto3), reading the files the binary wrote.
    pub fn python(&self, script: &str) -> TestCommand {
        let mut cmd = TestCommand::new(venv().join("bin/python"), self);
        self.aws_client_env(&mut cmd);
        cmd.arg("-c").arg(script);
        cmd
    }

    fn aws_client_env(&self, cmd: &mut TestCommand) {
        cmd.env("AWS_SHARED_CREDENTIALS_FILE", self.credentials_path())
            .env("AWS_CONFIG_FILE", self.aws_config_path())
            .env("AWS_ENDPOINT_URL_STS", &self.sts_url)
            .env("AWS_ENDPOINT_URL_SSM", &self.ssm_url)
            .env("AWS_ENDPOINT_URL_ORGANIZATIONS", &self.orgs_url)
            .env("AWS_ENDPOINT_URL", &self.sts_url)
            .env("AWS_EC2_METADATA_DISABLED", "true");
    }
}

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
    fn new(program: impl Into<OsString>, t: &TestDir) -> TestCommand {
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

/// Polls `condition` every 50 ms until it holds (`true`) or `timeout` passes (`false`). Tests
/// poll files this way; the binary itself never polls.
pub fn wait_for(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
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

/// The permission bits of `path`.
pub fn mode(path: impl AsRef<Path>) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path.as_ref())
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.as_ref().display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The `key = value` entries of section `[name]` in an INI text (first such section).
pub fn section(text: &str, name: &str) -> Option<Vec<(String, String)>> {
    let header = format!("[{name}]");
    let mut lines = text.lines().skip_while(|l| l.trim() != header);
    lines.next()?;
    Some(
        lines
            .take_while(|l| !l.starts_with('['))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect(),
    )
}

/// The value of `key` in section `[name]`.
pub fn value(text: &str, name: &str, key: &str) -> Option<String> {
    section(text, name)?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// The reference story, ready to run.
pub fn story() -> TestDir {
    let t = TestDir::new();
    t.write_config(REFERENCE_CONFIG);
    t
}

/// The reference story with moto as STS.
pub fn story_on_moto(moto: &testkit::moto::Moto) -> TestDir {
    let mut t = TestDir::new();
    t.sts_url = moto.url().to_owned();
    t.write_config(REFERENCE_CONFIG);
    t
}

pub fn story_with(imds: ImdsConfig) -> TestDir {
    let t = TestDir::with_imds(imds);
    t.write_config(REFERENCE_CONFIG);
    t
}

/// Asserts that `[profile]` holds exactly what the fake STS issued last for `role_arn`, right
/// under the marker line.
pub fn assert_profile_written(t: &TestDir, profile: &str, role_arn: &str) {
    let text = t.read(t.credentials_path());
    let issued = t
        .sts
        .issued_for(role_arn)
        .unwrap_or_else(|| panic!("STS issued nothing for {role_arn}"));
    let header = format!("[{profile}]");
    let after_header = text
        .lines()
        .skip_while(|l| *l != header)
        .nth(1)
        .unwrap_or_else(|| panic!("no {header} in:\n{text}"));
    assert_eq!(after_header, MARKER, "marker missing under {header}");
    let got = section(&text, profile).unwrap_or_default();
    let want = [
        ("aws_access_key_id", issued.access_key_id.as_str()),
        ("aws_secret_access_key", issued.secret_access_key.as_str()),
        ("aws_session_token", issued.session_token.as_str()),
        ("x_security_token_expires", issued.expiration.as_str()),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(got, want, "section {header}");
}

/// Every credential the fakes and the environment hold; none may ever reach the logs.
pub fn secrets(t: &TestDir) -> Vec<String> {
    let mut all = issued_secrets(t);
    all.extend([
        AMBIENT_KEY_ID.into(),
        AMBIENT_SECRET.into(),
        AMBIENT_PROFILE_KEY_ID.into(),
    ]);
    all
}

/// The credentials the fakes handed out so far: the instance profile's (IMDS) and every
/// assumed role's (STS). Unlike the ambient ones, the tests never put these anywhere.
pub fn issued_secrets(t: &TestDir) -> Vec<String> {
    let mut all: Vec<String> = vec![
        testkit::imds::ACCESS_KEY_ID.into(),
        testkit::imds::SECRET_ACCESS_KEY.into(),
        testkit::imds::SESSION_TOKEN.into(),
        testkit::imds::ROTATED_ACCESS_KEY_ID.into(),
        testkit::imds::ROTATED_SECRET_ACCESS_KEY.into(),
        testkit::imds::ROTATED_SESSION_TOKEN.into(),
    ];
    for i in t.sts.issued() {
        all.extend([i.access_key_id, i.secret_access_key, i.session_token]);
    }
    all
}

pub fn assert_no_secrets(t: &TestDir, output: &str) {
    for secret in secrets(t) {
        assert!(!output.contains(&secret), "{secret} leaked:\n{output}");
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

/// `ip ARGS...` (iproute2), for the tests that make network namespaces; fails showing its
/// stderr.
pub fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("running ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
