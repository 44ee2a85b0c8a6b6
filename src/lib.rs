//! Secure temporary files and directories, with cleanup that survives crashes.
//!
//! This crate is the core of the Python package `ferrotemp` (a drop-in replacement for the
//! standard `tempfile` module), and a Rust library in its own right: nothing here needs
//! Python. The extension module `ferrotemp._core` is a separate crate (`ferrotemp-python`,
//! in `crates/`) built on this one.
//!
//! The `tempfile` crate's everyday names work here as they do there ([`tempfile()`],
//! [`tempdir()`], [`NamedTempFile`], [`TempPath`], [`TempDir`], [`Builder`],
//! [`SpooledTempFile`]), so its users can switch by changing the crate name.
//!
//! - [`Builder`] creates uniquely named files (mode 0600, `O_EXCL|O_NOFOLLOW|O_CLOEXEC`) and
//!   directories (mode 0700) with names from the OS CSPRNG.
//! - [`TempDir`] owns a temporary directory and removes it with [`remove_tree_nofollow`],
//!   which walks by file descriptor and never follows a symlink.
//! - [`publish`] moves a finished temporary file into place atomically
//!   ([`NamedTempFile::persist`], `persist_noclobber`, `O_TMPFILE` + `linkat`), with an fsync
//!   switch and the file given back on failure ([`PersistError`]).
//! - [`guard`] records named entries so that a later sweep removes what a killed process
//!   left behind.
//! - [`env`](mod@env) finds the default temporary directory exactly as Python's `tempfile` does.
//!
//! # Cargo features
//!
//! - `python`: the module `python`, PyO3 conversions for Rust+Python hybrids (paths from
//!   `str`/`bytes`/`os.PathLike` and back, and `io::Error` to the `OSError` the standard
//!   module raises, with `errno`, `strerror` and `filename`). Takes `pyo3` 0.27 as a semver
//!   range and forces no abi3 level: the extension that links it chooses.
//! - `bindings`: what the extension module `ferrotemp._core` needs beyond the Rust API and
//!   nobody else should use: the module `file` (unnamed-file internals: `O_TMPFILE` probing
//!   and flags). No stability promise.

#![warn(clippy::pedantic)]
#![allow(clippy::module_name_repetitions, clippy::doc_markdown)]

pub mod create;
pub mod dir;
pub mod env;
pub mod error;
#[cfg(feature = "bindings")]
pub mod file;
// Without `bindings`, the extension's O_TMPFILE switches here have no caller, and their
// per-platform `Option`s look needless to clippy on Linux.
#[cfg(not(feature = "bindings"))]
#[allow(dead_code, clippy::unnecessary_wraps)]
mod file;
mod file_id;
pub mod guard;
pub mod measure;
pub mod named;
pub mod names;
pub mod ospath;
pub mod publish;
pub mod remove;
#[cfg(unix)]
pub mod run;
pub mod spool;
pub mod stats;
pub mod workspace;

#[cfg(feature = "python")]
pub mod python;

pub use create::Builder;
pub use dir::{tempdir, tempdir_in, TempDir};
pub use env::{default_tempdir, set_default_tempdir};
pub use error::PathError;
pub use file::{tempfile, tempfile_in, tempfile_in_with};
pub use guard::{GuardToken, Registration};
pub use measure::{measure_tree, TreeUsage};
pub use named::{NamedTempFile, TempPath};
pub use names::TMP_MAX;
pub use publish::{PathPersistError, PersistError, PersistOptions};
pub use remove::{remove_tree_nofollow, RemoveError};
pub use spool::{spooled_tempfile, spooled_tempfile_in, SpooledData, SpooledTempFile};
pub use workspace::{KeepPolicy, Usage, Workspace, WorkspaceBuilder};
