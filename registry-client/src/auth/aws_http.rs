//! The few plain HTTP calls the AWS side makes (ECR, STS, container and
//! instance metadata endpoints), over reqwest's blocking client with
//! explicit timeouts.

use std::time::Duration;

/// A response: status and (bounded) body.
pub(crate) struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_owned()
    }
}

/// Timeouts of one call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub connect: Duration,
    pub total: Duration,
}

/// AWS APIs: patient enough for a slow network.
pub(crate) const API: Timeouts = Timeouts {
    connect: Duration::from_secs(10),
    total: Duration::from_secs(60),
};

/// Link-local metadata services: a host that is not on EC2/ECS must fail
/// fast, as the SDKs do (1 s).
pub(crate) const METADATA: Timeouts = Timeouts {
    connect: Duration::from_secs(1),
    total: Duration::from_secs(2),
};

/// Sends one request; `Err` carries a sentence on the transport failure.
pub(crate) fn send(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
    timeouts: Timeouts,
) -> Result<Response, String> {
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.total)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot create an HTTP client: {e}"))?;
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut request = client.request(method, url);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request.body(body).send().map_err(describe)?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    use std::io::Read;
    response
        .take(1 << 20)
        .read_to_end(&mut body)
        .map_err(|e| format!("reading the response: {e}"))?;
    Ok(Response { status, body })
}

fn describe(e: reqwest::Error) -> String {
    use std::error::Error;
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// `application/x-www-form-urlencoded` encoding of `pairs`.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                super::sigv4::uri_encode(k),
                super::sigv4::uri_encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The host (with `:port` when not the scheme's default) of `url`, for
/// the signed `host` header.
pub(crate) fn host_header(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// The text of the first `<tag>` element, XML entities decoded. STS
/// answers are small and flat: no XML parser needed.
pub(crate) fn xml_tag(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(
        xml[start..end]
            .trim()
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// The service's own words in an error body: JSON `__type`/`message`
/// (JSON protocols) or XML `Code`/`Message` (query protocols, and moto's
/// authentication errors), else the body itself.
pub(crate) fn error_message(body: &[u8]) -> String {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        let kind = json["__type"].as_str().unwrap_or("");
        let kind = kind.rsplit('#').next().unwrap_or(kind);
        let message = json["message"]
            .as_str()
            .or(json["Message"].as_str())
            .unwrap_or("");
        if !kind.is_empty() || !message.is_empty() {
            return format!("{kind}: {message}");
        }
    }
    let text = String::from_utf8_lossy(body);
    match (xml_tag(&text, "Code"), xml_tag(&text, "Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (None, Some(message)) => message,
        _ => text.trim().chars().take(500).collect(),
    }
}
