//! A column of token sequences, one per example, stored flat: in memory while it is small,
//! spilled to an anonymous temporary file once it passes [`SPILL_TOKENS`]. A spilled column keeps
//! 12 bytes an example in memory and reads a batch's sequences back when the batch is built, so
//! training on a dataset larger than memory needs memory for a batch, not for the dataset (the
//! kernel's page cache, not the process, holds what is read often).
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// Tokens (4 bytes each) held in memory before a column moves to disk: 64 MB.
pub const SPILL_TOKENS: usize = 16 << 20;

pub struct TokenColumn {
    /// (first token, length) of each sequence, by example.
    spans: Vec<(u64, u32)>,
    /// Tokens not yet written to the spill file (all of them while in memory).
    memory: Vec<u32>,
    spill: Option<Spill>,
    spill_after: usize,
}

/// The temporary file of a spilled column: removed from its folder as soon as it is created,
/// so nothing is left behind however the process ends.
struct Spill {
    file: File,
    /// Where it was created (for messages).
    path: PathBuf,
    /// Tokens written to it.
    written: u64,
}

impl TokenColumn {
    /// A column of `len` empty sequences, to be set in any order.
    pub fn with_len(len: usize) -> Self {
        Self::with_spill_after(len, SPILL_TOKENS)
    }

    pub(crate) fn with_spill_after(len: usize, spill_after: usize) -> Self {
        Self {
            spans: vec![(0, 0); len],
            memory: Vec::new(),
            spill: None,
            spill_after,
        }
    }

    /// A column in memory holding `sequences`.
    pub fn from_sequences(sequences: Vec<Vec<u32>>) -> Self {
        let mut column = Self::with_spill_after(sequences.len(), usize::MAX);
        for (i, ids) in sequences.iter().enumerate() {
            // in memory: nothing can fail
            let _ = column.set(i, ids);
        }
        column
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Whether the column has moved to disk.
    pub fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    /// Stores sequence `i` (each index once).
    pub fn set(&mut self, i: usize, ids: &[u32]) -> std::io::Result<()> {
        let start = self.spill.as_ref().map_or(0, |s| s.written) + self.memory.len() as u64;
        self.spans[i] = (start, ids.len() as u32);
        self.memory.extend_from_slice(ids);
        if self.memory.len() >= self.spill_after {
            self.flush()?;
        }
        Ok(())
    }

    /// Moves the tokens held in memory to the spill file (creating it).
    fn flush(&mut self) -> std::io::Result<()> {
        if self.spill.is_none() {
            self.spill = Some(Spill::create()?);
        }
        let Some(spill) = self.spill.as_mut() else {
            return Ok(());
        };
        let bytes: Vec<u8> = self.memory.iter().flat_map(|t| t.to_le_bytes()).collect();
        spill.file.write_all(&bytes).map_err(|e| spill.error(e))?;
        spill.written += self.memory.len() as u64;
        self.memory = Vec::new();
        Ok(())
    }

    /// Length of sequence `i`.
    pub fn seq_len(&self, i: usize) -> usize {
        self.spans[i].1 as usize
    }

    /// Sequence `i`.
    pub fn get(&self, i: usize) -> std::io::Result<Vec<u32>> {
        let (start, len) = self.spans[i];
        let len = len as usize;
        let on_disk = self.spill.as_ref().map_or(0, |s| s.written);
        if start >= on_disk {
            let from = (start - on_disk) as usize;
            return Ok(self.memory[from..from + len].to_vec());
        }
        let spill = self.spill.as_ref().ok_or_else(|| {
            std::io::Error::other("token column: a spilled sequence without a spill file")
        })?;
        let mut bytes = vec![0u8; len * 4];
        spill
            .file
            .read_exact_at(&mut bytes, start * 4)
            .map_err(|e| spill.error(e))?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}

impl Spill {
    fn create() -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(format!(
            "loratune-tokens-{}-{}",
            std::process::id(),
            unique()
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| with_path(&path, e))?;
        std::fs::remove_file(&path).map_err(|e| with_path(&path, e))?;
        tracing::info!(
            "tokenized data past {} MB: kept in {} (unlinked)",
            (SPILL_TOKENS * 4) >> 20,
            path.display()
        );
        Ok(Self {
            file,
            path,
            written: 0,
        })
    }

    fn error(&self, e: std::io::Error) -> std::io::Error {
        with_path(&self.path, e)
    }
}

/// An I/O error that names the file (the temporary folder can be full: TMPDIR moves it).
fn with_path(path: &std::path::Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(
        e.kind(),
        format!(
            "{}: {e} (tokenized data spilled to the temporary folder; set TMPDIR to move it)",
            path.display()
        ),
    )
}

/// A number no other spill file of this process has.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequences() -> Vec<Vec<u32>> {
        (0..200u32)
            .map(|i| (0..(i % 17)).map(|t| t * 1000 + i).collect())
            .collect()
    }

    #[test]
    fn a_spilled_column_reads_back_what_was_set_in_any_order() {
        let all = sequences();
        let mut column = TokenColumn::with_spill_after(all.len(), 64);
        // set in reverse order, as a shuffled selection arrives
        for i in (0..all.len()).rev() {
            column.set(i, &all[i]).unwrap();
        }
        assert!(column.spilled());
        assert!(column.memory.len() < 64 + 17, "memory holds a tail only");
        for (i, ids) in all.iter().enumerate() {
            assert_eq!(&column.get(i).unwrap(), ids, "sequence {i}");
            assert_eq!(column.seq_len(i), ids.len());
        }
    }

    #[test]
    fn a_small_column_stays_in_memory() {
        let all = sequences();
        let column = TokenColumn::from_sequences(all.clone());
        assert!(!column.spilled());
        assert_eq!(column.get(150).unwrap(), all[150]);
    }
}
