//! Several users, long-running programs and containers (docs/users.md): files for several
//! users, the credential endpoint (on loopback and for containers on a bridge),
//! `credential_process`, and `export`; the endpoint's limits and audit trail.

mod bridge;
mod endpoint;
mod export;
mod limits;
mod per_user;
mod process;
