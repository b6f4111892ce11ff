//! Several users from one config (`[[user]]`, a role's `users`): each role assumed once per
//! run however many files it goes to, each file owned by its user and read back by the AWS
//! CLI as that user's, one user's broken home never stopping the others' writes, and `status`
//! showing each file. These stories need root (to write files owned by other users), as CI has.
//! Backs docs/users.md (several users).

use crate::util::{
    assert_no_secrets, section, value, TestDir, PROFILE_1, PROFILE_2, REFERENCE_CONFIG, ROLE_1,
    ROLE_2,
};
use serde_json::Value;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::PathBuf;

/// The system users whose homes the stories fake (each exists on any Debian-like system).
const USERS: [(&str, u32); 3] = [("nobody", 65534), ("daemon", 1), ("bin", 2)];

/// `homes/NAME`, owned by NAME and private to them, with `.aws` theirs too.
fn home_of(t: &TestDir, name: &str) -> PathBuf {
    t.path().join("homes").join(name)
}

fn credentials_of(t: &TestDir, name: &str) -> PathBuf {
    home_of(t, name).join(".aws/credentials")
}

/// The reference story plus three users: PROFILE_1 goes to `[credentials]` (the running
/// user's file) and to nobody, PROFILE_2 to daemon, both to bin with credential_process.
fn users_story() -> TestDir {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the several-users tests need root, as CI has"
    );
    let t = TestDir::new();
    for (name, uid) in USERS {
        let aws = home_of(&t, name).join(".aws");
        std::fs::create_dir_all(&aws).unwrap();
        for dir in [home_of(&t, name), aws] {
            chown(&dir, Some(uid), Some(uid)).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
    }
    let head = REFERENCE_CONFIG.split("[[role]]").next().unwrap();
    let mut text = head.to_owned();
    for (name, _) in USERS {
        text.push_str(&format!(
            "[[user]]\nname = \"{name}\"\ncredentials_file = \"{}\"\n{}\n",
            credentials_of(&t, name).display(),
            if name == "bin" {
                "credential_process = true\n"
            } else {
                ""
            }
        ));
    }
    text.push_str(&format!(
        "[[role]]\nprofile = \"{PROFILE_1}\"\nrole_arn = \"{ROLE_1}\"\n\
         users = [\"default\", \"nobody\", \"bin\"]\n\n\
         [[role]]\nprofile = \"{PROFILE_2}\"\nrole_arn = \"{ROLE_2}\"\nusers = [\"daemon\", \"bin\"]\n\n\
         [daemon]\nstate_file = \"{}\"\n",
        t.path().join("run/state.json").display()
    ));
    t.write_config(&text);
    t
}

/// The profiles whose keys are in the credentials file at `path`.
fn profiles_in(t: &TestDir, path: &PathBuf) -> Vec<String> {
    let text = t.read(path);
    [PROFILE_1, PROFILE_2]
        .into_iter()
        .filter(|p| value(&text, p, "aws_access_key_id").is_some())
        .map(String::from)
        .collect()
}

/// `aws sts get-caller-identity` as the user whose files are `credentials` and `config`.
fn caller_arn_from(t: &TestDir, credentials: &PathBuf, profile: &str) -> String {
    let config = credentials.with_file_name("config");
    let out = t
        .aws(&["--profile", profile, "sts", "get-caller-identity"])
        .env("AWS_SHARED_CREDENTIALS_FILE", credentials)
        .env("AWS_CONFIG_FILE", &config)
        .arg("--query")
        .arg("Arn")
        .arg("--output")
        .arg("text")
        .expect_exit(0);
    out.stdout.trim().to_owned()
}

#[test]
fn each_user_gets_the_roles_named_for_them_in_files_they_own_one_assume_role_each() {
    let t = users_story();

    t.cmd(&["run"]).expect_exit(0);

    // One AssumeRole per role, however many files it went to.
    assert_eq!(t.sts.assume_role_calls_for(ROLE_1).len(), 1);
    assert_eq!(t.sts.assume_role_calls_for(ROLE_2).len(), 1);
    assert_eq!(t.sts.assume_role_calls().len(), 2);

    assert_eq!(profiles_in(&t, &t.credentials_path()), [PROFILE_1]);
    assert_eq!(profiles_in(&t, &credentials_of(&t, "nobody")), [PROFILE_1]);
    assert_eq!(profiles_in(&t, &credentials_of(&t, "daemon")), [PROFILE_2]);
    // The same credentials in both files of PROFILE_1: they come from the one call.
    let key = |path: &PathBuf| value(&t.read(path), PROFILE_1, "aws_access_key_id");
    assert_eq!(
        key(&t.credentials_path()),
        key(&credentials_of(&t, "nobody"))
    );

    for (name, uid) in USERS {
        let aws = home_of(&t, name).join(".aws");
        let files: &[&str] = if name == "bin" {
            &["config", "ec2-assume-role-cache"]
        } else {
            &["credentials", "config"]
        };
        for file in files {
            let meta = std::fs::metadata(aws.join(file)).unwrap();
            assert_eq!(
                (meta.uid(), meta.gid(), meta.mode() & 0o777),
                (uid, uid, 0o600),
                "{name}'s {file}"
            );
        }
    }
    // Each user's config file has the region of its own profiles only.
    let config_of = |name: &str| t.read(home_of(&t, name).join(".aws/config"));
    assert!(section(&config_of("nobody"), &format!("profile {PROFILE_1}")).is_some());
    assert!(section(&config_of("nobody"), &format!("profile {PROFILE_2}")).is_none());
    assert!(section(&config_of("daemon"), &format!("profile {PROFILE_1}")).is_none());

    // Read back as each user's AWS CLI would.
    let audit = |account: &str| {
        format!("arn:aws:sts::{account}:assumed-role/PerformSecurityAudit/i-0123456789abcdef0")
    };
    assert_eq!(t.caller_arn(PROFILE_1), audit("111111111111"));
    assert_eq!(
        caller_arn_from(&t, &credentials_of(&t, "nobody"), PROFILE_1),
        audit("111111111111")
    );
    assert_eq!(
        caller_arn_from(&t, &credentials_of(&t, "daemon"), PROFILE_2),
        audit("222222222222")
    );
    // bin's profiles come through credential_process, from its cache: no new AssumeRole.
    assert!(
        !credentials_of(&t, "bin").exists(),
        "no static keys for bin"
    );
    assert_eq!(
        caller_arn_from(&t, &credentials_of(&t, "bin"), PROFILE_2),
        audit("222222222222")
    );
    assert_eq!(t.sts.assume_role_calls().len(), 2);

    // status: a row per profile per file, each with its user and file.
    let out = t.cmd(&["status", "--json"]).expect_exit(0);
    assert_no_secrets(&t, &out.stdout);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let rows: Vec<(String, String, String, bool)> = doc["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["user"].as_str().unwrap().to_owned(),
                r["profile"].as_str().unwrap().to_owned(),
                r["file"].as_str().unwrap().to_owned(),
                r["ok"].as_bool().unwrap(),
            )
        })
        .collect();
    let cache_of_bin = home_of(&t, "bin").join(".aws/ec2-assume-role-cache");
    let row = |user: &str, profile: &str, file: &PathBuf| {
        (
            user.to_owned(),
            profile.to_owned(),
            file.display().to_string(),
            true,
        )
    };
    assert_eq!(
        rows,
        [
            row("default", PROFILE_1, &t.credentials_path()),
            row("nobody", PROFILE_1, &credentials_of(&t, "nobody")),
            row("daemon", PROFILE_2, &credentials_of(&t, "daemon")),
            row("bin", PROFILE_1, &cache_of_bin),
            row("bin", PROFILE_2, &cache_of_bin),
        ]
    );
    let table = t.cmd(&["status"]).expect_exit(0).stdout;
    for name in ["nobody", "daemon"] {
        let heading = format!(
            "credentials file: {} (user {name})",
            credentials_of(&t, name).display()
        );
        assert!(table.lines().any(|l| l == heading), "{table}");
    }
}

/// The run's stderr names daemon's credentials file and says `why` it was not written.
fn assert_says_daemons_file(t: &TestDir, stderr: &str, why: &str) {
    let file = credentials_of(t, "daemon").display().to_string();
    assert!(stderr.contains(why) && stderr.contains(&file), "{stderr}");
}

#[test]
fn one_users_refused_home_never_stops_the_others_writes() {
    let t = users_story();
    // daemon's ~/.aws is a symbolic link into a directory of root's: refused.
    let aws = home_of(&t, "daemon").join(".aws");
    std::fs::remove_dir(&aws).unwrap();
    let elsewhere = t.path().join("root-only");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &aws).unwrap();

    let out = t.cmd(&["run"]).expect_exit(7);

    assert_says_daemons_file(&t, &out.stderr, "symbolic link");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    // Everyone else's files were written, from the same two calls.
    assert_eq!(profiles_in(&t, &t.credentials_path()), [PROFILE_1]);
    assert_eq!(profiles_in(&t, &credentials_of(&t, "nobody")), [PROFILE_1]);
    let cache = t.read(home_of(&t, "bin").join(".aws/ec2-assume-role-cache"));
    assert!(section(&cache, PROFILE_1).is_some() && section(&cache, PROFILE_2).is_some());
    assert_eq!(t.sts.assume_role_calls().len(), 2);

    // status says which file is missing its profile (exit 3), and only that one.
    let out = t.cmd(&["status", "--json"]).expect_exit(3);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    for r in doc["profiles"].as_array().unwrap() {
        assert_eq!(r["present"], r["user"] != "daemon", "{r:#}");
    }
}

#[test]
fn two_users_resolving_to_one_file_is_a_config_error_naming_line_and_key() {
    let t = users_story();
    // nobody's default home would be /nonexistent; [credentials] owner = nobody as well.
    let text = t.read(t.config_path()).replace(
        &format!(
            "credentials_file = \"{}\"\n",
            credentials_of(&t, "nobody").display()
        ),
        "",
    );
    let text = text.replace(
        &format!(
            "credentials_file = \"{}\"\n",
            t.credentials_path().display()
        ),
        "owner = \"nobody\"\n",
    );
    t.write_config(&text);
    let out = t.cmd(&["run"]).expect_exit(4);
    let config = t.config_path().display().to_string();
    assert!(
        out.stderr
            .contains(&format!("{config}:15: user[1].credentials_file: "))
            && out
                .stderr
                .contains("/nonexistent/.aws/credentials, which [credentials] writes"),
        "{}",
        out.stderr
    );
    assert_eq!(t.sts.assume_role_calls().len(), 0, "before any STS call");
}

#[test]
fn one_users_full_disk_never_stops_the_others_writes() {
    let t = users_story();
    // daemon's ~/.aws on a tiny tmpfs that is full (tests/integration/fs_faults.sh, in a
    // private mount namespace); everyone else's files are on the ordinary disk.
    let daemon_aws = home_of(&t, "daemon").join(".aws");
    std::fs::write(daemon_aws.join("credentials"), "[mine]\nregion = x\n").unwrap();
    chown(daemon_aws.join("credentials"), Some(1), Some(1)).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/integration/fs_faults.sh"
    );
    let out_dir = t.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let (aws, out_s) = (
        daemon_aws.display().to_string(),
        out_dir.display().to_string(),
    );

    let out = t
        .cmd(&["run"])
        .in_private_mounts(script, &["full", &aws, &out_s])
        .expect_exit(7);

    assert_says_daemons_file(&t, &out.stderr, "No space left");
    let after = std::fs::read_to_string(out_dir.join("after")).unwrap();
    assert_eq!(after, "[mine]\nregion = x\n", "daemon's file is left whole");
    assert_eq!(profiles_in(&t, &t.credentials_path()), [PROFILE_1]);
    assert_eq!(profiles_in(&t, &credentials_of(&t, "nobody")), [PROFILE_1]);
    let cache = t.read(home_of(&t, "bin").join(".aws/ec2-assume-role-cache"));
    assert!(section(&cache, PROFILE_2).is_some());
    assert_eq!(t.sts.assume_role_calls().len(), 2);
}

#[test]
fn the_daemon_keeps_every_users_file_fresh_with_one_call_per_role_per_refresh() {
    use crate::util::wait_for;
    use ec2_assume_role::store::state::State;
    use std::time::Duration;
    let t = users_story();
    t.sts.set_lifetime(Duration::from_secs(12));
    let d = t.cmd(&["daemon"]).spawn();
    let issued_twice = wait_for(Duration::from_secs(30), || {
        t.sts.all_issued_for(ROLE_1).len() >= 2
    });
    assert!(issued_twice, "no second refresh:\n{}", d.stderr_so_far());
    // Every file of PROFILE_1 gets the second call's keys.
    let second = t.sts.all_issued_for(ROLE_1)[1].access_key_id.clone();
    let cache_of_bin = home_of(&t, "bin").join(".aws/ec2-assume-role-cache");
    let files = [
        t.credentials_path(),
        credentials_of(&t, "nobody"),
        cache_of_bin.clone(),
    ];
    let fresh = wait_for(Duration::from_secs(10), || {
        files
            .iter()
            .all(|f| value(&t.read(f), PROFILE_1, "aws_access_key_id").as_deref() == Some(&second))
    });
    assert!(
        fresh,
        "not every file got the refresh:\n{}",
        d.stderr_so_far()
    );
    assert_eq!(
        t.sts.assume_role_calls_for(ROLE_1).len(),
        t.sts.all_issued_for(ROLE_1).len(),
        "one call per refresh, whatever the number of files"
    );

    // The state says it describes this config and all four files; status uses it.
    let state = State::read(&t.path().join("run/state.json"))
        .unwrap()
        .unwrap();
    assert_eq!(
        state.files,
        [
            t.credentials_path(),
            credentials_of(&t, "nobody"),
            credentials_of(&t, "daemon"),
            cache_of_bin
        ]
    );
    let out = t.cmd(&["status", "--json"]).expect_exit(0);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["daemon"]["state_ignored"], Value::Null, "{doc:#}");
    assert_eq!(doc["daemon"]["running"], true);
    for r in doc["profiles"].as_array().unwrap() {
        assert!(r["last_refresh"].is_string(), "{r:#}");
    }
}

#[test]
fn export_serves_a_profile_from_the_users_file_it_goes_to_without_a_call() {
    let t = users_story();
    t.cmd(&["run"]).expect_exit(0);
    let issued = t.sts.issued_for(ROLE_2).expect("issued by the run");

    // PROFILE_2 is only in daemon's and bin's files, not in [credentials]'.
    let out = t.cmd(&["export", "--profile", PROFILE_2]).expect_exit(0);

    assert!(
        out.stdout.starts_with(&format!(
            "export AWS_ACCESS_KEY_ID={}\n",
            issued.access_key_id
        )),
        "{}",
        out.stdout
    );
    assert_eq!(
        t.sts.assume_role_calls().len(),
        2,
        "served from a user's file"
    );
}

#[test]
fn check_names_every_users_file() {
    let t = users_story();
    let out = t.cmd(&["check"]).expect_exit(0);
    for (name, _) in &USERS[..2] {
        let file = format!("{} (user {name})", credentials_of(&t, name).display());
        assert!(out.stderr.contains(&file), "{}", out.stderr);
    }
    let default = format!("profiles go to {}, ", t.credentials_path().display());
    assert!(out.stderr.contains(&default), "{}", out.stderr);
    assert!(t.sts.calls().is_empty());
}

#[test]
fn a_user_the_system_does_not_know_is_a_config_error_before_any_call() {
    let t = users_story();
    let text = t
        .read(t.config_path())
        .replace("name = \"daemon\"", "name = \"no-such-user-ear\"")
        .replace("\"daemon\", \"bin\"]", "\"no-such-user-ear\", \"bin\"]");
    t.write_config(&text);
    let out = t.cmd(&["run"]).expect_exit(4);
    let line = text
        .lines()
        .position(|l| l == "name = \"no-such-user-ear\"")
        .unwrap();
    // The line of its [[user]] header, just above the name.
    let want = format!("{}:{line}: user[2].name: ", t.config_path().display());
    assert!(out.stderr.contains(&want), "{want}\n{}", out.stderr);
    assert!(t.sts.calls().is_empty());
    assert!(!t.credentials_path().exists(), "nothing written");
}

#[test]
fn status_shows_every_file_when_one_users_file_cannot_be_read() {
    let t = users_story();
    t.cmd(&["run"]).expect_exit(0);
    // nobody replaces their credentials file with a FIFO (which would hang a careless reader).
    let planted = credentials_of(&t, "nobody");
    std::fs::remove_file(&planted).unwrap();
    nix::unistd::mkfifo(&planted, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();

    let out = t.cmd(&["status", "--json"]).expect_exit(3);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    for r in doc["profiles"].as_array().unwrap() {
        if r["user"] == "nobody" {
            assert_eq!(r["present"], false, "{r:#}");
            assert!(r["file_error"].as_str().unwrap().contains("FIFO"), "{r:#}");
        } else {
            assert_eq!(
                (&r["ok"], &r["file_error"]),
                (&Value::Bool(true), &Value::Null),
                "{r:#}"
            );
        }
    }

    let out = t.cmd(&["status"]).expect_exit(3);
    let note = format!("note: cannot read {}: ", planted.display());
    assert!(out.stderr.contains(&note), "{}", out.stderr);
    let block = out
        .stdout
        .split("credentials file: ")
        .find(|b| b.contains("(user nobody)"))
        .unwrap();
    assert!(block.contains("  unreadable"), "{}", out.stdout);
}

/// The credential endpoint with several users: each owner gets its own token file, owned by
/// it and private, and its token opens only the profiles that go to its files.
#[test]
fn each_users_endpoint_token_opens_only_its_own_profiles() {
    use std::io::{Read, Write};
    let t = users_story();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tokens = t.path().join("tokens");
    let text = t.read(t.config_path())
        + &format!(
            "\n[endpoint]\nlisten = [\"127.0.0.1:{port}\"]\ntoken_dir = \"{}\"\n",
            tokens.display()
        );
    t.write_config(&text);
    let d = crate::util::daemon::start(&t, &[]);
    let up = crate::util::wait_for(std::time::Duration::from_secs(20), || {
        ["nobody", "daemon"]
            .iter()
            .all(|u| tokens.join(format!("{u}.token")).exists())
            && credentials_of(&t, "daemon").exists()
    });
    assert!(up, "{}", d.stderr_so_far());
    let status = |token: &str, profile: &str| -> u16 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let head = format!(
            "GET /v1/credentials/{profile} HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\
             Connection: close\r\n\r\n"
        );
        s.write_all(head.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.split(' ').nth(1).unwrap().parse().unwrap()
    };
    let token_of = |user: &str| {
        let path = tokens.join(format!("{user}.token"));
        let meta = std::fs::metadata(&path).unwrap();
        let uid = USERS.iter().find(|(n, _)| *n == user).unwrap().1;
        assert_eq!((meta.uid(), meta.mode() & 0o777), (uid, 0o600), "{user}");
        std::fs::read_to_string(path).unwrap()
    };
    let (nobody, daemon) = (token_of("nobody"), token_of("daemon"));
    let served = crate::util::wait_for(std::time::Duration::from_secs(10), || {
        status(&nobody, PROFILE_1) == 200
    });
    assert!(served, "{}", d.stderr_so_far());
    assert_eq!(status(&nobody, PROFILE_2), 403, "daemon's profile");
    assert_eq!(status(&daemon, PROFILE_2), 200);
    assert_eq!(status(&daemon, PROFILE_1), 403, "nobody's profile");
}

/// A `status` command run as `user` (setpriv from util-linux: uid, gid, no groups).
fn status_as(t: &TestDir, user: &str) -> Value {
    let uid = USERS
        .iter()
        .find(|(n, _)| *n == user)
        .unwrap()
        .1
        .to_string();
    let (reuid, regid) = (format!("--reuid={uid}"), format!("--regid={uid}"));
    let out = t
        .cmd(&["status", "--json"])
        .wrapped(&["setpriv", &reuid, &regid, "--clear-groups"])
        .expect_exit(0);
    for other in USERS.iter().filter(|(n, _)| *n != user) {
        assert!(
            !out.stdout.contains(&format!("homes/{}", other.0)),
            "{}",
            out.stdout
        );
    }
    assert!(!out
        .stdout
        .contains(&t.credentials_path().display().to_string()));
    serde_json::from_str(&out.stdout).unwrap()
}

/// An owner of profiles runs `status` without sudo: the daemon's state file is root's, so it
/// keeps one per owner beside it, and the owner sees their own profiles with the refresh
/// times and nothing of anyone else's. The runtime directory stays enterable, so each owner
/// reaches their own token there and no other.
#[test]
fn each_owner_runs_status_without_sudo_and_sees_only_their_own_profiles() {
    let t = users_story();
    let run = t.path().join("run");
    let tokens = run.join("tokens");
    let port = crate::util::free_port();
    let text = t.read(t.config_path())
        + &format!(
            "\n[endpoint]\nlisten = [\"127.0.0.1:{port}\"]\ntoken_dir = \"{}\"\n",
            tokens.display()
        );
    t.write_config(&text);
    // The other users must reach the config and the runtime directory, as under /etc and /run.
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = crate::util::daemon::start(&t, &[]);
    let written = crate::util::wait_for(std::time::Duration::from_secs(20), || {
        ["nobody", "daemon"].iter().all(|u| {
            run.join(format!("state.{u}.json")).exists()
                && tokens.join(format!("{u}.token")).exists()
        })
    });
    assert!(written, "{}", d.stderr_so_far());

    let meta = |p: &PathBuf| {
        let m = std::fs::metadata(p).unwrap();
        (m.uid(), m.mode() & 0o777)
    };
    assert_eq!(meta(&run.join("state.json")), (0, 0o600));
    assert_eq!(meta(&run.join("state.nobody.json")), (65534, 0o600));
    assert_eq!(meta(&run.join("state.daemon.json")), (1, 0o600));
    assert_eq!(
        meta(&run),
        (0, 0o755),
        "the runtime directory stays enterable"
    );

    for (user, profile, role) in [("nobody", PROFILE_1, ROLE_1), ("daemon", PROFILE_2, ROLE_2)] {
        let doc = status_as(&t, user);
        let rows = doc["profiles"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{user}: {doc:#}");
        assert_eq!(
            (&rows[0]["profile"], &rows[0]["role_arn"]),
            (&profile.into(), &role.into())
        );
        assert_eq!(rows[0]["user"], user);
        assert!(rows[0]["last_refresh"].is_string(), "{user}: {doc:#}");
        assert!(rows[0]["next_refresh"].is_string(), "{user}: {doc:#}");
        assert_eq!(doc["daemon"]["running"], true, "{user}: {doc:#}");
        assert!(doc["daemon"]["state_file"]
            .as_str()
            .unwrap()
            .ends_with(&format!("state.{user}.json")));
        let other = if user == "nobody" {
            PROFILE_2
        } else {
            PROFILE_1
        };
        assert!(
            !doc.to_string().contains(other),
            "{user} sees {other}: {doc:#}"
        );
    }

    // Each owner reads their own token through the runtime directory, and no other.
    let cat_as = |uid: u32, file: &str| {
        std::process::Command::new("setpriv")
            .args([
                format!("--reuid={uid}"),
                format!("--regid={uid}"),
                "--clear-groups".into(),
            ])
            .arg("cat")
            .arg(tokens.join(file))
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(cat_as(65534, "nobody.token"));
    assert!(!cat_as(65534, "daemon.token"));

    // Root still sees every file's rows.
    let out = t.cmd(&["status", "--json"]).expect_exit(0);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["profiles"].as_array().unwrap().len(), 5, "{doc:#}");
}
