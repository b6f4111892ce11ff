//! The command line: arguments, subcommands and the exit codes they map to. Every exit code
//! is listed in `--help` and in README.md; once published, a number never changes meaning.

use crate::logging;
use crate::run;
use crate::source::Source;
use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;
use std::time::Duration;

const EXIT_CODES: &str = "\
Exit codes:
  0  every configured profile was written
  1  any other error (see the message)
  2  the command line is wrong
  3  some roles failed (each is logged with its profile, role ARN and error code);
     the others were written. For `status`: some profile is missing or expired
  4  the config file is invalid (the message names file, line and key); nothing was written
  5  the instance identity was refused: its role or account is not the one [instance] names;
     nothing was written and STS was not called
  6  IMDS did not answer (or the instance has no instance-profile credentials) before the
     --wait deadline, or it refused IMDSv2; nothing was written
  7  the credentials or AWS config file could not be written; it was left as it was
  8  the config could not be read from SSM Parameter Store (no such parameter, access
     denied, or SSM unreachable until the retry deadline); nothing was written";

/// Assumes IAM roles with this EC2 instance's own credentials (read through IMDSv2 only)
/// and writes each as a named profile in a user's ~/.aws/credentials.
#[derive(Debug, Parser)]
#[command(name = "ec2-assume-role", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The TOML config: a file, or `ssm:NAME` for a parameter in SSM Parameter Store (String
    /// or SecureString, read with the instance-profile credentials; NAME may use {instance_id},
    /// {account_id} and {region}).
    #[arg(
        long,
        global = true,
        env = "EC2_ASSUME_ROLE_CONFIG",
        default_value = crate::config::DEFAULT_PATH,
        value_name = "PATH|ssm:NAME"
    )]
    pub config: Source,

    /// Where logs go: the journal when its socket exists, else stderr (auto), or one of them.
    #[arg(long, global = true, value_enum, default_value_t = logging::Target::Auto)]
    pub log: logging::Target,

    /// More detail (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Less detail (-q warnings and errors only, -qq errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify the instance identity, assume every role once and write the profiles.
    #[command(after_help = EXIT_CODES)]
    Run(Wait),
    /// Validate the config (and, with --imds, the instance identity); write nothing.
    #[command(after_help = EXIT_CODES)]
    Check(Check),
    /// Do what `run` does, then keep every profile fresh until stopped (SIGHUP reloads the
    /// config; SIGTERM stops). Speaks systemd's notify protocol (Type=notify).
    #[command(after_help = EXIT_CODES)]
    Daemon(Wait),
    /// Show each configured profile: expiration, time left, last refresh and error, next
    /// refresh. Exit 0 when every profile is present and unexpired, 3 when any is not.
    #[command(after_help = EXIT_CODES)]
    Status(Status),
    /// Print one profile's credentials in the AWS `credential_process` format (JSON on stdout),
    /// from the daemon's fresh credentials, else by assuming the role now.
    #[command(after_help = EXIT_CODES)]
    CredentialProcess(CredentialProcess),
}

#[derive(Debug, Args)]
pub struct CredentialProcess {
    /// The profile (as configured in [[role]]) to print credentials for.
    #[arg(long)]
    pub profile: String,

    /// How long to wait for IMDS when the role must be assumed now, in seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub wait: u64,

    /// The file the daemon keeps the credentials in (it writes this option into
    /// `credential_process` itself): fresh credentials there are served without reading the
    /// config, so that a config in SSM is not read on every AWS CLI command.
    #[arg(long, value_name = "FILE")]
    pub cache: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct Status {
    /// Print JSON (and only JSON) on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct Wait {
    /// How long to wait for IMDS and the instance-profile credentials at boot, in seconds.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub wait: u64,
}

impl Wait {
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.wait)
    }
}

#[derive(Debug, Args)]
pub struct Check {
    /// Also read the instance identity through IMDSv2 and check it against [instance].
    #[arg(long)]
    pub imds: bool,

    #[command(flatten)]
    pub wait: Wait,
}

/// Documented exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Ok = 0,
    Other = 1,
    SomeRolesFailed = 3,
    ConfigInvalid = 4,
    IdentityRefused = 5,
    ImdsUnavailable = 6,
    FileNotWritten = 7,
    ConfigUnavailable = 8,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// Runs the parsed command line and returns the process's exit code.
pub fn main(cli: Cli) -> ExitCode {
    logging::install_panic_hook();
    let verbosity =
        i8::try_from(cli.verbose).unwrap_or(i8::MAX) - i8::try_from(cli.quiet).unwrap_or(i8::MAX);
    if let Err(err) = logging::init(cli.log, verbosity) {
        eprintln!("ec2-assume-role: {err:#}");
        return Exit::Other.into();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("ec2-assume-role: starting the async runtime: {err}");
            return Exit::Other.into();
        }
    };
    let exit = runtime.block_on(async {
        match &cli.command {
            Command::Run(wait) => run::run(&cli.config, wait.duration()).await,
            Command::Check(check) => {
                let wait = check.wait.duration();
                run::check(&cli.config, check.imds.then_some(wait), wait).await
            }
            Command::Daemon(wait) => crate::daemon::daemon(&cli.config, wait.duration()).await,
            Command::Status(status) => crate::status::status(&cli.config, status.json).await,
            Command::CredentialProcess(p) => {
                crate::process::credential_process(
                    &cli.config,
                    &p.profile,
                    p.cache.as_deref(),
                    Duration::from_secs(p.wait),
                )
                .await
            }
        }
    });
    exit.into()
}
