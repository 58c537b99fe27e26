//! The device under test, reached over HTTP or HTTPS.

use std::time::Duration;

use ureq::tls::TlsConfig;

use crate::case::Abort;

/// How long one request may take in all (connect, send, receive), unless
/// [`ClientOptions::timeout`] says otherwise (`--timeout`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long connecting may take (at most the request timeout).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the HTTP client reaches the target: certificate trust and the request timeout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientOptions {
    /// Accept any TLS certificate (`--insecure`): for self-signed devices, never across an
    /// untrusted network.
    pub insecure: bool,
    /// Trust only the certificates of this PEM text (`--cacert FILE`), e.g. the device's
    /// own self-signed certificate, instead of the built-in web roots.
    pub ca_pem: Option<String>,
    /// How long one request may take in all (`--timeout`); [`REQUEST_TIMEOUT`] when `None`.
    pub timeout: Option<Duration>,
}

impl ClientOptions {
    /// The TLS settings of these options; `Err` when `ca_pem` holds no certificate.
    fn tls(&self) -> Result<TlsConfig, String> {
        let mut tls = TlsConfig::builder().disable_verification(self.insecure);
        if let Some(pem) = &self.ca_pem {
            let mut certs = Vec::new();
            for item in ureq::tls::parse_pem(pem.as_bytes()) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                    Ok(_) => {}
                    Err(e) => return Err(format!("--cacert: not PEM: {e}")),
                }
            }
            if certs.is_empty() {
                return Err("--cacert: no certificate in the file".into());
            }
            tls = tls.root_certs(ureq::tls::RootCerts::from(certs));
        }
        Ok(tls.build())
    }
}

/// A device API base URL and the HTTP client that talks to it.
#[derive(Clone)]
pub struct Target {
    base: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("base", &self.base).finish()
    }
}

/// One answer of the device: status, content type and the raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as a JSON value; a failure names `what` was asked.
    pub fn json(&self, what: &str) -> Result<serde_json::Value, Abort> {
        serde_json::from_slice(&self.body).map_err(|e| Abort::Fail {
            status: Some(self.status),
            detail: format!("{what}: body is not JSON ({e}): {}", self.body_text()),
        })
    }

    /// A string member of a JSON object body.
    pub fn field(&self, what: &str, name: &str) -> Result<String, Abort> {
        let v = self.json(what)?;
        v.get(name)
            .and_then(|s| s.as_str())
            .map(String::from)
            .ok_or_else(|| Abort::Fail {
                status: Some(self.status),
                detail: format!("{what}: no string member `{name}` in {v}"),
            })
    }

    /// Up to 200 characters of the body, for messages.
    pub fn body_text(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        text.chars().take(200).collect()
    }

    /// Whether the content type is `application/json` (parameters allowed).
    pub fn is_json_type(&self) -> bool {
        self.content_type.as_deref().is_some_and(|t| {
            t.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        })
    }

    /// Checks that the answer has `status`, or fails the setup step `what`.
    pub fn require(self, what: &str, status: u16) -> Result<Self, Abort> {
        if self.status == status {
            Ok(self)
        } else {
            Err(Abort::Fail {
                status: Some(self.status),
                detail: format!(
                    "setup: {what} answered {}, expected {status} {}",
                    self.status,
                    self.body_text()
                ),
            })
        }
    }
}

/// The `Authorization` header to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth<'a> {
    /// No header.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// The header value verbatim.
    Raw(&'a str),
}

impl Target {
    /// A client for `base` (e.g. `http://127.0.0.1:8080` or `https://my-hem.local`).
    ///
    /// With `insecure`, any TLS certificate is accepted (for devices with self-signed
    /// certificates); never use it across an untrusted network.
    pub fn new(base: &str, insecure: bool) -> Result<Self, String> {
        Self::with_options(
            base,
            &ClientOptions {
                insecure,
                ..ClientOptions::default()
            },
        )
    }

    /// A client for `base` with `options` (certificate trust, timeout).
    pub fn with_options(base: &str, options: &ClientOptions) -> Result<Self, String> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "target URL must start with http:// or https://: {base}"
            ));
        }
        let timeout = options.timeout.unwrap_or(REQUEST_TIMEOUT);
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(CONNECT_TIMEOUT.min(timeout)))
            .max_redirects(0)
            // Loopback emulators and LAN devices are reached directly, never via a proxy.
            .proxy(None)
            .tls_config(options.tls()?)
            .build()
            .new_agent();
        Ok(Target { base, agent })
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path`.
    pub fn get(&self, path: &str, auth: Auth<'_>) -> Result<Response, Abort> {
        let req = with_auth(self.agent.get(self.url(path)), auth);
        finish(req.call(), "GET", path)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str, auth: Auth<'_>) -> Result<Response, Abort> {
        let req = with_auth(self.agent.delete(self.url(path)), auth);
        finish(req.call(), "DELETE", path)
    }

    /// `POST path` with `body` as `application/json` (sent as is, even if it is not JSON).
    pub fn post(&self, path: &str, body: &[u8], auth: Auth<'_>) -> Result<Response, Abort> {
        let req = with_auth(self.agent.post(self.url(path)), auth)
            .header("Content-Type", "application/json");
        finish(req.send(body), "POST", path)
    }

    /// `POST path` with a JSON value as the body.
    pub fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
        auth: Auth<'_>,
    ) -> Result<Response, Abort> {
        self.post(path, body.to_string().as_bytes(), auth)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn with_auth<B>(req: ureq::RequestBuilder<B>, auth: Auth<'_>) -> ureq::RequestBuilder<B> {
    match auth {
        Auth::None => req,
        Auth::Bearer(token) => req.header("Authorization", format!("Bearer {token}")),
        Auth::Raw(value) => req.header("Authorization", value),
    }
}

fn finish(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    method: &str,
    path: &str,
) -> Result<Response, Abort> {
    let mut resp = result.map_err(|e| Abort::fail(format!("{method} {path}: {e}")))?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .map_err(|e| Abort::fail(format!("{method} {path}: reading the body: {e}")))?;
    Ok(Response {
        status,
        content_type,
        body,
    })
}
