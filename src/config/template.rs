//! The `role_session_name` template: its placeholders (`{instance_id}`, `{account_id}`,
//! `{profile}`) parsed into pieces, and filled. It must never check the filled name (that is
//! `rules::check_session_name`'s) nor decide which values fill it.

/// Values for the `role_session_name` placeholders (`{profile}` comes from the role).
#[derive(Debug, Clone, Copy)]
pub struct Placeholders<'a> {
    pub instance_id: &'a str,
    pub account_id: &'a str,
}

#[derive(Debug, PartialEq)]
pub(super) enum Piece<'a> {
    Text(&'a str),
    InstanceId,
    AccountId,
    Profile,
}

pub(super) fn parse_template(s: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(['{', '}']) {
        if rest[i..].starts_with('}') {
            return Err(format!("{s:?} has a \"}}\" with no \"{{\" before it"));
        }
        let after = &rest[i + 1..];
        let Some(end) = after
            .find(['{', '}'])
            .filter(|&e| after[e..].starts_with('}'))
        else {
            return Err(format!("{s:?} has a \"{{\" with no \"}}\" after it"));
        };
        pieces.push(Piece::Text(&rest[..i]));
        pieces.push(match &after[..end] {
            "instance_id" => Piece::InstanceId,
            "account_id" => Piece::AccountId,
            "profile" => Piece::Profile,
            other => {
                return Err(format!(
                    "{{{other}}} is not a placeholder; use {{instance_id}}, {{account_id}} or \
                     {{profile}}"
                ))
            }
        });
        rest = &after[end + 1..];
    }
    pieces.push(Piece::Text(rest));
    Ok(pieces)
}

pub(super) fn fill(pieces: &[Piece], p: &Placeholders, profile: &str) -> String {
    pieces
        .iter()
        .map(|piece| match piece {
            Piece::Text(t) => t,
            Piece::InstanceId => p.instance_id,
            Piece::AccountId => p.account_id,
            Piece::Profile => profile,
        })
        .collect()
}
