//! What went wrong talking to the Hub, kept as it happened (status, the Hub's `X-Error-Code`,
//! the transport error) until it is turned into a message that names the repository, the file
//! and what to do. A network failure is never reported as a missing file.
use super::settings::{RepoKind, Settings};
use crate::error::Error;

#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// No HTTP answer: connection refused or reset, DNS, TLS, timeout.
    Transport { url: String, message: String },
    /// An HTTP answer with an error status.
    Status {
        url: String,
        status: u16,
        /// `X-Error-Code`: `RepoNotFound`, `GatedRepo`, `EntryNotFound`, `RevisionNotFound`, ...
        code: Option<String>,
        /// `X-Error-Message`.
        message: Option<String>,
        /// `X-Repo-Commit` (present on a 404 for a missing file of an existing repo).
        commit: Option<String>,
    },
}

impl Failure {
    pub(crate) fn from_response(url: &str, response: &ureq::Response) -> Self {
        let header = |name: &str| response.header(name).map(str::to_string);
        Failure::Status {
            url: url.to_string(),
            status: response.status(),
            code: header("X-Error-Code"),
            message: header("X-Error-Message"),
            commit: header("X-Repo-Commit"),
        }
    }

    /// Worth trying again: no answer at all, throttled, or a server error.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Failure::Transport { .. } => true,
            Failure::Status { status, .. } => *status == 429 || *status >= 500,
        }
    }

    /// The file (not the repo or the revision) is missing: the only 404 that `.no_exist`
    /// records and that an optional file may have.
    pub(crate) fn is_missing_entry(&self) -> bool {
        matches!(self, Failure::Status { status: 404, code, .. }
            if code.as_deref() == Some("EntryNotFound"))
    }

    pub(crate) fn is_missing_revision(&self) -> bool {
        matches!(self, Failure::Status { status: 404, code, .. }
            if code.as_deref() == Some("RevisionNotFound"))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transport { url, message } => write!(f, "{url}: {message}"),
            Failure::Status { url, status, .. } => write!(f, "{url}: HTTP {status}"),
        }
    }
}

/// What was being fetched, for the message.
pub(crate) struct Target<'a> {
    pub settings: &'a Settings,
    pub kind: RepoKind,
    pub repo: &'a str,
    pub revision: &'a str,
    /// `None` for a listing of the repository.
    pub file: Option<&'a str>,
}

impl Target<'_> {
    fn what(&self) -> String {
        let kind = match self.kind {
            RepoKind::Model => "model",
            RepoKind::Dataset => "dataset",
        };
        match self.file {
            Some(file) => format!("{file} of {kind} {}", self.repo),
            None => format!("{kind} {}", self.repo),
        }
    }

    /// The library error for a failure.
    pub(crate) fn error(&self, failure: Failure) -> Error {
        let what = self.what();
        let page = self.settings.repo_page(self.kind, self.repo);
        let token_hint = match &self.settings.token {
            Some(t) => format!("the token from {} was sent", t.source),
            None => "no token was sent (set HF_TOKEN, or put one in HF_TOKEN_PATH, default HF_HOME/token)".to_string(),
        };
        match failure {
            Failure::Transport { url, message } => Error::HubUnreachable(format!(
                "cannot fetch {what}: no answer from {url}: {message}"
            )),
            Failure::Status {
                url,
                status,
                code,
                message,
                ..
            } => {
                let detail = message
                    .map(|m| format!(" (the Hub says: {m})"))
                    .unwrap_or_default();
                let text = match (status, code.as_deref()) {
                    (401 | 403, Some("GatedRepo")) => format!(
                        "{what}: {} is a gated repository and access was refused ({status}); accept \
                         its terms at {page} with your account, then use a token of that account: \
                         {token_hint}{detail}",
                        self.repo
                    ),
                    (401, _) if self.settings.token.is_some() => format!(
                        "{what}: the Hub refused the token (401): {token_hint}, and it is invalid or \
                         expired, or the repository does not exist or is private to another account{detail}"
                    ),
                    (401, _) => format!(
                        "{what}: 401 unauthorized: the repository does not exist, or it is private \
                         or gated and {token_hint}{detail}"
                    ),
                    (403, _) => format!(
                        "{what}: 403 forbidden: {token_hint}, and it has no access to {} (a \
                         fine-grained token needs read access to it){detail}",
                        self.repo
                    ),
                    (404, Some("EntryNotFound")) => format!(
                        "{what}: no such file in the repository at revision '{}' (404){detail}",
                        self.revision
                    ),
                    (404, Some("RevisionNotFound")) => format!(
                        "{what}: the repository has no revision '{}' (404){detail}",
                        self.revision
                    ),
                    (404, Some("RepoNotFound")) => format!(
                        "{what}: the repository {} does not exist on {} (404): check the name{detail}",
                        self.repo, self.settings.endpoint
                    ),
                    // The Hub names what is missing; a bare 404 comes from something else.
                    (404, _) => format!(
                        "{what}: HTTP 404 from {url} without the Hub's X-Error-Code: check that \
                         HF_ENDPOINT ({}) is a Hugging Face Hub and that no proxy is in the way{detail}",
                        self.settings.endpoint
                    ),
                    (429, _) => format!("{what}: too many requests (429) at {url}{detail}"),
                    _ => format!("{what}: HTTP {status} from {url}{detail}"),
                };
                Error::Hub(text)
            }
        }
    }
}
