//! Several accounts (docs/accounts.md): role chaining through a hub, role sets whose accounts
//! AWS Organizations lists (against testkit's fake and against moto), and the fleet-shared
//! list one publisher writes to Parameter Store for the others to read.

mod chain;
mod discovery;
mod discovery_moto;
mod shared;
