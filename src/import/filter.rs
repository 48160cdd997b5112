//! Which listed keys an import takes: `--glob` patterns and a `--regex`. A leaf: the
//! configuration checks the `[[import]]` filters with it.

use globset::{Glob, GlobSet, GlobSetBuilder};

/// Which listed keys an import takes: `--glob` patterns (any of them) on the key below the
/// prefix, and a `--regex` searched in the whole key.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    globs: Option<GlobSet>,
    regex: Option<regex::Regex>,
    /// Keys under these are never taken: export folders of the same bucket, so annotations
    /// written back never become tasks.
    excluded: Vec<String>,
}

impl Filter {
    pub fn new(globs: &[String], regex: Option<&str>) -> Result<Filter, String> {
        let globs = if globs.is_empty() {
            None
        } else {
            let mut set = GlobSetBuilder::new();
            for g in globs {
                set.add(Glob::new(g).map_err(|e| format!("--glob {g:?}: {e}"))?);
            }
            Some(set.build().map_err(|e| e.to_string())?)
        };
        let regex = regex
            .map(|r| regex::Regex::new(r).map_err(|e| format!("--regex {r:?}: {e}")))
            .transpose()?;
        Ok(Filter {
            globs,
            regex,
            excluded: Vec::new(),
        })
    }

    /// The filter, never taking keys under `folders` (keys of the listed bucket).
    pub fn excluding(mut self, folders: impl IntoIterator<Item = String>) -> Filter {
        self.excluded.extend(folders);
        self
    }

    /// Whether `key` (below `prefix`) is taken.
    pub fn takes(&self, prefix: &str, key: &str) -> bool {
        let below = key.strip_prefix(prefix).unwrap_or(key);
        !self.excluded.iter().any(|folder| key.starts_with(folder.as_str()))
            && self.globs.as_ref().is_none_or(|g| g.is_match(below))
            && self.regex.as_ref().is_none_or(|r| r.is_match(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_take_globs_below_the_prefix_and_a_regex_anywhere() {
        let f = Filter::new(&["*.jpg".into(), "raw/**".into()], None).unwrap();
        assert!(f.takes("p/", "p/a/b.jpg") && f.takes("p/", "p/raw/x.bin") && !f.takes("p/", "p/a.png"));
        let r = Filter::new(&[], Some(r"cam\d+/")).unwrap();
        assert!(r.takes("", "x/cam12/a.png") && !r.takes("", "x/cam/a.png"));
        assert!(Filter::new(&["[".into()], None).unwrap_err().contains("--glob"));
        assert!(Filter::new(&[], Some("(")).unwrap_err().contains("--regex"));
        let e = Filter::default().excluding(["p/annotations/".to_owned()]);
        assert!(e.takes("p/", "p/a.jpg") && !e.takes("p/", "p/annotations/1.json"));
    }
}
