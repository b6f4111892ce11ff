//! The config (docs/configuration.md): the file, every bad one refused naming file, line and
//! key, what the role options send to STS, what the credentials file keeps of the user's;
//! the config in SSM Parameter Store with its kept copy; and the reference (JSON Schema, man
//! page, docs) against what the parser accepts.

mod config_file;
mod schema;
mod ssm;
mod ssm_kept;
