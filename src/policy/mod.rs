//! The IAM side of a config, generated from it: the permission policy of every role that signs
//! an AssumeRole (the instance role for the roles it assumes directly, and each `source_profile`
//! role for its dependents), the trust policy of every target role naming its actual signer,
//! and two CloudFormation templates, one for a target role (meant for a service-managed StackSet
//! over an OU) and one for the instance role and its instance profile.
//!
//! Least privilege is the rule: exactly the role ARNs the config names; `sts:TagSession` only
//! for roles with `tags`, `sts:SetSourceIdentity` only where a source identity is set (or
//! carried along a chain); the `sts:ExternalId` condition where the config sets one. A pure
//! function of the config and `Options`: it must never do I/O or call AWS.

//! Split by what each file makes: `documents` (the permission and trust policies), `template`
//! (the CloudFormation templates, built from those documents) and `yaml` (an ordered document
//! tree and its JSON and YAML spellings).

mod documents;
mod template;
pub mod yaml;

pub use documents::*;
pub use template::{instance_template, target_template};
