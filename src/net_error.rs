//! Why a request got no answer, in the user's words: the DNS lookup failed, the connection was
//! refused, the TLS handshake failed, or it timed out, with the host and port it went to. One
//! reading of the error chain (reqwest → hyper-util → `std::io::Error` or rustls) for the
//! storages and Label Studio, instead of reqwest's `error sending request` for all of them.

use std::error::Error;
use std::fmt;

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    Dns,
    Refused,
    /// With rustls's reason.
    Tls(String),
    Timeout,
    /// Connecting failed another way (no route to the host, reset, ...): the system's words.
    Connect(String),
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Dns => f.write_str("DNS lookup failed (check the host name)"),
            Cause::Refused => f.write_str("connection refused (is it running?)"),
            Cause::Tls(why) => write!(f, "TLS handshake failed: {why}"),
            Cause::Timeout => f.write_str("timed out (is a firewall in the way, or the server overloaded?)"),
            Cause::Connect(why) => f.write_str(why),
        }
    }
}

/// A request that got no answer: where it went (`host:port`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoAnswer {
    pub host: String,
    pub cause: Cause,
}

impl fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.host, self.cause)
    }
}

/// What `e` says about a request that got no answer: `None` unless its chain holds a reqwest
/// error with the request's URL (kept by [`redact`]) and a cause above.
pub fn no_answer(e: &(dyn Error + 'static)) -> Option<NoAnswer> {
    let request = causes(e).find_map(|c| c.downcast_ref::<reqwest::Error>())?;
    let url = request.url()?;
    let host = format!("{}:{}", url.host_str()?, url.port_or_known_default()?);
    Some(NoAnswer {
        host,
        cause: cause(request)?,
    })
}

/// The cause, from the innermost errors out: hyper-util names a failed lookup `dns error` (its
/// type is private) and std says `failed to lookup address information`; the rest have types.
fn cause(request: &reqwest::Error) -> Option<Cause> {
    let mut found = None;
    for c in causes(request) {
        if let Some(tls) = c.downcast_ref::<rustls::Error>() {
            let hint = match tls {
                rustls::Error::InvalidCertificate(_) => "does this machine trust the server's certificate?",
                _ => "does the server speak https on this port?",
            };
            return Some(Cause::Tls(format!("{tls} ({hint})")));
        }
        let text = c.to_string();
        if text == "dns error" || text.starts_with("failed to lookup address information") {
            return Some(Cause::Dns);
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return Some(Cause::Refused),
                std::io::ErrorKind::TimedOut => return Some(Cause::Timeout),
                // Wrapping another error: that one is looked at next.
                _ if io.get_ref().is_some() => {}
                _ => found = Some(Cause::Connect(text)),
            }
        }
    }
    if request.is_timeout() {
        return Some(Cause::Timeout);
    }
    found.filter(|_| request.is_connect())
}

/// `e` and its sources, looking inside `std::io::Error`s too: their `source()` skips the error
/// they wrap (rustls's, inside tokio-rustls's).
fn causes<'a>(e: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(e), |&c: &&'a (dyn Error + 'static)| {
        match c.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn Error + 'static)),
            None => c.source(),
        }
    })
}

/// `e` with its URL cut to scheme, host and port: a presigned URL's query is a credential, and
/// the host is what a user needs to see.
pub fn redact(e: reqwest::Error) -> reqwest::Error {
    let origin = e.url().and_then(|url| {
        let mut origin = url.clone();
        origin.set_path("/");
        origin.set_query(None);
        origin.set_fragment(None);
        origin.set_username("").ok()?;
        origin.set_password(None).ok()?;
        Some(origin)
    });
    match origin {
        Some(url) => e.with_url(url),
        None => e.without_url(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;

    use super::*;

    async fn send(client: &reqwest::Client, url: &str) -> NoAnswer {
        let e = client.get(url).send().await.unwrap_err();
        no_answer(&redact(e)).unwrap()
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_port() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = send(&client(), &format!("http://127.0.0.1:{port}/x?signature=s3cr3t")).await;
        assert_eq!(
            e.to_string(),
            format!("127.0.0.1:{port}: connection refused (is it running?)")
        );
    }

    #[tokio::test]
    async fn a_failed_lookup_says_so() {
        let e = send(&client(), "https://oss.example.invalid/k.png").await;
        assert_eq!(
            e.to_string(),
            "oss.example.invalid:443: DNS lookup failed (check the host name)"
        );
    }

    /// A server that accepts and never answers.
    #[tokio::test]
    async fn silence_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        let e = send(&client(), &format!("http://127.0.0.1:{port}/")).await;
        assert_eq!(e.cause, Cause::Timeout);
        // A read timeout (the storages' client) the same.
        let reads = reqwest::Client::builder()
            .read_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let e = send(&reads, &format!("http://127.0.0.1:{port}/")).await;
        assert_eq!(
            e.to_string(),
            format!("127.0.0.1:{port}: timed out (is a firewall in the way, or the server overloaded?)")
        );
        server.abort();
    }

    /// Plain HTTP where https is asked for.
    #[tokio::test]
    async fn a_server_without_tls_fails_the_handshake() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        });
        let e = send(&client(), &format!("https://127.0.0.1:{port}/")).await;
        assert_eq!(
            e.to_string(),
            format!(
                "127.0.0.1:{port}: TLS handshake failed: received corrupt message of type InvalidContentType \
                 (does the server speak https on this port?)"
            )
        );
        server.abort();
    }

    #[tokio::test]
    async fn redact_keeps_the_origin_only() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://user:pw@127.0.0.1:{port}/a/b.png?x-oss-signature=s3cr3t#f");
        let e = redact(client().get(url).send().await.unwrap_err());
        let origin = format!("http://127.0.0.1:{port}/");
        assert_eq!(e.url().map(|u| u.as_str()), Some(origin.as_str()));
        assert!(!format!("{e} {e:?}").contains("s3cr3t"), "{e:?}");
    }

    /// Errors that are not about reaching the host are left to their own words.
    #[test]
    fn other_errors_are_not_no_answers() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "not a request");
        assert_eq!(no_answer(&io), None);
    }
}
