//! `TestDir`: a temporary directory with the loopback fakes (IMDS, STS, SSM, Organizations),
//! a home inside it, ambient AWS files with bogus keys (to prove the binary never reads them),
//! and the commands a test runs there: the real binary, the AWS CLI, boto3, the JavaScript
//! SDK, each with its endpoint variables pointing at the fakes (or moto).

use std::path::{Path, PathBuf};

use testkit::imds::{FakeImds, ImdsConfig};
use testkit::organizations::FakeOrganizations;
use testkit::ssm::FakeSsm;
use testkit::sts::FakeSts;

use super::command::{node_dir, venv, TestCommand, BIN};
use super::story::{AMBIENT_KEY_ID, AMBIENT_PROFILE_KEY_ID, AMBIENT_SECRET};

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
