//! What every layer shares and nothing here depends on: credentials whose secrets never print
//! (`creds`), AWS's partitions and their regions as the SDK knows them (`partitions`), the
//! process's logs with their MESSAGE_IDs and panic hook (`logging`), how a line looks on a
//! terminal (`term`), and its Prometheus metrics (`metrics`). These modules must never import
//! any other module of this crate.

pub mod creds;
pub mod logging;
pub mod metrics;
pub mod partitions;
pub mod term;
