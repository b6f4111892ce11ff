//! Properties of the parser (issue 7): `invariants::check` (the fuzz target's checks) on
//! arbitrary bytes and on mutated valid configs; generated configs of roles and role sets
//! parse into exactly the roles they describe; a profile used twice, across roles and
//! sets, is always the one problem reported, naming both places.

use super::*;
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use proptest::sample::Index;

/// A `[[role]]` (profile `PREFIX-ACCOUNT`) or a `[[role_set]]` (profile template
/// `PREFIX-{account_id}`), as the generator describes it.
#[derive(Clone, Debug)]
enum Item {
    Role {
        prefix: String,
        account: String,
        partition: &'static str,
        name: String,
    },
    Set {
        prefix: String,
        accounts: Vec<String>,
        partition: &'static str,
        name: String,
    },
}

impl Item {
    fn prefix(&self) -> &str {
        match self {
            Item::Role { prefix, .. } | Item::Set { prefix, .. } => prefix,
        }
    }

    fn accounts(&self) -> Vec<&str> {
        match self {
            Item::Role { account, .. } => vec![account],
            Item::Set { accounts, .. } => accounts.iter().map(String::as_str).collect(),
        }
    }
}

fn account() -> impl Strategy<Value = String> {
    "[0-9]{12}"
}

fn partition() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(vec!["aws", "aws-cn", "aws-us-gov", "aws-eusc", "aws-iso-b"])
}

fn role_name() -> impl Strategy<Value = String> {
    "([A-Za-z0-9]{1,5}/){0,2}[A-Za-z0-9_+=,.@-]{1,16}"
}

/// Any characters a profile may hold, but `{` `}` (the template's) and `"` `\\`
/// (which would need escaping in the TOML text).
fn tag() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.@/:+=,-]{1,8}"
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        (tag(), account(), partition(), role_name()).prop_map(
            |(prefix, account, partition, name)| Item::Role {
                prefix,
                account,
                partition,
                name
            }
        ),
        (tag(), btree_set(account(), 1..4), partition(), role_name()).prop_map(
            |(prefix, accounts, partition, name)| Item::Set {
                prefix,
                accounts: accounts.into_iter().collect(),
                partition,
                name
            }
        ),
    ]
}

/// Items whose profiles are all different: each prefix ends with `.INDEX`.
fn items() -> impl Strategy<Value = Vec<Item>> {
    vec(item(), 1..8).prop_map(|items| {
        items
            .into_iter()
            .enumerate()
            .map(|(i, mut item)| {
                let (Item::Role { prefix, .. } | Item::Set { prefix, .. }) = &mut item;
                prefix.push_str(&format!(".{i}"));
                item
            })
            .collect()
    })
}

/// The config text, and the roles it must parse into.
fn render(items: &[Item]) -> (String, Vec<Role>) {
    let mut text = String::from(INSTANCE);
    let mut roles = Vec::new();
    for item in items {
        let line = text.lines().count() + 1;
        let role = |profile: String, partition: &str, account: &str, name: &str| Role {
            role_arn: format!("arn:{partition}:iam::{account}:role/{name}"),
            profile,
            partition: partition.to_owned(),
            account_id: account.to_owned(),
            external_id: None,
            role_session_name: DEFAULT_SESSION_NAME.to_owned(),
            duration_seconds: DEFAULT_DURATION_SECONDS,
            region: None,
            source_identity: None,
            tags: Vec::new(),
            source_profile: None,
            users: vec![DEFAULT_USER.into()],
            policy: None,
            policy_arns: Vec::new(),
            endpoints: Default::default(),
            line,
        };
        match item {
            Item::Role {
                prefix,
                account,
                partition,
                name,
            } => {
                let r = role(format!("{prefix}-{account}"), partition, account, name);
                text += &format!(
                    "[[role]]\nprofile = \"{}\"\nrole_arn = \"{}\"\n\n",
                    r.profile, r.role_arn
                );
                roles.push(r);
            }
            Item::Set {
                prefix,
                accounts,
                partition,
                name,
            } => {
                let list: Vec<String> = accounts.iter().map(|a| format!("\"{a}\"")).collect();
                text += &format!(
                    "[[role_set]]\nrole_name = \"{name}\"\naccounts = [{}]\n\
                     profile = \"{prefix}-{{account_id}}\"\npartition = \"{partition}\"\n\n",
                    list.join(", ")
                );
                for a in accounts {
                    roles.push(role(format!("{prefix}-{a}"), partition, a, name));
                }
            }
        }
    }
    (text, roles)
}

/// One edit of a config's bytes: a cut, an insertion (arbitrary bytes or a line of the
/// file itself), or a changed byte.
#[derive(Clone, Debug)]
enum Mutation {
    Cut(Index, usize),
    Insert(Index, Vec<u8>),
    CopyLine(Index, Index),
    Set(Index, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let token = proptest::sample::select(vec![
        &b"\n"[..],
        b"\r",
        b"\"",
        b"'",
        b"[",
        b"]",
        b"[[role]]\n",
        b"[[role_set]]\n",
        b"=",
        b"{",
        b"}",
        b"#",
        b"\\",
        b"\xff",
        b"\xef\xbb\xbf",
        b"\x00",
        b"\x1b",
        b"{account_id}",
        b"\"\"\"",
        b"1e400",
        b"-9999999999999999999",
        b"\xe2\x80\xae",
    ]);
    prop_oneof![
        (any::<Index>(), 1..40usize).prop_map(|(i, n)| Mutation::Cut(i, n)),
        (any::<Index>(), vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<Index>(), token).prop_map(|(i, t)| Mutation::Insert(i, t.to_vec())),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::CopyLine(a, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
    ]
}

fn mutate(text: &mut Vec<u8>, m: &Mutation) {
    let at = |i: &Index, len: usize| i.index(len + 1);
    match m {
        Mutation::Cut(i, n) => {
            let start = at(i, text.len());
            let end = (start + n).min(text.len());
            text.drain(start..end);
        }
        Mutation::Insert(i, bytes) => {
            let p = at(i, text.len());
            text.splice(p..p, bytes.iter().copied());
        }
        Mutation::CopyLine(from, to) => {
            let lines: Vec<Vec<u8>> = text
                .split_inclusive(|&b| b == b'\n')
                .map(<[u8]>::to_vec)
                .collect();
            if lines.is_empty() {
                return;
            }
            let line = lines[from.index(lines.len())].clone();
            let starts: Vec<usize> = lines
                .iter()
                .scan(0, |acc, l| {
                    let s = *acc;
                    *acc += l.len();
                    Some(s)
                })
                .collect();
            let p = starts[to.index(starts.len())];
            text.splice(p..p, line);
        }
        Mutation::Set(i, b) => {
            if !text.is_empty() {
                let p = i.index(text.len());
                text[p] = *b;
            }
        }
    }
}

/// Where a profile comes from in messages: `role[N]` or `role_set[N].accounts[K]`,
/// for each item in file order and each of its accounts.
fn origins(items: &[Item]) -> Vec<Vec<String>> {
    let (mut roles, mut sets) = (0, 0);
    items
        .iter()
        .map(|item| match item {
            Item::Role { .. } => {
                roles += 1;
                vec![format!("role[{roles}]")]
            }
            Item::Set { accounts, .. } => {
                sets += 1;
                (1..=accounts.len())
                    .map(|k| format!("role_set[{sets}].accounts[{k}]"))
                    .collect()
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn the_line_index_agrees_with_counting_newlines(
        bytes in vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..200),
    ) {
        let lines = crate::config::diagnostic::Lines::new(&bytes);
        for offset in 0..bytes.len() + 3 {
            prop_assert_eq!(lines.of(offset), crate::config::diagnostic::line_of(&bytes, offset));
        }
    }

    #[test]
    fn arbitrary_bytes_are_refused_cleanly(bytes in vec(any::<u8>(), 0..400)) {
        let _ = invariants::check(&bytes);
    }

    #[test]
    fn mutated_configs_are_refused_cleanly_or_accepted_consistently(
        items in items(),
        mutations in vec(mutation(), 1..6),
    ) {
        let mut text = render(&items).0.into_bytes();
        for m in &mutations {
            mutate(&mut text, m);
        }
        let _ = invariants::check(&text);
    }

    #[test]
    fn generated_configs_parse_into_the_roles_they_describe(items in items()) {
        let (text, expected) = render(&items);
        match invariants::check(text.as_bytes()) {
            Ok(config) => prop_assert_eq!(config.roles, expected, "{}", text),
            Err(e) => prop_assert!(false, "refused:\n{}\n{}", e, text),
        }
    }

    #[test]
    fn a_profile_used_twice_is_always_caught_naming_both_places(
        items in items(),
        original in any::<Index>(),
        which_account in any::<Index>(),
        after in any::<Index>(),
        as_set in any::<bool>(),
        others in btree_set(account(), 0..3),
        name in role_name(),
        at in any::<Index>(),
    ) {
        let i = original.index(items.len());
        let accounts = items[i].accounts();
        let k = which_account.index(accounts.len());
        let account = accounts[k].to_owned();
        let prefix = items[i].prefix().to_owned();
        // The copy goes anywhere after the original; a set's other accounts are new.
        let others: Vec<String> = others
            .into_iter()
            .filter(|a| !accounts.contains(&a.as_str()))
            .collect();
        let copy = if as_set {
            let mut list = others;
            list.insert(at.index(list.len() + 1), account.clone());
            Item::Set { prefix, accounts: list, partition: "aws", name }
        } else {
            Item::Role { prefix, account: account.clone(), partition: "aws", name }
        };
        let j = i + 1 + after.index(items.len() - i);
        let mut with_copy = items.clone();
        with_copy.insert(j, copy);
        let (text, _) = render(&with_copy);
        let origin = &origins(&with_copy);
        let header = |n: usize| render(&with_copy[..n]).0.lines().count() + 1;
        let profile = format!("{}-{account}", items[i].prefix());
        let (key, line) = match &with_copy[j] {
            Item::Role { .. } => (format!("{}.profile", origin[j][0]), header(j) + 1),
            Item::Set { accounts, .. } => {
                let pos = accounts.iter().position(|a| *a == account).unwrap();
                (origin[j][pos].clone(), header(j) + 2)
            }
        };
        let errors = invariants::check(text.as_bytes()).unwrap_err().errors;
        prop_assert_eq!(errors.len(), 1, "{:#?}\n{}", errors, text);
        let e = &errors[0];
        prop_assert_eq!(e.key.as_deref(), Some(key.as_str()), "{}", text);
        prop_assert_eq!(e.line, Some(line), "{}", text);
        let names = format!(
            "{profile:?} is already the profile of {} (line {})",
            origin[i][k],
            header(i)
        );
        prop_assert!(e.message.contains(&names), "{} lacks {}", e, names);
    }
}
