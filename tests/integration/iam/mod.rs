//! `ec2-assume-role policy` (docs/iam.md): the IAM policies and templates it prints, and the
//! proof that they work when deployed.

mod policy;
