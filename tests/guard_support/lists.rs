//! The lists a child writes and the tests read: one path (or word) per line, then "end",
//! renamed into place so a reader never sees half a list. Shared with the child binary.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if text.ends_with("\nend\n") || text == "end\n" {
                return text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads a list the child wrote: one path per line, then "end".
pub fn read_list(path: &Path) -> BTreeSet<PathBuf> {
    wait_for_file(path)
        .lines()
        .filter(|l| *l != "end")
        .map(PathBuf::from)
        .collect()
}

pub fn write_list(path: &Path, items: &[PathBuf]) {
    let mut text = String::new();
    for item in items {
        text.push_str(item.to_str().unwrap());
        text.push('\n');
    }
    text.push_str("end\n");
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, text).unwrap();
    std::fs::rename(&temp, path).unwrap();
}
