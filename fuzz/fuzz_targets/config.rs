//! Fuzz target for the config parser (`config::parse_bytes`, what `load` runs on the file's
//! bytes), checked with `config::invariants::check`: no panic on any bytes, every problem one
//! `FILE:LINE: key: message` line, and an accepted config accepted again, also when written out
//! in full.
#![no_main]

use ec2_assume_role::config::invariants;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = invariants::check(data);
});
