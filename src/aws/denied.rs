//! Why STS refused a role, told from its answer: which of the two policies that must both allow
//! an `AssumeRole` (the signer's permission policy and the target role's trust policy) STS's
//! message points to, when it tells, and a hint that names both concretely.
//!
//! STS's `AccessDenied` text follows IAM's format, "User: SIGNER is not authorized to perform:
//! ACTION on resource: ROLE", often followed by the policy type that refused ("because no
//! identity-based policy allows ...", "with an explicit deny in a service control policy").
//! That tail is all this reads; without one the answer does not say, and the hint says so.
//! Pure: no I/O, no clock. It must never guess past what the text says, and never quote
//! anything but STS's message, role ARNs and account ids (never a credential).

/// Which policy STS's message says refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blame {
    /// The signer's permission (identity-based) policy: no statement allows, or one denies.
    PermissionPolicy,
    /// The target role's trust policy (a role's resource-based policy).
    TrustPolicy,
    /// A policy that is neither of the two, and caps both.
    Other(Cap),
    /// The message does not say.
    Unknown,
}

/// The policies besides the two that can refuse an `AssumeRole`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    /// A service control policy of the signer's organization.
    ServiceControl,
    /// A resource control policy of the role's organization.
    ResourceControl,
    /// The permissions boundary of the signer's role.
    PermissionsBoundary,
    /// A session policy of the signer's session.
    Session,
    /// The policy of the VPC endpoint through which STS was called.
    VpcEndpoint,
}

/// What STS's message says of one refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The action refused: `sts:AssumeRole`, or `sts:TagSession` / `sts:SetSourceIdentity`,
    /// which STS checks too when the call carries session tags / a source identity.
    pub action: String,
    pub blame: Blame,
    /// A `Deny` statement refused, rather than no `Allow`.
    pub explicit: bool,
}

/// The phrases of IAM's access-denied format, most specific first: a VPC endpoint's refusal
/// "transitively through a service control policy" is the SCP's.
const PHRASES: &[(&str, Blame)] = &[
    ("service control policy", Blame::Other(Cap::ServiceControl)),
    (
        "resource control policy",
        Blame::Other(Cap::ResourceControl),
    ),
    (
        "permissions boundary",
        Blame::Other(Cap::PermissionsBoundary),
    ),
    ("session policy", Blame::Other(Cap::Session)),
    // IAM's own example of an explicit deny spells it so.
    ("sessions policy", Blame::Other(Cap::Session)),
    ("vpc endpoint policy", Blame::Other(Cap::VpcEndpoint)),
    ("identity-based policy", Blame::PermissionPolicy),
    ("trust policy", Blame::TrustPolicy),
    ("resource-based policy", Blame::TrustPolicy),
];

/// Reads an `AccessDenied` answer; `None` for any other code (those are not refusals by a
/// policy).
pub fn classify(code: &str, message: &str) -> Option<Refusal> {
    if code != "AccessDenied" {
        return None;
    }
    let action = message
        .split_once("perform: ")
        .or_else(|| message.split_once("perform "))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .filter(|a| a.starts_with("sts:"))
        .unwrap_or("sts:AssumeRole")
        .to_owned();
    // The reason is the tail after the resource: an ARN never holds these words, a role name
    // could ("...:role/because"), so only " because " and " with an explicit deny" count.
    let lower = message.to_ascii_lowercase();
    let explicit = lower.find(" with an explicit deny");
    let reason = explicit
        .or_else(|| lower.find(" because "))
        .map(|at| &lower[at..]);
    let blame = reason
        .and_then(|reason| {
            PHRASES
                .iter()
                .find(|(phrase, _)| reason.contains(phrase))
                .map(|&(_, blame)| blame)
        })
        .unwrap_or(Blame::Unknown);
    Some(Refusal {
        action,
        blame,
        explicit: explicit.is_some() && blame != Blame::Unknown,
    })
}

/// The hint for a refusal of `role_arn` to `signer` (an IAM role ARN or assumed-role ARN, or a
/// role name), or `None` if the answer is not an `AccessDenied`.
pub fn explain(code: &str, message: &str, role_arn: &str, signer: &str) -> Option<String> {
    let refusal = classify(code, message)?;
    let signer = signer_role(signer);
    let action = &refusal.action;
    let trusted = match &signer.account {
        Some(account) => format!("{} or to its account {account}", signer.role),
        None => signer.role.clone(),
    };
    let why = match action.as_str() {
        "sts:TagSession" => " (STS checks it because the role's config sets session tags)",
        "sts:SetSourceIdentity" => {
            " (STS checks it because the role's config sets a source identity)"
        }
        _ => "",
    };
    let both = format!(
        "two policies must both allow {action}{why}: the permission policy of {} must allow it on \
         {role_arn}, and the trust policy of {role_arn} must allow it to {trusted}",
        signer.described()
    );
    let deny = if refusal.explicit {
        "a Deny statement"
    } else {
        "no Allow statement"
    };
    let verdict = match refusal.blame {
        Blame::PermissionPolicy => format!(
            "STS's answer points to the permission policy of {} ({deny} there)",
            signer.role
        ),
        Blame::TrustPolicy => {
            format!("STS's answer points to the trust policy of {role_arn} ({deny} there)")
        }
        // IAM says "explicit deny" of an SCP even when it only lacks an Allow.
        Blame::Other(Cap::ServiceControl) => format!(
            "STS's answer points to neither but to {}, which overrides both",
            Cap::ServiceControl.described(&signer, role_arn)
        ),
        Blame::Other(cap) => format!(
            "STS's answer points to neither but to {} ({deny} there), which overrides both",
            cap.described(&signer, role_arn)
        ),
        Blame::Unknown => "STS's answer does not say which one refused".to_owned(),
    };
    Some(format!(
        "{both}; {verdict}; `ec2-assume-role policy` prints both"
    ))
}

impl Cap {
    fn described(self, signer: &Signer, role_arn: &str) -> String {
        match self {
            Cap::ServiceControl => match &signer.account {
                Some(a) => format!("a service control policy (SCP) over account {a}"),
                None => "a service control policy (SCP) over the signer's account".to_owned(),
            },
            Cap::ResourceControl => {
                format!("a resource control policy (RCP) over the account of {role_arn}")
            }
            Cap::PermissionsBoundary => format!("the permissions boundary of {}", signer.role),
            Cap::Session => format!("a session policy of the session of {}", signer.role),
            Cap::VpcEndpoint => "the policy of the VPC endpoint STS was called through".to_owned(),
        }
    }
}

/// The signer as the hint names it: its role's name and, when known, account.
struct Signer {
    role: String,
    account: Option<String>,
}

impl Signer {
    fn described(&self) -> String {
        match &self.account {
            Some(a) => format!("{} (account {a}, the signer)", self.role),
            None => format!("{} (the signer)", self.role),
        }
    }
}

/// `arn:P:iam::ACCOUNT:role/PATH/NAME`, `arn:P:sts::ACCOUNT:assumed-role/NAME/SESSION`, or a
/// bare name.
fn signer_role(signer: &str) -> Signer {
    let parts: Vec<&str> = signer.splitn(6, ':').collect();
    let name = match parts.as_slice() {
        ["arn", _, "iam", "", _, resource] => resource
            .strip_prefix("role/")
            .and_then(|r| r.rsplit('/').next()),
        ["arn", _, "sts", "", _, resource] => resource
            .strip_prefix("assumed-role/")
            .and_then(|r| r.split('/').next()),
        _ => None,
    };
    match name {
        Some(name) if !name.is_empty() && !parts[4].is_empty() => Signer {
            role: format!("role {name}"),
            account: Some(parts[4].to_owned()),
        },
        _ => Signer {
            role: format!("role {signer}"),
            account: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::111111111111:role/PerformSecurityAudit";
    const SIGNER: &str = "arn:aws:iam::000000000000:role/EC2_PerformSecurityAudit";

    /// Real STS and IAM texts. Account ids, names and ARNs the sources redacted or left as
    /// placeholders are filled in; the wording is theirs. "AWS IAM guide" is "Troubleshoot
    /// access denied error messages", docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
    /// (awsdocs/iam-user-guide doc_source/troubleshoot_access-denied.md); its examples use
    /// other actions, put here on sts:AssumeRole in the same format.
    #[test]
    fn sts_messages_are_blamed_on_the_policy_they_name() {
        use Blame::*;
        use Cap::*;
        // (message, action, blame, explicit)
        let table = [
            // An EC2 instance role refused a role in another account: Netflix/security_monkey#77.
            ("User: arn:aws:sts::000000000000:assumed-role/SecurityMonkeyInstanceProfile/i-e68888 is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/SecurityMonkey", "sts:AssumeRole", Unknown, false),
            // Same account, a role session: aws/karpenter-provider-aws#4680.
            ("User: arn:aws:sts::629146268066:assumed-role/Karpenter-KarpenterEksClu-HandlerServiceRoleFCDC14-1E2S2B6XVZBLW/Karpenter-KarpenterEksCluster73357-Handler886CB40B-1FCztK9eeCEe is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::629146268066:role/EksAdminRole-mycluster", "sts:AssumeRole", Unknown, false),
            // Cross-account, a role session: aws/aws-cli#7216.
            ("User: arn:aws:sts::111122223333:assumed-role/Okta-Admin/jane is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::444455556666:role/Okta-Admin", "sts:AssumeRole", Unknown, false),
            // The old short form, no principal: serverless/serverless#3040, Netflix/security_monkey#530.
            ("Not authorized to perform sts:AssumeRole", "sts:AssumeRole", Unknown, false),
            // The caller's permission policy has no Allow, cross-account: the AWS IAM guide's
            // "Access denied due to identity-based policies" (implicit denial), as a Lambda
            // role's log quotes it on sts:AssumeRole in a deployment runbook on GitHub.
            ("User: arn:aws:sts::568672915267:assumed-role/IsbCostCollectionStack-CollectorCostCollectorLambdaServiceRole/isb-lease-costs-collector is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::955063685555:role/isb-lease-costs-explorer-role because no identity-based policy allows the sts:AssumeRole action", "sts:AssumeRole", PermissionPolicy, false),
            // AWS IAM guide, identity-based policies, explicit denial.
            ("User: arn:aws:sts::000000000000:assumed-role/EC2_X/i-0123456789abcdef0 is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/Y with an explicit deny in an identity-based policy", "sts:AssumeRole", PermissionPolicy, true),
            // The same since the 2025 change naming the policy: aws.amazon.com/blogs/security/enhanced-access-denied-error-messages-with-policy-arns
            ("User: arn:aws:sts::000000000000:assumed-role/EC2_X/i-0123456789abcdef0 is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/Y with an explicit deny in an identity-based policy: arn:aws:iam::000000000000:policy/DenyAssume", "sts:AssumeRole", PermissionPolicy, true),
            // AWS IAM guide, "Access denied due to role trust policies", implicit (its wording,
            // "because the role trust policy allows", sic) and explicit.
            ("User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: sts:AssumeRole because the role trust policy allows the sts:AssumeRole action", "sts:AssumeRole", TrustPolicy, false),
            ("User: arn:aws:iam::777788889999:user/JohnDoe is not authorized to perform: sts:AssumeRole with an explicit deny in the role trust policy", "sts:AssumeRole", TrustPolicy, true),
            // A trust policy as resource-based policy: linden.consulting/en/blog/sts-assume-role-access-denied;
            // the implicit form is the AWS IAM guide's resource-based one.
            ("User: arn:aws:sts::111111111111:assumed-role/pipeline-role/session-name is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/deploy-role with an explicit deny in a resource-based policy", "sts:AssumeRole", TrustPolicy, true),
            ("User: arn:aws:sts::000000000000:assumed-role/EC2_X/i-0123456789abcdef0 is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/Y because no resource-based policy allows the sts:AssumeRole action", "sts:AssumeRole", TrustPolicy, false),
            // An SCP: AWS IAM guide (it always says explicit, even for a missing Allow), and
            // the policy-ARN form from the AWS security blog above.
            ("User: arn:aws:sts::000000000000:assumed-role/EC2_X/i-0123456789abcdef0 is not authorized to perform: sts:AssumeRole with an explicit deny in a service control policy", "sts:AssumeRole", Other(ServiceControl), true),
            ("User: arn:aws:sts::000000000000:assumed-role/EC2_X/i-0123456789abcdef0 is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/Y with an explicit deny in a service control policy: arn:aws:organizations::987654321098:policy/o-qv5af4abcd/service_control_policy/p-2kgnabcd", "sts:AssumeRole", Other(ServiceControl), true),
            // AWS IAM guide, "Access denied when a VPC request fails due to another policy".
            ("User: arn:aws:sts::111122223333:assumed-role/role-name/role-session-name is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::444455556666:role/role-name-2 with an explicit deny in a VPC endpoint policy transitively through a service control policy", "sts:AssumeRole", Other(ServiceControl), true),
            // AWS IAM guide, VPC endpoint policies, implicit and explicit.
            ("User: arn:aws:sts::000000000000:assumed-role/EC2_X/i-0123456789abcdef0 is not authorized to perform: sts:AssumeRole because no VPC endpoint policy allows the sts:AssumeRole action", "sts:AssumeRole", Other(VpcEndpoint), false),
            ("User: arn:aws:sts::000000000000:assumed-role/EC2_X/i-0123456789abcdef0 is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/Y with an explicit deny in a VPC endpoint policy", "sts:AssumeRole", Other(VpcEndpoint), true),
            // AWS IAM guide, permissions boundaries, implicit and explicit.
            ("User: arn:aws:sts::000000000000:assumed-role/EC2_X/i-0123456789abcdef0 is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/Y because no permissions boundary allows the sts:AssumeRole action", "sts:AssumeRole", Other(PermissionsBoundary), false),
            ("User: arn:aws:sts::000000000000:assumed-role/EC2_X/i-0123456789abcdef0 is not authorized to perform: sts:AssumeRole with an explicit deny in a permissions boundary", "sts:AssumeRole", Other(PermissionsBoundary), true),
            // AWS IAM guide, session policies, implicit and explicit ("sessions policy", sic).
            ("User: arn:aws:sts::000000000000:assumed-role/EC2_X/i-0123456789abcdef0 is not authorized to perform: sts:AssumeRole because no session policy allows the sts:AssumeRole action", "sts:AssumeRole", Other(Session), false),
            ("User: arn:aws:sts::000000000000:assumed-role/EC2_X/i-0123456789abcdef0 is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/Y with an explicit deny in a sessions policy", "sts:AssumeRole", Other(Session), true),
            // An RCP, in the format of the AWS security blog above (RCPs are among its types).
            ("User: arn:aws:sts::000000000000:assumed-role/EC2_X/i-0123456789abcdef0 is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/Y with an explicit deny in a resource control policy", "sts:AssumeRole", Other(ResourceControl), true),
            // Session tags without sts:TagSession, an EC2 instance role: aws-actions/configure-aws-credentials#600, #54.
            ("User: arn:aws:sts::000000000000:assumed-role/github-runner-runner-dev/i-0123456789abcdef0 is not authorized to perform: sts:TagSession on resource: arn:aws:iam::111111111111:role/devops", "sts:TagSession", Unknown, false),
            // A source identity without sts:SetSourceIdentity: noqdev/iambic#357.
            ("User: arn:aws:sts::000000000000:assumed-role/REDACTED_ROLE_1/REDACTED_SESSION_NAME is not authorized to perform: sts:SetSourceIdentity on resource: arn:aws:iam::000000000000:role/IambicHubRole", "sts:SetSourceIdentity", Unknown, false),
            // A role whose name holds a policy word is no reason.
            ("User: arn:aws:sts::000000000000:assumed-role/EC2_X/i-0123456789abcdef0 is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/trust-policy-because", "sts:AssumeRole", Unknown, false),
        ];
        for (message, action, blame, explicit) in table {
            let want = Refusal {
                action: action.to_owned(),
                blame,
                explicit,
            };
            assert_eq!(classify("AccessDenied", message), Some(want), "{message}");
        }
    }

    #[test]
    fn only_access_denied_is_a_refusal_by_a_policy() {
        for code in [
            "Throttling",
            "ExpiredToken",
            "RegionDisabledException",
            "ValidationError",
        ] {
            assert_eq!(
                classify(code, "not authorized to perform: sts:AssumeRole"),
                None
            );
            assert_eq!(explain(code, "x", ROLE, SIGNER), None);
        }
    }

    #[test]
    fn the_hint_names_both_policies_and_the_one_blamed() {
        let generic = format!(
            "User: arn:aws:sts::000000000000:assumed-role/EC2_PerformSecurityAudit/i-0123456789abcdef0 \
             is not authorized to perform: sts:AssumeRole on resource: {ROLE}"
        );
        let both = "two policies must both allow sts:AssumeRole: the permission policy of role \
                    EC2_PerformSecurityAudit (account 000000000000, the signer) must allow it on \
                    arn:aws:iam::111111111111:role/PerformSecurityAudit, and the trust policy of \
                    arn:aws:iam::111111111111:role/PerformSecurityAudit must allow it to role \
                    EC2_PerformSecurityAudit or to its account 000000000000";
        let end = "`ec2-assume-role policy` prints both";
        // (reason appended to the generic text, what the hint says of it)
        let table = [
            ("", "STS's answer does not say which one refused"),
            (
                " because no identity-based policy allows the sts:AssumeRole action",
                "STS's answer points to the permission policy of role EC2_PerformSecurityAudit \
                 (no Allow statement there)",
            ),
            (
                " with an explicit deny in the role trust policy",
                "STS's answer points to the trust policy of \
                 arn:aws:iam::111111111111:role/PerformSecurityAudit (a Deny statement there)",
            ),
            (
                " with an explicit deny in a service control policy",
                "STS's answer points to neither but to a service control policy (SCP) over \
                 account 000000000000, which overrides both",
            ),
            (
                " because no permissions boundary allows the sts:AssumeRole action",
                "STS's answer points to neither but to the permissions boundary of role \
                 EC2_PerformSecurityAudit (no Allow statement there), which overrides both",
            ),
        ];
        for (reason, verdict) in table {
            let hint = explain("AccessDenied", &format!("{generic}{reason}"), ROLE, SIGNER);
            assert_eq!(hint, Some(format!("{both}; {verdict}; {end}")), "{reason}");
        }
    }

    #[test]
    fn the_signer_is_named_from_its_arn_whichever_kind() {
        let message = "not authorized to perform: sts:TagSession on resource: R";
        // (signer, named as, trusted as)
        let table = [
            (
                SIGNER,
                "role EC2_PerformSecurityAudit (account 000000000000, the signer)",
                "role EC2_PerformSecurityAudit or to its account 000000000000",
            ),
            (
                "arn:aws-us-gov:iam::222222222222:role/service-role/ops/Hop",
                "role Hop (account 222222222222, the signer)",
                "role Hop or to its account 222222222222",
            ),
            (
                "arn:aws:sts::333333333333:assumed-role/Hop/session",
                "role Hop (account 333333333333, the signer)",
                "role Hop or to its account 333333333333",
            ),
            (
                "EC2_PerformSecurityAudit",
                "role EC2_PerformSecurityAudit (the signer)",
                "role EC2_PerformSecurityAudit",
            ),
        ];
        for (signer, named, trusted) in table {
            let hint = explain("AccessDenied", message, ROLE, signer).unwrap();
            assert!(
                hint.starts_with(&format!(
                    "two policies must both allow sts:TagSession (STS checks it because the \
                     role's config sets session tags): the permission policy of {named} must \
                     allow it on {ROLE}, and the trust policy of {ROLE} must allow it to \
                     {trusted};"
                )),
                "{hint}"
            );
        }
    }
}
