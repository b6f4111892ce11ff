//! TEMPORARY STUB (lead): being written.
use crate::cli::Exit;
use std::path::Path;
use std::time::Duration;
pub async fn daemon(_config_path: &Path, _wait: Duration) -> Exit {
    Exit::Other
}
