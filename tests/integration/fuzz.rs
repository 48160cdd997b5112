//! Fuzzing the reference parser and the JSON rewriter with proptest at scale: arbitrary bytes,
//! byte-mutated JSON, and arbitrary strings must never panic, and whatever is accepted must
//! round-trip. `LS_PRESIGN_FUZZ_CASES` sets the number of cases per target (default 3000; the
//! figure in docs/SECURITY.md comes from a run with 1,000,000).

use std::borrow::Cow;

use ls_presign::rewrite::{Document, find_references};
use ls_presign::uri::StorageUri;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn runner() -> TestRunner {
    let cases = std::env::var("LS_PRESIGN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn replace(uri: &StorageUri) -> Option<Cow<'static, str>> {
    (!uri.key.len().is_multiple_of(3)).then(|| Cow::Owned(format!("https://x.example/{}", uri.key.len())))
}

/// Checks everything the rewriter promises about one input.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok(doc) = Document::scan(bytes) else {
        // Refused: then serde_json must refuse it too, or it is too deep.
        let nests = bytes.iter().filter(|b| matches!(b, b'[' | b'{')).count();
        let serde_refuses = serde_json::from_slice::<serde_json::Value>(bytes).is_err();
        prop_assert!(serde_refuses || nests > 128, "refused JSON that serde_json accepts");
        return Ok(());
    };
    prop_assert_eq!(doc.render(|_| None).0, bytes);
    let (out, counts) = doc.render(replace);
    prop_assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok());
    prop_assert_eq!(counts.rewritten + counts.skipped, doc.reference_count());
    let again = Document::scan(&out).unwrap();
    prop_assert_eq!(again.render(replace).0, out);
    Ok(())
}

#[test]
fn arbitrary_bytes_never_panic() {
    runner()
        .run(&proptest::collection::vec(any::<u8>(), 0..256), |b| check(&b))
        .unwrap();
}

#[test]
fn mutated_json_never_panics() {
    let seeds: Vec<&[u8]> = vec![
        br#"{"data": {"image": "oss://b/k.jpg", "html": "<img src='s3://c/x y.png'>"}, "n": [1, 2.5e3, null]}"#,
        br#"[{"a": "oss://b/\u00e9\"q", "b": "oss:\/\/b\/k"}, "s3://c/ k ", {"oss://b/key": "oss://b/v"}]"#,
    ];
    let strategy = (
        0..seeds.len(),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    );
    runner()
        .run(&strategy, |(i, edits)| {
            let mut bytes = seeds[i].to_vec();
            for (at, b) in edits {
                let at = at % bytes.len();
                bytes[at] = b;
            }
            check(&bytes)
        })
        .unwrap();
}

#[test]
fn arbitrary_strings_parse_without_panics() {
    let strategy = prop_oneof![
        any::<String>(),
        any::<String>().prop_map(|s| format!("oss://{s}")),
        any::<String>().prop_map(|s| format!("<p src=\"s3://b/{s}\"> '{s}' oss://b/{s}'")),
    ];
    runner()
        .run(&strategy, |s| {
            for r in find_references(&s) {
                prop_assert!(s.is_char_boundary(r.range.start) && s.is_char_boundary(r.range.end));
                let parsed = StorageUri::parse(&s[r.range.clone()]);
                prop_assert_eq!(parsed.as_ref(), Ok(&r.uri));
            }
            let _ = StorageUri::parse(&s);
            Ok(())
        })
        .unwrap();
}
