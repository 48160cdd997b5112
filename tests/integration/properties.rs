//! Property tests of the pure core: the rewriter and the URI/key handling.

use std::borrow::Cow;

use ls_presign::rewrite::Document;
use ls_presign::sign::{Addressing, Target};
use ls_presign::uri::{Scheme, StorageUri};
use proptest::prelude::*;

/// A replacement in the spirit of the real ones: an https URL with the key percent-encoded.
fn replace(uri: &StorageUri) -> Option<Cow<'static, str>> {
    (uri.bucket == "conf").then(|| {
        let t = Target::parse("https://oss-cn-hangzhou.aliyuncs.com", Addressing::Virtual).unwrap();
        Cow::Owned(format!("{}?x-oss-signature=abc", t.object_url(&uri.bucket, &uri.key)))
    })
}

/// Arbitrary JSON values whose strings sometimes hold references (configured or not), in
/// whole-string, quoted-in-HTML and plain-text positions.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let key = any::<String>().prop_filter("non-empty key", |k| !k.is_empty());
    let reference = (
        prop_oneof![Just("oss"), Just("s3")],
        prop_oneof![Just("conf"), Just("other")],
        key,
    )
        .prop_map(|(s, b, k)| format!("{s}://{b}/{k}"));
    let string = prop_oneof![
        any::<String>(),
        reference.clone(),
        reference
            .clone()
            .prop_map(|r| format!("<img src=\"{}\">", r.replace('"', ""))),
        reference.prop_map(|r| format!("see '{}' and", r.replace('\'', ""))),
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        string.prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn rewrite(src: &[u8]) -> Vec<u8> {
    Document::scan(src).unwrap().render(replace).0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn rewriting_is_idempotent(v in json_value(), pretty in any::<bool>()) {
        let src = if pretty { serde_json::to_vec_pretty(&v) } else { serde_json::to_vec(&v) }.unwrap();
        let once = rewrite(&src);
        prop_assert!(serde_json::from_slice::<serde_json::Value>(&once).is_ok());
        prop_assert_eq!(rewrite(&once), once);
    }

    #[test]
    fn json_without_configured_references_is_byte_identical(v in json_value(), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) }.unwrap();
        let text = text.replace("://conf/", "://other/");
        prop_assert_eq!(rewrite(text.as_bytes()), text.as_bytes());
    }

    #[test]
    fn any_key_survives_parse_and_url_encoding(key in "\\PC{1,64}|[ +%#?/]{1,8}") {
        let uri = StorageUri::parse(&format!("oss://conf/{key}")).unwrap();
        prop_assert_eq!(&uri.key, &key);
        let t = Target::parse("http://127.0.0.1:1", Addressing::Path).unwrap();
        // Compare the text itself: a URL parser would resolve `.`/`..` segments (see docs/SIGNING.md).
        let url = t.object_url("conf", &key);
        let path = url.strip_prefix("http://127.0.0.1:1/conf/").unwrap();
        prop_assert!(!path.contains(['?', '#', ' ']));
        let decoded = percent_encoding::percent_decode_str(path).decode_utf8().unwrap();
        prop_assert_eq!(decoded.as_ref(), key.as_str());
        prop_assert_eq!(uri.scheme, Scheme::Oss);
    }

    #[test]
    fn every_whole_string_reference_is_found(key in any::<String>().prop_filter("key", |k| !k.is_empty())) {
        let src = serde_json::to_vec(&serde_json::json!({"image": format!("s3://conf/{key}")})).unwrap();
        let doc = Document::scan(&src).unwrap();
        let refs: Vec<_> = doc.references().cloned().collect();
        prop_assert_eq!(refs, vec![StorageUri::new(Scheme::S3, "conf", key)]);
    }
}
