//! The daemon's own parts, below `cmd::daemon` (its event loop): what it knows of each profile
//! and how an outcome changes it (`tracking`), when to refresh, retry and reload (`schedule`),
//! sleeping until a wall-clock time (`clock`), and the credential endpoint (`endpoint`, with
//! its per-client `limits` and its `audit` trail). These modules may use `agent` and
//! everything below it; nothing below may use them.

pub mod audit;
pub mod clock;
pub mod endpoint;
pub mod limits;
pub mod schedule;
pub mod tracking;
