//! Secure temporary files and directories, with cleanup that survives crashes.
//!
//! This crate is the core of the Python package `ferrotemp` (a drop-in replacement for the
//! standard `tempfile` module), and a Rust library in its own right: nothing here needs
//! Python. The Python bindings live in the `python` module, compiled only with the cargo
//! feature `python`.
//!
//! - [`Builder`] creates uniquely named files (mode 0600, `O_EXCL|O_NOFOLLOW|O_CLOEXEC`) and
//!   directories (mode 0700) with names from the OS CSPRNG.
//! - [`TempDir`] owns a temporary directory and removes it with [`remove_tree_nofollow`],
//!   which walks by file descriptor and never follows a symlink.
//! - [`guard`] records named entries so that a later sweep removes what a killed process
//!   left behind.
//! - [`env`](mod@env) finds the default temporary directory exactly as Python's `tempfile` does.

#![warn(clippy::pedantic)]
#![allow(clippy::module_name_repetitions, clippy::doc_markdown)]

pub mod create;
pub mod dir;
pub mod env;
pub mod error;
pub mod file;
pub mod guard;
pub mod named;
pub mod names;
pub mod ospath;
pub mod remove;
pub mod spool;

#[cfg(feature = "python")]
mod python;

pub use create::Builder;
pub use dir::TempDir;
pub use env::{default_tempdir, set_default_tempdir};
pub use error::PathError;
pub use file::{tempfile, tempfile_in};
pub use guard::{GuardToken, Registration};
pub use named::{NamedTempFile, TempPath};
pub use names::TMP_MAX;
pub use remove::{remove_tree_nofollow, RemoveError};
pub use spool::SpooledTempFile;
