//! Peak heap use of a spool that rolls over, measured by a counting allocator. A separate
//! test binary without libtest's harness (`harness = false`): the measurements run one after
//! another on the main thread, so no other test's or the harness's own threads' allocations
//! are counted.

// Without libtest, the binary reports its tests itself.
#![allow(clippy::print_stdout)]
//!
//! `realloc` is counted as the change in size: large blocks grow in place or by `mremap`
//! (glibc), so the old and new block are never resident together. The rollover itself is
//! measured without that assumption.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferrotemp::spool::SpoolBuffer;
use ferrotemp::SpooledTempFile;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            let grown = new_size - layout.size();
            let now = CURRENT.fetch_add(grown, Ordering::SeqCst) + grown;
            PEAK.fetch_max(now, Ordering::SeqCst);
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::SeqCst);
        }
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MAX_SIZE: usize = 8 << 20;
const CHUNK: usize = 64 << 10;
const SLACK: usize = 64 << 10;
const TOTAL: usize = 64 << 20;

/// Measures the peak heap growth of `run` above what is allocated when it starts.
fn peak_of(run: impl FnOnce()) -> usize {
    // Discovering the default directory allocates once per process; keep it out of the count.
    ferrotemp::default_tempdir().unwrap();
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    run();
    PEAK.load(Ordering::SeqCst) - base
}

fn test_rollover_allocates_at_most_64_kib_and_frees_the_buffer() {
    ferrotemp::default_tempdir().unwrap();
    let mut spool = SpooledTempFile::new(usize::MAX);
    spool.write_all(&vec![b'y'; MAX_SIZE]).unwrap();
    let before = CURRENT.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    spool.roll().unwrap();
    let peak = PEAK.load(Ordering::SeqCst) - before;
    assert!(peak <= SLACK, "rollover allocated {peak} bytes");
    let after = CURRENT.load(Ordering::SeqCst);
    assert!(
        after + MAX_SIZE <= before,
        "buffer not freed: {before} -> {after}"
    );
    assert_eq!(spool.len().unwrap(), MAX_SIZE as u64);
}

fn test_rollover_peak_stays_within_max_size() {
    let chunk = vec![b'x'; CHUNK];
    let mut spool = SpooledTempFile::new(MAX_SIZE);
    let peak = peak_of(|| {
        for _ in 0..TOTAL / CHUNK {
            spool.write_all(&chunk).unwrap();
        }
    });
    assert!(spool.is_rolled());
    assert_eq!(spool.len().unwrap(), TOTAL as u64);
    assert!(peak <= MAX_SIZE + SLACK, "peak {peak} bytes");
}

fn test_buffer_spilled_after_the_crossing_write_stays_within_buffer_plus_slack() {
    // The Python class's protocol: the buffer takes the crossing write, then spills to a
    // file and is dropped, so the crossing chunk is buffered once.
    let chunk = vec![b'x'; CHUNK];
    let mut file = None;
    let peak = peak_of(|| {
        let mut buffer = Some(SpoolBuffer::with_growth_limit(MAX_SIZE));
        for _ in 0..TOTAL / CHUNK {
            if let Some(buf) = &mut buffer {
                buf.write_bytes(&chunk).unwrap();
                if buf.position() > MAX_SIZE as u64 {
                    let mut spilled = ferrotemp::tempfile().unwrap();
                    buf.spill(&mut spilled).unwrap();
                    buffer = None;
                    file = Some(spilled);
                }
            } else if let Some(spilled) = &mut file {
                spilled.write_all(&chunk).unwrap();
            }
        }
    });
    let file = file.expect("rolled over");
    assert_eq!(file.metadata().unwrap().len(), TOTAL as u64);
    assert!(peak <= MAX_SIZE + CHUNK + SLACK, "peak {peak} bytes");
}

fn main() {
    let tests: [(&str, fn()); 3] = [
        (
            "test_rollover_allocates_at_most_64_kib_and_frees_the_buffer",
            test_rollover_allocates_at_most_64_kib_and_frees_the_buffer,
        ),
        (
            "test_rollover_peak_stays_within_max_size",
            test_rollover_peak_stays_within_max_size,
        ),
        (
            "test_buffer_spilled_after_the_crossing_write_stays_within_buffer_plus_slack",
            test_buffer_spilled_after_the_crossing_write_stays_within_buffer_plus_slack,
        ),
    ];
    for (name, test) in tests {
        test();
        println!("test {name} ... ok");
    }
    println!("test result: ok. {} passed", tests.len());
}
