//! ListObjectsV2 (`GET /?list-type=2`) and the older ListObjects (`GET /` with `marker`, what
//! boto3's `bucket.objects` and so Label Studio's S3 storage use): their parameters, one page
//! over a bucket's sorted keys, and the `<ListBucketResult>` answer, as Aliyun OSS gives them.

use std::ops::Bound;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use super::error::OssError;
use super::sign::{encode, query_param};
use super::store::{Object, Objects};
use super::xml::Doc;

const DEFAULT_MAX_KEYS: usize = 100;
const MAX_MAX_KEYS: usize = 1000;
/// What `fetch-owner=true` reports: the emulator has one (made-up) account.
const OWNER_ID: &str = "1000000000000000";

/// The request's parameters; an empty value counts as absent, as the SDKs send them empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ListParams {
    pub prefix: String,
    pub delimiter: String,
    pub max_keys: usize,
    /// As sent, echoed back.
    pub continuation_token: String,
    pub start_after: String,
    pub fetch_owner: bool,
    /// `encoding-type=url`: names in the answer are percent-encoded.
    pub url_encoded: bool,
    /// Where the page starts (exclusive): from the token, else `start-after` (V2); `marker` (V1).
    resume_after: String,
    /// ListObjects (V1): `marker` and `NextMarker` instead of tokens.
    pub v1: bool,
}

impl ListParams {
    pub fn parse(query: &[(String, String)]) -> Result<ListParams, OssError> {
        let param = |name: &str| query_param(query, name).unwrap_or("");
        let v1 = query_param(query, "list-type").is_none();
        if !v1 && param("list-type") != "2" {
            return Err(OssError::bad_parameter(
                "list-type",
                param("list-type"),
                "list-type must be 2.",
            ));
        }
        let max_keys = match param("max-keys") {
            "" => DEFAULT_MAX_KEYS,
            raw => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_MAX_KEYS).contains(n))
                .ok_or_else(|| OssError::bad_parameter("max-keys", raw, "max-keys must be between 1 and 1000."))?,
        };
        let url_encoded = url_encoding(query)?;
        let continuation_token = param("continuation-token").to_string();
        let start_after = param("start-after").to_string();
        let resume_after = if v1 {
            param("marker").to_string()
        } else if continuation_token.is_empty() {
            start_after.clone()
        } else {
            decode_token(&continuation_token)?
        };
        Ok(ListParams {
            prefix: param("prefix").to_string(),
            delimiter: param("delimiter").to_string(),
            max_keys,
            continuation_token,
            start_after,
            fetch_owner: param("fetch-owner").eq_ignore_ascii_case("true"),
            url_encoded,
            resume_after,
            v1,
        })
    }
}

/// `encoding-type=url` (for listings and DeleteMultipleObjects): names answered percent-encoded.
pub(super) fn url_encoding(query: &[(String, String)]) -> Result<bool, OssError> {
    match query_param(query, "encoding-type") {
        None | Some("") => Ok(false),
        Some("url") => Ok(true),
        Some(other) => Err(OssError::bad_parameter(
            "encoding-type",
            other,
            "The encoding type must be url.",
        )),
    }
}

/// A name as an answer writes it: percent-encoded under `encoding-type=url`.
pub(super) fn answer_name(url_encoded: bool, name: &str) -> String {
    if url_encoded { encode(name) } else { name.to_owned() }
}

/// Tokens are opaque to clients; this one names the last key a page used up, in characters that
/// URL encoding leaves alone (oss2 and alibabacloud-oss-v2 decode the token with the keys).
pub(super) fn encode_token(last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(last_key)
}

fn decode_token(token: &str) -> Result<String, OssError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            OssError::bad_parameter(
                "continuation-token",
                token,
                "The continuation token provided is incorrect.",
            )
        })
}

/// One page: objects and common prefixes in key order, and where the next page starts.
#[derive(Default)]
pub(super) struct Page {
    pub contents: Vec<(String, Arc<Object>)>,
    pub common_prefixes: Vec<String>,
    /// When truncated, the last key the page used up: the next page starts after it.
    pub next_after: Option<String>,
}

/// Keys after the resume point that start with `prefix`; with a delimiter, the keys that hold it
/// after the prefix collapse into one common prefix (which counts once toward `max-keys`).
pub(super) fn page(objects: &Objects, params: &ListParams) -> Page {
    let start = if params.resume_after.as_str() >= params.prefix.as_str() {
        Bound::Excluded(params.resume_after.as_str())
    } else {
        Bound::Included(params.prefix.as_str())
    };
    let mut page = Page::default();
    let mut last_used: Option<&str> = None;
    for (key, object) in objects.range::<str, _>((start, Bound::Unbounded)) {
        let Some(rest) = key.strip_prefix(params.prefix.as_str()) else {
            break;
        };
        let common = match params.delimiter.as_str() {
            "" => None,
            d => rest.find(d).map(|at| &key[..params.prefix.len() + at + d.len()]),
        };
        if let Some(common) = common
            && page.common_prefixes.last().is_some_and(|p| p == common)
        {
            last_used = Some(key.as_str());
            continue;
        }
        if page.contents.len() + page.common_prefixes.len() == params.max_keys {
            page.next_after = last_used.map(str::to_owned);
            break;
        }
        match common {
            Some(common) => page.common_prefixes.push(common.to_string()),
            None => page.contents.push((key.clone(), object.clone())),
        }
        last_used = Some(key.as_str());
    }
    page
}

/// The `<ListBucketResult>` body. Elements are present as OSS sends them: `ContinuationToken`,
/// `Delimiter`, `StartAfter` and `EncodingType` only when asked for, `NextContinuationToken`
/// only when truncated, `Owner` only with `fetch-owner=true`.
pub(super) fn render(bucket: &str, params: &ListParams, page: &Page) -> String {
    let name = |s: &str| answer_name(params.url_encoded, s);
    let mut doc = Doc::new("ListBucketResult");
    doc.element("Name", bucket).element("Prefix", &name(&params.prefix));
    if params.v1 {
        doc.element("Marker", &name(&params.resume_after));
    }
    if !params.continuation_token.is_empty() {
        doc.element("ContinuationToken", &name(&params.continuation_token));
    }
    doc.element("MaxKeys", &params.max_keys.to_string());
    if !params.delimiter.is_empty() {
        doc.element("Delimiter", &name(&params.delimiter));
    }
    if !params.start_after.is_empty() {
        doc.element("StartAfter", &name(&params.start_after));
    }
    if params.url_encoded {
        doc.element("EncodingType", "url");
    }
    doc.element("IsTruncated", if page.next_after.is_some() { "true" } else { "false" });
    match &page.next_after {
        Some(last) if params.v1 => doc.element("NextMarker", &name(last)),
        Some(last) => doc.element("NextContinuationToken", &name(&encode_token(last))),
        None => &mut doc,
    };
    for (key, object) in &page.contents {
        let modified: DateTime<Utc> = object.last_modified.into();
        doc.open("Contents")
            .element("Key", &name(key))
            .element("LastModified", &modified.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .element("ETag", &object.etag())
            .element("Type", "Normal")
            .element("Size", &object.body.len().to_string())
            .element("StorageClass", "Standard");
        if params.fetch_owner {
            doc.open("Owner")
                .element("ID", OWNER_ID)
                .element("DisplayName", OWNER_ID)
                .close();
        }
        doc.close();
    }
    for prefix in &page.common_prefixes {
        doc.open("CommonPrefixes").element("Prefix", &name(prefix)).close();
    }
    if !params.v1 {
        let count = page.contents.len() + page.common_prefixes.len();
        doc.element("KeyCount", &count.to_string());
    }
    doc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        std::iter::once(("list-type", "2"))
            .chain(pairs.iter().copied())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn objects(keys: &[&str]) -> Objects {
        let store = Store::default();
        for key in keys {
            store.put("b", key, bytes::Bytes::from_static(b"x"), "text/plain");
        }
        store.read("b", Objects::clone)
    }

    /// Every page's names (common prefixes end with the delimiter), following the tokens.
    fn walk(objects: &Objects, pairs: &[(&str, &str)]) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut token = String::new();
        loop {
            let mut q = query(pairs);
            q.push(("continuation-token".into(), token.clone()));
            let page = page(objects, &ListParams::parse(&q).expect("params"));
            let mut names: Vec<String> = page.contents.iter().map(|(k, _)| k.clone()).collect();
            names.extend(page.common_prefixes.iter().cloned());
            names.sort();
            pages.push(names);
            match page.next_after {
                Some(last) => token = encode_token(&last),
                None => return pages,
            }
        }
    }

    #[test]
    fn pages_follow_tokens_in_byte_order() {
        let all = objects(&["b", "a", "é", "Z", "a/b", "a b", "~"]);
        let pages = walk(&all, &[("max-keys", "3")]);
        assert_eq!(pages, [vec!["Z", "a", "a b"], vec!["a/b", "b", "~"], vec!["é"]]);
        assert_eq!(walk(&all, &[]), [vec!["Z", "a", "a b", "a/b", "b", "~", "é"]]);
        let exact = walk(&all, &[("max-keys", "7")]);
        assert_eq!(exact.len(), 1, "no empty last page when the keys fit exactly");
    }

    #[test]
    fn delimiter_rolls_keys_into_common_prefixes_across_pages() {
        let all = objects(&["a/1", "a/2", "a/3", "b", "c/x/1", "c/y", "d", "p/q/r"]);
        assert_eq!(
            walk(&all, &[("delimiter", "/"), ("max-keys", "2")]),
            [vec!["a/", "b"], vec!["c/", "d"], vec!["p/"]]
        );
        assert_eq!(
            walk(&all, &[("delimiter", "/"), ("prefix", "c/")]),
            [vec!["c/x/", "c/y"]]
        );
        // A prefix that is not a "directory", and a multi-character delimiter.
        assert_eq!(
            walk(&all, &[("prefix", "a/"), ("max-keys", "1")]).concat(),
            ["a/1", "a/2", "a/3"]
        );
        assert_eq!(
            walk(&all, &[("delimiter", "/x/")]),
            [vec!["a/1", "a/2", "a/3", "b", "c/x/", "c/y", "d", "p/q/r"]]
        );
    }

    #[test]
    fn start_after_and_tokens() {
        let all = objects(&["a", "b", "c", "d"]);
        assert_eq!(walk(&all, &[("start-after", "b")]), [vec!["c", "d"]]);
        assert_eq!(walk(&all, &[("start-after", "bb")]), [vec!["c", "d"]]);
        assert_eq!(walk(&all, &[("start-after", "a"), ("prefix", "c")]), [vec!["c"]]);
        assert_eq!(walk(&all, &[("start-after", "z")]), [Vec::<String>::new()]);
        // A token wins over start-after.
        let token = encode_token("c");
        let q = query(&[("start-after", "a"), ("continuation-token", &token)]);
        let p = page(&all, &ListParams::parse(&q).expect("params"));
        assert_eq!(p.contents.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["d"]);
    }

    /// ListObjects (V1): pages follow `marker`, and the answer names `Marker` and `NextMarker`.
    #[test]
    fn v1_pages_follow_markers() {
        let all = objects(&["a", "b b", "c", "d"]);
        let v1 = |pairs: &[(&str, &str)]| {
            let q: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            ListParams::parse(&q).expect("params")
        };
        let first = v1(&[("max-keys", "2"), ("encoding-type", "url")]);
        let p = page(&all, &first);
        assert_eq!(p.next_after.as_deref(), Some("b b"));
        let body = render("bkt", &first, &p);
        assert!(
            body.contains("<Marker></Marker>") && body.contains("<NextMarker>b%20b</NextMarker>"),
            "{body}"
        );
        assert!(
            !body.contains("KeyCount") && !body.contains("ContinuationToken"),
            "{body}"
        );
        let rest = page(&all, &v1(&[("marker", "b b")]));
        assert_eq!(
            rest.contents.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["c", "d"]
        );
        assert!(rest.next_after.is_none());
    }

    #[test]
    fn bad_parameters_are_invalid_arguments() {
        for (name, value) in [
            ("max-keys", "0"),
            ("max-keys", "1001"),
            ("max-keys", "-1"),
            ("max-keys", "ten"),
            ("encoding-type", "base64"),
            ("continuation-token", "%%%"),
            ("list-type", "3"),
        ] {
            let mut q = query(&[]);
            q.retain(|(k, _)| k != name);
            q.push((name.to_string(), value.to_string()));
            let err = ListParams::parse(&q).expect_err(value);
            assert_eq!((err.status, err.code), (400, "InvalidArgument"), "{name}={value}");
            assert_eq!(err.detail("ArgumentName"), Some(name));
            assert_eq!(err.detail("ArgumentValue"), Some(value));
        }
        for ok in ["1", "1000"] {
            assert!(ListParams::parse(&query(&[("max-keys", ok)])).is_ok());
        }
    }

    #[test]
    fn answer_names_are_encoded_on_request() {
        let all = objects(&["d/a b+c%\u{1}", "d/x/y", "e"]);
        let q = query(&[
            ("prefix", "d/"),
            ("delimiter", "/"),
            ("encoding-type", "url"),
            ("max-keys", "1"),
            ("start-after", "d/ "),
            ("fetch-owner", "true"),
        ]);
        let params = ListParams::parse(&q).expect("params");
        let xml = render("bkt", &params, &page(&all, &params));
        let token = encode_token("d/a b+c%\u{1}");
        assert!(
            xml.starts_with(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult>\n  <Name>bkt</Name>\n  \
             <Prefix>d%2F</Prefix>\n  <MaxKeys>1</MaxKeys>\n  <Delimiter>%2F</Delimiter>\n  \
             <StartAfter>d%2F%20</StartAfter>\n  <EncodingType>url</EncodingType>\n  \
             <IsTruncated>true</IsTruncated>\n"
            ),
            "{xml}"
        );
        assert!(xml.contains(&format!("<NextContinuationToken>{token}</NextContinuationToken>")));
        assert!(xml.contains("<Key>d%2Fa%20b%2Bc%25%01</Key>"), "{xml}");
        assert!(xml.contains("<ETag>&quot;9DD4E461268C8034F5C8564E155C67A6&quot;</ETag>"));
        assert!(xml.contains("<Type>Normal</Type>\n    <Size>1</Size>\n    <StorageClass>Standard</StorageClass>"));
        assert!(xml.contains("<Owner>\n      <ID>"));
        assert!(xml.ends_with("  <KeyCount>1</KeyCount>\n</ListBucketResult>\n"));

        let plain = ListParams::parse(&query(&[("prefix", "e")])).expect("params");
        let xml = render("bkt", &plain, &page(&all, &plain));
        assert!(xml.contains("<Prefix>e</Prefix>\n  <MaxKeys>100</MaxKeys>\n  <IsTruncated>false</IsTruncated>"));
        assert!(!xml.contains("EncodingType") && !xml.contains("Owner") && !xml.contains("Delimiter"));
        let modified = text_of(&xml, "LastModified");
        assert_eq!(modified.len(), "2026-11-27T10:00:00.000Z".len(), "{modified}");
        assert!(modified.ends_with(".000Z"));
    }

    fn text_of(xml: &str, tag: &str) -> String {
        let open = format!("<{tag}>");
        let start = xml.find(&open).expect("tag") + open.len();
        let end = xml[start..].find('<').expect("end") + start;
        xml[start..end].to_string()
    }
}
