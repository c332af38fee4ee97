//! The Hub settings from the environment, read as Python's `huggingface_hub` reads them
//! (`constants.py`, `utils/_auth.py`), so that one environment drives both.
use crate::error::{Error, Result};
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Where and how to reach the Hub.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `HF_ENDPOINT` without its trailing `/`.
    pub endpoint: String,
    /// `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `HF_HOME/hub`.
    pub cache: PathBuf,
    pub token: Option<Token>,
    /// `HF_HUB_OFFLINE` (or, when that is unset, `TRANSFORMERS_OFFLINE`) is 1/ON/YES/TRUE.
    pub offline: bool,
    /// `HF_HUB_DOWNLOAD_TIMEOUT`: connecting, and each read while downloading.
    pub download_timeout: Duration,
    /// `HF_HUB_ETAG_TIMEOUT`: the whole metadata (HEAD) request.
    pub etag_timeout: Duration,
    /// `LORATUNE_HUB_RETRIES`: attempts after the first on connection errors, 429 and 5xx.
    pub retries: u32,
    pub proxies: Proxies,
}

/// The token and where it came from (named in errors, never printed).
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub value: String,
    pub source: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(from {})", self.source)
    }
}

/// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (lower case wins, as in Python).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    pub https: Option<String>,
    pub http: Option<String>,
    pub all: Option<String>,
    pub no_proxy: Vec<String>,
}

impl Proxies {
    /// The proxy for a URL, if any.
    pub fn for_url(&self, url: &str) -> Option<&str> {
        let (scheme, rest) = url.split_once("://")?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => host.split(':').next().unwrap_or(host),
        }
        .to_ascii_lowercase();
        if self.bypassed(&host) {
            return None;
        }
        let chosen = match scheme {
            "https" => self.https.as_deref(),
            "http" => self.http.as_deref(),
            _ => None,
        };
        chosen.or(self.all.as_deref())
    }

    /// `NO_PROXY`: `*`, a host, or a domain (`example.com` and `.example.com` both cover
    /// `a.example.com`).
    fn bypassed(&self, host: &str) -> bool {
        self.no_proxy.iter().any(|entry| {
            let entry = entry.trim_start_matches('.');
            entry == "*" || host == entry || host.ends_with(&format!(".{entry}"))
        })
    }
}

impl Settings {
    /// From the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// From any source of variables (tests pass a map); an empty value counts as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |name: &str| var(name).filter(|v| !v.is_empty());
        let home_dir = get("HOME").map(PathBuf::from);
        // Python expands a leading `~` (and `$VARS`, which are left as they are here).
        let expand = |value: String| -> PathBuf {
            if let (Some(rest), Some(home)) = (value.strip_prefix("~/"), &home_dir) {
                return home.join(rest);
            }
            match (&home_dir, value == "~") {
                (Some(home), true) => home.clone(),
                _ => PathBuf::from(value),
            }
        };
        let hf_home = match get("HF_HOME") {
            Some(dir) => expand(dir),
            None => {
                let cache_home = get("XDG_CACHE_HOME")
                    .map(&expand)
                    .or_else(|| home_dir.as_ref().map(|h| h.join(".cache")))
                    .unwrap_or_else(|| PathBuf::from(".cache"));
                cache_home.join("huggingface")
            }
        };
        let cache = get("HF_HUB_CACHE")
            .or_else(|| get("HUGGINGFACE_HUB_CACHE"))
            .map(&expand)
            .unwrap_or_else(|| hf_home.join("hub"));
        let token_path = get("HF_TOKEN_PATH")
            .map(&expand)
            .unwrap_or_else(|| hf_home.join("token"));
        let token = token_from(&get, token_path)?;
        // Python reads TRANSFORMERS_OFFLINE only when HF_HUB_OFFLINE is unset.
        let offline = get("HF_HUB_OFFLINE")
            .or_else(|| get("TRANSFORMERS_OFFLINE"))
            .is_some_and(|v| is_true(&v));
        let pick = |names: [&str; 2]| names.into_iter().find_map(&get);
        Ok(Self {
            endpoint: get("HF_ENDPOINT")
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
                .trim_end_matches('/')
                .to_string(),
            cache,
            token,
            offline,
            download_timeout: seconds(&get, "HF_HUB_DOWNLOAD_TIMEOUT", 10)?,
            etag_timeout: seconds(&get, "HF_HUB_ETAG_TIMEOUT", 10)?,
            retries: match get("LORATUNE_HUB_RETRIES") {
                Some(v) => v.trim().parse().map_err(|_| {
                    Error::Config(format!(
                        "LORATUNE_HUB_RETRIES='{v}': expected a whole number of retries"
                    ))
                })?,
                None => 5,
            },
            proxies: Proxies {
                https: pick(["https_proxy", "HTTPS_PROXY"]),
                http: pick(["http_proxy", "HTTP_PROXY"]),
                all: pick(["all_proxy", "ALL_PROXY"]),
                no_proxy: pick(["no_proxy", "NO_PROXY"])
                    .map(|v| {
                        v.split(',')
                            .map(|h| h.trim().to_ascii_lowercase())
                            .filter(|h| !h.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            },
        })
    }

    /// The page of a repository on the Hub (where a gated repo's terms are accepted).
    pub fn repo_page(&self, kind: RepoKind, id: &str) -> String {
        format!("{}/{}{id}", self.endpoint, kind.url_prefix())
    }
}

/// Models and datasets live in separate namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoKind {
    Model,
    Dataset,
}

impl RepoKind {
    /// `models` / `datasets`: the cache folder prefix and the API path segment.
    pub fn plural(self) -> &'static str {
        match self {
            RepoKind::Model => "models",
            RepoKind::Dataset => "datasets",
        }
    }

    /// The prefix of `/{repo}/resolve/...` URLs and repo pages.
    pub fn url_prefix(self) -> &'static str {
        match self {
            RepoKind::Model => "",
            RepoKind::Dataset => "datasets/",
        }
    }
}

/// Python's `_is_true`.
fn is_true(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_uppercase().as_str(),
        "1" | "ON" | "YES" | "TRUE"
    )
}

/// Whole seconds as Python's `_as_int(...) or DEFAULT` (0 means the default).
fn seconds(get: &impl Fn(&str) -> Option<String>, name: &str, default: u64) -> Result<Duration> {
    let value = match get(name) {
        None => default,
        Some(text) => text.trim().parse::<u64>().map_err(|_| {
            Error::Config(format!(
                "{name}='{text}': expected a whole number of seconds"
            ))
        })?,
    };
    Ok(Duration::from_secs(if value == 0 {
        default
    } else {
        value
    }))
}

/// `HF_TOKEN` (or the older `HUGGING_FACE_HUB_TOKEN`), else the token file, stripped.
fn token_from(get: &impl Fn(&str) -> Option<String>, path: PathBuf) -> Result<Option<Token>> {
    for name in ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"] {
        if let Some(value) = get(name).map(|t| t.trim().to_string()) {
            if !value.is_empty() {
                return Ok(Some(Token {
                    value,
                    source: name.to_string(),
                }));
            }
        }
    }
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(Some(Token {
            value: text.trim().to_string(),
            source: format!("the token file {}", path.display()),
        })),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_vars(|name| map.get(name).cloned()).unwrap()
    }

    #[test]
    fn cache_folder_precedence_as_python() {
        let s = settings(&[("HOME", "/h0me-of-u")]);
        assert_eq!(s.cache, PathBuf::from("/h0me-of-u/.cache/huggingface/hub"));
        let s = settings(&[("HOME", "/h0me-of-u"), ("XDG_CACHE_HOME", "/x")]);
        assert_eq!(s.cache, PathBuf::from("/x/huggingface/hub"));
        let s = settings(&[("XDG_CACHE_HOME", "/x"), ("HF_HOME", "/h")]);
        assert_eq!(s.cache, PathBuf::from("/h/hub"));
        let s = settings(&[("HF_HOME", "/h"), ("HUGGINGFACE_HUB_CACHE", "/old")]);
        assert_eq!(s.cache, PathBuf::from("/old"));
        let s = settings(&[("HUGGINGFACE_HUB_CACHE", "/old"), ("HF_HUB_CACHE", "/new")]);
        assert_eq!(s.cache, PathBuf::from("/new"));
        let s = settings(&[("HOME", "/h0me-of-u"), ("HF_HUB_CACHE", "~/c")]);
        assert_eq!(s.cache, PathBuf::from("/h0me-of-u/c"));
    }

    #[test]
    fn token_precedence_as_python() {
        let dir = tempfile::tempdir().unwrap();
        let home_token = dir.path().join("token");
        std::fs::write(&home_token, "hf_home\n").unwrap();
        let other = dir.path().join("other");
        std::fs::write(&other, "  hf_path  ").unwrap();
        let home = dir.path().to_str().unwrap();
        let other_path = other.to_str().unwrap();
        let token = |vars: &[(&str, &str)]| settings(vars).token.map(|t| (t.value, t.source));
        assert_eq!(token(&[("HF_HOME", "/nonexistent")]), None);
        assert_eq!(
            token(&[("HF_HOME", home)]).unwrap().0,
            "hf_home",
            "HF_HOME/token"
        );
        let (value, source) = token(&[("HF_HOME", home), ("HF_TOKEN_PATH", other_path)]).unwrap();
        assert_eq!(value, "hf_path");
        assert!(source.contains(other_path), "{source}");
        let (value, source) = token(&[
            ("HF_HOME", home),
            ("HF_TOKEN_PATH", other_path),
            ("HUGGING_FACE_HUB_TOKEN", "hf_old"),
        ])
        .unwrap();
        assert_eq!(
            (value.as_str(), source.as_str()),
            ("hf_old", "HUGGING_FACE_HUB_TOKEN")
        );
        let (value, source) = token(&[
            ("HF_HOME", home),
            ("HUGGING_FACE_HUB_TOKEN", "hf_old"),
            ("HF_TOKEN", " hf_env "),
        ])
        .unwrap();
        assert_eq!((value.as_str(), source.as_str()), ("hf_env", "HF_TOKEN"));
        // The token is not in the cache's parent folder unless HF_HOME says so.
        assert_eq!(
            token(&[
                ("HF_HOME", "/nonexistent"),
                ("HF_HUB_CACHE", &format!("{home}/hub"))
            ]),
            None
        );
    }

    #[test]
    fn offline_endpoint_and_timeouts() {
        assert!(!settings(&[]).offline);
        assert!(settings(&[("HF_HUB_OFFLINE", "yes")]).offline);
        assert!(settings(&[("TRANSFORMERS_OFFLINE", "1")]).offline);
        // As in Python, a set HF_HUB_OFFLINE hides TRANSFORMERS_OFFLINE.
        assert!(!settings(&[("HF_HUB_OFFLINE", "0"), ("TRANSFORMERS_OFFLINE", "1")]).offline);
        assert_eq!(settings(&[]).endpoint, "https://huggingface.co");
        assert_eq!(
            settings(&[("HF_ENDPOINT", "https://hf-mirror.com/")]).endpoint,
            "https://hf-mirror.com"
        );
        let s = settings(&[]);
        assert_eq!(s.download_timeout, Duration::from_secs(10));
        assert_eq!(s.etag_timeout, Duration::from_secs(10));
        let s = settings(&[
            ("HF_HUB_DOWNLOAD_TIMEOUT", "60"),
            ("HF_HUB_ETAG_TIMEOUT", "0"),
        ]);
        assert_eq!(s.download_timeout, Duration::from_secs(60));
        assert_eq!(s.etag_timeout, Duration::from_secs(10));
        let err = Settings::from_vars(|n| (n == "HF_HUB_ETAG_TIMEOUT").then(|| "ten".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("HF_HUB_ETAG_TIMEOUT='ten'"), "{err}");
    }

    #[test]
    fn proxies_by_scheme_and_no_proxy() {
        let s = settings(&[
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:1"),
            ("HTTP_PROXY", "http://plain:2"),
            ("NO_PROXY", "localhost, .internal.org,127.0.0.1"),
        ]);
        let p = &s.proxies;
        assert_eq!(
            p.for_url("https://huggingface.co/x"),
            Some("http://lower:1")
        );
        assert_eq!(p.for_url("http://mirror.example/x"), Some("http://plain:2"));
        assert_eq!(p.for_url("http://127.0.0.1:8080/x"), None);
        assert_eq!(p.for_url("https://hub.internal.org/x"), None);
        assert_eq!(p.for_url("https://internal.org/x"), None);
        assert_eq!(
            p.for_url("https://notinternal.org/x"),
            Some("http://lower:1")
        );
        let all = settings(&[("ALL_PROXY", "socks5://s:1080")]);
        assert_eq!(all.proxies.for_url("https://a/b"), Some("socks5://s:1080"));
        let star = settings(&[("ALL_PROXY", "socks5://s:1080"), ("no_proxy", "*")]);
        assert_eq!(star.proxies.for_url("https://a/b"), None);
    }
}
