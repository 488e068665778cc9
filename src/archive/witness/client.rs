//! The witness protocol's HTTP client: one POST over plain TCP, bounded in
//! time and size. Transport security is not what makes a cosignature
//! trustworthy (it is checked against the configured witness key), so a
//! witness behind TLS is reached through a local TLS-terminating forward
//! proxy (docs/security.md, "Witnesses").

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;

/// The most bytes of a witness's answer custos reads.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Where a witness takes submissions: host, port and the path of
/// `add-checkpoint` under its submission prefix.
#[derive(Debug, Clone)]
pub(super) struct Target {
    host: String,
    port: u16,
    authority: String,
    path: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let uri: hyper::Uri = url.parse().map_err(|_| "not a URL".to_owned())?;
        if uri.scheme_str() != Some("http") {
            return Err("only http:// (put a TLS-terminating proxy on this host for https)".into());
        }
        let authority = uri.authority().ok_or("no host")?;
        if uri.query().is_some() || authority.as_str().contains('@') {
            return Err("no query or user info".into());
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = authority.port_u16().unwrap_or(80);
        let path = format!("{}/add-checkpoint", uri.path().trim_end_matches('/'));
        Ok(Target { host, port, authority: authority.as_str().to_owned(), path })
    }
}

/// A witness's answer.
#[derive(Debug)]
pub(super) struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// POSTs `body` to the target's `add-checkpoint`, within `timeout` in all.
pub(super) async fn add_checkpoint(
    target: &Target,
    body: String,
    timeout: std::time::Duration,
) -> Result<Answer, String> {
    match tokio::time::timeout(timeout, exchange(target, body)).await {
        Ok(answer) => answer,
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs_f64())),
    }
}

async fn exchange(target: &Target, body: String) -> Result<Answer, String> {
    let stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let driver = tokio::spawn(conn);
    let request = hyper::Request::post(target.path.as_str())
        .header(hyper::header::HOST, target.authority.as_str())
        .header(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("request: {e}"))?;
    let answered = async {
        let resp = sender.send_request(request).await.map_err(|e| format!("sending: {e}"))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        let body = String::from_utf8(bytes.to_vec()).map_err(|_| "the answer is not UTF-8".to_owned())?;
        Ok(Answer { status, content_type, body })
    }
    .await;
    driver.abort();
    answered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_plain_http_with_a_prefix() {
        let t = Target::parse("http://127.0.0.1:9000/witness/").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("127.0.0.1", 9000, "/witness/add-checkpoint"));
        let t = Target::parse("http://w.example").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/add-checkpoint"));
        for bad in ["https://w.example/", "ftp://w", "w.example", "http://u:p@w/", "http://w/?q=1", ""] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
