//! Writing one blob: into `blobs/<etag>.incomplete`, resumed with a `Range` request after a cut
//! connection (or from what an earlier, interrupted run left), checked against the size the Hub
//! announced and, for LFS files, against the sha256 that is their etag, then renamed into place.
//! The caller holds the download lock, so the `.incomplete` file has one writer.
use super::client::{backoff, Client, Follow};
use super::failure::Failure;
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Files at least this large get a progress bar (when stderr is a terminal).
const BAR_FROM_BYTES: u64 = 1 << 20;

pub(crate) struct Blob<'a> {
    /// Where the bytes are (the storage URL the Hub redirected to, or the resolve URL).
    pub url: &'a str,
    pub etag: &'a str,
    pub size: Option<u64>,
    pub path: &'a Path,
    /// `file of repo`, for messages.
    pub what: &'a str,
    /// Required files show a bar; optional ones never do.
    pub progress: bool,
}

/// An LFS etag is the file's sha256; a plain git file's is a sha1 of the git object.
fn sha256_of_etag(etag: &str) -> Option<&str> {
    (etag.len() == 64 && etag.bytes().all(|b| b.is_ascii_hexdigit())).then_some(etag)
}

fn incomplete_path(blob: &Path) -> PathBuf {
    let mut name = blob.as_os_str().to_os_string();
    name.push(".incomplete");
    PathBuf::from(name)
}

/// Downloads the blob; `fail` turns a Hub failure into the error to report.
pub(crate) fn fetch(client: &Client, blob: &Blob, fail: &dyn Fn(Failure) -> Error) -> Result<()> {
    let partial = incomplete_path(blob.path);
    let folder = partial.parent().unwrap_or(Path::new(".")).to_path_buf();
    std::fs::create_dir_all(&folder).map_err(|e| Error::io(&folder, e))?;
    let io = |e| Error::io(&partial, e);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&partial)
        .map_err(io)?;
    let mut have = file.metadata().map_err(io)?.len();
    if blob.size.is_some_and(|size| have > size) {
        file.set_len(0).map_err(io)?;
        have = 0;
    }
    if let Some(size) = blob.size {
        super::space::check(&folder, size - have, blob.what)?;
    }
    let mut hasher = Sha256::new();
    if have > 0 {
        tracing::info!("resuming {} at byte {have}", blob.what);
        hash_prefix(&mut file, have, &mut hasher).map_err(io)?;
    }
    let bar = match blob.size {
        Some(size) if blob.progress && size >= BAR_FROM_BYTES => {
            let bar = crate::progress::bytes_bar(size, blob.what);
            bar.set_position(have);
            Some(bar)
        }
        _ => None,
    };
    let retries = client.settings().retries;
    let mut failures = 0;
    loop {
        if blob.size == Some(have) {
            break;
        }
        let range = [("Range", format!("bytes={have}-"))];
        let headers: &[(&str, String)] = if have > 0 { &range } else { &[] };
        let response = match client.send("GET", blob.url, headers, None, Follow::All) {
            Ok(response) => response,
            Err(failure) if failure.is_transient() && failures < retries => {
                wait_after(blob, &failure, &mut failures, retries);
                continue;
            }
            Err(failure) => return Err(fail(failure)),
        };
        if have > 0 && response.status() != 206 {
            // The server ignored the range: start over.
            file.set_len(0).map_err(io)?;
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            hasher = Sha256::new();
            have = 0;
            if let Some(bar) = &bar {
                bar.set_position(0);
            }
        }
        let mut reader = response.into_reader();
        let mut buffer = vec![0u8; 1 << 20];
        let cut = loop {
            match reader.read(&mut buffer) {
                Ok(0) => break None,
                Ok(n) => {
                    file.write_all(&buffer[..n]).map_err(io)?;
                    hasher.update(&buffer[..n]);
                    have += n as u64;
                    failures = 0;
                    if let Some(bar) = &bar {
                        bar.set_position(have);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Some(e.to_string()),
            }
        };
        let cut = cut.or_else(|| {
            blob.size
                .filter(|&size| have < size)
                .map(|size| format!("the connection closed at byte {have} of {size}"))
        });
        match cut {
            None => break,
            Some(message) if failures < retries => {
                let failure = Failure::Transport {
                    url: blob.url.to_string(),
                    message,
                };
                wait_after(blob, &failure, &mut failures, retries);
            }
            Some(message) => {
                return Err(fail(Failure::Transport {
                    url: blob.url.to_string(),
                    message: format!("{message}; gave up after {retries} retries without progress"),
                }))
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    file.sync_all().map_err(io)?;
    drop(file);
    if let Some(size) = blob.size.filter(|&s| s != have) {
        return Err(Error::Hub(format!(
            "{}: the download has {have} bytes where the Hub announced {size}",
            blob.what
        )));
    }
    if let Some(expected) = sha256_of_etag(blob.etag) {
        let got = format!("{:x}", hasher.finalize());
        if !got.eq_ignore_ascii_case(expected) {
            let _ = std::fs::remove_file(&partial);
            return Err(Error::Hub(format!(
                "{}: the downloaded bytes have sha256 {got}, the Hub's is {expected}; the \
                 partial file was removed, run again to download it anew",
                blob.what
            )));
        }
    }
    std::fs::rename(&partial, blob.path).map_err(|e| Error::io(blob.path, e))
}

fn wait_after(blob: &Blob, failure: &Failure, failures: &mut u32, retries: u32) {
    let wait = backoff(*failures);
    *failures += 1;
    tracing::warn!(
        "downloading {}: {failure}; resuming in {}s ({failures}/{retries})",
        blob.what,
        wait.as_secs()
    );
    std::thread::sleep(wait);
}

/// Feeds the first `len` bytes of the file to the hasher and leaves the file at its end.
fn hash_prefix(file: &mut File, len: u64, hasher: &mut Sha256) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(0))?;
    let copied = std::io::copy(&mut Read::by_ref(file).take(len), &mut HashWriter(hasher))?;
    if copied != len {
        return Err(std::io::Error::other(
            "the partial file shrank while reading it",
        ));
    }
    file.seek(SeekFrom::End(0))?;
    Ok(())
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
