//! The open levels of a descriptor walk, within the descriptor budget of [`super`]'s module
//! docs: the deepest [`WINDOW`] levels of the branch, plus an anchor every [`ANCHOR_STRIDE`]
//! levels (the [`MAX_ANCHORS`] deepest). Shared by the removal walker and by
//! [`crate::measure`]; what a walk does at each level is the walker's business.

use super::unix::{changed_error, dir_fd, DIR_FLAGS};
use super::{ANCHOR_STRIDE, MAX_ANCHORS, WINDOW};
use crate::file_id::FileId;
use rustix::fs::{self as rfs, Dir, Mode};
use std::collections::VecDeque;
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// One directory level of the branch being walked.
pub(crate) struct Frame<T> {
    pub(crate) name: CString,
    /// What the directory must still be when it is re-opened by name.
    pub(crate) id: FileId,
    /// Its descriptor, while it is in the window or an anchor.
    pub(crate) dir: Option<Dir>,
    /// Subdirectories (or maybe-directories) still to visit.
    pub(crate) pending: Vec<CString>,
    /// What the walker keeps per level.
    pub(crate) extra: T,
}

/// The levels below a base directory (held by the caller), deepest last.
pub(crate) struct Levels<'a, T> {
    pub(crate) base: BorrowedFd<'a>,
    pub(crate) stack: Vec<Frame<T>>,
    /// Indices of held anchors, ascending.
    anchors: VecDeque<usize>,
}

impl<'a, T> Levels<'a, T> {
    pub(crate) fn new(base: BorrowedFd<'a>) -> Self {
        Self {
            base,
            stack: Vec::new(),
            anchors: VecDeque::new(),
        }
    }

    /// The descriptor of the parent of level `depth` (the base for depth 0), which must be
    /// open (it is, for the top level's children, after [`Levels::ensure_open`]).
    pub(crate) fn parent_fd(&self, depth: usize) -> io::Result<BorrowedFd<'_>> {
        if depth == 0 {
            return Ok(self.base);
        }
        match &self.stack[depth - 1].dir {
            Some(dir) => dir_fd(dir),
            None => Err(io::Error::other("internal: parent directory not open")),
        }
    }

    /// The path of the first `depth` levels under `base_path`, then `name`.
    pub(crate) fn path_of(&self, base_path: &Path, depth: usize, name: Option<&CStr>) -> PathBuf {
        let mut path = base_path.to_path_buf();
        for frame in &self.stack[..depth] {
            path.push(OsStr::from_bytes(frame.name.to_bytes()));
        }
        if let Some(name) = name {
            path.push(OsStr::from_bytes(name.to_bytes()));
        }
        path
    }

    /// Pushes a level just opened, closing the one that leaves the window (unless it is
    /// an anchor).
    pub(crate) fn push(&mut self, frame: Frame<T>) {
        self.stack.push(frame);
        let Some(old) = self.stack.len().checked_sub(WINDOW + 1) else {
            return;
        };
        if old % ANCHOR_STRIDE == 0 && self.stack[old].dir.is_some() {
            if self.anchors.back() != Some(&old) {
                self.push_anchor(old);
            }
        } else {
            self.stack[old].dir = None;
        }
    }

    /// Pops the deepest level.
    pub(crate) fn pop(&mut self) -> Option<Frame<T>> {
        let frame = self.stack.pop()?;
        if self.anchors.back() == Some(&self.stack.len()) {
            self.anchors.pop_back();
        }
        Some(frame)
    }

    /// Drops every level (a walk that stops).
    pub(crate) fn clear(&mut self) {
        self.stack.clear();
        self.anchors.clear();
    }

    fn push_anchor(&mut self, index: usize) {
        self.anchors.push_back(index);
        if self.anchors.len() > MAX_ANCHORS {
            if let Some(evicted) = self.anchors.pop_front() {
                self.stack[evicted].dir = None;
            }
        }
    }

    /// Makes sure level `top` (the deepest) has an open descriptor, re-opening it from the
    /// nearest held ancestor by name, each level checked against its recorded identity. On
    /// failure the levels from the one that failed down are dropped, and the failing level's
    /// path (under `base_path`) and the error are returned.
    pub(crate) fn ensure_open(
        &mut self,
        top: usize,
        base_path: &Path,
    ) -> Result<(), (PathBuf, io::Error)> {
        if self.stack[top].dir.is_some() {
            return Ok(());
        }
        let mut first = top;
        while first > 0 && self.stack[first - 1].dir.is_none() {
            first -= 1;
        }
        let mut carry: Option<OwnedFd> = None;
        for j in first..=top {
            let opened = {
                let parent = match &carry {
                    Some(fd) => Ok(fd.as_fd()),
                    None => self.parent_fd(j),
                };
                parent.and_then(|parent| {
                    let fd = rfs::openat(
                        parent,
                        self.stack[j].name.as_c_str(),
                        DIR_FLAGS,
                        Mode::empty(),
                    )?;
                    if FileId::from_stat(&rfs::fstat(&fd)?) == self.stack[j].id {
                        Ok(fd)
                    } else {
                        Err(changed_error())
                    }
                })
            };
            let kept = opened.and_then(|fd| {
                let in_window = j + WINDOW > top;
                let anchor = !in_window && j % ANCHOR_STRIDE == 0;
                if in_window || anchor {
                    self.stack[j].dir = Some(Dir::new(fd)?);
                    carry = None;
                    if anchor {
                        self.push_anchor(j);
                    }
                } else {
                    carry = Some(fd);
                }
                Ok(())
            });
            if let Err(err) = kept {
                let path = self.path_of(base_path, j + 1, None);
                self.stack.truncate(j);
                while self.anchors.back().is_some_and(|&a| a >= j) {
                    self.anchors.pop_back();
                }
                return Err((path, err));
            }
        }
        Ok(())
    }
}
