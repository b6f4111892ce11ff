//! TEMPORARY STUB (lead): replaced by helper-4's module.
use crate::cli::Exit;
use std::path::Path;
pub fn status(_config_path: &Path, _json: bool) -> Exit {
    Exit::Other
}
