//! The product's files import one way: no cycle among the files of `src/`, and no file imports
//! from a module above it (its parent `mod.rs`, or `lib.rs`). Read from the source text: `use`
//! and paths through `crate::`, `super::`, `self::` and a `mod.rs`'s own child modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`["http", "api"]`) → source text, for every file of the library.
fn modules() -> BTreeMap<Vec<String>, String> {
    fn walk(dir: &Path, out: &mut BTreeMap<Vec<String>, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
                continue;
            }
            let rel = path.strip_prefix(concat!(env!("CARGO_MANIFEST_DIR"), "/src")).unwrap();
            let mut segments: Vec<String> = rel.iter().map(|s| s.to_str().unwrap().to_owned()).collect();
            let file = segments.pop().unwrap();
            match file.as_str() {
                "main.rs" if segments.is_empty() => continue,
                "lib.rs" | "mod.rs" => {}
                other => segments.push(other.strip_suffix(".rs").unwrap().to_owned()),
            }
            out.insert(segments, std::fs::read_to_string(&path).unwrap());
        }
    }
    let mut out = BTreeMap::new();
    walk(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")), &mut out);
    // Files compiled only for unit tests (`#[cfg(test)] mod x;`) may import anything.
    let test_only: Vec<Vec<String>> = out
        .keys()
        .filter(|m| {
            let Some((name, parent)) = m.split_last() else {
                return false;
            };
            out.get(parent)
                .is_some_and(|text| text.contains(&format!("#[cfg(test)]\nmod {name};")))
        })
        .cloned()
        .collect();
    for m in test_only {
        out.remove(&m);
    }
    out
}

/// The code of a file without comments and without its unit tests.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod ").next().unwrap();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Every path the code names that starts with `crate`, `super`, `self` or one of `children`,
/// as absolute module paths (`super::{a, b}` gives both).
fn paths(module: &[String], children: &BTreeSet<String>, code: &str) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(is_ident(bytes[i - 1]) || bytes[i - 1] == b':');
        let end = i + bytes[i..].iter().take_while(|b| is_ident(**b)).count();
        if !starts_word || end == i {
            i += 1;
            continue;
        }
        let head = &code[i..end];
        // A path goes on with `::`; `pub(crate)` and `pub(super)` are visibilities, not paths.
        if !code[end..].starts_with("::") {
            i = end;
            continue;
        }
        let base: Option<Vec<String>> = match head {
            "crate" => Some(vec![]),
            "super" => Some(module[..module.len().saturating_sub(1)].to_vec()),
            "self" => Some(module.to_vec()),
            child if children.contains(child) => Some([module, &[child.to_owned()]].concat()),
            _ => None,
        };
        let Some(mut path) = base else {
            i = end;
            continue;
        };
        let mut j = end;
        // Further `::segment`s; a `{` group names several paths from here.
        while code[j..].starts_with("::") {
            let k = j + 2;
            if bytes.get(k) == Some(&b'{') {
                let close = k + code[k..].find('}').unwrap();
                for item in code[k + 1..close].split(',') {
                    let first = item.trim().split("::").next().unwrap_or("").trim();
                    if !first.is_empty() && first != "self" {
                        out.push([path.clone(), vec![first.to_owned()]].concat());
                    }
                }
                break;
            }
            let seg_end = k + bytes[k..].iter().take_while(|b| is_ident(**b)).count();
            if seg_end == k {
                break;
            }
            path.push(code[k..seg_end].to_owned());
            j = seg_end;
        }
        out.push(path);
        i = j.max(end);
    }
    out
}

#[test]
fn imports_go_one_way() {
    let modules = modules();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut upward = Vec::new();
    for (module, text) in &modules {
        let code = code(text);
        let children: BTreeSet<String> = modules
            .keys()
            .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
            .map(|m| m[module.len()].clone())
            .collect();
        for path in paths(module, &children, &code) {
            // The file that defines the path: the longest module prefix that is a file.
            let target = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains_key(p))
                .unwrap();
            if &target == module {
                continue;
            }
            if module.starts_with(&target) {
                upward.push(format!("{} uses {}", module.join("::"), path.join("::")));
            }
            edges.entry(module.clone()).or_default().insert(target);
        }
    }
    assert!(upward.is_empty(), "imports from a module above: {upward:#?}");

    // Depth-first search for a cycle, reporting the first found.
    fn visit(
        m: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, bool>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        match state.get(m) {
            Some(true) => return None,
            Some(false) => {
                let from = stack.iter().position(|s| s == m).unwrap();
                return Some(stack[from..].to_vec());
            }
            None => {}
        }
        state.insert(m.clone(), false);
        stack.push(m.clone());
        for next in edges.get(m).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, state, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        state.insert(m.clone(), true);
        None
    }
    let mut state = BTreeMap::new();
    for m in modules.keys() {
        if let Some(cycle) = visit(m, &edges, &mut state, &mut Vec::new()) {
            let names: Vec<String> = cycle.iter().map(|m| format!("crate::{}", m.join("::"))).collect();
            panic!("import cycle: {}", names.join(" → "));
        }
    }
    assert!(edges.len() > 10, "too few imports found: {edges:?}");
}
