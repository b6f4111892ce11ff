//! `ec2-assume-role policy`: the reference story's policies from the real binary (with no IMDS
//! or STS call), YAML that a YAML reader takes for the same document, both templates clean
//! under cfn-lint, and the proof that they work: deployed with boto3 into moto's
//! CloudFormation in each account, then the agent runs against moto's STS and the AWS CLI uses
//! its profiles in the accounts where the templates created the roles. All on loopback.
//! Backs docs/iam.md.

use crate::util::{
    story, story_on_moto, venv, TestDir, PROFILE_1, PROFILE_2, REFERENCE_CONFIG, ROLE_1, ROLE_2,
    SESSION,
};
use serde_json::{json, Value};
use testkit::moto::Moto;

const INSTANCE_ROLE: &str = "arn:aws:iam::000000000000:role/EC2_PerformSecurityAudit";
const SECURITY_AUDIT: &str = "arn:aws:iam::aws:policy/SecurityAudit";
const READ_ONLY: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";

/// A hub assumed with the instance credentials, and the story's roles assumed with the hub's,
/// with every option that changes a policy.
const CHAINED: &str = "\
[instance]
role_name = \"EC2_PerformSecurityAudit\"
account_id = \"000000000000\"

[[role]]
profile = \"hub\"
role_arn = \"arn:aws:iam::333333333333:role/hub/Hub\"
source_identity = \"auditor\"

[[role_set]]
role_name = \"PerformSecurityAudit\"
accounts = [\"111111111111\", \"222222222222\"]
profile = \"audit-{account_id}\"
source_profile = \"hub\"
external_id = \"ext-0001\"
tags = { team = \"audit\" }
";

fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

#[test]
fn the_reference_story_policies_without_imds_or_sts() {
    let t = story();

    let out = t.cmd(&["policy"]).expect_exit(0);

    assert_eq!(
        json_of(&out.stdout),
        json!({
            "permission_policies": [{
                "role": INSTANCE_ROLE,
                "policy": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow",
                    "Action": ["sts:AssumeRole"],
                    "Resource": [ROLE_1, ROLE_2],
                }]},
            }],
            "trust_policies": [{
                "roles": [ROLE_1, ROLE_2],
                "policy": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"AWS": INSTANCE_ROLE},
                    "Action": ["sts:AssumeRole"],
                }]},
            }],
        })
    );
    assert_eq!(out.stderr, "", "nothing but the document");
    assert!(t.imds.requests().is_empty(), "IMDS was asked");
    assert!(t.sts.calls().is_empty(), "STS was called");
}

#[test]
fn yaml_is_the_json_document_for_a_yaml_reader() {
    let t = TestDir::new();
    t.write_config(CHAINED);
    for args in [
        vec!["--org-id", "o-abcdefghij"],
        vec!["--trust-account-root"],
    ] {
        let policy = |format: &str| {
            let mut all = vec!["policy", "--format", format];
            all.extend(&args);
            t.cmd(&all).expect_exit(0).stdout
        };
        t.create("p.json", policy("json"));
        t.create("p.yaml", policy("yaml"));
        let out = t
            .python(
                "import json, sys, yaml\n\
                 a = json.load(open(sys.argv[1])); b = yaml.safe_load(open(sys.argv[2]))\n\
                 print('same' if a == b else f'differ:\\n{a}\\n{b}')",
            )
            .arg(t.path().join("p.json"))
            .arg(t.path().join("p.yaml"))
            .expect_exit(0);
        assert_eq!(out.stdout.trim(), "same", "{args:?}");
    }
}

#[test]
fn both_templates_are_clean_under_cfn_lint() {
    let t = TestDir::new();
    let mut files = Vec::new();
    for (config, template, role_name) in [
        (REFERENCE_CONFIG, "instance", None),
        (REFERENCE_CONFIG, "target", None),
        (CHAINED, "instance", None),
        (CHAINED, "target", Some("hub/Hub")),
        (CHAINED, "target", Some("PerformSecurityAudit")),
    ] {
        t.write_config(&config.replace("duration_seconds = 3600", "duration_seconds = 7200"));
        let mut args = vec![
            "policy",
            "--format",
            "cloudformation",
            "--template",
            template,
        ];
        args.extend([
            "--managed-policy",
            SECURITY_AUDIT,
            "--org-id",
            "o-abcdefghij",
        ]);
        if let Some(name) = role_name {
            args.extend(["--role-name", name]);
        }
        let name = format!("{}-{template}.yaml", files.len());
        t.create(&name, t.cmd(&args).expect_exit(0).stdout);
        files.push(t.path().join(name).display().to_string());
    }
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let out = t.venv_tool("cfn-lint", &files).run();
    assert_eq!(out.code, Some(0), "cfn-lint:\n{}{}", out.stdout, out.stderr);
}

#[test]
fn what_the_config_does_not_say_is_asked_on_the_command_line() {
    let t = TestDir::new();
    t.write_config(&REFERENCE_CONFIG.replace("account_id = \"000000000000\"\n", ""));
    let out = t.cmd(&["policy"]).expect_exit(2);
    assert!(out.stderr.contains("pass --account-id"), "{}", out.stderr);
    let out = t
        .cmd(&["policy", "--account-id", "000000000000"])
        .expect_exit(0);
    assert_eq!(
        json_of(&out.stdout)["permission_policies"][0]["role"],
        INSTANCE_ROLE
    );
    // The instance template names no account.
    t.cmd(&[
        "policy",
        "--format",
        "cloudformation",
        "--template",
        "instance",
    ])
    .expect_exit(0);

    t.write_config(CHAINED);
    let out = t
        .cmd(&[
            "policy",
            "--format",
            "cloudformation",
            "--template",
            "target",
        ])
        .expect_exit(2);
    assert!(
        out.stderr
            .contains("several names (hub/Hub, PerformSecurityAudit); choose one with --role-name"),
        "{}",
        out.stderr
    );
    for bad in [
        vec!["--format", "cloudformation"],
        vec!["--template", "instance"],
        vec!["--role-name", "Hub"],
        vec!["--org-id", "o-x"],
        vec!["--managed-policy", "SecurityAudit"],
    ] {
        let mut args = vec!["policy"];
        args.extend(&bad);
        let out = t.cmd(&args).expect_exit(2);
        assert_eq!(out.stdout, "", "{bad:?}");
    }

    t.write_config("[instance]\nrole_name = 1\n");
    t.cmd(&["policy"]).expect_exit(4);
}

/// The proof of the templates: CloudFormation (moto's) creates the instance role in
/// 000000000000 and the target role in each target account, with exactly the policies
/// `policy` prints; then the agent assumes the targets through moto's STS, and the AWS CLI,
/// with the profiles it wrote, finds the role the template created in each account.
#[test]
fn templates_deployed_to_moto_then_the_agent_and_the_aws_cli() {
    let moto = Moto::start(&venv());
    let t = story_on_moto(&moto);
    let managed = [
        "--managed-policy",
        SECURITY_AUDIT,
        "--managed-policy",
        READ_ONLY,
    ];
    let template = |which: &str| {
        let mut args = vec!["policy", "--format", "cloudformation", "--template", which];
        args.extend(managed);
        t.cmd(&args).expect_exit(0).stdout
    };
    t.create("instance.yaml", template("instance"));
    t.create("target.yaml", template("target"));
    t.create("policies.json", t.cmd(&["policy"]).expect_exit(0).stdout);

    let out = t
        .python(DEPLOY)
        .arg(t.path().join("instance.yaml"))
        .arg(t.path().join("target.yaml"))
        .arg(t.path().join("policies.json"))
        .arg(format!("{SECURITY_AUDIT},{READ_ONLY}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .expect_exit(0);
    assert_eq!(
        out.stdout.trim(),
        "000000000000 111111111111 222222222222",
        "{}",
        out.stderr
    );

    t.cmd(&["run"]).expect_exit(0);
    for (profile, account) in [(PROFILE_1, "111111111111"), (PROFILE_2, "222222222222")] {
        assert_eq!(
            t.caller_arn(profile),
            format!("arn:aws:sts::{account}:assumed-role/PerformSecurityAudit/{SESSION}")
        );
        let out = t
            .aws(&[
                "--profile",
                profile,
                "iam",
                "get-role",
                "--role-name",
                "PerformSecurityAudit",
                "--query",
                "Role.Arn",
                "--output",
                "text",
            ])
            .expect_exit(0);
        assert_eq!(
            out.stdout.trim(),
            format!("arn:aws:iam::{account}:role/PerformSecurityAudit")
        );
    }
}

/// boto3, as an operator deploying the templates: the instance template in 000000000000, the
/// target template in each target account (one stack per account: moto's stack sets deploy
/// into one backend), each stack checked against `policy`'s JSON. Prints the accounts done.
const DEPLOY: &str = r#"
import ast, boto3, json, sys
instance, target = open(sys.argv[1]).read(), open(sys.argv[2]).read()
policies = json.load(open(sys.argv[3]))
managed = sys.argv[4].split(",")

def account(number):
    # moto's STS gives keys of any account it is asked for: an operator's deployment role.
    c = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{number}:role/deployer", RoleSessionName="deployer")["Credentials"]
    return boto3.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                         aws_session_token=c["SessionToken"], region_name="us-east-1")

def deploy(session, name, body):
    cfn = session.client("cloudformation")
    cfn.create_stack(StackName=name, TemplateBody=body, Capabilities=["CAPABILITY_NAMED_IAM"])
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

def document(d):
    # boto3 decodes IAM's documents; moto keeps a template's inline policy as Python's repr.
    if isinstance(d, dict):
        return d
    try:
        return json.loads(d)
    except ValueError:
        return ast.literal_eval(d)

done = []
home = account("000000000000")
out = deploy(home, "ec2-assume-role-instance", instance)
iam = home.client("iam")
role = iam.get_role(RoleName="EC2_PerformSecurityAudit")["Role"]
assert role["Arn"] == policies["permission_policies"][0]["role"] == out["RoleArn"], (role, out)
inline = iam.get_role_policy(RoleName="EC2_PerformSecurityAudit", PolicyName="ec2-assume-role")
assert document(inline["PolicyDocument"]) == policies["permission_policies"][0]["policy"], inline
trust = document(role["AssumeRolePolicyDocument"])
assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}, trust
profile = iam.get_instance_profile(InstanceProfileName="EC2_PerformSecurityAudit")["InstanceProfile"]
assert [r["RoleName"] for r in profile["Roles"]] == ["EC2_PerformSecurityAudit"], profile
assert profile["Arn"] == out["InstanceProfileArn"], (profile, out)
done.append("000000000000")

trusted = policies["trust_policies"][0]
for arn in trusted["roles"]:
    number = arn.split(":")[4]
    session = account(number)
    out = deploy(session, "ec2-assume-role-target", target)
    iam = session.client("iam")
    role = iam.get_role(RoleName="PerformSecurityAudit")["Role"]
    assert role["Arn"] == arn == out["RoleArn"], (role, out)
    assert document(role["AssumeRolePolicyDocument"]) == trusted["policy"], role
    # moto 5.2.5 ignores a template's ManagedPolicyArns (cfn-lint checks that property): the
    # parameter's default is checked as CloudFormation would take it.
    param = session.client("cloudformation").describe_stacks(StackName="ec2-assume-role-target")
    values = {p["ParameterKey"]: p["ParameterValue"] for p in param["Stacks"][0]["Parameters"]}
    assert values["ManagedPolicyArns"].split(",") == managed, values
    done.append(number)
print(" ".join(done))
"#;
