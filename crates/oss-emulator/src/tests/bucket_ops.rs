//! Listing and deleting over HTTP, signed as clients sign them.

use super::*;
use crate::xml::{self, Element};
use base64::Engine as _;
use md5::{Digest, Md5};
use percent_encoding::percent_decode_str;

/// Keys that break naive handling: blanks at either end, `//`, `+`, `%`, `#`, `?`, XML
/// specials, a tab, a control character XML 1.0 cannot carry, and non-ASCII.
const TRICKY: &[&str] = &[
    "plain.txt",
    " lead",
    "trail ",
    "a//b",
    "a+b c",
    "100%",
    "%2F",
    "x#y",
    "q?.txt",
    "amp&<lt>\"'",
    "tab\tkey",
    "ctl/\u{1}key",
    "日本/画像 1.png",
    "emoji😀",
    "dir/sub/",
    "dir/z",
];

struct Client {
    http: reqwest::Client,
    base: String,
    port: u16,
    cred: Credential,
}

impl Client {
    fn new(emu: &Emulator) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: emu.endpoint(),
            port: emu.port(),
            cred: cred("STS.2", "SK2", Some("tok/+=")),
        }
    }

    fn sign(&self, bucket: &BucketConfig, req: &TestRequest) -> String {
        let pq = if bucket.allow_v1 {
            presign_oss1_request_for_tests(&self.cred, bucket, false, req, Utc::now().timestamp() + 60)
        } else {
            presign_oss4_request_for_tests(&self.cred, bucket, false, req, Utc::now(), 60)
        };
        pq.expect("sign")
    }

    /// Sends `req`'s headers and `body` to `path_and_query`, optionally with another Host.
    async fn send(&self, req: &TestRequest, path_and_query: &str, body: &str, host: Option<String>) -> (u16, String) {
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).expect("method");
        let mut builder = self
            .http
            .request(method, format!("{}{path_and_query}", self.base))
            .body(body.to_string());
        for (name, value) in &req.headers {
            builder = builder.header(name, value);
        }
        if let Some(host) = host {
            builder = builder.header("Host", host);
        }
        let resp = builder.send().await.expect("send");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    async fn call(&self, bucket: &BucketConfig, req: &TestRequest) -> (u16, String) {
        self.send(req, &self.sign(bucket, req), "", None).await
    }

    async fn post(&self, bucket: &BucketConfig, (req, body): &(TestRequest, String)) -> (u16, String) {
        self.send(req, &self.sign(bucket, req), body, None).await
    }

    async fn put(&self, bucket: &BucketConfig, key: &str) {
        let req = TestRequest::new("PUT", key);
        assert_eq!(
            self.send(&req, &self.sign(bucket, &req), key, None).await.0,
            200,
            "{key:?}"
        );
    }

    /// Every page of a listing (the request's `continuation-token` is set per page), checked to
    /// be well formed: decoded keys, decoded common prefixes, one entry per page.
    async fn list_all(&self, bucket: &BucketConfig, req: &TestRequest) -> Vec<(Vec<String>, Vec<String>)> {
        let mut pages = Vec::new();
        let mut token = String::new();
        loop {
            let req = req.clone().param("continuation-token", &token);
            let (status, body) = self.call(bucket, &req).await;
            assert_eq!(status, 200, "{body}");
            let root = xml::parse(&body).expect("well-formed listing");
            let encoded = text(&root, "EncodingType") == "url";
            let name = |s: &str| {
                if encoded {
                    percent_decode_str(s).decode_utf8().expect("utf-8").into_owned()
                } else {
                    s.to_string()
                }
            };
            let keys: Vec<String> = root.all("Contents").map(|c| name(&text(c, "Key"))).collect();
            let prefixes: Vec<String> = root.all("CommonPrefixes").map(|c| name(&text(c, "Prefix"))).collect();
            assert_eq!(text(&root, "KeyCount"), (keys.len() + prefixes.len()).to_string());
            pages.push((keys, prefixes));
            if text(&root, "IsTruncated") == "false" {
                assert!(root.child("NextContinuationToken").is_none());
                return pages;
            }
            token = name(&text(&root, "NextContinuationToken"));
        }
    }
}

fn text(parent: &Element, name: &str) -> String {
    parent.child(name).map(|e| e.text.clone()).unwrap_or_default()
}

fn list_request() -> TestRequest {
    TestRequest::new("GET", "").param("list-type", "2")
}

fn sorted(keys: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    keys.sort();
    keys
}

/// Escaped for XML, control characters as character references (as alibabacloud-oss-v2 writes them).
fn xml_text(key: &str) -> String {
    xml::escape(key)
        .chars()
        .map(|c| match c {
            c if c < ' ' && !matches!(c, '\t' | '\n') => format!("&#{};", u32::from(c)),
            c => c.to_string(),
        })
        .collect()
}

fn delete_body(quiet: bool, keys: &[&str]) -> String {
    let objects: String = keys
        .iter()
        .map(|k| format!("<Object><Key>{}</Key></Object>", xml_text(k)))
        .collect();
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>{quiet}</Quiet>{objects}</Delete>")
}

/// A signed DeleteMultipleObjects request for `body`, and the body.
fn multi_delete(body: &str, encoding: bool) -> (TestRequest, String) {
    let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(body.as_bytes()));
    let req = TestRequest::new("POST", "").param("delete", "");
    let req = if encoding {
        req.param("encoding-type", "url")
    } else {
        req
    };
    let req = req
        .header("content-md5", &md5)
        .header("content-type", "application/xml");
    (req, body.to_string())
}

/// An emulator whose V4-only bucket `media` holds the TRICKY keys, put over HTTP.
async fn with_tricky_keys() -> (Emulator, Client, BucketConfig) {
    let emu = start_server().await;
    let client = Client::new(&emu);
    let media = bucket("media", false);
    for key in TRICKY {
        client.put(&media, key).await;
    }
    (emu, client, media)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_through_exact_keys() {
    let (emu, client, media) = with_tricky_keys().await;
    assert_eq!(emu.keys("media"), sorted(TRICKY));

    // Small pages, encoded names: every key once, in byte order, across pages.
    let req = list_request().param("max-keys", "3").param("encoding-type", "url");
    let pages = client.list_all(&media, &req).await;
    assert_eq!(pages.len(), TRICKY.len().div_ceil(3));
    let keys: Vec<String> = pages.iter().flat_map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, sorted(TRICKY));

    // With a delimiter, `a//b`, `ctl/..`, `dir/..` and `日本/..` roll up; a page can end on one.
    let req = list_request()
        .param("delimiter", "/")
        .param("max-keys", "2")
        .param("encoding-type", "url")
        .param("fetch-owner", "true");
    let pages = client.list_all(&media, &req).await;
    let prefixes: Vec<String> = pages.iter().flat_map(|(_, p)| p.clone()).collect();
    assert_eq!(prefixes, ["a/", "ctl/", "dir/", "日本/"]);
    let keys: Vec<String> = pages.iter().flat_map(|(k, _)| k.clone()).collect();
    let flat: Vec<&str> = TRICKY.iter().copied().filter(|k| !k.contains('/')).collect();
    assert_eq!(keys, sorted(&flat));

    // Prefix and start-after; raw names (no encoding-type) where XML can carry them.
    let req = list_request().param("prefix", "dir/").param("start-after", "dir/sub/");
    assert_eq!(
        client.list_all(&media, &req).await,
        [(vec!["dir/z".to_string()], vec![])]
    );
    let req = list_request().param("start-after", "ctl0");
    let keys: Vec<String> = client
        .list_all(&media, &req)
        .await
        .into_iter()
        .flat_map(|p| p.0)
        .collect();
    assert_eq!(
        keys,
        sorted(TRICKY)
            .into_iter()
            .filter(|k| k.as_str() > "ctl0")
            .collect::<Vec<_>>()
    );
    // Without encoding-type a control character goes out raw, as XML 1.0 cannot say it.
    let req = list_request().param("prefix", "ctl/");
    let (status, body) = client.call(&media, &req).await;
    assert_eq!(status, 200);
    assert!(body.contains("<Key>ctl/\u{1}key</Key>"), "{body}");
    assert!(xml::parse(&body).is_err());

    // In a query `+` is a space, as oss2 sends one (through requests); `%2B` is a plus.
    let req = list_request().param("prefix", "a+b c");
    let signed = client
        .sign(&media, &req)
        .replacen("prefix=a%2Bb%20c", "prefix=a%2Bb+c", 1);
    assert!(signed.contains("prefix=a%2Bb+c"));
    let (status, body) = client.send(&req, &signed, "", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Key>a+b c</Key>"), "{body}");

    // Path style without the trailing slash (as OpenDAL sends it) and virtual-hosted style
    // verify the same signature: OSS V4 signs the resource `/media/` for both.
    let req = list_request().param("prefix", "emoji");
    let signed = client.sign(&media, &req);
    let no_slash = signed.replacen("/media/?", "/media?", 1);
    let (status, body) = client.send(&req, &no_slash, "", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Key>emoji😀</Key>"));
    let vh = presign_oss4_request_for_tests(&client.cred, &media, true, &req, Utc::now(), 60).expect("sign");
    assert!(vh.starts_with("/?"));
    let (status, body) = client
        .send(&req, &vh, "", Some(format!("media.localhost:{}", client.port)))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Key>emoji😀</Key>"));
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_is_signed_and_checked() {
    let emu = start_server().await;
    let client = Client::new(&emu);
    let media = bucket("media", false);
    let open = bucket("open", true);
    for key in ["k1", "k2", "k3"] {
        client.put(&media, key).await;
        client.put(&open, key).await;
    }
    let req = list_request().param("max-keys", "2");

    // OSS V4 signs every query parameter: changing or adding one breaks the signature.
    let signed = client.sign(&media, &req);
    assert!(signed.contains("max-keys=2"));
    for tampered in [
        signed.replace("max-keys=2", "max-keys=3"),
        format!("{signed}&prefix=k"),
        signed.replace("list-type=2&", ""),
    ] {
        let (status, body) = client.send(&req, &tampered, "", None).await;
        assert_eq!(status, 403, "{tampered}");
        assert!(body.contains("<Code>SignatureDoesNotMatch</Code>"), "{body}");
    }

    // OSS V1 signs only sub-resources: not list-type or max-keys, but continuation-token.
    let signed = client.sign(&open, &req);
    let (status, body) = client
        .send(&req, &signed.replace("max-keys=2", "max-keys=1"), "", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<MaxKeys>1</MaxKeys>"));
    let paged = req
        .clone()
        .param("continuation-token", &crate::list::encode_token("k1"));
    let signed = client.sign(&open, &paged);
    let (status, body) = client.send(&paged, &signed, "", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Key>k2</Key>") && !body.contains("<Key>k1</Key>"));
    let tampered = signed.replace(&crate::list::encode_token("k1"), &crate::list::encode_token("k2"));
    assert_eq!(client.send(&paged, &tampered, "", None).await.0, 403);

    // Bad parameters are answered as OSS answers them.
    for (name, value) in [("max-keys", "0"), ("max-keys", "1001"), ("encoding-type", "xml")] {
        let (status, body) = client.call(&media, &list_request().param(name, value)).await;
        assert_eq!(status, 400, "{name}={value}");
        assert!(body.contains("<Code>InvalidArgument</Code>"), "{body}");
        assert!(body.contains(&format!("<ArgumentName>{name}</ArgumentName>")), "{body}");
    }
    let (status, body) = client.call(&media, &list_request().param("max-keys", "1000")).await;
    assert_eq!(status, 200);
    assert!(body.contains("<MaxKeys>1000</MaxKeys>"));
    let (status, body) = client.call(&media, &list_request()).await;
    assert!(status == 200 && body.contains("<MaxKeys>100</MaxKeys>"));
    // ListObjects (V1), signed the same way: markers instead of tokens.
    let (status, body) = client
        .call(&media, &TestRequest::new("GET", "").param("max-keys", "1"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<Marker></Marker>") && body.contains("<NextMarker>"),
        "{body}"
    );
    // Another bucket operation is not a listing.
    let (status, body) = client.call(&media, &TestRequest::new("GET", "").param("acl", "")).await;
    assert_eq!(status, 501, "{body}");
    let resp = client
        .http
        .get(format!("{}/nobucket/?list-type=2", client.base))
        .send()
        .await
        .expect("no bucket");
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.expect("xml").contains("<Code>NoSuchBucket</Code>"));
    emu.stop().await;
}

/// What a listing hands out to continue after `key`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_single_and_multiple() {
    let (emu, client, media) = with_tricky_keys().await;

    // DELETE answers 204 whether the key was there or not.
    for key in [" lead", " lead", "never-there"] {
        assert_eq!(client.call(&media, &TestRequest::new("DELETE", key)).await.0, 204);
    }
    assert_eq!(client.call(&media, &TestRequest::new("GET", " lead")).await.0, 404);
    assert!(emu.keys("media").iter().all(|k| k != " lead"));

    // Verbose, with encoded keys in the answer; keys in the request are literal.
    let verbose = ["a//b", "100%", "%2F", "ctl/\u{1}key", "amp&<lt>\"'", "missing"];
    let body = delete_body(false, &verbose);
    let (status, answer) = client.post(&media, &multi_delete(&body, true)).await;
    assert_eq!(status, 200, "{answer}");
    let root = xml::parse(&answer).expect("DeleteResult");
    assert_eq!(root.name, "DeleteResult");
    assert_eq!(text(&root, "EncodingType"), "url");
    let deleted: Vec<String> = root
        .all("Deleted")
        .map(|d| {
            percent_decode_str(&text(d, "Key"))
                .decode_utf8()
                .expect("utf-8")
                .into_owned()
        })
        .collect();
    assert_eq!(deleted, verbose);

    // Without encoding-type the keys come back as they are.
    let body = delete_body(false, &["tab\tkey", "trail "]);
    let (status, answer) = client.post(&media, &multi_delete(&body, false)).await;
    assert_eq!(status, 200, "{answer}");
    let root = xml::parse(&answer).expect("DeleteResult");
    assert!(root.child("EncodingType").is_none());
    let deleted: Vec<String> = root.all("Deleted").map(|d| text(d, "Key")).collect();
    assert_eq!(deleted, ["tab\tkey", "trail "]);

    // Quiet: no body.
    let rest: Vec<String> = emu.keys("media");
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let body = delete_body(true, &rest);
    let (status, answer) = client.post(&media, &multi_delete(&body, true)).await;
    assert_eq!((status, answer.as_str()), (200, ""));
    assert!(emu.keys("media").is_empty());
    let (_, listing) = client.call(&media, &list_request()).await;
    assert!(listing.contains("<KeyCount>0</KeyCount>") && !listing.contains("<Contents>"));

    // Content-MD5 is required and checked; the body must be a Delete document.
    client.put(&media, "kept").await;
    let body = delete_body(false, &["kept"]);
    let (mut no_md5, _) = multi_delete(&body, false);
    no_md5.headers.retain(|(n, _)| n != "content-md5");
    let (status, answer) = client.post(&media, &(no_md5, body.clone())).await;
    assert_eq!(status, 400);
    assert!(answer.contains("<Code>MissingArgument</Code>"), "{answer}");
    let (md5_of_other, _) = multi_delete(&delete_body(false, &["other"]), false);
    let (status, answer) = client.post(&media, &(md5_of_other, body.clone())).await;
    assert_eq!(status, 400);
    assert!(answer.contains("<Code>InvalidDigest</Code>"), "{answer}");
    for bad in [
        "<Delete><Object><Key>kept</Key></Object>",
        "<Delete></Delete>",
        "<Remove><Object><Key>kept</Key></Object></Remove>",
        "<Delete><Quiet>maybe</Quiet><Object><Key>kept</Key></Object></Delete>",
        "<Delete><Object></Object></Delete>",
    ] {
        let (status, answer) = client.post(&media, &multi_delete(bad, false)).await;
        assert_eq!(status, 400, "{bad}");
        assert!(answer.contains("<Code>MalformedXML</Code>"), "{answer}");
    }
    assert_eq!(emu.keys("media"), ["kept"]);

    // The Content-MD5 header is signed: a different one breaks the signature.
    let (req, body) = multi_delete(&body, false);
    let signed = client.sign(&media, &req);
    let mut other = req.clone();
    other.headers.retain(|(n, _)| n != "content-md5");
    let other = other.header("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==");
    assert_eq!(client.send(&other, &signed, &body, None).await.0, 403);
    assert_eq!(client.send(&req, &signed, &body, None).await.0, 200);
    assert!(emu.keys("media").is_empty());

    // POST on an object is not an operation.
    assert_eq!(client.call(&media, &TestRequest::new("POST", "kept")).await.0, 405);
    emu.stop().await;
}
