//! The config (docs/configuration.md): the file, every bad one refused naming file, line and
//! key, what the role options send to STS, what the credentials file keeps of the user's;
//! and the config in SSM Parameter Store with its kept copy.

mod config_file;
mod ssm;
mod ssm_kept;
