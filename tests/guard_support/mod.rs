//! What the crash-guard tests (`tests/guard_*.rs`) share: scratch directories, the guard's
//! configuration, sweeps, and (in submodules) the helper child process and forged records.
//!
//! Every test uses its own registry (`FERROTEMP_GUARD_DIR` in children, `guard::set_config`
//! here), never the real one. A test that changes this process's configuration holds a
//! `ConfigRestore`, which puts the environment's back even when an assertion fails, so one
//! failure does not spread.
// Each test binary uses a part of this module.
#![allow(dead_code)]

pub mod children;
pub mod forge;
pub mod lists;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use ferrotemp::guard::{self, GuardConfig, SweepOptions};

/// Tests change the process-wide guard configuration: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ft-guard-{name}-{}", std::process::id()));
    if dir.exists() {
        ferrotemp::remove_tree_nofollow(&dir).unwrap();
    }
    std::fs::create_dir(&dir).unwrap();
    dir
}

pub fn cleanup(dir: &Path) {
    let _ = ferrotemp::remove_tree_nofollow(dir);
}

pub fn config_with_registry(registry: &Path) -> GuardConfig {
    GuardConfig {
        registry_dir: Some(registry.to_path_buf()),
        auto_sweep: false,
        ..GuardConfig::default()
    }
}

/// Sets the guard's configuration and restores the environment's when dropped, so a failed
/// assertion does not leave the next test with this one's settings.
#[must_use = "the configuration is restored when this is dropped"]
pub struct ConfigRestore;

impl ConfigRestore {
    pub fn set(config: GuardConfig) -> Self {
        guard::set_config(config);
        ConfigRestore
    }
}

impl Drop for ConfigRestore {
    fn drop(&mut self) {
        guard::reload_config();
    }
}

pub fn sweep_registry(registry: &Path, dry_run: bool) -> guard::SweepReport {
    guard::sweep(&SweepOptions {
        registry: Some(registry.to_path_buf()),
        dry_run,
        ..SweepOptions::default()
    })
    .unwrap()
}

pub fn removed_set(report: &guard::SweepReport) -> BTreeSet<PathBuf> {
    report.removed.iter().map(|e| e.path.clone()).collect()
}

pub fn record_count(registry: &Path) -> usize {
    std::fs::read_dir(registry)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".rec")
            })
            .count()
        })
        .unwrap_or(0)
}

/// Puts the current directory back when dropped.
pub struct CwdRestore(pub PathBuf);

impl Drop for CwdRestore {
    fn drop(&mut self) {
        let _ = std::env::set_current_dir(&self.0);
    }
}

pub fn dev_ino(path: &Path) -> (u64, u64) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    (meta.dev(), meta.ino())
}
