//! The configuration reference (docs/CONFIGURATION.md) stays in sync with the code: every
//! variable the code reads is documented, and every documented variable is read.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use ls_presign::config::{Config, Env};

/// Read outside `Config::load`: by env_logger, and by the import lease for its holder's name.
const READ_ELSEWHERE: [&str; 2] = ["RUST_LOG", "HOSTNAME"];

#[test]
fn configuration_reference_matches_the_code() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pem = dir.join("k1.pem");
    std::fs::write(&pem, "not a key, only read").unwrap();
    let toml = dir.join("s.toml");
    std::fs::write(&toml, "").unwrap();
    let secrets = dir.join("previous");
    std::fs::write(&secrets, "old-secret-0123456789\n").unwrap();
    // Values that switch on every branch, so every variable gets asked for.
    let values: HashMap<&str, String> = [
        ("OSS_BUCKET", "b1"),
        ("OSS_REGION", "cn-hangzhou"),
        ("OSS_ACCESS_KEY_ID", "a"),
        ("OSS_ACCESS_KEY_SECRET", "b"),
        ("S3_BUCKET", "b2"),
        ("AWS_ACCESS_KEY_ID", "a"),
        ("AWS_SECRET_ACCESS_KEY", "b"),
        ("LS_PRESIGN_SECRET_FILE", secrets.to_str().unwrap()),
        ("LS_PRESIGN_PREVIOUS_SECRETS_FILE", secrets.to_str().unwrap()),
        ("LS_PRESIGN_TOKEN_ALGORITHM", "RS256"),
        ("LS_PRESIGN_TOKEN_PUBLIC_KEY_FILES", pem.to_str().unwrap()),
        ("LS_PRESIGN_TOKEN_PRIVATE_KEY_FILE", pem.to_str().unwrap()),
        ("LS_PRESIGN_CONFIG", toml.to_str().unwrap()),
        ("LABEL_STUDIO_URL", "http://ls:8080"),
        ("LABEL_STUDIO_API_KEY", "k"),
        ("BASIC_AUTH_USER", "u"),
        ("BASIC_AUTH_PASS", "p"),
        ("LS_PRESIGN_EXPORT_PROJECT", "3"),
        ("LS_PRESIGN_EXPORT_URI", "oss://b1/annotations/"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect();
    let asked = RefCell::new(BTreeSet::new());
    let env = Env::from_fn(|name| {
        asked.borrow_mut().insert(name.to_owned());
        values.get(name).cloned()
    });
    Config::load(&env).unwrap();
    drop(env);
    let mut read = asked.into_inner();
    read.extend(READ_ELSEWHERE.map(str::to_owned));

    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CONFIGURATION.md")).unwrap();
    // Documented names: `UPPER_CASE` in the first column of a table row.
    let documented: BTreeSet<String> = doc
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            l.split('|')
                .nth(1)
                .unwrap_or("")
                .split('`')
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|w| {
            w.len() > 2
                && w.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .collect();
    let undocumented: Vec<_> = read.difference(&documented).collect();
    let unread: Vec<_> = documented.difference(&read).collect();
    assert!(
        undocumented.is_empty(),
        "read by the code but not in docs/CONFIGURATION.md: {undocumented:?}"
    );
    assert!(unread.is_empty(), "in docs/CONFIGURATION.md but never read: {unread:?}");
}

/// Every key a `[[storage]]` table accepts is in the TOML example of docs/CONFIGURATION.md, and
/// that example loads.
#[test]
fn toml_reference_matches_the_code() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CONFIGURATION.md")).unwrap();
    let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
    let example = &doc[start..start + doc[start..].find("```").unwrap()];
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let load = |text: &str| {
        let path = dir.join("storages.toml");
        std::fs::write(&path, text).unwrap();
        let vars: HashMap<String, String> =
            [("LS_PRESIGN_CONFIG".to_owned(), path.to_str().unwrap().to_owned())].into();
        Config::load(&Env::map(&vars))
    };
    let config = load(example).unwrap();
    assert_eq!(config.storages.list.len(), 2);
    // serde names every accepted key when it meets an unknown one.
    let err = load("[[storage]]\nnot_a_key = 1\n").unwrap_err().to_string();
    let accepted: Vec<&str> = err
        .split_once("expected one of")
        .unwrap()
        .1
        .split('`')
        .skip(1)
        .step_by(2)
        .collect();
    assert!(accepted.len() > 10, "{err}");
    for key in accepted {
        assert!(
            example.contains(&format!("\n{key} = ")),
            "`{key}` is missing from the TOML example: {err}"
        );
    }
}

/// docs/API.md's error table lists exactly the codes of `ErrorCode`, each with its status.
#[test]
fn error_table_matches_the_registry() {
    use ls_presign::error_code::ErrorCode;
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/API.md")).unwrap();
    let table = &doc[doc.find("## Error codes").unwrap()..];
    let mut documented: Vec<(String, u16)> = Vec::new();
    // Rows: | status | `code`, `code` | meaning |
    for row in table.lines().skip(1).take_while(|l| !l.starts_with('#')) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let Some(status) = cells.get(1).and_then(|s| s.parse::<u16>().ok()) else {
            continue;
        };
        for code in cells[2].split('`').skip(1).step_by(2) {
            documented.push((code.to_owned(), status));
        }
    }
    let registry: Vec<(String, u16)> = ErrorCode::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), c.status().as_u16()))
        .collect();
    assert_eq!(
        documented, registry,
        "docs/API.md's error table and ErrorCode::ALL differ"
    );
}
