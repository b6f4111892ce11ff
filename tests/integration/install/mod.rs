//! Instances as docs/install.md sets them up: IPv6-only and FIPS instances, the endpoints the
//! agent reaches there. (The packages and user-data are proven by scripts/test-packaging.sh
//! and scripts/test-boot.sh, outside this binary.)

mod network;
