//! Everything that talks to AWS, each call signed with the instance-profile credentials only:
//! IMDSv2 (`imds`), the shared HTTPS client and SDK config (`http`), STS `AssumeRole` (`sts`)
//! with the explanation of an AccessDenied (`denied`), STS's clock (`clock`), this instance's
//! clock corrected against AWS's (`skew`), SSM Parameter
//! Store (`ssm`), the organization's accounts (`org`) and the fleet-shared account list
//! (`shared`), all retried under one policy (`retry`). These modules may use `config` and `base`; they must never
//! touch a file (that is `store`'s) nor decide what is written where (that is `agent`'s).

pub mod clock;
pub mod denied;
pub mod http;
pub mod imds;
pub mod org;
pub mod retry;
pub mod shared;
pub mod skew;
pub mod ssm;
pub mod sts;
