//! Test support for ec2-assume-role, shared by its integration tests, its fleet_sim example
//! and its scripts: loopback fakes of the services the agent talks to (IMDSv2, STS, SSM
//! Parameter Store, AWS Organizations) on one HTTP server implementation, moto started from
//! the test venv, and the fleet simulation's arithmetic. Everything here listens on 127.0.0.1 only and never
//! forwards anything anywhere. It must not depend on ec2-assume-role (it is that crate's
//! dev-dependency): what it needs of the agent, such as the refresh schedule, is passed in.

pub mod boot;
pub mod chart;
pub mod fleet;
pub mod http;
pub mod imds;
pub mod moto;
pub mod organizations;
pub mod ssm;
pub mod sts;

use time::OffsetDateTime;

/// `2026-11-23T10:00:00Z`: RFC 3339 in UTC to the second, as IMDS and STS write their times.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .expect("a time in years 0-9999")
}
