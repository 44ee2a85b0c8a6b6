//! The removal off Unix.

use super::{RemoveError, RemoveOptions, RemoveStats};
use std::path::Path;

/// Off POSIX there are no `*at` calls to build on; the standard library's removal is
/// the best available.
pub(super) fn remove_tree_observed(
    path: &Path,
    options: &RemoveOptions,
    _order: super::StepOrder,
    _observer: &mut dyn FnMut(super::Step<'_>) -> bool,
) -> Result<RemoveStats, RemoveError> {
    remove_tree(path, options)
}

pub(super) fn remove_tree(
    path: &Path,
    _options: &RemoveOptions,
) -> Result<RemoveStats, RemoveError> {
    std::fs::remove_dir_all(path)
        .map(|()| RemoveStats {
            threads: 1,
            ..RemoveStats::default()
        })
        .map_err(|err| RemoveError::single(path, err))
}
