//! An emulated Hugging Face Hub on a loopback port, for tests pointed at it with `HF_ENDPOINT`.
//!
//! It speaks what the Hub speaks to a download client (as Python's `huggingface_hub` expects
//! it): `/api/{models,datasets}/{repo}[/revision/{rev}]` with `sha` and `siblings`;
//! `[/datasets]/{repo}/resolve/{rev}/{file}` answering HEAD and GET with `X-Repo-Commit` and
//! `ETag`, and for LFS files a 302 to a storage URL with `X-Linked-Etag` (the sha256) and
//! `X-Linked-Size`; byte ranges (206); `refs/convert/parquet` (sent as `refs%2Fconvert%2Fparquet`);
//! 401/403/404 with the Hub's `X-Error-Code` (`RepoNotFound`, `GatedRepo`, `EntryNotFound`,
//! `RevisionNotFound`); a renamed repository answering 307 to its new name. Knobs: a bandwidth
//! cap (so two downloads overlap), a connection cut after N bytes once, and a log of every
//! request.
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Files at least this large are served as LFS files (302 to storage, sha256 etag).
pub const LFS_FROM_BYTES: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Model,
    Dataset,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    Public,
    /// Readable with a token that accepted the terms (`readers`); else 401/403 `GatedRepo`.
    Gated,
    /// Readable with a token in `readers`; else 401 (no token) or 404 `RepoNotFound`.
    Private,
    /// 403 for everyone (a fine-grained token without this repo in its scope).
    Forbidden,
}

/// A file's bytes (shared, never copied per request: data sets can be large) and sha256.
#[derive(Clone, Debug)]
pub struct Blob {
    bytes: Arc<Vec<u8>>,
    sha: String,
}

impl Blob {
    fn new(bytes: Vec<u8>) -> Self {
        Self {
            sha: sha256_hex(&bytes),
            bytes: Arc::new(bytes),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Repo {
    pub kind: Kind,
    pub id: String,
    pub commit: String,
    pub files: BTreeMap<String, Blob>,
    /// The files of `refs/convert/parquet`, if the repo has a parquet conversion.
    pub parquet: Option<BTreeMap<String, Blob>>,
    pub access: Access,
    pub readers: Vec<String>,
}

impl Repo {
    pub fn new(kind: Kind, id: &str) -> Self {
        let commit = format!("{:x}", Sha256::digest(id.as_bytes()))[..40].to_string();
        Self {
            kind,
            id: id.to_string(),
            commit,
            files: BTreeMap::new(),
            parquet: None,
            access: Access::Public,
            readers: Vec::new(),
        }
    }

    /// The files of a directory (not recursive), by name.
    pub fn with_dir(mut self, dir: &Path, names: &[&str]) -> Self {
        for name in names {
            let bytes = std::fs::read(dir.join(name))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()));
            self.files.insert(name.to_string(), Blob::new(bytes));
        }
        self
    }

    pub fn with_file(mut self, name: &str, bytes: Vec<u8>) -> Self {
        self.files.insert(name.to_string(), Blob::new(bytes));
        self
    }

    /// A file of the repo's parquet conversion (`refs/convert/parquet`).
    pub fn with_parquet_file(mut self, name: &str, bytes: Vec<u8>) -> Self {
        self.parquet
            .get_or_insert_with(BTreeMap::new)
            .insert(name.to_string(), Blob::new(bytes));
        self
    }

    fn parquet_commit(&self) -> String {
        format!("{:x}", Sha256::digest(format!("{}/parquet", self.id)))[..40].to_string()
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct State {
    repos: Mutex<Vec<Arc<Repo>>>,
    /// (kind, old id) → new id.
    renamed: Mutex<HashMap<(Kind, String), String>>,
    tokens: Mutex<Vec<String>>,
    /// Bytes per second for file bodies; 0: no cap.
    rate: AtomicU64,
    /// (path suffix, bytes, stall): the next GET whose path ends so is cut after that many
    /// bytes; with `stall`, the connection then stays open and silent for a minute.
    cut: Mutex<Option<(String, usize, bool)>>,
    /// A path suffix: the next GET of it gets its first byte changed.
    corrupt: Mutex<Option<String>>,
    seen: Mutex<Vec<Seen>>,
    base: Mutex<String>,
}

pub struct HubServer {
    pub url: String,
    state: Arc<State>,
}

impl HubServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let state = Arc::new(State::default());
        *state.base.lock().unwrap() = url.clone();
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        Self { url, state }
    }

    pub fn add(&self, repo: Repo) {
        self.state.repos.lock().unwrap().push(Arc::new(repo));
    }

    pub fn rename(&self, kind: Kind, old: &str, new: &str) {
        self.state
            .renamed
            .lock()
            .unwrap()
            .insert((kind, old.to_string()), new.to_string());
    }

    /// A token the Hub accepts (a valid account's).
    pub fn accept_token(&self, token: &str) {
        self.state.tokens.lock().unwrap().push(token.to_string());
    }

    pub fn throttle(&self, bytes_per_second: u64) {
        self.state.rate.store(bytes_per_second, Ordering::SeqCst);
    }

    pub fn cut_once(&self, path_suffix: &str, after_bytes: usize) {
        *self.state.cut.lock().unwrap() = Some((path_suffix.to_string(), after_bytes, false));
    }

    /// Like `cut_once`, but the connection stalls (open, silent) instead of closing.
    pub fn stall_once(&self, path_suffix: &str, after_bytes: usize) {
        *self.state.cut.lock().unwrap() = Some((path_suffix.to_string(), after_bytes, true));
    }

    pub fn corrupt_once(&self, path_suffix: &str) {
        *self.state.corrupt.lock().unwrap() = Some(path_suffix.to_string());
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Requests with this method whose path ends with `suffix`.
    pub fn count(&self, method: &str, suffix: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == method && s.path.ends_with(suffix))
            .count()
    }

    pub fn forget_requests(&self) {
        self.state.seen.lock().unwrap().clear();
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Arc<Vec<u8>>,
    /// The body is a file (bandwidth cap and cuts apply).
    file: bool,
}

impl Reply {
    fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Arc::new(Vec::new()),
            file: false,
        }
    }
    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
    fn error(status: u16, code: Option<&str>, message: &str) -> Self {
        let mut reply = Reply::new(status).header("X-Error-Message", message);
        if let Some(code) = code {
            reply = reply.header("X-Error-Code", code);
        }
        reply.body = Arc::new(format!("{{\"error\":\"{message}\"}}").into_bytes());
        reply
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn serve(stream: TcpStream, state: &State) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let path = target.split('?').next().unwrap_or("/").to_string();
    let seen = Seen {
        method: method.clone(),
        path: path.clone(),
        range: headers.get("range").cloned(),
        authorization: headers.get("authorization").cloned(),
    };
    state.seen.lock().unwrap().push(seen.clone());
    let reply = route(state, &seen);
    write_reply(stream, state, &seen, reply)
}

fn write_reply(
    mut stream: TcpStream,
    state: &State,
    seen: &Seen,
    reply: Reply,
) -> std::io::Result<()> {
    let mut status = reply.status;
    let mut body: &[u8] = &reply.body;
    let mut extra = Vec::new();
    let total = body.len();
    if let (200, Some(range)) = (status, seen.range.as_deref().filter(|_| reply.file)) {
        let start: usize = range
            .strip_prefix("bytes=")
            .and_then(|r| r.split('-').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if start >= total {
            status = 416;
            body = &[];
        } else {
            status = 206;
            extra.push((
                "Content-Range".to_string(),
                format!("bytes {start}-{}/{total}", total - 1),
            ));
            body = &body[start..];
        }
    }
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        307 => "Temporary Redirect",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Other",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\n");
    for (name, value) in reply.headers.iter().chain(extra.iter()) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !reply.headers.iter().any(|(n, _)| n == "Content-Length") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if seen.method == "HEAD" {
        return stream.flush();
    }
    let mut limit = body.len();
    let mut stall = false;
    if reply.file && seen.method == "GET" {
        let mut cut = state.cut.lock().unwrap();
        if let Some((suffix, after, stalls)) = cut.clone() {
            if seen.path.ends_with(&suffix) {
                limit = limit.min(after);
                stall = stalls;
                *cut = None;
            }
        }
    }
    let mut corrupted;
    if reply.file && seen.method == "GET" && !body.is_empty() {
        let mut corrupt = state.corrupt.lock().unwrap();
        if corrupt.as_deref().is_some_and(|s| seen.path.ends_with(s)) {
            *corrupt = None;
            corrupted = body.to_vec();
            corrupted[0] ^= 0xff;
            body = &corrupted;
        }
    }
    let rate = state.rate.load(Ordering::SeqCst);
    let chunk = 16 * 1024;
    let mut sent = 0;
    while sent < limit {
        let end = (sent + chunk).min(limit);
        stream.write_all(&body[sent..end])?;
        if reply.file && rate > 0 {
            std::thread::sleep(Duration::from_secs_f64((end - sent) as f64 / rate as f64));
        }
        sent = end;
    }
    stream.flush()?;
    if stall {
        std::thread::sleep(Duration::from_secs(60));
    }
    // A cut: drop the connection with the body unfinished.
    let _ = stream.shutdown(std::net::Shutdown::Both);
    Ok(())
}

/// The repo (after renames), or the reply that refuses it.
fn authorize(state: &State, seen: &Seen, kind: Kind, id: &str) -> Result<Arc<Repo>, Reply> {
    let token = seen
        .authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::to_string);
    if let Some(t) = &token {
        if !state.tokens.lock().unwrap().contains(t) {
            return Err(Reply::error(
                401,
                None,
                "Invalid credentials in Authorization header",
            ));
        }
    }
    let repo = state
        .repos
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.kind == kind && r.id == id)
        .cloned();
    let not_found = || {
        if token.is_some() {
            Reply::error(404, Some("RepoNotFound"), "Repository not found")
        } else {
            Reply::error(401, Some("RepoNotFound"), "Invalid username or password.")
        }
    };
    let Some(repo) = repo else {
        return Err(not_found());
    };
    let reader = token.as_ref().is_some_and(|t| repo.readers.contains(t));
    match repo.access {
        Access::Public => Ok(repo),
        Access::Private if reader => Ok(repo),
        Access::Private => Err(not_found()),
        Access::Gated if reader => Ok(repo),
        Access::Gated if token.is_some() => Err(Reply::error(
            403,
            Some("GatedRepo"),
            &format!("Access to model {id} is restricted and you are not in the authorized list."),
        )),
        Access::Gated => Err(Reply::error(
            401,
            Some("GatedRepo"),
            &format!("Access to model {id} is restricted. You must have access to it and be authenticated to access it. Please log in."),
        )),
        Access::Forbidden => Err(Reply::error(
            403,
            None,
            "This fine-grained token does not have access to this repository.",
        )),
    }
}

/// The files and commit of a revision, or a 404 `RevisionNotFound`.
fn at_revision<'a>(
    repo: &'a Repo,
    revision: &str,
) -> Result<(&'a BTreeMap<String, Blob>, String), Reply> {
    if revision == "main" || revision == repo.commit {
        return Ok((&repo.files, repo.commit.clone()));
    }
    if let Some(parquet) = &repo.parquet {
        if revision == "refs/convert/parquet" || revision == repo.parquet_commit() {
            return Ok((parquet, repo.parquet_commit()));
        }
    }
    Err(Reply::error(
        404,
        Some("RevisionNotFound"),
        &format!("Invalid rev id: {revision}"),
    ))
}

/// `owner/name` (or a one-part id) at the start of `rest`, and what follows it after `marker`.
fn split_id<'a>(rest: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let at = rest.find(marker)?;
    Some((&rest[..at], &rest[at + marker.len()..]))
}

fn route(state: &State, seen: &Seen) -> Reply {
    let base = state.base.lock().unwrap().clone();
    let path = seen.path.as_str();
    if let Some(sha) = path.strip_prefix("/cdn/") {
        let repos = state.repos.lock().unwrap();
        let blob = repos
            .iter()
            .flat_map(|r| {
                r.files
                    .values()
                    .chain(r.parquet.iter().flat_map(|p| p.values()))
            })
            .find(|b| b.sha == sha)
            .cloned();
        return match blob {
            Some(blob) => {
                let mut reply = Reply::new(200).header("Accept-Ranges", "bytes");
                reply.body = blob.bytes;
                reply.file = true;
                reply
            }
            None => Reply::error(404, None, "no such blob"),
        };
    }
    let (kind, rest, api) = if let Some(r) = path.strip_prefix("/api/models/") {
        (Kind::Model, r, true)
    } else if let Some(r) = path.strip_prefix("/api/datasets/") {
        (Kind::Dataset, r, true)
    } else if let Some(r) = path.strip_prefix("/datasets/") {
        (Kind::Dataset, r, false)
    } else {
        (Kind::Model, path.trim_start_matches('/'), false)
    };
    let (id, revision, file) = if api {
        match split_id(rest, "/revision/") {
            Some((id, rev)) => (id.to_string(), decode(rev), None),
            None => (
                rest.trim_end_matches('/').to_string(),
                "main".to_string(),
                None,
            ),
        }
    } else {
        match split_id(rest, "/resolve/") {
            Some((id, tail)) => {
                let (rev, file) = tail.split_once('/').unwrap_or((tail, ""));
                (id.to_string(), decode(rev), Some(decode(file)))
            }
            None => return Reply::error(404, None, "not a Hub path"),
        }
    };
    if let Some(new) = state.renamed.lock().unwrap().get(&(kind, id.clone())) {
        let location = path.replacen(&format!("/{id}/"), &format!("/{new}/"), 1);
        let location = if location == path {
            path.replacen(&format!("/{id}"), &format!("/{new}"), 1)
        } else {
            location
        };
        return Reply::new(307).header("Location", location);
    }
    let repo = match authorize(state, seen, kind, &id) {
        Ok(repo) => repo,
        Err(reply) => return reply,
    };
    let (files, commit) = match at_revision(&repo, &revision) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let Some(file) = file else {
        let siblings: Vec<serde_json::Value> = files
            .keys()
            .map(|name| serde_json::json!({ "rfilename": name }))
            .collect();
        let mut reply = Reply::new(200).header("Content-Type", "application/json");
        reply.body = Arc::new(
            serde_json::json!({ "id": repo.id, "sha": commit, "siblings": siblings })
                .to_string()
                .into_bytes(),
        );
        return reply;
    };
    let Some(blob) = files.get(&file) else {
        return Reply::error(404, Some("EntryNotFound"), "Entry not found")
            .header("X-Repo-Commit", commit.as_str());
    };
    let sha = &blob.sha;
    if blob.bytes.len() >= LFS_FROM_BYTES {
        return Reply::new(302)
            .header("Location", format!("{base}/cdn/{sha}"))
            .header("X-Repo-Commit", commit.as_str())
            .header("ETag", format!("\"{}\"", &sha256_hex(sha.as_bytes())[..40]))
            .header("X-Linked-Etag", format!("\"{sha}\""))
            .header("X-Linked-Size", blob.bytes.len().to_string());
    }
    // A small file: its git blob id would be its etag; any stable 40-hex string will do here.
    let mut reply = Reply::new(200)
        .header("X-Repo-Commit", commit.as_str())
        .header("ETag", format!("\"{}\"", &sha[..40]))
        .header("Accept-Ranges", "bytes");
    reply.body = blob.bytes.clone();
    reply.file = true;
    reply
}
