//! Records forged from this process's own: copied as a dead process's, or patched in their
//! header (offsets as in `ferrotemp::guard::record`).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use ferrotemp::guard::{self, EntryKind};

/// Header offsets (see `ferrotemp::guard::record`).
pub const H_FLAGS: usize = 12;

pub const H_PID: usize = 16;

pub const H_ACTIVE: usize = 32;

pub const H_PIDNS: usize = 40;

pub const H_BOOT: usize = 48;

/// Owner start, wall clock, in a version-3 header (see `ferrotemp::guard::record`).
pub const H_START_NS: usize = 64;

pub const H_MACHINE: usize = 72;

/// Above any `pid_max`: no process has it.
pub const NO_SUCH_PID: u64 = 0x3fff_fff0;

/// Makes the (empty) file a forged record will be written into, and its registry, unless
/// they exist. Call it before creating the entries the record will list: a sweep removes
/// no entry born before its record.
pub fn plant_record_file(record: &Path) {
    make_registry(record.parent().unwrap());
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(record)
        .unwrap();
}

/// Makes the registry directory `registry` (mode 0700) unless it exists.
pub fn make_registry(registry: &Path) {
    if !registry.exists() {
        std::fs::create_dir(registry).unwrap();
        std::fs::set_permissions(
            registry,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
    }
}

/// The record [`forge_dead_record`] writes: plant it before making the entries.
pub fn dead_record_path(registry: &Path) -> PathBuf {
    registry.join(format!("{NO_SUCH_PID}-dead.rec"))
}

/// Registers `entries` in this process's record (under `registry`), then copies the record
/// as a dead process's (a pid no process has, marked locked, and nobody holds its lock) into
/// [`dead_record_path`], which must have been planted before the entries were made.
pub fn forge_dead_record(registry: &Path, entries: &[(&Path, EntryKind)]) -> PathBuf {
    let forged = dead_record_path(registry);
    assert!(
        forged.exists(),
        "plant the record before making its entries"
    );
    let tokens: Vec<_> = entries
        .iter()
        .map(|(path, kind)| {
            let meta = std::fs::metadata(path).unwrap();
            guard::register(path, *kind, meta.dev(), meta.ino())
                .into_token()
                .unwrap()
        })
        .collect();
    let (name, _) = guard::current_record().unwrap();
    let mut bytes = std::fs::read(registry.join(name)).unwrap();
    bytes[H_PID..H_PID + 8].copy_from_slice(&NO_SUCH_PID.to_le_bytes());
    bytes[H_FLAGS] = 1;
    std::fs::write(&forged, &bytes).unwrap();
    drop(tokens);
    forged
}

/// Copies this process's record, as it is now, to `record` (planted earlier, or made now)
/// as a dead process's: a pid no process has, marked locked, nobody holding its lock.
pub fn copy_record_as_dead(registry: &Path, record: &Path, patch: &dyn Fn(&mut Vec<u8>)) {
    let (name, _) = guard::current_record().unwrap();
    let mut bytes = std::fs::read(registry.join(name)).unwrap();
    bytes[H_PID..H_PID + 8].copy_from_slice(&NO_SUCH_PID.to_le_bytes());
    bytes[H_FLAGS] = 1;
    patch(&mut bytes);
    std::fs::write(record, &bytes).unwrap();
    std::fs::set_permissions(record, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

/// Registers `path` (a file) with its full identity, as a guarded creation would.
pub fn register_file(path: &Path) -> guard::GuardToken {
    let file = std::fs::File::open(path).unwrap();
    guard::register_fd(path, EntryKind::File, &file)
        .into_token()
        .unwrap()
}
