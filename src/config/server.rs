//! The HTTP server: where it listens, how browsers reach it, and what one request may cost.

use std::time::Duration;

use actix_web::http::header::HeaderValue;

use super::env::Env;
use super::error::{ConfigError, Problems, err};

/// Where and how the service listens. The limits of one request live here too: whatever storage
/// a request touches, the server enforces them and answers with the status they promise (413,
/// 504).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    /// Base URL of this service as browsers reach it, without a trailing `/`.
    pub public_url: String,
    /// `Access-Control-Allow-Origin` on every response: `*` or the Label Studio origin.
    pub cors_origin: CorsOrigin,
    /// HTTP worker threads.
    pub workers: usize,
    /// Longest a request may take to produce its response head.
    pub request_timeout: Duration,
    /// Largest request body accepted, bytes.
    pub max_body_bytes: usize,
    /// Most references in one document.
    pub max_references: usize,
    /// Who may follow a stable link (`LS_PRESIGN_LINK_POLICY`).
    pub link_policy: LinkPolicy,
}

/// Who may follow a stable link `/r/{token}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LinkPolicy {
    /// Whoever holds the link (it is a bearer credential).
    #[default]
    Open,
    /// Only a browser signed in to Label Studio: the request must carry a Label Studio session
    /// cookie that Label Studio accepts. Works where the service is served under Label Studio's
    /// own origin, since browsers send that cookie nowhere else.
    Login,
}

impl ServerConfig {
    /// `tls`: whether HTTPS is served, for the default public URL's scheme.
    pub(super) fn load(env: &Env<'_>, tls: bool) -> Result<ServerConfig, ConfigError> {
        let mut problems = Problems::default();
        let port: Option<u16> = problems.take(env.parse("PORT")).map(|p| p.unwrap_or(9090));
        let scheme = if tls { "https" } else { "http" };
        let public_url = match (env.get("LS_PRESIGN_PUBLIC_URL"), port) {
            (Some(url), _) => problems.take(public_url(url)),
            (None, Some(port)) => Some(format!("{scheme}://127.0.0.1:{port}")),
            (None, None) => None,
        };
        let cors_origin = match env.get("LS_PRESIGN_CORS_ORIGIN") {
            Some(value) => problems.take(CorsOrigin::parse(&value).map_err(|e| err("LS_PRESIGN_CORS_ORIGIN", e))),
            None => Some(CorsOrigin::any()),
        };
        let max_body_bytes = problems.take(env.parse("LS_PRESIGN_MAX_BODY_BYTES"));
        let max_references = problems.take(env.parse("LS_PRESIGN_MAX_REFERENCES"));
        let request_timeout = problems.take(env.parse::<u64>("LS_PRESIGN_REQUEST_TIMEOUT"));
        let workers = problems.take(env.parse("LS_PRESIGN_WORKERS"));
        let link_policy = problems.take(env.choice("LS_PRESIGN_LINK_POLICY"));
        // Read by the logger, which starts first; checked here so a typo is reported.
        problems.take(env.choice::<crate::logging::LogFormat>("LS_PRESIGN_LOG_FORMAT"));
        match (
            port,
            public_url,
            cors_origin,
            max_body_bytes,
            max_references,
            request_timeout,
            workers,
            link_policy,
        ) {
            (
                Some(port),
                Some(public_url),
                Some(cors_origin),
                Some(max_body_bytes),
                Some(max_references),
                Some(request_timeout),
                Some(workers),
                Some(link_policy),
            ) if problems.is_empty() => Ok(ServerConfig {
                host: env.get("HOST").unwrap_or_else(|| "0.0.0.0".into()),
                port,
                public_url: public_url.trim_end_matches('/').to_owned(),
                cors_origin,
                max_body_bytes: max_body_bytes.unwrap_or(64 << 20),
                max_references: max_references.unwrap_or(1_000_000),
                request_timeout: Duration::from_secs(request_timeout.unwrap_or(60).max(1)),
                workers: workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
                link_policy: link_policy.unwrap_or_default(),
            }),
            _ => Err(problems.into_error("server")),
        }
    }
}

impl ServerConfig {
    /// Under `LS_PRESIGN_LINK_POLICY=login`, whether links can work where browsers reach them:
    /// `Ok` says why they can, `Err` why not. `None` under `open`. Label Studio's origin as
    /// browsers see it is `LS_PRESIGN_CORS_ORIGIN` when that names one, else `LABEL_STUDIO_URL`'s.
    pub fn login_mount(&self, label_studio_url: &str) -> Option<Result<String, String>> {
        if self.link_policy != LinkPolicy::Login {
            return None;
        }
        let origin = |u: &str| {
            url::Url::parse(u)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default()
        };
        let (ls_origin, from) = match self.cors_origin.is_any() {
            true => (origin(label_studio_url), "LABEL_STUDIO_URL"),
            false => (
                self.cors_origin.header_value().to_str().unwrap_or_default().to_owned(),
                "LS_PRESIGN_CORS_ORIGIN",
            ),
        };
        let public = &self.public_url;
        let path = url::Url::parse(public).map(|u| u.path().to_owned()).unwrap_or_default();
        Some(if origin(public) != ls_origin {
            Err(format!(
                "links are served at {public} but Label Studio is at {ls_origin} ({from}): browsers send Label \
                 Studio's session cookie to its own origin only, so every link would answer 401. Serve ls-presign \
                 under Label Studio's host (LS_PRESIGN_PUBLIC_URL={ls_origin}/ls-presign, docs/LABEL_STUDIO.md §8)"
            ))
        } else if let Some(segment) = ["/presign/", "/resolve/"]
            .iter()
            .find(|s| format!("{path}/").contains(*s))
        {
            Err(format!(
                "links are served under {public}, whose path holds {segment}: Label Studio's service worker \
                 answers such same-origin URLs itself from its cache; mount ls-presign elsewhere, such as \
                 {ls_origin}/ls-presign"
            ))
        } else {
            Ok(format!(
                "links at {public} are on Label Studio's origin {ls_origin}: its login cookie reaches them"
            ))
        })
    }
}

/// `LS_PRESIGN_PUBLIC_URL`, checked: an http(s) base URL without a query.
fn public_url(url: String) -> Result<String, ConfigError> {
    let expected = "expected the http(s) base URL browsers reach this service at, such as https://presign.example.com";
    let parsed = url::Url::parse(&url).map_err(|e| {
        err(
            "LS_PRESIGN_PUBLIC_URL",
            format!("{url:?} is not a URL ({e}): {expected}"),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
        return Err(err(
            "LS_PRESIGN_PUBLIC_URL",
            format!("{url:?}: {expected}, without a query"),
        ));
    }
    Ok(url)
}

/// `LS_PRESIGN_CORS_ORIGIN`, checked once: the `Access-Control-Allow-Origin` header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsOrigin(HeaderValue);

impl CorsOrigin {
    /// `*`: every origin (the default).
    pub fn any() -> CorsOrigin {
        CorsOrigin(HeaderValue::from_static("*"))
    }

    /// `*`, or one origin written as browsers send it in `Origin` (`https://ls.example.com`,
    /// `http://localhost:8080`). Browsers compare the header with their origin byte for byte, so
    /// any other spelling (a path, a trailing `/`, a default port, upper case, a list) would
    /// fail every cross-origin read. Surrounding white space is ignored.
    pub fn parse(value: &str) -> Result<CorsOrigin, String> {
        let value = value.trim();
        if value == "*" {
            return Ok(CorsOrigin::any());
        }
        let origin = url::Url::parse(value)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .map(|u| u.origin().ascii_serialization());
        let refused = || {
            let hint = match &origin {
                Some(o) => format!("; did you mean {o:?}?"),
                None => String::new(),
            };
            format!(
                "{value:?} is not * or an origin such as https://ls.example.com \
                 (scheme://host[:port] as browsers send it: no path, no trailing slash){hint}"
            )
        };
        match &origin {
            Some(o) if o == value => HeaderValue::from_str(value).map(CorsOrigin).map_err(|_| refused()),
            _ => Err(refused()),
        }
    }

    /// The header value, as sent.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }

    /// Whether every origin is allowed (`*`); otherwise responses vary by `Origin`.
    pub fn is_any(&self) -> bool {
        self.0 == "*"
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<ServerConfig, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ServerConfig::load(&Env::map(&map), false)
    }

    #[test]
    fn a_bad_cors_origin_stops_start_up_naming_the_variable() {
        assert!(load(&[]).unwrap().cors_origin.is_any());
        let e = load(&[("LS_PRESIGN_CORS_ORIGIN", "https://ls.example.com/")]).unwrap_err();
        assert_eq!(e.setting, "LS_PRESIGN_CORS_ORIGIN");
        assert_eq!(
            e.to_string(),
            "LS_PRESIGN_CORS_ORIGIN: \"https://ls.example.com/\" is not * or an origin such as \
             https://ls.example.com (scheme://host[:port] as browsers send it: no path, no trailing slash); \
             did you mean \"https://ls.example.com\"?"
        );
    }

    #[test]
    fn the_login_policy_needs_links_on_label_studios_origin_outside_its_service_worker() {
        let mount = |pairs: &[(&str, &str)], ls: &str| load(pairs).unwrap().login_mount(ls);
        let login = ("LS_PRESIGN_LINK_POLICY", "login");
        assert_eq!(mount(&[], "http://ls:8080"), None);
        let ok = mount(
            &[login, ("LS_PRESIGN_PUBLIC_URL", "https://ls.example.com/ls-presign")],
            "https://ls.example.com",
        );
        assert_eq!(
            ok,
            Some(Ok(
                "links at https://ls.example.com/ls-presign are on Label Studio's origin \
                     https://ls.example.com: its login cookie reaches them"
                    .into()
            ))
        );
        // LABEL_STUDIO_URL is often an internal address: the CORS origin, when set, is the one
        // browsers use.
        let internal = mount(
            &[
                login,
                ("LS_PRESIGN_PUBLIC_URL", "https://ls.example.com/ls-presign"),
                ("LS_PRESIGN_CORS_ORIGIN", "https://ls.example.com"),
            ],
            "http://label-studio:8080",
        );
        assert!(matches!(internal, Some(Ok(_))), "{internal:?}");
        let other = mount(
            &[login, ("LS_PRESIGN_PUBLIC_URL", "https://presign.example.com")],
            "https://ls.example.com",
        );
        let Some(Err(why)) = other else { panic!("{other:?}") };
        assert!(
            why.starts_with(
                "links are served at https://presign.example.com but Label Studio is at https://ls.example.com \
                 (LABEL_STUDIO_URL): browsers send"
            ),
            "{why}"
        );
        for path in ["/presign", "/x/resolve/"] {
            let public = format!("https://ls.example.com{path}");
            let sw = mount(&[login, ("LS_PRESIGN_PUBLIC_URL", &public)], "https://ls.example.com");
            let Some(Err(why)) = sw else { panic!("{sw:?}") };
            assert!(why.contains("Label Studio's service worker"), "{why}");
        }
        let e = load(&[("LS_PRESIGN_LOG_FORMAT", "jsn")]).unwrap_err();
        assert_eq!(e.to_string(), "LS_PRESIGN_LOG_FORMAT: \"jsn\" is not one of text, json");
        assert!(load(&[("LS_PRESIGN_LOG_FORMAT", "json")]).is_ok());
        let e = load(&[("LS_PRESIGN_LINK_POLICY", "cookie")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "LS_PRESIGN_LINK_POLICY: \"cookie\" is not one of open, login"
        );
    }

    #[test]
    fn cors_origin_is_star_or_an_origin_as_browsers_send_it() {
        for ok in [
            "*",
            "https://ls.example.com",
            "http://ls.example:8080",
            "http://[::1]:8080",
            " * ",
        ] {
            let c = CorsOrigin::parse(ok).unwrap();
            assert_eq!(c.header_value(), ok.trim(), "{ok:?}");
            assert_eq!(c.is_any(), ok.trim() == "*", "{ok:?}");
        }
        for bad in [
            "https://ls.example.com/",
            "https://ls.example.com/projects",
            "https://ls.example.com:443",
            "HTTPS://LS.example.com",
            "https://ls.example.com, https://other.example.com",
            "https://ls.exa\nmple.com",
            "https://ls.exämple.com",
            "ls.example.com",
            "null",
            "ftp://ls.example.com",
        ] {
            let e = CorsOrigin::parse(bad).unwrap_err();
            assert!(
                e.starts_with(&format!("{bad:?} is not * or an origin such as https://ls.example.com")),
                "{e}"
            );
        }
        let e = CorsOrigin::parse("https://ls.example.com/").unwrap_err();
        assert!(e.ends_with("; did you mean \"https://ls.example.com\"?"), "{e}");
    }
}
