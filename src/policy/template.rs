//! The two CloudFormation templates `policy --format cloudformation` prints: one that creates
//! a target role (its trust policy, and for a source role its permission policy, from the
//! config; `RoleName` and `ManagedPolicyArns` as parameters), meant for a service-managed
//! StackSet over an OU, and one for the instance role with its instance profile. Built from
//! the policies of `super`; a pure function of the config, like them.

use super::documents::*;
use super::yaml::{map, s, strings, Node};
use crate::config::Config;

fn reference(name: &str) -> Node {
    map([("Ref", s(name))])
}

fn get_att(resource: &str, attribute: &str) -> Node {
    map([("Fn::GetAtt", strings(&[resource, attribute]))])
}

fn output(description: &str, value: Node) -> Node {
    map([("Description", s(description)), ("Value", value)])
}

/// `audit/PerformSecurityAudit` → (`/audit/`, `PerformSecurityAudit`).
fn split_path(name: &str) -> (String, &str) {
    match name.rsplit_once('/') {
        Some((path, last)) => (format!("/{path}/"), last),
        None => ("/".to_owned(), name),
    }
}

/// The template that creates the target role named `name` (with its path; `None`: the config's
/// only target name) in the account it is deployed to: meant for a service-managed StackSet
/// over an OU, so it names no account of its own. `RoleName` and `ManagedPolicyArns` are
/// parameters; the trust policy (and for a source role, its permission policy) come from the
/// config.
pub fn target_template(
    config: &Config,
    options: &Options,
    name: Option<&str>,
) -> Result<Node, PolicyError> {
    let mut names: Vec<&str> = Vec::new();
    for role in &config.roles {
        push_new(&mut names, role_name(&role.role_arn));
    }
    let owned = || names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let name = match name {
        Some(name) if names.contains(&name) => name,
        Some(name) => {
            return Err(PolicyError::UnknownRoleName {
                name: name.to_owned(),
                names: owned(),
            })
        }
        None if names.len() == 1 => names[0],
        None => return Err(PolicyError::RoleNameNeeded { names: owned() }),
    };
    let members: Vec<usize> = (0..config.roles.len())
        .filter(|&i| role_name(&config.roles[i].role_arn) == name)
        .collect();
    let is_hub = |arn: &str| {
        (0..config.roles.len()).any(|i| {
            config
                .source_of(i)
                .is_some_and(|j| config.roles[j].role_arn == arn)
        })
    };
    let policies_of = |arn: &str| -> Result<(Node, Option<Node>), PolicyError> {
        let permission = is_hub(arn).then(|| hub_permission_policy(config, arn, None));
        Ok((trust_policy(config, options, arn)?, permission))
    };
    let first = &config.roles[members[0]].role_arn;
    let (trust, permission) = policies_of(first)?;
    for &i in &members[1..] {
        let other = &config.roles[i].role_arn;
        if policies_of(other)? != (trust.clone(), permission.clone()) {
            return Err(PolicyError::MixedRoles {
                name: name.to_owned(),
                first: first.clone(),
                other: other.clone(),
            });
        }
    }
    let longest = members
        .iter()
        .map(|&i| config.roles[i].duration_seconds)
        .max()
        .unwrap_or(DEFAULT_MAX_SESSION_SECONDS);
    let (path, short) = split_path(name);

    let mut properties = map([
        ("RoleName", reference("RoleName")),
        ("Path", s(path)),
        ("AssumeRolePolicyDocument", trust),
        (
            "ManagedPolicyArns",
            map([(
                "Fn::If",
                Node::List(vec![
                    s("HasManagedPolicies"),
                    reference("ManagedPolicyArns"),
                    reference("AWS::NoValue"),
                ]),
            )]),
        ),
    ]);
    if longest > DEFAULT_MAX_SESSION_SECONDS {
        properties.push("MaxSessionDuration", Node::Int(longest.into()));
    }
    if let Some(policy) = permission {
        properties.push(
            "Policies",
            Node::List(vec![map([
                ("PolicyName", s("ec2-assume-role-chain")),
                ("PolicyDocument", policy),
            ])]),
        );
    }
    let no_managed = map([(
        "Fn::Equals",
        Node::List(vec![
            map([(
                "Fn::Join",
                Node::List(vec![s(""), reference("ManagedPolicyArns")]),
            )]),
            s(""),
        ]),
    )]);
    Ok(map([
        ("AWSTemplateFormatVersion", s("2010-09-09")),
        (
            "Description",
            s(format!(
                "The role {name} that ec2-assume-role assumes (generated from {}). Deploy it to \
                 every account of an OU with a service-managed StackSet, in one Region (IAM is \
                 global), with CAPABILITY_NAMED_IAM.",
                config.path.display()
            )),
        ),
        (
            "Parameters",
            map([
                (
                    "RoleName",
                    map([
                        ("Type", s("String")),
                        ("Default", s(short)),
                        ("Description", s("The role's name; the config's role_arn ends with it")),
                    ]),
                ),
                (
                    "ManagedPolicyArns",
                    map([
                        ("Type", s("CommaDelimitedList")),
                        ("Default", s(options.managed_policies.join(","))),
                        (
                            "Description",
                            s("Managed policies to attach (what the role may do), comma-separated; empty: none"),
                        ),
                    ]),
                ),
            ]),
        ),
        (
            "Conditions",
            map([(
                "HasManagedPolicies",
                map([("Fn::Not", Node::List(vec![no_managed]))]),
            )]),
        ),
        (
            "Resources",
            map([(
                "Role",
                map([("Type", s("AWS::IAM::Role")), ("Properties", properties)]),
            )]),
        ),
        (
            "Outputs",
            map([("RoleArn", output("The role's ARN", get_att("Role", "Arn")))]),
        ),
    ]))
}

/// The template that creates the instance role, with its permission policy inline, and its
/// instance profile (of the same name), in the account it is deployed to. EC2's service
/// principal is `ec2.` + the partition's URL suffix; every other ARN comes from the config.
pub fn instance_template(config: &Config) -> Node {
    let role = map([
        ("Type", s("AWS::IAM::Role")),
        (
            "Properties",
            map([
                ("RoleName", reference("RoleName")),
                (
                    "AssumeRolePolicyDocument",
                    map([
                        ("Version", s(VERSION)),
                        (
                            "Statement",
                            Node::List(vec![map([
                                ("Effect", s("Allow")),
                                (
                                    "Principal",
                                    map([(
                                        "Service",
                                        map([("Fn::Sub", s("ec2.${AWS::URLSuffix}"))]),
                                    )]),
                                ),
                                ("Action", strings(&[ASSUME])),
                            ])]),
                        ),
                    ]),
                ),
                (
                    "Policies",
                    Node::List(vec![map([
                        ("PolicyName", s("ec2-assume-role")),
                        ("PolicyDocument", instance_permission_policy(config, None)),
                    ])]),
                ),
            ]),
        ),
    ]);
    let profile = map([
        ("Type", s("AWS::IAM::InstanceProfile")),
        (
            "Properties",
            map([
                ("InstanceProfileName", reference("RoleName")),
                ("Roles", Node::List(vec![reference("InstanceRole")])),
            ]),
        ),
    ]);
    map([
        ("AWSTemplateFormatVersion", s("2010-09-09")),
        (
            "Description",
            s(format!(
                "The instance role of ec2-assume-role and its instance profile (generated from \
                 {}). Create it before the target roles, whose trust policies name it.",
                config.path.display()
            )),
        ),
        (
            "Parameters",
            map([(
                "RoleName",
                map([
                    ("Type", s("String")),
                    ("Default", s(&config.instance.role_name)),
                    (
                        "Description",
                        s("The instance role's (and instance profile's) name: [instance] role_name"),
                    ),
                ]),
            )]),
        ),
        (
            "Resources",
            map([("InstanceRole", role), ("InstanceProfile", profile)]),
        ),
        (
            "Outputs",
            map([
                (
                    "RoleArn",
                    output("The instance role's ARN", get_att("InstanceRole", "Arn")),
                ),
                (
                    "InstanceProfileArn",
                    output(
                        "The instance profile's ARN, for the instance's launch",
                        get_att("InstanceProfile", "Arn"),
                    ),
                ),
            ]),
        ),
    ])
}
