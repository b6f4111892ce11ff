//! What docs/benchmarks.md measures and models, checked: a fleet's scale on one instance
//! (a thousand roles, `max_concurrency`, boot jitter) and the fleet simulation's arithmetic.

mod fleet_sim;
mod scale;
