//! Values accepted and what they become: role sets expanded like hand-written roles, the order
//! in which a role, `[defaults]` and the built-ins win, session names filled, every partition's
//! regions, session policies and endpoint variants, and SSM parameter ARNs.

use super::*;

#[test]
fn role_sets_expand_in_file_order_like_hand_written_roles() {
    let text = format!(
        "{INSTANCE}[sts]\nmax_concurrency = 3\nboot_jitter_seconds = 300\n\n\
         [defaults]\nduration_seconds = 900\n\n\
         [[role_set]]\nrole_name = \"audit/PerformSecurityAudit\"\n\
         accounts = [\"111111111111\", \"222222222222\"]\nprofile = \"audit-{{account_id}}\"\n\
         partition = \"aws-cn\"\nregion = \"cn-north-1\"\nexternal_id = \"x-1\"\n\
         role_session_name = \"{{profile}}\"\ntags = {{ team = \"audit\" }}\n\n\
         [[role]]\nprofile = \"own\"\nrole_arn = \"{ARN}\"\n\n\
         [[role_set]]\nrole_name = \"R\"\naccounts = [\"333333333333\"]\nprofile = \"{{account_id}}\"\n"
    );
    let config = parse(&text, Path::new("/c")).unwrap();
    assert_eq!(
        config.sts,
        StsOptions {
            max_concurrency: 3,
            boot_jitter_seconds: 300
        }
    );
    let audit = |account: &str| Role {
        profile: format!("audit-{account}"),
        role_arn: format!("arn:aws-cn:iam::{account}:role/audit/PerformSecurityAudit"),
        partition: "aws-cn".into(),
        account_id: account.into(),
        external_id: Some("x-1".into()),
        role_session_name: "{profile}".into(),
        duration_seconds: 900,
        region: Some("cn-north-1".into()),
        source_identity: None,
        tags: vec![("team".into(), "audit".into())],
        source_profile: None,
        users: vec![DEFAULT_USER.into()],
        policy: None,
        policy_arns: vec![],
        endpoints: Endpoints::default(),
        line: 11,
    };
    let plain = Role {
        profile: "own".into(),
        role_arn: ARN.into(),
        partition: "aws".into(),
        account_id: "111111111111".into(),
        external_id: None,
        role_session_name: DEFAULT_SESSION_NAME.into(),
        duration_seconds: 900,
        region: None,
        source_identity: None,
        tags: vec![],
        source_profile: None,
        users: vec![DEFAULT_USER.into()],
        policy: None,
        policy_arns: vec![],
        endpoints: Endpoints::default(),
        line: 21,
    };
    let last = Role {
        profile: "333333333333".into(),
        role_arn: "arn:aws:iam::333333333333:role/R".into(),
        account_id: "333333333333".into(),
        line: 25,
        ..plain.clone()
    };
    assert_eq!(
        config.roles,
        [audit("111111111111"), audit("222222222222"), plain, last]
    );
    // The session name fills {profile} with the expanded profile.
    let p = Placeholders {
        instance_id: "i-0abc",
        account_id: "000000000000",
    };
    assert_eq!(
        config.roles[1].session_name(&p).unwrap(),
        "audit-222222222222"
    );
    assert_eq!(
        parse(&full(""), Path::new("/c")).unwrap().sts,
        StsOptions::default()
    );
}

#[test]
fn role_overrides_defaults_and_defaults_override_built_ins() {
    let base = "[[role]]\nprofile = \"bare\"\nrole_arn = \"arn:aws:iam::111111111111:role/R\"\n\
                \n[[role]]\nprofile = \"own\"\nrole_arn = \"arn:aws:iam::111111111111:role/R\"\n\
                duration_seconds = 900\nrole_session_name = \"own-{profile}\"\nregion = \"eu-central-2\"\n";
    let built_in = parse(&format!("{INSTANCE}{base}"), Path::new("/c")).unwrap();
    let with_defaults = parse(
        &format!(
            "{INSTANCE}[defaults]\nduration_seconds = 7200\nrole_session_name = \"d-{{account_id}}\"\n\
             region = \"ap-south-1\"\n\n{base}"
        ),
        Path::new("/c"),
    )
    .unwrap();
    let summary = |c: &Config| -> Vec<(i32, String, Option<String>)> {
        c.roles
            .iter()
            .map(|r| {
                (
                    r.duration_seconds,
                    r.role_session_name.clone(),
                    r.region.clone(),
                )
            })
            .collect()
    };
    let own = (
        900,
        "own-{profile}".to_owned(),
        Some("eu-central-2".to_owned()),
    );
    assert_eq!(
        summary(&built_in),
        [(3600, DEFAULT_SESSION_NAME.to_owned(), None), own.clone()]
    );
    assert_eq!(
        summary(&with_defaults),
        [
            (
                7200,
                "d-{account_id}".to_owned(),
                Some("ap-south-1".to_owned())
            ),
            own
        ]
    );
    assert_eq!(built_in.credentials, Credentials::default());
}

#[test]
fn session_name_fills_placeholders() {
    let config = parse(
        &full("role_session_name = \"{profile}@{account_id}.{instance_id}\""),
        Path::new("/c"),
    )
    .unwrap();
    let role = &config.roles[0];
    let p = Placeholders {
        instance_id: "i-0abc",
        account_id: "123456789012",
    };
    assert_eq!(role.session_name(&p).unwrap(), "p@123456789012.i-0abc");

    let plain = Role {
        role_session_name: DEFAULT_SESSION_NAME.into(),
        ..role.clone()
    };
    assert_eq!(plain.session_name(&p).unwrap(), "ec2-assume-role-i-0abc");

    // Longer than any instance id EC2 issues today: refused at run time, naming the role.
    let future = Placeholders {
        instance_id: &format!("i-{}", "f".repeat(60)),
        account_id: "123456789012",
    };
    let err = role.session_name(&future).unwrap_err();
    assert_eq!(err.line, Some(4));
    assert!(
        err.to_string()
            .starts_with("line 4: role_session_name (profile \"p\"): "),
        "{err}"
    );
    assert!(err.message.contains("the limit is 64"), "{err}");
}

/// Every partition's roles with a region of their own, as the SDK's partition data names them
/// (`eusc-de-east-1` was once refused as "not a region name").
#[test]
fn every_partition_takes_its_own_regions() {
    for (partition, region) in [
        ("aws", "mx-central-1"),
        ("aws-cn", "cn-northwest-1"),
        ("aws-us-gov", "us-gov-east-1"),
        ("aws-eusc", "eusc-de-east-1"),
        ("aws-iso", "us-iso-west-1"),
        ("aws-iso-b", "us-isob-east-1"),
        ("aws-iso-e", "eu-isoe-west-1"),
        ("aws-iso-f", "us-isof-east-1"),
    ] {
        let text = role(&format!(
            "profile = \"p\"\nrole_arn = \"arn:{partition}:iam::111111111111:role/R\"\n\
             region = \"{region}\"\n"
        ));
        let config = parse(&text, Path::new("/c")).unwrap_or_else(|e| panic!("{partition}: {e}"));
        assert_eq!(config.roles[0].partition, partition);
        assert_eq!(config.roles[0].region.as_deref(), Some(region));
    }
}

/// A session policy is sent minified; policy ARNs keep `{account_id}` until a role's account
/// fills it; FIPS and dual-stack come from the role, else its set, else `[defaults]`, else
/// stay unset (the SDK's own settings).
#[test]
fn session_policies_and_endpoint_variants() {
    let text = format!(
        r#"{INSTANCE}[defaults]
use_fips_endpoint = true

[[role]]
profile = "a"
role_arn = "{ARN}"
policy = '''
{{
  "Version": "2012-10-17",
  "Statement": [{{ "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*" }}]
}}
'''
policy_arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
use_dualstack_endpoint = true

[[role_set]]
role_name = "R"
accounts = ["222222222222"]
profile = "s-{{account_id}}"
use_fips_endpoint = false
policy_arns = ["arn:aws:iam::{{account_id}}:policy/Narrow"]
"#
    );
    let config = parse(&text, Path::new("/c")).unwrap();
    let a = &config.roles[0];
    assert_eq!(
        a.policy.as_deref(),
        Some(
            r#"{"Statement":[{"Action":"s3:GetObject","Effect":"Allow","Resource":"*"}],"Version":"2012-10-17"}"#
        )
    );
    assert_eq!(a.policy_arns(), ["arn:aws:iam::aws:policy/ReadOnlyAccess"]);
    assert_eq!(
        a.endpoints,
        Endpoints {
            fips: Some(true),
            dual_stack: Some(true)
        }
    );
    let s = &config.roles[1];
    assert_eq!(s.policy, None);
    assert_eq!(s.policy_arns(), ["arn:aws:iam::222222222222:policy/Narrow"]);
    assert_eq!(
        s.endpoints,
        Endpoints {
            fips: Some(false),
            dual_stack: None
        }
    );
    let plain = parse(&full(""), Path::new("/c")).unwrap();
    assert_eq!(plain.roles[0].endpoints, Endpoints::default());
}

#[test]
fn an_arn_names_its_own_region() {
    assert_eq!(
        split_arn("arn:aws:ssm:us-east-2:111111111111:parameter/shared/ear"),
        Ok(("/shared/ear", Some("us-east-2")))
    );
    assert_eq!(split_arn("/plain"), Ok(("/plain", None)));
}
