//! The guard on Unix: the entry points of the public functions in [`super`], handing over to
//! the process's state (records), the sweeper and the age-based sweep.

use std::path::Path;

use super::identity::EntryIdentity;
use super::{state, EntryKind, Registration, WorkspaceMeta};

pub(super) use super::age::sweep_older_than;
pub(super) use super::state::{
    config, detach, record_all, set_config, shutdown, take_warning, unavailable_reason, unregister,
};
pub(super) use super::sweep::sweep;

pub(super) fn keep_mode() -> bool {
    state::switches().0
}

pub(super) fn register(path: &Path, kind: EntryKind, dev: u64, ino: u64) -> Registration {
    state::register(
        path,
        kind,
        Some(&EntryIdentity {
            dev,
            ino,
            ..EntryIdentity::default()
        }),
        None,
    )
}

pub(super) fn register_pending(path: &Path, kind: EntryKind) -> Registration {
    state::register(path, kind, None, None)
}

pub(super) fn register_workspace_pending(path: &Path, meta: &WorkspaceMeta) -> Registration {
    state::register(path, EntryKind::Dir, None, Some(meta))
}

pub(super) fn registry_name() -> String {
    format!("ferrotemp-guard-{}", rustix::process::geteuid().as_raw())
}
