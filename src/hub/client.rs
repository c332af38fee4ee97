//! HTTP to the Hub on `ureq`: the token on Hub URLs only, a connect and read timeout, proxies
//! as the environment says, redirects followed by hand (so that the Hub's own headers on a 302
//! to a storage URL are kept), and retries with exponential backoff on connection errors, 429
//! and 5xx.
use super::failure::Failure;
use super::settings::Settings;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Which redirects a request follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Follow {
    /// Only `Location: /...` (a renamed repository): a metadata request must see the Hub's 302
    /// to a storage URL itself, with its `X-Linked-Etag`.
    Relative,
    /// Every redirect (downloads).
    All,
}

const MAX_REDIRECTS: usize = 10;

pub(crate) struct Client {
    settings: Settings,
    /// One agent per proxy (or none), built on first use.
    agents: Mutex<HashMap<Option<String>, ureq::Agent>>,
}

impl Client {
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            settings,
            agents: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    fn agent(&self, url: &str) -> Result<ureq::Agent, Failure> {
        let proxy = self.settings.proxies.for_url(url).map(str::to_string);
        let mut agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(agent) = agents.get(&proxy) {
            return Ok(agent.clone());
        }
        let mut builder = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout_connect(self.settings.download_timeout)
            .timeout_read(self.settings.download_timeout)
            .user_agent(concat!("loratune/", env!("CARGO_PKG_VERSION")));
        if let Some(p) = &proxy {
            let parsed = ureq::Proxy::new(p).map_err(|e| Failure::Transport {
                url: url.to_string(),
                message: format!("the proxy '{p}' from the environment is not usable: {e}"),
            })?;
            builder = builder.proxy(parsed);
        }
        let agent = builder.build();
        agents.insert(proxy, agent.clone());
        Ok(agent)
    }

    /// The token goes to the Hub (the endpoint's host) only, never to a storage URL.
    fn on_hub(&self, url: &str) -> bool {
        host_of(url) == host_of(&self.settings.endpoint)
    }

    /// One request (no retries), following redirects as `follow` says. An error status is a
    /// `Failure::Status`; a 3xx that is not followed is returned as it is.
    pub(crate) fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        timeout: Option<Duration>,
        follow: Follow,
    ) -> Result<ureq::Response, Failure> {
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.agent(&url)?.request(method, &url);
            if let Some(timeout) = timeout {
                request = request.timeout(timeout);
            }
            request = request.set("Accept-Encoding", "identity");
            for (name, value) in headers {
                request = request.set(name, value);
            }
            if let (Some(token), true) = (&self.settings.token, self.on_hub(&url)) {
                request = request.set("Authorization", &format!("Bearer {}", token.value));
            }
            let response = match request.call() {
                Ok(response) => response,
                Err(ureq::Error::Status(_, response)) => {
                    return Err(Failure::from_response(&url, &response))
                }
                Err(ureq::Error::Transport(t)) => {
                    let message = transport_message(&t, &url);
                    return Err(Failure::Transport { url, message });
                }
            };
            let location = response.header("Location").map(str::to_string);
            match (response.status(), location) {
                (300..=399, Some(location))
                    if follow == Follow::All || location.starts_with('/') =>
                {
                    url = join(&url, &location);
                }
                _ => return Ok(response),
            }
        }
        Err(Failure::Transport {
            url,
            message: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    /// `send`, tried again with exponential backoff (1, 2, 4, 8, 8 s …) while the failure is
    /// transient, up to `settings.retries` more times.
    pub(crate) fn send_with_retries(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        timeout: Option<Duration>,
        follow: Follow,
    ) -> Result<ureq::Response, Failure> {
        let mut attempt = 0;
        loop {
            match self.send(method, url, headers, timeout, follow) {
                Err(failure) if failure.is_transient() && attempt < self.settings.retries => {
                    let wait = backoff(attempt);
                    attempt += 1;
                    tracing::warn!(
                        "{method} {failure}; retrying in {}s ({attempt}/{})",
                        wait.as_secs(),
                        self.settings.retries
                    );
                    std::thread::sleep(wait);
                }
                other => return other,
            }
        }
    }

    /// A JSON document (an API answer).
    pub(crate) fn get_json(&self, url: &str) -> Result<serde_json::Value, Failure> {
        let response = self.send_with_retries("GET", url, &[], None, Follow::Relative)?;
        let final_url = response.get_url().to_string();
        serde_json::from_reader(response.into_reader()).map_err(|e| Failure::Transport {
            url: final_url,
            message: format!("reading the answer as JSON: {e}"),
        })
    }
}

/// Seconds to wait before retry number `attempt` (from 0): 1, 2, 4, 8, then 8.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(3))
}

/// The transport error's text and causes, without the URL ureq puts first (the failure has it).
fn transport_message(t: &ureq::Transport, url: &str) -> String {
    let full = t.to_string();
    let mut text = full
        .strip_prefix(url)
        .map_or(full.as_str(), |rest| rest.trim_start_matches(": "))
        .to_string();
    let mut source = std::error::Error::source(t);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    text
}

/// `scheme://host:port` of a URL.
fn host_of(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    &url[..end]
}

/// A `Location` resolved against the URL that answered it.
fn join(base: &str, location: &str) -> String {
    if location.contains("://") {
        location.to_string()
    } else if location.starts_with('/') {
        format!("{}{location}", host_of(base))
    } else {
        let dir = base.rsplit_once('/').map_or(base, |(d, _)| d);
        format!("{dir}/{location}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_targets_and_hosts() {
        assert_eq!(
            host_of("https://huggingface.co/a/b"),
            "https://huggingface.co"
        );
        assert_eq!(host_of("http://127.0.0.1:9/x"), "http://127.0.0.1:9");
        assert_eq!(
            join("https://hf.co/a/resolve/main/x", "/b/resolve/main/x"),
            "https://hf.co/b/resolve/main/x"
        );
        assert_eq!(join("https://hf.co/a", "https://cdn/x"), "https://cdn/x");
        assert_eq!(
            [0, 1, 2, 3, 4, 9].map(|a| backoff(a).as_secs()),
            [1, 2, 4, 8, 8, 8]
        );
    }
}
