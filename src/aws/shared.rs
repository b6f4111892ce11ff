//! The account list one host of a fleet publishes to SSM Parameter Store, so that the rest
//! of the fleet reads it instead of each instance asking AWS Organizations, whose request
//! quotas are shared by the whole organization (docs/benchmarks.md, "Organizations
//! discovery"). The publisher (`[discovery] publish = true`) lists the accounts in
//! Organizations and puts them, `PART_ACCOUNTS` to a part, in standard-tier `String`
//! parameters `NAME/1`, `NAME/2`, ...; a reader gets every part with `GetParameters` (10
//! names a call: one call for up to 3,000 accounts). Each part starts with a header naming
//! its publication (its time), its number and the count of parts and accounts, so a reader
//! that meets parts of two publications (one being written) refuses the list and keeps what
//! it had; it never mixes them. Signed with the instance-profile credentials, in the
//! instance's Region unless the name is an ARN. Hand-written: no crate splits a list over SSM
//! parameters; the format is ours.

use crate::aws::retry::Policy;
use crate::base::creds::{rfc3339, TemporaryCredentials};
use crate::config::Endpoints;
use aws_sdk_ssm::types::{ParameterTier, ParameterType};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Accounts in one part: 13 bytes each with its newline, so 300 and the header stay under
/// the 4,096 characters of a standard-tier parameter.
pub const PART_ACCOUNTS: usize = 300;
/// GetParameters takes at most this many names.
const NAMES_PER_CALL: usize = 10;
const MAGIC: &str = "ec2-assume-role accounts v1";

/// A published list, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub accounts: Vec<String>,
    pub published: OffsetDateTime,
}

/// The name of part `i` (from 1).
pub fn part_name(name: &str, i: usize) -> String {
    format!("{name}/{i}")
}

/// The parts' values for `accounts` (sorted and unique, as discovery gives them): at least
/// one part, so that an empty organization is published too.
pub fn encode(accounts: &[String], published: OffsetDateTime) -> Vec<String> {
    let chunks: Vec<&[String]> = if accounts.is_empty() {
        vec![&[]]
    } else {
        accounts.chunks(PART_ACCOUNTS).collect()
    };
    let (n, stamp) = (chunks.len(), rfc3339(published));
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut text = format!(
                "{MAGIC} published={stamp} part={}/{n} accounts={}\n",
                i + 1,
                accounts.len()
            );
            for account in *chunk {
                text.push_str(account);
                text.push('\n');
            }
            text
        })
        .collect()
}

/// One part's header: (published, part, parts, accounts).
fn header(line: &str) -> Option<(OffsetDateTime, usize, usize, usize)> {
    let rest = line.strip_prefix(MAGIC)?.strip_prefix(' ')?;
    let mut fields = rest.split(' ');
    let published = fields.next()?.strip_prefix("published=")?;
    let published = OffsetDateTime::parse(published, &Rfc3339).ok()?;
    let (part, parts) = fields.next()?.strip_prefix("part=")?.split_once('/')?;
    let accounts = fields.next()?.strip_prefix("accounts=")?.parse().ok()?;
    if fields.next().is_some() {
        return None;
    }
    let (part, parts) = (part.parse().ok()?, parts.parse().ok()?);
    (1..=parts)
        .contains(&part)
        .then_some((published, part, parts, accounts))
}

/// The list from its parts by number (`values[&i]` is part i's value); the error says which
/// part is wrong or missing.
pub fn decode(name: &str, values: &BTreeMap<usize, String>) -> Result<Published, String> {
    let first = values
        .get(&1)
        .ok_or_else(|| format!("ssm:{name}/1: no such parameter: nothing is published there"))?;
    let parse = |i: usize, value: &str| {
        header(value.lines().next().unwrap_or_default())
            .ok_or_else(|| format!("ssm:{name}/{i}: not a part of an ec2-assume-role account list"))
    };
    let (published, _, parts, total) = parse(1, first)?;
    let mut accounts = Vec::with_capacity(total);
    for i in 1..=parts {
        let value = values.get(&i).ok_or_else(|| {
            format!("ssm:{name}/{i}: part {i} of {parts} is missing; is it being published?")
        })?;
        let (when, part, count, of) = parse(i, value)?;
        if (when, part, count, of) != (published, i, parts, total) {
            return Err(format!(
                "ssm:{name}/{i}: part {part}/{count} of the list published at {} among the \
                 parts of the one published at {}: it is being published; trying again later",
                rfc3339(when),
                rfc3339(published)
            ));
        }
        for id in value.lines().skip(1) {
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("ssm:{name}/{i}: {id:?} is not an account id"));
            }
            accounts.push(id.to_owned());
        }
    }
    if accounts.len() != total {
        return Err(format!(
            "ssm:{name}: its parts hold {} accounts, their headers say {total}",
            accounts.len()
        ));
    }
    accounts.sort();
    accounts.dedup();
    Ok(Published {
        accounts,
        published,
    })
}

/// `(name, region)`: the parameter's own Region when `name` is an ARN, else `region`.
fn place<'a>(name: &'a str, region: &'a str) -> &'a str {
    crate::config::split_arn(name)
        .ok()
        .and_then(|(_, r)| r)
        .unwrap_or(region)
}

/// One SSM call, retried under `policy` while its failure is worth another try; the error
/// names the operation.
async fn call<T, E, F, Fut>(policy: Policy, operation: &'static str, f: F) -> Result<T, String>
where
    E: aws_sdk_ssm::error::ProvideErrorMetadata + std::error::Error + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<
        Output = Result<
            T,
            aws_sdk_ssm::error::SdkError<
                E,
                aws_smithy_runtime_api::client::orchestrator::HttpResponse,
            >,
        >,
    >,
{
    let doing = "reading or writing the shared account list";
    crate::aws::http::call_retried(policy, "SSM", operation, doing, f)
        .await
        .map_err(|e| {
            crate::base::metrics::ssm_failed(operation, &e.code);
            e.to_string()
        })
}

/// The values of parts `from..from + 10` that exist.
async fn get_parts(
    client: &aws_sdk_ssm::Client,
    name: &str,
    from: usize,
    policy: Policy,
) -> Result<BTreeMap<usize, String>, String> {
    let names: Vec<String> = (from..from + NAMES_PER_CALL)
        .map(|i| part_name(name, i))
        .collect();
    let out = call(policy, "GetParameters", || {
        client
            .get_parameters()
            .set_names(Some(names.clone()))
            .send()
    })
    .await?;
    let mut found = BTreeMap::new();
    for p in out.parameters() {
        let number = p
            .name()
            .and_then(|n| n.rsplit('/').next())
            .and_then(|n| n.parse::<usize>().ok());
        if let (Some(i), Some(value)) = (number, p.value()) {
            found.insert(i, value.to_owned());
        }
    }
    Ok(found)
}

/// Reads the list published at `name` (parts beyond the first ten in further calls).
pub async fn read(
    http: SharedHttpClient,
    signer: &TemporaryCredentials,
    region: &str,
    name: &str,
    endpoints: Endpoints,
    policy: Policy,
) -> Result<Published, String> {
    let client = crate::aws::ssm::client(http, signer, place(name, region), endpoints).await;
    let mut values = get_parts(&client, name, 1, policy).await?;
    let parts = values
        .get(&1)
        .and_then(|v| header(v.lines().next().unwrap_or_default()))
        .map_or(0, |(_, _, parts, _)| parts);
    let mut from = 1 + NAMES_PER_CALL;
    while from <= parts {
        values.extend(get_parts(&client, name, from, policy).await?);
        from += NAMES_PER_CALL;
    }
    decode(name, &values)
}

/// Publishes `accounts` at `name`: every part put (overwritten), then the parts a longer
/// earlier list left beyond them deleted. Returns the number of parts.
pub async fn publish(
    http: SharedHttpClient,
    signer: &TemporaryCredentials,
    region: &str,
    name: &str,
    accounts: &[String],
    endpoints: Endpoints,
    policy: Policy,
) -> Result<usize, String> {
    let client = crate::aws::ssm::client(http, signer, place(name, region), endpoints).await;
    let parts = encode(accounts, OffsetDateTime::now_utc());
    for (i, value) in parts.iter().enumerate() {
        let part = part_name(name, i + 1);
        call(policy, "PutParameter", || {
            client
                .put_parameter()
                .name(&part)
                .value(value)
                .r#type(ParameterType::String)
                .tier(ParameterTier::Standard)
                .overwrite(true)
                .send()
        })
        .await?;
    }
    let mut from = parts.len() + 1;
    loop {
        let stale: Vec<String> = get_parts(&client, name, from, policy)
            .await?
            .into_keys()
            .map(|i| part_name(name, i))
            .collect();
        if stale.is_empty() {
            break;
        }
        call(policy, "DeleteParameters", || {
            client
                .delete_parameters()
                .set_names(Some(stale.clone()))
                .send()
        })
        .await?;
        from += NAMES_PER_CALL;
    }
    Ok(parts.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn ids(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("{:012}", 100_000_000_000 + i))
            .collect()
    }

    fn numbered(parts: Vec<String>) -> BTreeMap<usize, String> {
        parts
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i + 1, v))
            .collect()
    }

    const AT: OffsetDateTime = datetime!(2026-12-02 01:00 UTC);

    #[test]
    fn a_list_round_trips_in_parts_that_fit_a_standard_parameter() {
        for n in [0, 1, 299, 300, 301, 1000, 10_000] {
            let parts = encode(&ids(n), AT);
            assert_eq!(
                parts.len(),
                n.div_ceil(PART_ACCOUNTS).max(1),
                "{n} accounts"
            );
            assert!(parts.iter().all(|p| p.len() <= 4096), "{n} accounts");
            let back = decode("/l", &numbered(parts)).unwrap();
            assert_eq!(back.accounts, ids(n));
            assert_eq!(back.published, AT);
        }
    }

    #[test]
    fn parts_of_two_publications_are_refused_not_mixed() {
        let old = encode(&ids(700), AT);
        let new = encode(&ids(650), AT + time::Duration::hours(24));
        let mut values = numbered(old);
        values.insert(1, new[0].clone());
        let err = decode("/l", &values).unwrap_err();
        assert!(
            err.contains("ssm:/l/2") && err.contains("being published"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_or_foreign_or_damaged_part_is_named() {
        let mut values = numbered(encode(&ids(700), AT));
        values.remove(&3);
        let err = decode("/l", &values).unwrap_err();
        assert!(
            err.contains("ssm:/l/3") && err.contains("part 3 of 3 is missing"),
            "{err}"
        );

        let err = decode("/l", &BTreeMap::new()).unwrap_err();
        assert!(err.contains("ssm:/l/1: no such parameter"), "{err}");

        let foreign = BTreeMap::from([(1, "region = us-east-1\n".to_owned())]);
        let err = decode("/l", &foreign).unwrap_err();
        assert!(
            err.contains("not a part of an ec2-assume-role account list"),
            "{err}"
        );

        // Two accounts' list with one edit of its text, and what decoding it says.
        for (from, to, want) in [
            (
                "100000000001",
                "10000000000x",
                "\"10000000000x\" is not an account id",
            ),
            ("100000000001\n", "", "hold 1 accounts, their headers say 2"),
        ] {
            let mut values = numbered(encode(&ids(2), AT));
            let edited = values[&1].replace(from, to);
            values.insert(1, edited);
            let err = decode("/l", &values).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn an_arn_is_read_in_its_own_region() {
        let arn = "arn:aws:ssm:eu-west-1:000000000000:parameter/ear/accounts";
        assert_eq!(place(arn, "us-east-1"), "eu-west-1");
        assert_eq!(place("/ear/accounts", "us-east-1"), "us-east-1");
    }
}
