//! Code written for the `tempfile` crate, run against ferrotemp with only the crate name
//! changed: everything below the `use` line is written as a `tempfile` user writes it.
use ferrotemp as tempfile;

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use tempfile::{Builder, NamedTempFile, SpooledTempFile, TempDir, TempPath};

#[cfg(unix)]
fn mode_of(path: impl AsRef<Path>) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn tempfile_holds_data_and_leaves_no_entry() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut file = tempfile::tempfile_in(dir.path())?;
    writeln!(file, "Brian was here. Briefly.")?;
    file.seek(SeekFrom::Start(0))?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    assert_eq!(text, "Brian was here. Briefly.\n");
    assert_eq!(fs::read_dir(dir.path())?.count(), 0);

    let mut anywhere = tempfile::tempfile()?;
    anywhere.write_all(b"x")?;
    Ok(())
}

#[test]
fn tempdir_is_removed_on_drop_with_its_contents() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let file_path = dir.path().join("my-temporary-note.txt");
    let mut file = File::create(&file_path)?;
    writeln!(file, "Brian was here. Briefly.")?;
    #[cfg(unix)]
    assert_eq!(mode_of(dir.path()), 0o700);
    let path = dir.path().to_owned();
    drop(file);
    drop(dir);
    assert!(!path.exists());
    assert!(!file_path.exists());
    Ok(())
}

#[test]
fn tempdir_in_and_close() -> io::Result<()> {
    let parent = TempDir::new()?;
    let dir = tempfile::tempdir_in(parent.path())?;
    assert_eq!(dir.path().parent(), Some(parent.path()));
    fs::write(dir.path().join("data"), b"x")?;
    let path = dir.path().to_path_buf();
    dir.close()?;
    assert!(!path.exists());

    let named = TempDir::with_prefix("my-dir-")?;
    let name = named.path().file_name().and_then(OsStr::to_str).unwrap();
    assert!(name.starts_with("my-dir-"), "{name}");
    let in_parent = TempDir::new_in(&parent)?;
    assert!(in_parent.path().starts_with(parent.path()));
    Ok(())
}

#[test]
fn named_tempfile_is_0600_and_removed_on_drop() -> io::Result<()> {
    let mut file = NamedTempFile::new()?;
    writeln!(file, "first line")?;
    let path = file.path().to_path_buf();
    assert!(path.is_file());
    #[cfg(unix)]
    assert_eq!(mode_of(&file), 0o600);
    drop(file);
    assert!(!path.exists());
    Ok(())
}

#[test]
fn reopen_gives_an_independent_handle_on_the_same_file() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut file = NamedTempFile::new_in(&dir)?;
    let mut another = file.reopen()?;
    writeln!(file, "Brian was here. Briefly.")?;
    let mut text = String::new();
    another.read_to_string(&mut text)?;
    assert_eq!(text, "Brian was here. Briefly.\n");
    Ok(())
}

#[test]
fn builder_names_the_file_as_told() -> io::Result<()> {
    let named_tempfile = Builder::new()
        .prefix("my-temporary-note")
        .suffix(".txt")
        .rand_bytes(5)
        .tempfile()?;
    let name = named_tempfile
        .path()
        .file_name()
        .and_then(OsStr::to_str)
        .unwrap();
    assert!(name.starts_with("my-temporary-note"));
    assert!(name.ends_with(".txt"));
    assert_eq!(name.len(), "my-temporary-note.txt".len() + 5);

    let short = Builder::new().prefix("x").tempfile()?;
    let short_name = short.path().file_name().and_then(OsStr::to_str).unwrap();
    assert!(short_name.starts_with('x'), "{short_name}");
    Ok(())
}

#[test]
fn builder_in_a_chosen_directory() -> io::Result<()> {
    let parent = tempfile::tempdir()?;
    let file = Builder::new().prefix("in-").tempfile_in(&parent)?;
    assert_eq!(file.path().parent(), Some(parent.path()));
    let dir = Builder::new()
        .prefix("my-temporary-dir")
        .rand_bytes(5)
        .tempdir_in(&parent)?;
    let name = dir.path().file_name().and_then(OsStr::to_str).unwrap();
    assert_eq!(name.len(), "my-temporary-dir".len() + 5);
    let anywhere = Builder::new().suffix(".d").tempdir()?;
    assert!(anywhere.path().to_str().unwrap().ends_with(".d"));
    Ok(())
}

#[cfg(unix)]
#[test]
fn builder_permissions_apply_to_files() -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let file = Builder::new()
        .permissions(fs::Permissions::from_mode(0o700))
        .tempfile()?;
    // The owner bits survive any umask; the execute bit shows the setting took effect.
    assert_eq!(mode_of(file.path()) & 0o700, 0o700);
    Ok(())
}

#[test]
fn builder_disable_cleanup_keeps_what_it_makes() -> io::Result<()> {
    let parent = tempfile::tempdir()?;
    let file = Builder::new().disable_cleanup(true).tempfile_in(&parent)?;
    let path = file.path().to_owned();
    drop(file);
    assert!(path.exists());
    let dir = Builder::new().disable_cleanup(true).tempdir_in(&parent)?;
    let dir_path = dir.path().to_owned();
    drop(dir);
    assert!(dir_path.is_dir());
    Ok(())
}

#[test]
fn keep_leaves_the_file_and_the_directory() -> io::Result<()> {
    let parent = tempfile::tempdir()?;
    let file = NamedTempFile::new_in(&parent)?;
    let (mut kept, path) = file.keep()?;
    kept.write_all(b"kept")?;
    drop(kept);
    assert_eq!(fs::read(&path)?, b"kept");

    let temp_path = NamedTempFile::new_in(&parent)?.into_temp_path();
    let kept_path = temp_path.keep()?;
    assert!(kept_path.exists());

    let dir = TempDir::new_in(&parent)?;
    let dir_path = dir.keep();
    assert!(dir_path.is_dir());
    fs::remove_dir(&dir_path)?;
    Ok(())
}

#[test]
fn paths_work_with_std_fs_through_as_ref() -> io::Result<()> {
    let dir = TempDir::new()?;
    let file = NamedTempFile::new_in(&dir)?;
    fs::write(&file, b"through AsRef<Path>")?;
    assert_eq!(fs::read_to_string(&file)?, "through AsRef<Path>");
    assert!(fs::metadata(&dir)?.is_dir());

    let temp_path: TempPath = file.into_temp_path();
    assert!(temp_path.exists()); // Deref<Target = Path>
    assert_eq!(fs::read(&temp_path)?, b"through AsRef<Path>");
    let path = temp_path.to_path_buf();
    temp_path.close()?;
    assert!(!path.exists());
    Ok(())
}

#[test]
fn named_tempfile_reads_and_writes_through_a_shared_reference() -> io::Result<()> {
    let file = NamedTempFile::new()?;
    (&file).write_all(b"shared")?;
    (&file).seek(SeekFrom::Start(0))?;
    let mut buf = Vec::new();
    (&file).read_to_end(&mut buf)?;
    assert_eq!(buf, b"shared");
    assert_eq!(file.as_file().metadata()?.len(), 6);
    file.close()?;
    Ok(())
}

#[test]
fn into_parts_into_file_and_named_constructors() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let with_prefix = NamedTempFile::with_prefix_in("pre-", &dir)?;
    assert!(with_prefix
        .path()
        .file_name()
        .and_then(OsStr::to_str)
        .unwrap()
        .starts_with("pre-"));
    let with_suffix = NamedTempFile::with_suffix(".json")?;
    assert!(with_suffix.path().to_str().unwrap().ends_with(".json"));
    let _anywhere = NamedTempFile::with_prefix("pre-")?;

    let (mut file, path) = with_prefix.into_parts();
    file.write_all(b"parts")?;
    assert!(path.exists());
    drop(path);
    assert_eq!(fs::read_dir(dir.path())?.count(), 0);

    let mut named = NamedTempFile::new_in(&dir)?;
    named.as_file_mut().write_all(b"abc")?;
    let mut unnamed = named.into_file();
    assert_eq!(fs::read_dir(dir.path())?.count(), 0);
    unnamed.seek(SeekFrom::Start(0))?;
    let mut text = String::new();
    unnamed.read_to_string(&mut text)?;
    assert_eq!(text, "abc");
    Ok(())
}

#[cfg(unix)]
#[test]
fn named_tempfile_exposes_its_descriptor() -> io::Result<()> {
    use std::os::fd::{AsFd, AsRawFd};
    let file = NamedTempFile::new()?;
    assert_eq!(file.as_raw_fd(), file.as_file().as_raw_fd());
    assert_eq!(file.as_fd().as_raw_fd(), file.as_raw_fd());
    Ok(())
}

#[test]
fn spooled_tempfile_stays_in_memory_then_rolls_over() -> io::Result<()> {
    let mut file = SpooledTempFile::new(1024);
    file.write_all(b"hello")?;
    assert!(!file.is_rolled());
    file.seek(SeekFrom::Start(0))?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    assert_eq!(text, "hello");

    file.write_all(&[b'x'; 2000])?;
    assert!(file.is_rolled());
    file.seek(SeekFrom::Start(0))?;
    let mut all = Vec::new();
    file.read_to_end(&mut all)?;
    assert_eq!(all.len(), 2005);
    assert_eq!(&all[..5], b"hello");

    let mut small = tempfile::spooled_tempfile(1024);
    small.write_all(b"rolled by hand")?;
    small.roll()?;
    assert!(small.is_rolled());
    small.set_len(6)?;
    small.seek(SeekFrom::Start(0))?;
    let mut back = String::new();
    small.read_to_string(&mut back)?;
    assert_eq!(back, "rolled");

    let dir = tempfile::tempdir()?;
    let mut in_dir = tempfile::spooled_tempfile_in(4, &dir);
    in_dir.write_all(b"past four")?;
    assert!(in_dir.is_rolled());
    let mut also_in_dir = SpooledTempFile::new_in(4, dir.path());
    also_in_dir.write_all(b"past four")?;
    assert!(also_in_dir.is_rolled());
    assert_eq!(fs::read_dir(dir.path())?.count(), 0);
    Ok(())
}

// persist (from the publish module)
#[test]
fn persist_publishes_the_file() -> io::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut file = NamedTempFile::new_in(&dir)?;
    writeln!(file, "Brian was here. Briefly.")?;
    let target = dir.path().join("published.txt");
    let persisted = file.persist(&target)?;
    drop(persisted);
    assert_eq!(fs::read_to_string(&target)?, "Brian was here. Briefly.\n");
    assert_eq!(fs::read_dir(dir.path())?.count(), 1);
    Ok(())
}
