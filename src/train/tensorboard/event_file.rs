//! TensorBoard's event file, written by hand: it is a sequence of records, each framed as
//! TensorFlow's `TFRecord` (length as u64 LE, masked CRC-32C of the length, the data, masked
//! CRC-32C of the data), each record an `Event` protocol buffer. The first event carries the
//! file version (`brain.Event:2`); each scalar is an event holding a `Summary` with one
//! `Summary.Value { tag, simple_value }`, the form `torch.utils.tensorboard`'s `add_scalar`
//! writes and TensorBoard's `EventAccumulator.Scalars` reads.
//!
//! The few protobuf fields needed are encoded here (tags from tensorflow/core/util/event.proto
//! and tensorflow/core/framework/summary.proto):
//! `Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }`,
//! `Summary { repeated Value value = 1; }`, `Value { string tag = 1; float simple_value = 2; }`.
use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// TensorFlow's CRC mask: rotate right by 15 bits and add a constant, so that a CRC of data
/// that itself holds CRCs stays well distributed.
pub(crate) fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    (crc.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// One `TFRecord`: the framing around `data`.
pub(crate) fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
    out
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field (wire type 2).
fn bytes_field(field: u32, bytes: &[u8], out: &mut Vec<u8>) {
    varint(u64::from(field << 3 | 2), out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// The start of an `Event`: `wall_time` (fixed64) and `step` (varint).
fn event_head(wall_time: f64, step: i64) -> Vec<u8> {
    let mut out = vec![1 << 3 | 1];
    out.extend_from_slice(&wall_time.to_le_bytes());
    varint(2 << 3, &mut out);
    // int64 is encoded as its two's-complement u64
    varint(step as u64, &mut out);
    out
}

/// The `Event` that opens every file.
pub(crate) fn file_version_event(wall_time: f64) -> Vec<u8> {
    let mut out = event_head(wall_time, 0);
    bytes_field(3, b"brain.Event:2", &mut out);
    out
}

/// An `Event` holding one scalar.
pub(crate) fn scalar_event(wall_time: f64, step: i64, tag: &str, value: f32) -> Vec<u8> {
    let mut summary_value = Vec::with_capacity(tag.len() + 8);
    bytes_field(1, tag.as_bytes(), &mut summary_value);
    summary_value.push(2 << 3 | 5);
    summary_value.extend_from_slice(&value.to_le_bytes());
    let mut summary = Vec::with_capacity(summary_value.len() + 2);
    bytes_field(1, &summary_value, &mut summary);
    let mut out = event_head(wall_time, step);
    bytes_field(5, &summary, &mut out);
    out
}

/// Seconds since the Unix epoch, as event files record time.
pub(crate) fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// An open event file: every record is written and flushed at once, so that TensorBoard
/// shows a run while it goes (it reads files as they grow).
pub(crate) struct EventFile {
    path: PathBuf,
    file: std::fs::File,
}

impl EventFile {
    /// Creates `dir/events.out.tfevents.<seconds>.<host>` and writes the version event.
    pub(crate) fn create(dir: &Path, host: &str) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let wall_time = now();
        let path = dir.join(format!("events.out.tfevents.{}.{host}", wall_time as u64));
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let mut out = Self { path, file };
        out.write_event(&file_version_event(wall_time))?;
        Ok(out)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn write_event(&mut self, event: &[u8]) -> Result<()> {
        self.file
            .write_all(&record(event))
            .and_then(|()| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Writes the scalars of one step (one event each, as `add_scalar` does).
    pub(crate) fn scalars(&mut self, step: usize, values: &[(String, f64)]) -> Result<()> {
        let wall_time = now();
        let mut bytes = Vec::new();
        for (tag, value) in values {
            bytes.extend(record(&scalar_event(
                wall_time,
                step as i64,
                tag,
                *value as f32,
            )));
        }
        self.file
            .write_all(&bytes)
            .and_then(|()| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_and_mask() {
        // CRC-32C check value (RFC 3720) of "123456789"
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        // TensorFlow's masked CRC, as tensorboard's own writer computes it:
        // tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c(bytes(8)) and
        // (b"123456789")
        assert_eq!(masked_crc32c(&[0u8; 8]), 0x0798_0329);
        assert_eq!(masked_crc32c(b"123456789"), 0xc78a_b0e5);
    }

    #[test]
    fn varints() {
        let mut out = Vec::new();
        varint(300, &mut out);
        assert_eq!(out, [0xac, 0x02]);
        out.clear();
        varint((-1i64) as u64, &mut out);
        assert_eq!(out.len(), 10);
    }

    #[test]
    fn scalar_event_bytes() {
        let event = scalar_event(1.5, 3, "a", 2.0);
        let mut want = vec![0x09];
        want.extend_from_slice(&1.5f64.to_le_bytes());
        want.extend_from_slice(&[0x10, 3, 0x2a, 10, 0x0a, 8, 0x0a, 1, b'a', 0x15]);
        want.extend_from_slice(&2.0f32.to_le_bytes());
        assert_eq!(event, want);
    }
}
