//! Criterion benches of the core's operations, with no Python: create a named file, remove a
//! 1,000-entry tree, spool small writes and a rollover. `cargo bench` runs them; plain
//! `cargo test` does not build them.
#![warn(clippy::pedantic)]

use std::fs;
use std::hint::black_box;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ferrotemp::{remove_tree_nofollow, Builder, NamedTempFile, SpooledTempFile, TempDir};

/// `/dev/shm` where it exists (syscalls without a disk behind them), else the temp dir.
fn bench_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

fn create(c: &mut Criterion) {
    let dir = bench_dir();
    let mut group = c.benchmark_group("create");
    group.bench_function("named file: create + close + remove", |b| {
        b.iter(|| {
            NamedTempFile::new_in(&dir)
                .and_then(NamedTempFile::close)
                .unwrap();
        });
    });
    group.bench_function("directory: create + remove", |b| {
        b.iter(|| TempDir::new_in(&dir).unwrap().close().unwrap());
    });
    group.bench_function("unnamed file", |b| {
        b.iter(|| drop(ferrotemp::tempfile_in(&dir).unwrap()));
    });
    group.finish();
}

/// 20 directories of 50 files, as the Python harness's cleanup case.
fn fill_tree(root: &Path) {
    for i in 0..20 {
        let sub = root.join(format!("d{i:02}"));
        fs::create_dir(&sub).unwrap();
        for j in 0..50 {
            fs::File::create(sub.join(format!("f{j:02}"))).unwrap();
        }
    }
}

fn remove_tree(c: &mut Criterion) {
    let dir = bench_dir();
    c.bench_function("remove a 1,000-entry tree", |b| {
        b.iter_batched(
            || {
                let root = Builder::new().create_unowned_dir_in(&dir).unwrap();
                fill_tree(&root);
                root
            },
            |root| remove_tree_nofollow(&root).unwrap(),
            BatchSize::PerIteration,
        );
    });
}

fn spool(c: &mut Criterion) {
    let dir = bench_dir();
    let chunk64 = [b'x'; 64];
    let chunk64k = vec![b'x'; 64 << 10];
    let mut group = c.benchmark_group("spool");
    group.bench_function("16 writes of 64 B in memory", |b| {
        let mut spool = SpooledTempFile::new_in(1 << 20, &dir);
        b.iter(|| {
            for _ in 0..16 {
                spool.write_all(black_box(&chunk64)).unwrap();
            }
            spool.rewind().unwrap();
        });
    });
    group.bench_function("1.25 MiB rolled to disk and read back", |b| {
        b.iter(|| {
            let mut spool = SpooledTempFile::new_in(1 << 20, &dir);
            for _ in 0..20 {
                spool.write_all(&chunk64k).unwrap();
            }
            spool.rewind().unwrap();
            let mut back = Vec::new();
            black_box(spool.read_to_end(&mut back).unwrap())
        });
    });
    group.finish();
}

criterion_group!(benches, create, remove_tree, spool);
criterion_main!(benches);
