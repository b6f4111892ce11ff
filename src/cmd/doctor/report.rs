//! What `doctor` found and how it is shown: one `Check` per thing looked at, in order, each
//! passed, failed (with the fix) or skipped (saying why), rendered one line each for a person
//! or as one JSON array for a script. Pure: no I/O. A detail or a fix names files, profiles,
//! ARNs, users and error codes; it must never hold a credential or a token.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

/// One check's outcome. Serialised as is for `--json`: the field names are the output format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: String,
    pub status: Status,
    /// What was found; for a skipped check, why it was not made.
    pub detail: String,
    /// For a failed check: what to do about it.
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn fail(
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            check: check.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn skip(check: impl Into<String>, why: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status: Status::Skip,
            detail: why.into(),
            fix: None,
        }
    }

    /// One check that gathers several findings about one thing: passed with `ok` when there
    /// are none, else failed with each problem and each fix joined.
    pub fn of(check: impl Into<String>, ok: String, problems: Vec<(String, String)>) -> Check {
        if problems.is_empty() {
            return Check::pass(check, ok);
        }
        let (details, fixes): (Vec<String>, Vec<String>) = problems.into_iter().unzip();
        let mut fixes_once: Vec<String> = Vec::new();
        for fix in fixes {
            if !fixes_once.contains(&fix) {
                fixes_once.push(fix);
            }
        }
        Check::fail(check, details.join("; "), fixes_once.join("; "))
    }
}

/// The checks for a person: `✓ name: detail`, a failure's fix indented under it, a skipped
/// check as `– name: skipped: why`, then a count.
pub fn human(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let line = match c.status {
            Status::Pass => format!("✓ {}: {}\n", c.check, c.detail),
            Status::Fail => format!("✗ {}: {}\n", c.check, c.detail),
            Status::Skip => format!("– {}: skipped: {}\n", c.check, c.detail),
        };
        out.push_str(&line);
        if let Some(fix) = &c.fix {
            out.push_str(&format!("    fix: {fix}\n"));
        }
    }
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    out.push_str(&format!(
        "\n{} passed, {} failed, {} skipped\n",
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip)
    ));
    out
}

/// The checks as one JSON array of `{check, status, detail, fix}`.
pub fn json(checks: &[Check]) -> String {
    // Serialising these plain types cannot fail.
    let mut text = serde_json::to_string_pretty(checks).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_status_reads_as_a_person_and_a_script_expect() {
        let checks = vec![
            Check::pass("imds", "IMDSv2 answered"),
            Check::of(
                "files",
                "fine".into(),
                vec![
                    ("mode 0644".into(), "chmod 600 f".into()),
                    ("mode 0644 again".into(), "chmod 600 f".into()),
                ],
            ),
            Check::skip("clock", "IMDS did not answer"),
        ];
        assert_eq!(
            human(&checks),
            "✓ imds: IMDSv2 answered\n\
             ✗ files: mode 0644; mode 0644 again\n    fix: chmod 600 f\n\
             – clock: skipped: IMDS did not answer\n\
             \n1 passed, 1 failed, 1 skipped\n"
        );
        let parsed: serde_json::Value = serde_json::from_str(&json(&checks)).unwrap();
        assert_eq!(parsed[1]["status"], "fail");
        assert_eq!(parsed[1]["fix"], "chmod 600 f");
        assert_eq!(parsed[2]["status"], "skip");
        assert_eq!(parsed[0]["fix"], serde_json::Value::Null);
    }
}
