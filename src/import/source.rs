//! What an import takes from a bucket: which listed objects (filters, folders, the project's
//! object tag), and the tasks they become — one per object, or those held in task files.

use serde_json::{Map, Value, json};

use crate::resolve::{Resolver, RewriteAs};
use crate::rewrite::Document;
use crate::uri::StorageUri;

/// Keys under this folder of a bucket are ls-presign's own (the import lease): never imported.
pub const OWN_FOLDER: &str = ".ls-presign/";

/// Label Studio's object tags, with the content types an object must have to be shown by one
/// (by its key's extension; a key with no known extension fits any).
const OBJECT_TAGS: [(&str, &[&str]); 12] = [
    ("Image", &["image/"]),
    ("Audio", &["audio/"]),
    ("AudioPlus", &["audio/"]),
    ("Video", &["video/"]),
    ("Text", &["text/", "application/json"]),
    ("HyperText", &["text/", "application/xhtml"]),
    ("Paragraphs", &["application/json", "text/"]),
    ("Table", &["application/json", "text/"]),
    ("TimeSeries", &["text/", "application/json"]),
    ("PDF", &["application/pdf"]),
    ("List", &["application/json", "text/"]),
    ("Ranker", &["application/json", "text/"]),
];

/// The data key an object goes under in blob mode, and the tag that shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// `None` for a `--field` no object tag of the config reads: every type fits.
    pub tag: Option<String>,
}

impl Field {
    /// The first object tag's `value="$x"` in `label_config`, as Label Studio picks it; or the
    /// tag reading `wanted` when given.
    pub fn from_config(label_config: &str, wanted: Option<&str>) -> Result<Field, String> {
        let doc = roxmltree::Document::parse(label_config)
            .map_err(|e| format!("the project's label config is not XML: {e}"))?;
        let tags = doc.descendants().filter_map(|node| {
            let tag = node.tag_name().name();
            let name = node.attribute("value")?.strip_prefix('$')?;
            OBJECT_TAGS
                .iter()
                .any(|(t, _)| *t == tag)
                .then(|| (tag.to_owned(), name.to_owned()))
        });
        let mut tags = tags.peekable();
        match wanted {
            Some(field) => Ok(Field {
                name: field.to_owned(),
                tag: tags.find(|(_, name)| name == field).map(|(tag, _)| tag),
            }),
            None => tags
                .next()
                .map(|(tag, name)| Field { name, tag: Some(tag) })
                .ok_or_else(|| {
                    "the project's label config has no object tag (Image, Audio, Text, ...) with value=\"$name\": \
                 set one up in Label Studio or pass --field"
                        .to_owned()
                }),
        }
    }

    /// Whether an object named `key` can be shown by this field's tag.
    pub fn fits(&self, key: &str) -> bool {
        let Some(tag) = &self.tag else { return true };
        let Some(types) = OBJECT_TAGS.iter().find(|(t, _)| t == tag).map(|(_, types)| *types) else {
            return true;
        };
        match mime_guess::from_path(key).first() {
            Some(mime) => types.iter().any(|t| mime.essence_str().starts_with(t)),
            None => true,
        }
    }
}

/// A task to create (`{"data": ..., "meta": ..., ...}`), and the source that identifies it in
/// the project.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub task: Value,
    pub source: String,
}

/// The identity of a task made from `uri`: the object's URI, or `item N of URI` for the N-th
/// task of a task file (never confused with a URI, which starts with its scheme).
pub fn source_key(uri: &str, item: Option<u64>) -> String {
    match item {
        Some(n) => format!("item {n} of {uri}"),
        None => uri.to_owned(),
    }
}

/// The URI and item number of a [`source_key`].
pub fn split_source(source: &str) -> (&str, Option<u64>) {
    source
        .strip_prefix("item ")
        .and_then(|rest| rest.split_once(" of "))
        .and_then(|(n, uri)| Some((uri, Some(n.parse().ok()?))))
        .unwrap_or((source, None))
}

/// The source key recorded in a task's `meta` by an import, if any.
pub fn recorded_source(meta: Option<&Value>) -> Option<String> {
    let own = meta?.get("ls_presign")?;
    let uri = own.get("source")?.as_str()?;
    Some(source_key(uri, own.get("item").and_then(Value::as_u64)))
}

/// The task of one object in blob mode: `{field: link}`, with its URI in `meta`.
pub fn object_task(
    resolver: &Resolver,
    field: &Field,
    uri: &StorageUri,
    output: RewriteAs,
    now: i64,
) -> Result<NewTask, String> {
    let shown = resolve_now(resolver, uri, output, now)?;
    let text = uri.to_string();
    let own = json!({ "original_uris": [text], "source": text, "imported_at": crate::time::rfc3339(now) });
    Ok(NewTask {
        task: json!({ "data": { field.name.as_str(): shown }, "meta": { "ls_presign": own } }),
        source: text,
    })
}

/// A stable link or a presigned URL (what import writes): neither reads the object.
fn resolve_now(resolver: &Resolver, uri: &StorageUri, output: RewriteAs, now: i64) -> Result<String, String> {
    match output {
        RewriteAs::Link => resolver.link(uri).map_err(|e| e.to_string()),
        _ => resolver
            .presigned(uri, "GET", now)
            .map(|c| c.url)
            .map_err(|e| e.to_string()),
    }
}

/// Why a task file, or one task in it, was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    pub file: String,
    /// The line (`.jsonl`, or where JSON parsing failed) or the item number, when known.
    pub at: Option<String>,
    pub message: String,
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.at {
            Some(at) => write!(f, "{} {at}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Whether a key names a task file (`--tasks` mode).
pub fn is_task_file(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    lower.ends_with(".json") || lower.ends_with(".jsonl")
}

/// The tasks of a task file: a `.json` object or array of objects, or `.jsonl` with one object
/// per line, each `{"data": {...}, ...}` or bare task data (as Label Studio imports them). Item
/// numbers start at 1 (the line in `.jsonl`). A malformed line or item is a problem; the rest
/// is taken.
pub fn parse_task_file(file: &str, bytes: &[u8]) -> (Vec<(u64, Value)>, Vec<FileProblem>) {
    let problem = |at: Option<String>, message: String| FileProblem {
        file: file.to_owned(),
        at,
        message,
    };
    let mut items = Vec::new();
    let mut problems = Vec::new();
    let mut take = |n: u64, v: Value, at: String, problems: &mut Vec<FileProblem>| {
        if v.is_object() {
            items.push((n, v));
        } else {
            problems.push(problem(Some(at), "not a JSON object (a task is an object)".into()));
        }
    };
    if file.to_ascii_lowercase().ends_with(".jsonl") {
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let n = i as u64 + 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Value>(line) {
                Ok(v) => take(n, v, format!("line {n}"), &mut problems),
                Err(e) => problems.push(problem(Some(format!("line {n}")), e.to_string())),
            }
        }
    } else {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Array(list)) => {
                for (i, v) in list.into_iter().enumerate() {
                    let n = i as u64 + 1;
                    take(n, v, format!("item {n}"), &mut problems);
                }
            }
            Ok(v) => take(1, v, "item 1".into(), &mut problems),
            Err(e) => problems.push(problem(Some(format!("line {}", e.line())), e.to_string())),
        }
    }
    (items, problems)
}

/// The task to create from one item of a task file: its `data` rewritten (references to
/// configured buckets as `output`), its other keys kept, and `meta.ls_presign` naming the file,
/// the item and the original URIs.
pub async fn file_task(
    resolver: &Resolver,
    file: &StorageUri,
    item: u64,
    task: Value,
    output: RewriteAs,
    now: i64,
) -> Result<NewTask, String> {
    let Value::Object(mut task) = task else {
        return Err("not a JSON object".into());
    };
    let data = match task.remove("data") {
        Some(data @ Value::Object(_)) => data,
        Some(other) => {
            task.insert("data".into(), other);
            Value::Object(std::mem::take(&mut task))
        }
        None => Value::Object(std::mem::take(&mut task)),
    };
    let src = serde_json::to_vec(&data).map_err(|e| e.to_string())?;
    let doc = Document::scan_task_data(&src).map_err(|e| e.to_string())?;
    let mut original: Vec<String> = Vec::new();
    for uri in doc.references().filter(|u| resolver.handles(u)) {
        let text = uri.to_string();
        if !original.contains(&text) {
            original.push(text);
        }
    }
    let out = resolver
        .rewrite_scanned(&doc, Some(output), now)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(f) = out.failures.first() {
        return Err(format!("{}: {}", f.uri, f.message));
    }
    let data: Value = serde_json::from_slice(&out.body).map_err(|e| e.to_string())?;
    let mut meta = match task.remove("meta") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let source = file.to_string();
    meta.insert(
        "ls_presign".into(),
        json!({
            "original_uris": original,
            "source": source,
            "item": item,
            "imported_at": crate::time::rfc3339(now),
        }),
    );
    task.insert("data".into(), data);
    task.insert("meta".into(), Value::Object(meta));
    Ok(NewTask {
        task: Value::Object(task),
        source: source_key(&source, Some(item)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"<View>
  <Header value="$title"/>
  <Image name="img" value="$image"/>
  <Text name="caption" value="$caption"/>
  <Choices name="c" toName="img"><Choice value="$notdata"/></Choices>
</View>"#;

    #[test]
    fn the_first_object_tag_names_the_field() {
        let f = Field::from_config(CONFIG, None).unwrap();
        assert_eq!(
            f,
            Field {
                name: "image".into(),
                tag: Some("Image".into())
            }
        );
        assert!(f.fits("a/b.JPG") && f.fits("no-extension") && !f.fits("notes.txt"));
        let caption = Field::from_config(CONFIG, Some("caption")).unwrap();
        assert!(caption.fits("notes.txt") && !caption.fits("a.png"));
        let other = Field::from_config(CONFIG, Some("other")).unwrap();
        assert!(other.fits("anything.bin") && other.tag.is_none());
        let err = Field::from_config("<View><Header value=\"$x\"/></View>", None).unwrap_err();
        assert!(err.contains("--field"), "{err}");
        assert!(Field::from_config("<View", None).unwrap_err().contains("not XML"));
    }

    #[test]
    fn task_files_report_bad_lines_and_keep_the_rest() {
        let (items, problems) = parse_task_file("t.jsonl", b"{\"a\":1}\n\nnot json\n[1]\n{\"data\":{\"b\":2}}\n");
        assert_eq!(items.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [1, 5]);
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(shown[0].starts_with("t.jsonl line 3: expected"), "{shown:?}");
        assert!(shown[1].starts_with("t.jsonl line 4: not a JSON object"), "{shown:?}");
        let (items, problems) = parse_task_file("t.json", b"[{\"a\":1}, 2, {\"b\":1}]");
        assert_eq!((items.len(), problems[0].at.as_deref()), (2, Some("item 2")));
        let (items, problems) = parse_task_file("t.json", b"{\"a\":\n1,,}");
        assert_eq!((items.len(), problems[0].at.as_deref()), (0, Some("line 2")));
        assert!(is_task_file("x/T.JSONL") && !is_task_file("x.json.bak"));
    }

    #[test]
    fn sources_round_trip_through_meta() {
        let meta = json!({"ls_presign": {"source": "oss://b/t.jsonl", "item": 3}});
        assert_eq!(
            recorded_source(Some(&meta)).as_deref(),
            Some("item 3 of oss://b/t.jsonl")
        );
        assert_eq!(
            split_source("item 3 of oss://b/t#1.jsonl"),
            ("oss://b/t#1.jsonl", Some(3))
        );
        assert_eq!(split_source("oss://b/item 3 of x"), ("oss://b/item 3 of x", None));
        let meta = json!({"ls_presign": {"source": "oss://b/a.jpg"}});
        assert_eq!(recorded_source(Some(&meta)).as_deref(), Some("oss://b/a.jpg"));
        assert_eq!(recorded_source(Some(&json!({"other": 1}))), None);
    }
}
