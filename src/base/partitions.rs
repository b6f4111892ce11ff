//! AWS partitions and their regions, from the SDK's own partition data.
//!
//! `partitions.json` is the data the Rust SDK's endpoint rules resolve a region with (the
//! `PartitionResolver` JSON in aws-sdk-sts's `endpoint_lib.rs`, pretty-printed); a unit test
//! checks it is still the same data as the SDK crate in `Cargo.lock`, and that the partition
//! we pick for a region is the one the SDK's endpoint resolution picks. The SDK keeps that
//! resolver private, so we read the same JSON rather than a hand-written pattern: a region
//! name is one a partition lists or one its `regionRegex` matches (new regions appear
//! without an SDK release), and its partition is picked as the SDK picks it, a listed name
//! first, then the first regex that matches. Unlike the SDK, we never fall back to `aws` for
//! a name no partition matches: that name is a typo, and we say so.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const DATA: &str = include_str!("partitions.json");

#[derive(Debug, Deserialize)]
struct Data {
    partitions: Vec<Partition>,
}

/// One partition: `aws`, `aws-cn`, `aws-us-gov`, `aws-eusc`, `aws-iso`, ...
#[derive(Debug, Deserialize)]
pub struct Partition {
    pub id: String,
    pub outputs: Outputs,
    #[serde(rename = "regionRegex")]
    region_regex: String,
    regions: BTreeMap<String, serde::de::IgnoredAny>,
    #[serde(skip)]
    regex: OnceLock<Option<regex_lite::Regex>>,
}

#[derive(Debug, Deserialize)]
pub struct Outputs {
    #[serde(rename = "dnsSuffix")]
    pub dns_suffix: String,
    #[serde(rename = "dualStackDnsSuffix")]
    pub dual_stack_dns_suffix: String,
    /// The region whose endpoints serve the partition's global services (IAM, Organizations).
    #[serde(rename = "implicitGlobalRegion")]
    pub implicit_global_region: String,
    #[serde(rename = "supportsFIPS")]
    pub supports_fips: bool,
    #[serde(rename = "supportsDualStack")]
    pub supports_dual_stack: bool,
}

impl Partition {
    fn matches(&self, region: &str) -> bool {
        self.regex
            .get_or_init(|| regex_lite::Regex::new(&self.region_regex).ok())
            .as_ref()
            .is_some_and(|r| r.is_match(region))
    }

    /// The regions it lists by name, without the `*-global` pseudo-regions (`aws-global`,
    /// which the SDK knows, is no region a profile can name).
    pub fn named_regions(&self) -> impl Iterator<Item = &str> {
        self.regions
            .keys()
            .map(String::as_str)
            .filter(|r| !r.ends_with("-global"))
    }
}

/// Every partition, in the data's order.
pub fn all() -> &'static [Partition] {
    static PARTITIONS: OnceLock<Vec<Partition>> = OnceLock::new();
    PARTITIONS.get_or_init(|| {
        // The data is compiled in and checked by a test: it cannot fail to parse at run time.
        serde_json::from_str::<Data>(DATA)
            .map(|d| d.partitions)
            .unwrap_or_default()
    })
}

/// The partition named `id`.
pub fn by_id(id: &str) -> Option<&'static Partition> {
    all().iter().find(|p| p.id == id)
}

/// The partition `region` is in, picked as the SDK picks it; `None` if it is no region name.
pub fn of_region(region: &str) -> Option<&'static Partition> {
    if region.ends_with("-global") {
        return None;
    }
    let partitions = all();
    partitions
        .iter()
        .find(|p| p.regions.contains_key(region))
        .or_else(|| partitions.iter().find(|p| p.matches(region)))
}

/// The partition ids, for messages: "aws, aws-cn, ...".
pub fn ids() -> String {
    all()
        .iter()
        .map(|p| p.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sts::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};

    const EXPECTED: &[&str] = &[
        "aws",
        "aws-cn",
        "aws-eusc",
        "aws-iso",
        "aws-iso-b",
        "aws-iso-e",
        "aws-iso-f",
        "aws-us-gov",
    ];

    #[test]
    fn the_data_parses_and_names_every_partition() {
        let ids: Vec<&str> = all().iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, EXPECTED);
        for p in all() {
            assert!(
                regex_lite::Regex::new(&p.region_regex).is_ok(),
                "{}: {}",
                p.id,
                p.region_regex
            );
            assert!(p.named_regions().count() >= 1, "{}", p.id);
            for r in p.named_regions() {
                assert!(p.matches(r), "{r} is listed in {} but not matched", p.id);
            }
        }
    }

    /// Our copy is the SDK's: the JSON compiled into the aws-sdk-sts that Cargo.lock pins,
    /// read from cargo's registry sources (present wherever this crate was built).
    #[test]
    fn the_data_is_the_sdks() {
        let lock = include_str!("../../Cargo.lock");
        let version = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"aws-sdk-sts\""))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
            .map(|v| v.trim_matches('"').to_owned())
            .expect("aws-sdk-sts in Cargo.lock");
        let home = std::env::var_os("CARGO_HOME")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cargo")
            });
        let registry = home.join("registry/src");
        let file = std::fs::read_dir(&registry)
            .expect("cargo's registry sources")
            .filter_map(Result::ok)
            .map(|d| {
                d.path()
                    .join(format!("aws-sdk-sts-{version}/src/endpoint_lib.rs"))
            })
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("aws-sdk-sts-{version} sources under {registry:?}"));
        let source = std::fs::read_to_string(&file).unwrap();
        let start = source
            .find("new_from_json(b\"")
            .expect("the SDK's partition JSON")
            + 16;
        let end = start + source[start..].find("\").expect").expect("its end");
        // A Rust byte-string literal: only \" and \\ are escaped in it.
        let json = source[start..end]
            .replace("\\\\", "\u{0}")
            .replace("\\\"", "\"")
            .replace('\u{0}', "\\");
        let sdk: serde_json::Value = serde_json::from_str(&json).unwrap();
        let ours: serde_json::Value = serde_json::from_str(DATA).unwrap();
        assert_eq!(
            ours, sdk,
            "src/base/partitions.json differs from {file:?}: copy it again"
        );
    }

    /// The partition we pick is the one the SDK's endpoint rules pick: STS's endpoint for the
    /// region ends in that partition's DNS suffix, plain, FIPS and dual-stack.
    #[test]
    fn we_pick_the_partition_the_sdk_resolves() {
        let resolver = DefaultResolver::new();
        let mut regions: Vec<String> = all()
            .iter()
            .flat_map(|p| p.named_regions().map(str::to_owned))
            .collect();
        // Names no partition lists yet, which the regexes cover.
        regions.extend(
            [
                "ap-southeast-9",
                "eu-west-9",
                "cn-south-1",
                "us-gov-central-1",
                "us-iso-north-1",
                "us-isob-south-2",
                "eu-isoe-north-1",
                "us-isof-west-1",
                "eusc-de-west-1",
            ]
            .map(str::to_owned),
        );
        for region in &regions {
            let ours = of_region(region).unwrap_or_else(|| panic!("{region}"));
            for (fips, dual) in [(false, false), (true, false), (false, true), (true, true)] {
                let params = Params::builder()
                    .region(region)
                    .use_fips(fips)
                    .use_dual_stack(dual)
                    .build()
                    .unwrap();
                let url = crate::aws::sts::resolved(resolver.resolve_endpoint(&params))
                    .unwrap_or_else(|e| panic!("{region}: {e}"));
                let host = url.trim_start_matches("https://").trim_end_matches('/');
                let suffix = if dual {
                    &ours.outputs.dual_stack_dns_suffix
                } else {
                    &ours.outputs.dns_suffix
                };
                assert!(
                    host.ends_with(&format!(".{suffix}")),
                    "{region} fips={fips} dual={dual}: the SDK calls {host}, we say {}",
                    ours.id
                );
            }
        }
    }

    #[test]
    fn names_no_partition_has_are_refused() {
        for r in [
            "us-east",
            "US-EAST-1",
            "useast1",
            "mars-east-1",
            "aws-global",
            "aws-us-gov-global",
            "eusc-fr-east-1",
            "",
        ] {
            assert!(of_region(r).is_none(), "{r}");
        }
        assert_eq!(of_region("eusc-de-east-1").unwrap().id, "aws-eusc");
        assert_eq!(of_region("us-gov-west-1").unwrap().id, "aws-us-gov");
        assert_eq!(of_region("us-isob-east-1").unwrap().id, "aws-iso-b");
        assert_eq!(of_region("eu-isoe-west-1").unwrap().id, "aws-iso-e");
        assert_eq!(of_region("us-east-1").unwrap().id, "aws");
    }
}
