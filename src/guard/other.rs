//! The guard off Unix: nothing is recorded and nothing swept; guarded entries are removed by
//! their owners alone, and keep mode still keeps them.

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::time::Duration;

use super::{EntryKind, GuardConfig, Registration, SweepOptions, SweepReport, WorkspaceMeta};

pub(super) fn config() -> GuardConfig {
    GuardConfig::from_env()
}

pub(super) fn set_config(_config: GuardConfig) {}

pub(super) fn keep_mode() -> bool {
    config().keep
}

fn unrecorded() -> Registration {
    if keep_mode() {
        Registration::Keep
    } else {
        Registration::Unguarded
    }
}

pub(super) fn register(_path: &Path, _kind: EntryKind, _dev: u64, _ino: u64) -> Registration {
    unrecorded()
}

pub(super) fn register_pending(_path: &Path, _kind: EntryKind) -> Registration {
    unrecorded()
}

pub(super) fn register_workspace_pending(_path: &Path, _meta: &WorkspaceMeta) -> Registration {
    unrecorded()
}

pub(super) fn unregister(_epoch: u64, _slot: u32) {}

pub(super) fn detach(_epoch: u64, _slot: u32) {}

pub(super) fn record_all() -> bool {
    config().record_all
}

pub(super) fn shutdown() {}

pub(super) fn take_warning() -> Option<String> {
    None
}

pub(super) fn unavailable_reason() -> Option<String> {
    Some("the crash guard is only implemented on POSIX systems".to_owned())
}

pub(super) fn registry_name() -> String {
    "ferrotemp-guard".to_owned()
}

pub(super) fn sweep(options: &SweepOptions) -> io::Result<SweepReport> {
    Ok(SweepReport {
        dry_run: options.dry_run,
        complete: true,
        ..SweepReport::default()
    })
}

pub(super) fn sweep_older_than(
    _dir: &Path,
    _prefix: &OsStr,
    _cutoff: Duration,
    dry_run: bool,
) -> io::Result<SweepReport> {
    Ok(SweepReport {
        dry_run,
        complete: true,
        ..SweepReport::default()
    })
}
