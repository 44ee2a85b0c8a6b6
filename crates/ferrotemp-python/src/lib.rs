//! PyO3 bindings: the native module `ferrotemp._core`. Thin by design: argument conversion,
//! error mapping and GIL release around the core's calls (the conversions themselves are the
//! core's `ferrotemp::python`).
//!
//! Cargo feature `bench`: the benchmark's syscall floor (`_floor_create_unlink`,
//! `_floor_mkdir_rmdir`), left out of the released module.

#![warn(clippy::pedantic)]
#![allow(clippy::module_name_repetitions, clippy::doc_markdown)]

mod audit;
#[cfg(feature = "bench")]
mod bench;
mod convert;
mod create;
mod env;
mod guard;
mod named;
mod publish;
mod records;
#[cfg(unix)]
mod run;
mod spool;
mod spool_write;
mod tempdir;
mod usage;
mod workspace;

use pyo3::prelude::*;

#[pymodule]
#[pyo3(name = "_core")]
fn ferrotemp_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(create::mkstemp, m)?)?;
    m.add_function(wrap_pyfunction!(create::mkdtemp, m)?)?;
    m.add_function(wrap_pyfunction!(create::random_name, m)?)?;
    m.add_function(wrap_pyfunction!(env::candidate_dirs, m)?)?;
    m.add_function(wrap_pyfunction!(env::discover_tempdir, m)?)?;
    m.add_function(wrap_pyfunction!(env::discovery_report, m)?)?;
    m.add_function(wrap_pyfunction!(env::filesystem_info, m)?)?;
    m.add_function(wrap_pyfunction!(env::read_switch, m)?)?;
    m.add_function(wrap_pyfunction!(env::guard_switches, m)?)?;
    m.add_function(wrap_pyfunction!(env::switch_warnings, m)?)?;
    m.add_class::<env::DiscoveryPy>()?;
    m.add_class::<env::RejectedDirPy>()?;
    m.add_class::<env::FilesystemInfoPy>()?;
    m.add_class::<env::SwitchReadingPy>()?;
    m.add_class::<env::GuardSwitchesPy>()?;
    m.add_function(wrap_pyfunction!(guard::sweep, m)?)?;
    m.add_function(wrap_pyfunction!(guard::sweep_older_than, m)?)?;
    m.add_function(wrap_pyfunction!(guard::set_guard_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(guard::guard_unavailable_reason, m)?)?;
    m.add_function(wrap_pyfunction!(guard::guard_registry_path, m)?)?;
    m.add_class::<guard::SweepOutcomePy>()?;
    m.add_class::<guard::RemovedEntryPy>()?;
    m.add_class::<guard::SkippedEntryPy>()?;
    m.add_class::<guard::FailedEntryPy>()?;
    m.add_class::<guard::GuardNoticePy>()?;
    m.add_class::<named::FileCloser>()?;
    m.add_class::<named::NamedOpener>()?;
    m.add_class::<named::UnnamedOpener>()?;
    m.add_function(wrap_pyfunction!(named::o_tmpfile_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(publish::open_linkable_unnamed, m)?)?;
    m.add_function(wrap_pyfunction!(publish::publish_unnamed, m)?)?;
    m.add_class::<spool::MemorySpoolPy>()?;
    m.add_function(wrap_pyfunction!(spool_write::spool_write_method, m)?)?;
    m.add_class::<tempdir::TempDirOwner>()?;
    m.add_function(wrap_pyfunction!(tempdir::create_tempdir, m)?)?;
    m.add_function(wrap_pyfunction!(tempdir::remove_tree, m)?)?;
    // `ferrotemp run` and `ferrotemp.run`: POSIX only (posix_spawnp, signals).
    #[cfg(unix)]
    {
        m.add_class::<run::RunCommandLinePy>()?;
        m.add_class::<run::RunJobPy>()?;
        m.add_function(wrap_pyfunction!(run::parse_run_plain, m)?)?;
        m.add_function(wrap_pyfunction!(run::run_command_line, m)?)?;
        m.add_function(wrap_pyfunction!(run::shell_command_line, m)?)?;
    }
    m.add_class::<workspace::WorkspaceCore>()?;
    m.add_class::<workspace::WorkspaceUsagePy>()?;
    m.add_class::<workspace::WorkspaceEndingPy>()?;
    m.add_function(wrap_pyfunction!(workspace::parse_size, m)?)?;
    m.add_function(wrap_pyfunction!(workspace::human_size, m)?)?;
    m.add(
        "QuotaExceeded",
        m.py().get_type::<workspace::QuotaExceeded>(),
    )?;
    m.add_function(wrap_pyfunction!(usage::measure_tree, m)?)?;
    m.add_function(wrap_pyfunction!(usage::stats, m)?)?;
    m.add_function(wrap_pyfunction!(usage::note_quota_refusal, m)?)?;
    m.add_class::<usage::StatsPy>()?;
    m.add_function(wrap_pyfunction!(records::list_records, m)?)?;
    m.add_class::<records::GuardRecordPy>()?;
    m.add_class::<records::GuardEntryPy>()?;
    m.add_class::<records::WorkspaceInfoPy>()?;
    #[cfg(feature = "bench")]
    {
        m.add_function(wrap_pyfunction!(bench::floor_create_unlink, m)?)?;
        m.add_function(wrap_pyfunction!(bench::floor_mkdir_rmdir, m)?)?;
    }
    Ok(())
}
