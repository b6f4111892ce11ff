//! Fuzz target for the credentials-file transform (`credfile::apply`): any file bytes, any plan,
//! checked with `credfile::invariants::check` (no panic, applying twice equals once, bytes
//! outside managed sections unchanged, written profiles read back, exactly the unlisted managed
//! sections removed). The first input byte chooses the plan, the rest is the file.
#![no_main]

use ec2_assume_role::store::credfile::{invariants, FileKind, Plan, Section};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;

/// The corpus files' profiles plus `default`, so that seeds hit real sections.
const PROFILES: [&str; 4] = ["audit-111111111111", "audit-222222222222", "dev", "default"];

fn section(profile: &str) -> Section {
    Section {
        profile: profile.to_owned(),
        entries: vec![
            ("aws_access_key_id".into(), "ASIAFUZZEXAMPLE00001".into()),
            (
                "aws_secret_access_key".into(),
                format!("FuzzSecret/{profile}"),
            ),
            (
                "x_security_token_expires".into(),
                "2030-01-01T00:00:00Z".into(),
            ),
        ],
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, file)) = data.split_first() else {
        return;
    };
    // Bit 0: which file; bit 1: replace_unmanaged; bits 2-5: the profiles written; bits 6-7:
    // two more configured but not written this time (a role that failed keeps its section).
    let kind = if flags & 1 == 0 {
        FileKind::Credentials
    } else {
        FileKind::Config
    };
    let write: Vec<Section> = PROFILES
        .iter()
        .enumerate()
        .filter(|(i, _)| flags >> (2 + i) & 1 == 1)
        .map(|(_, p)| section(p))
        .collect();
    let mut configured: BTreeSet<String> = write.iter().map(|s| s.profile.clone()).collect();
    for (bit, profile) in [(6, "dev"), (7, "audit-222222222222")] {
        if flags >> bit & 1 == 1 {
            configured.insert(profile.to_owned());
        }
    }
    invariants::check(
        file,
        &Plan {
            kind,
            write: &write,
            configured: &configured,
            replace_unmanaged: flags & 2 != 0,
        },
    );
});
