//! Several capture files read as one stream in timestamp order (like mergecap), lazily:
//! one buffered frame per file, never the whole files.

use crate::{CaptureError, CaptureFile, Frame};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Frames of several files, smallest timestamp first; ties go to the earlier file.
///
/// A file that fails part-way is reported once through [`Merge::advance`] and then left out,
/// so the other files are still read to their end.
#[derive(Debug)]
pub struct Merge {
    files: Vec<CaptureFile>,
    heap: BinaryHeap<Reverse<(i64, usize)>>,
    current: Option<usize>,
    started: bool,
}

impl Merge {
    pub fn new(files: Vec<CaptureFile>) -> Self {
        Merge { files, heap: BinaryHeap::new(), current: None, started: false }
    }

    pub fn files(&self) -> &[CaptureFile] {
        &self.files
    }

    /// Loads the next frame. On a damaged file the error is returned; call again to go on
    /// with the remaining files.
    pub fn advance(&mut self) -> Result<bool, CaptureError> {
        if !self.started {
            self.started = true;
            let mut first_err = None;
            for i in 0..self.files.len() {
                match self.files[i].advance() {
                    Ok(true) => self.push(i),
                    Ok(false) => {}
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
        } else if let Some(i) = self.current.take() {
            match self.files[i].advance() {
                Ok(true) => self.push(i),
                Ok(false) => {}
                Err(e) => return Err(e),
            }
        }
        match self.heap.pop() {
            Some(Reverse((_, i))) => {
                self.current = Some(i);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    pub fn current(&self) -> Option<Frame<'_>> {
        self.files.get(self.current?)?.current()
    }

    fn push(&mut self, i: usize) {
        if let Some(f) = self.files[i].current() {
            self.heap.push(Reverse((f.ts, i)));
        }
    }
}
