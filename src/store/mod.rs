//! Everything kept in files: atomic, owner-aware replacement (`fileio`), the byte-preserving
//! credentials and AWS config file transform (`credfile`), the daemon's state file (`state`),
//! the last good config from SSM (`lastgood`) and the discovered accounts' cache
//! (`discovery`). These modules may use `config` and `base`; they must never make a network
//! call.

pub mod credfile;
pub mod discovery;
pub mod fileio;
pub mod lastgood;
pub mod state;
