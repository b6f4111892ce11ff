//! Several users, long-running programs and containers (docs/users.md): files for several
//! users, the credential endpoint (on loopback and for containers on a bridge),
//! `credential_process`, and `export`; the endpoint's limits and audit trail; how close to
//! expiry clients are served.

mod bridge;
mod endpoint;
mod expiry;
mod export;
mod limits;
mod per_user;
mod process;
