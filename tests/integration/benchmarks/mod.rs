//! What docs/benchmarks.md measures and models, checked: a fleet's scale on one instance
//! (a thousand roles, `max_concurrency`, boot jitter), the fleet simulation's arithmetic, and
//! one owner flooding the credential endpoint while another is served.

mod endpoint_flood;
mod fleet_sim;
mod scale;
