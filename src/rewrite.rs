//! Finding storage references in JSON and rewriting them, with Label Studio's semantics.
//!
//! Pure code: no I/O. The JSON text is edited in place, so everything that is not a reference
//! (white space, key order, number spelling, escapes) comes back byte for byte.
//!
//! A JSON string *value* holds references in one of two ways, as Label Studio reads them:
//! - the whole string is a URI (`"oss://bucket/a b.jpg "`, trailing space and all), or
//! - URIs quoted inside text or HTML (`<img src="oss://bucket/k.jpg">`), every occurrence.
//!
//! Object keys are never rewritten.

use std::borrow::Cow;
use std::ops::Range;

use memchr::{memchr2, memmem};
use serde_json::value::RawValue;

use crate::uri::{Scheme, StorageUri};

/// Deepest nesting of arrays and objects accepted (serde_json's own limit).
pub const MAX_DEPTH: usize = 128;

/// Why the input is not JSON we can rewrite.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error("invalid JSON: {0}")]
    Syntax(#[from] serde_json::Error),
    #[error("invalid JSON: not UTF-8 ({0})")]
    NotUtf8(#[from] std::str::Utf8Error),
    #[error("the JSON nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

impl JsonError {
    /// Whether the JSON nests deeper than [`MAX_DEPTH`].
    pub fn too_deep(&self) -> bool {
        match self {
            JsonError::TooDeep => true,
            JsonError::Syntax(e) => e.to_string().starts_with("recursion limit exceeded"),
            JsonError::NotUtf8(_) => false,
        }
    }
}

/// One reference found in a string value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Byte range of the URI inside the decoded string value.
    pub range: Range<usize>,
    pub uri: StorageUri,
}

/// A string value that holds at least one reference.
#[derive(Debug)]
struct Hit<'a> {
    /// Byte range of the whole JSON string literal, quotes included.
    span: Range<usize>,
    value: Cow<'a, str>,
    refs: Vec<Reference>,
}

/// A scanned JSON document: the source plus every string value holding references.
#[derive(Debug)]
pub struct Document<'a> {
    src: &'a [u8],
    hits: Vec<Hit<'a>>,
}

/// Tally of one rewrite.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// References replaced.
    pub rewritten: usize,
    /// References left as they were (bucket not configured, prefix not allowed, failed).
    pub skipped: usize,
}

impl<'a> Document<'a> {
    /// Validates `src` as JSON and finds every reference in its string values.
    pub fn scan(src: &'a [u8]) -> Result<Document<'a>, JsonError> {
        Self::scan_text(std::str::from_utf8(src)?)
    }

    /// [`Document::scan`] of text already checked to be UTF-8.
    fn scan_text(text: &'a str) -> Result<Document<'a>, JsonError> {
        // Full validation first, so the scanner below can rely on well-formed input. Skipping
        // values checks neither UTF-8 inside strings nor depth, so those are checked here.
        let src = text.as_bytes();
        serde_json::from_str::<serde::de::IgnoredAny>(text)?;
        let mut hits = Vec::new();
        let mut pos = 0;
        let mut depth = 0usize;
        loop {
            let open = memchr::memchr(b'"', &src[pos..]).map(|i| pos + i);
            // Structure between strings: count nesting.
            for &b in &src[pos..open.unwrap_or(src.len())] {
                match b {
                    b'[' | b'{' => {
                        depth += 1;
                        if depth > MAX_DEPTH {
                            return Err(JsonError::TooDeep);
                        }
                    }
                    b']' | b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            let Some(open) = open else { break };
            let (close, escaped) = string_end(src, open + 1);
            pos = close + 1;
            if is_object_key(src, pos) {
                continue;
            }
            let raw = &src[open + 1..close];
            if memmem::find(raw, b"://").is_none() && !(escaped && memmem::find(raw, b":\\/").is_some()) {
                continue;
            }
            let value: Cow<'a, str> = if escaped {
                Cow::Owned(serde_json::from_slice::<String>(&src[open..=close])?)
            } else {
                // Checked above: UTF-8, and the quotes are ASCII, so these are char boundaries.
                Cow::Borrowed(&text[open + 1..close])
            };
            let refs = find_references(&value);
            if !refs.is_empty() {
                hits.push(Hit {
                    span: open..close + 1,
                    value,
                    refs,
                });
            }
        }
        Ok(Document { src, hits })
    }

    /// [`Document::scan`] keeping only what Label Studio reads as task data: in a task (an object
    /// whose `data` is an object), its `data`; in a list of tasks, `{"tasks": [...]}` (a `/predict`
    /// body) or a Label Studio export, each task's `data`; an object without `data`, or anything
    /// else, is task data as a whole, as Label Studio imports it. `meta`, `annotations`,
    /// `predictions`, `label_config` and every other key stay as they are.
    pub fn scan_task_data(src: &'a [u8]) -> Result<Document<'a>, JsonError> {
        let text = std::str::from_utf8(src)?;
        let mut doc = Document::scan_text(text)?;
        if doc.hits.is_empty() {
            return Ok(doc);
        }
        let regions = task_data(text)?;
        // Hits and regions both come in document order, and regions do not overlap: one walk.
        let mut regions = regions.iter().peekable();
        doc.hits.retain(|h| {
            while regions.next_if(|r| r.end <= h.span.start).is_some() {}
            regions
                .peek()
                .is_some_and(|r| r.start <= h.span.start && h.span.end <= r.end)
        });
        Ok(doc)
    }

    /// Every reference, in document order (with repeats).
    pub fn references(&self) -> impl Iterator<Item = &StorageUri> {
        self.hits.iter().flat_map(|h| h.refs.iter().map(|r| &r.uri))
    }

    /// How many references the document holds (with repeats).
    pub fn reference_count(&self) -> usize {
        self.hits.iter().map(|h| h.refs.len()).sum()
    }

    /// True when the document holds no reference at all.
    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }

    /// Writes the document with each reference replaced by what `replace` returns; `None`
    /// leaves that reference as it was.
    pub fn render<'r>(&self, mut replace: impl FnMut(&StorageUri) -> Option<Cow<'r, str>>) -> (Vec<u8>, Counts) {
        let mut counts = Counts::default();
        if self.hits.is_empty() {
            return (self.src.to_vec(), counts);
        }
        let mut out = Vec::with_capacity(self.src.len() + self.src.len() / 4);
        let mut copied = 0;
        for hit in &self.hits {
            let mut value = String::with_capacity(hit.value.len() * 2);
            let mut last = 0;
            let mut changed = false;
            for r in &hit.refs {
                value.push_str(&hit.value[last..r.range.start]);
                match replace(&r.uri) {
                    Some(new) => {
                        value.push_str(&new);
                        counts.rewritten += 1;
                        changed = true;
                    }
                    None => {
                        value.push_str(&hit.value[r.range.clone()]);
                        counts.skipped += 1;
                    }
                }
                last = r.range.end;
            }
            if !changed {
                continue;
            }
            value.push_str(&hit.value[last..]);
            out.extend_from_slice(&self.src[copied..hit.span.start]);
            // Serializing a &str to a Vec cannot fail.
            let _ = serde_json::to_writer(&mut out, &value);
            copied = hit.span.end;
        }
        out.extend_from_slice(&self.src[copied..]);
        (out, counts)
    }
}

/// The byte ranges of `src` that Label Studio reads as task data (see [`Document::scan_task_data`]).
/// `src` is valid JSON already; this only looks for `data` and `tasks`, borrowing every value.
fn task_data(src: &str) -> Result<Vec<Range<usize>>, JsonError> {
    let span = |raw: &RawValue| {
        let start = raw.get().as_ptr() as usize - src.as_ptr() as usize;
        start..start + raw.get().len()
    };
    let whole = src.trim_start();
    let mut tasks: Vec<&RawValue> = Vec::new();
    let mut out = Vec::new();
    match whole.as_bytes().first() {
        Some(b'[') => tasks = serde_json::from_str(src)?,
        Some(b'{') => {
            let top: Members = serde_json::from_str(src)?;
            match (top.data, top.tasks) {
                (Some(data), _) if opens(data, b'{') => out.push(span(data)),
                (_, Some(list)) if opens(list, b'[') => tasks = serde_json::from_str(list.get())?,
                _ => out.push(0..src.len()),
            }
        }
        _ => out.push(0..src.len()),
    }
    for task in tasks {
        // A task's `data` when that is an object, else the whole item.
        let data = if opens(task, b'{') {
            serde_json::from_str::<Members>(task.get())?
                .data
                .filter(|d| opens(d, b'{'))
        } else {
            None
        };
        out.push(span(data.unwrap_or(task)));
    }
    Ok(out)
}

/// Whether a JSON value starts with `c` (`{` an object, `[` an array).
fn opens(raw: &RawValue, c: u8) -> bool {
    raw.get().as_bytes().first() == Some(&c)
}

/// The members of an object that decide what is task data, borrowed; every other member is
/// skipped without being built (the last of a repeated key wins, as in Label Studio).
#[derive(Default)]
struct Members<'a> {
    data: Option<&'a RawValue>,
    tasks: Option<&'a RawValue>,
}

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Members::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Data => members.data = Some(map.next_value()?),
                        Key::Tasks => members.tasks = Some(map.next_value()?),
                        Key::Other => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(members)
            }
        }
        d.deserialize_map(Visitor)
    }
}

/// An object key, told apart without keeping it.
enum Key {
    Data,
    Tasks,
    Other,
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "data" => Key::Data,
                    "tasks" => Key::Tasks,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(Visitor)
    }
}

/// Index of the closing quote of the string whose content starts at `from`, and whether the
/// string holds escapes.
fn string_end(src: &[u8], mut from: usize) -> (usize, bool) {
    let mut escaped = false;
    while let Some(i) = memchr2(b'"', b'\\', &src[from..]) {
        let at = from + i;
        if src[at] == b'"' {
            return (at, escaped);
        }
        escaped = true;
        from = at + 2;
    }
    // Unreachable for validated JSON.
    (src.len() - 1, escaped)
}

/// Whether the string that closed just before `after` is an object key (followed by `:`).
fn is_object_key(src: &[u8], after: usize) -> bool {
    src[after..]
        .iter()
        .find(|c| !c.is_ascii_whitespace())
        .is_some_and(|c| *c == b':')
}

/// Finds the references in one string value, in order.
pub fn find_references(s: &str) -> Vec<Reference> {
    if Scheme::of_prefix(s).is_some() {
        // The whole value is a URI: every byte of it belongs to the key.
        return StorageUri::parse(s)
            .map(|uri| vec![Reference { range: 0..s.len(), uri }])
            .unwrap_or_default();
    }
    let mut refs = Vec::new();
    let bytes = s.as_bytes();
    let mut pos = 0;
    while let Some(i) = memmem::find(&bytes[pos..], b"://") {
        let sep = pos + i;
        pos = sep + 3;
        let Some((scheme_start, quote)) = quoted_scheme_start(bytes, sep) else {
            continue;
        };
        let Some(len) = memchr::memchr(quote, &bytes[sep + 3..]) else {
            continue;
        };
        let end = sep + 3 + len;
        if let Ok(uri) = StorageUri::parse(&s[scheme_start..end]) {
            refs.push(Reference {
                range: scheme_start..end,
                uri,
            });
            pos = end + 1;
        }
    }
    refs
}

/// For a `://` at `sep`, the start of a known scheme right before it and the quote character
/// that opens the URI.
fn quoted_scheme_start(bytes: &[u8], sep: usize) -> Option<(usize, u8)> {
    Scheme::ALL.into_iter().find_map(|scheme| {
        let name = scheme.as_str().as_bytes();
        let start = sep.checked_sub(name.len())?;
        let quote = *bytes.get(start.checked_sub(1)?)?;
        (&bytes[start..sep] == name && (quote == b'"' || quote == b'\'')).then_some((start, quote))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The URIs `scan_task_data` keeps, in order.
    fn task_uris(src: &str) -> Vec<String> {
        Document::scan_task_data(src.as_bytes())
            .unwrap()
            .references()
            .map(|u| u.to_string())
            .collect()
    }

    #[test]
    fn only_task_data_is_scanned() {
        let a = "oss://b/a.jpg";
        // A task: its data, never meta, annotations, predictions or drafts.
        let task = format!(
            r#" {{"id": 1, "data": {{"image": "{a}", "x": ["oss://b/1"]}}, "meta": {{"source": "{a}"}},
                "annotations": [{{"result": [{{"value": {{"text": ["{a}"]}}}}]}}], "predictions": ["{a}"], "drafts": ["{a}"]}} "#
        );
        assert_eq!(task_uris(&task), [a, "oss://b/1"]);
        // A list of tasks (an export), and `{"tasks": [...]}` (a /predict body): each task's data.
        let list = format!(r#"[{task}, {{"data": {{"i": "oss://b/2"}}, "meta": {{"m": "oss://b/3"}}}}]"#);
        assert_eq!(task_uris(&list), [a, "oss://b/1", "oss://b/2"]);
        let predict =
            format!(r#"{{"tasks": {list}, "label_config": "<Image value=\"{a}\"/>", "params": {{"p": "{a}"}}}}"#);
        assert_eq!(task_uris(&predict), [a, "oss://b/1", "oss://b/2"]);
        // Without an object `data`, the whole item is task data, as Label Studio imports it.
        assert_eq!(
            task_uris(r#"{"image": "oss://b/4", "meta": "oss://b/5"}"#),
            ["oss://b/4", "oss://b/5"]
        );
        assert_eq!(
            task_uris(r#"{"data": "oss://b/6", "y": "oss://b/7"}"#),
            ["oss://b/6", "oss://b/7"]
        );
        assert_eq!(
            task_uris(r#"["oss://b/8", {"k": "oss://b/9"}, 3]"#),
            ["oss://b/8", "oss://b/9"]
        );
        assert_eq!(task_uris(r#" "oss://b/10" "#), ["oss://b/10"]);
        // `tasks` that is no list is just a key of task data.
        assert_eq!(task_uris(r#"{"tasks": "oss://b/11"}"#), ["oss://b/11"]);
        // Inside data, everything counts, a nested "data" key included.
        assert_eq!(
            task_uris(r#"{"data": {"data": {"i": "oss://b/12"}, "j": "oss://b/13"}}"#),
            ["oss://b/12", "oss://b/13"]
        );
    }

    fn rewrite(src: &str) -> (String, Counts) {
        let doc = Document::scan(src.as_bytes()).unwrap();
        let (out, counts) =
            doc.render(|u| (u.bucket == "b").then(|| Cow::Owned(format!("https://x/{}", u.key.replace(' ', "%20")))));
        (String::from_utf8(out).unwrap(), counts)
    }

    #[test]
    fn whole_string_keeps_every_byte_of_the_key() {
        let refs = find_references("oss://b/ a b ");
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].uri.key, " a b ");
    }

    #[test]
    fn quoted_inside_html_every_occurrence() {
        let s = r#"<img src="oss://b/1.jpg"> and <img src='s3://c/2 x.png'/> see oss://b/3.jpg"#;
        let refs = find_references(s);
        let keys: Vec<_> = refs.iter().map(|r| r.uri.to_string()).collect();
        assert_eq!(keys, ["oss://b/1.jpg", "s3://c/2 x.png"]);
        assert_eq!(&s[refs[0].range.clone()], "oss://b/1.jpg");
    }

    #[test]
    fn unquoted_text_and_other_schemes_are_not_references() {
        assert!(find_references("see s3://b/x.png here").is_empty());
        assert!(find_references("gs://b/x").is_empty());
        assert!(find_references("'xs3://b/x'").is_empty());
        assert!(find_references("<a href=\"oss://b/unclosed>").is_empty());
    }

    #[test]
    fn rewrites_nested_values_and_keeps_the_rest_byte_for_byte() {
        let src = "{ \"z\" : 1.50e3,\n \"oss://b/key\": [\"oss://b/a b\", {\"h\": \"<img src='oss://b/c'>\"}],\"o\":\"oss://other/k\" }";
        let (out, counts) = rewrite(src);
        assert_eq!(
            out,
            "{ \"z\" : 1.50e3,\n \"oss://b/key\": [\"https://x/a%20b\", {\"h\": \"<img src='https://x/c'>\"}],\"o\":\"oss://other/k\" }"
        );
        assert_eq!(
            counts,
            Counts {
                rewritten: 2,
                skipped: 1
            }
        );
        // Idempotent.
        assert_eq!(rewrite(&out).0, out);
    }

    #[test]
    fn escaped_strings_are_decoded_before_matching() {
        let (out, counts) = rewrite(r#"{"i":"oss:\/\/b\/\u00e9.jpg"}"#);
        assert_eq!(out, "{\"i\":\"https://x/é.jpg\"}");
        assert_eq!(counts.rewritten, 1);
    }

    #[test]
    fn invalid_json_is_refused() {
        for bad in ["", "{", "{\"a\":}", "[1,]", "\"oss://b/k"] {
            assert!(Document::scan(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(matches!(Document::scan(b"[\"\xff\"]"), Err(JsonError::NotUtf8(_))));
        let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
        assert!(Document::scan(deep.as_bytes()).unwrap_err().too_deep());
        let ok = format!("{}\"[[{{\"{}", "[".repeat(128), "]".repeat(128));
        assert!(Document::scan(ok.as_bytes()).is_ok());
    }
}
