//! The little XML the emulator speaks: documents it answers with, and a reader for the request
//! bodies it accepts (DeleteMultipleObjects) and for tests.

/// Escapes text for element content. `\r` becomes `&#13;`, since a reader turns a raw one into `\n`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// An XML document written top-down, one element a line, indented by two spaces a level.
pub(crate) struct Doc {
    out: String,
    open: Vec<&'static str>,
}

impl Doc {
    pub fn new(root: &'static str) -> Doc {
        let mut doc = Doc {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
            open: Vec::new(),
        };
        doc.open(root);
        doc
    }

    fn indent(&mut self) {
        for _ in 0..self.open.len() {
            self.out.push_str("  ");
        }
    }

    pub fn open(&mut self, name: &'static str) -> &mut Doc {
        self.indent();
        self.out.push_str(&format!("<{name}>\n"));
        self.open.push(name);
        self
    }

    pub fn close(&mut self) -> &mut Doc {
        if let Some(name) = self.open.pop() {
            self.indent();
            self.out.push_str(&format!("</{name}>\n"));
        }
        self
    }

    pub fn element(&mut self, name: &str, value: &str) -> &mut Doc {
        self.indent();
        self.out.push_str(&format!("<{name}>{}</{name}>\n", escape(value)));
        self
    }

    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }
}

/// One parsed element: its name (any namespace prefix kept), its own text (character data and
/// CDATA directly inside it, exactly, with references resolved) and its child elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Reads a document with one root element. Enough XML for request bodies: declarations,
/// comments, CDATA, attributes (ignored), the five named entities and character references.
/// A DOCTYPE, raw characters XML 1.0 forbids, or mismatched tags are errors.
pub(crate) fn parse(doc: &str) -> Result<Element, &'static str> {
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut rest = doc;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            add_text(&mut stack, rest, true)?;
            break;
        };
        add_text(&mut stack, &rest[..lt], true)?;
        rest = &rest[lt..];
        let (skip, markup) = if let Some(after) = rest.strip_prefix("<?") {
            (2 + after.find("?>").ok_or("unterminated declaration")? + 2, None)
        } else if let Some(after) = rest.strip_prefix("<!--") {
            (4 + after.find("-->").ok_or("unterminated comment")? + 3, None)
        } else if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after.find("]]>").ok_or("unterminated CDATA")?;
            add_text(&mut stack, &after[..end], false)?;
            (9 + end + 3, None)
        } else if rest.starts_with("<!") {
            return Err("DOCTYPE is not allowed");
        } else {
            let end = rest.find('>').ok_or("unterminated tag")?;
            (end + 1, Some(&rest[1..end]))
        };
        rest = &rest[skip..];
        let Some(tag) = markup else { continue };
        if let Some(name) = tag.strip_prefix('/') {
            let element = stack.pop().ok_or("closing tag without an open one")?;
            if element.name != name.trim() {
                return Err("mismatched closing tag");
            }
            close(&mut stack, &mut root, element)?;
            continue;
        }
        let (tag, empty) = match tag.strip_suffix('/') {
            Some(t) => (t, true),
            None => (tag, false),
        };
        let name = tag.split_whitespace().next().ok_or("empty tag")?;
        if root.is_some() {
            return Err("content after the root element");
        }
        let element = Element {
            name: name.to_string(),
            ..Element::default()
        };
        if empty {
            close(&mut stack, &mut root, element)?;
        } else {
            stack.push(element);
        }
    }
    if !stack.is_empty() {
        return Err("unclosed element");
    }
    root.ok_or("no root element")
}

fn close(stack: &mut [Element], root: &mut Option<Element>, element: Element) -> Result<(), &'static str> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_none() => *root = Some(element),
        None => return Err("more than one root element"),
    }
    Ok(())
}

/// Character data: `raw` text has its references resolved and line ends normalized (as any XML
/// reader does); CDATA is taken as is.
fn add_text(stack: &mut [Element], text: &str, raw: bool) -> Result<(), &'static str> {
    if text.chars().any(|c| c < ' ' && !matches!(c, '\t' | '\n' | '\r')) {
        return Err("a character XML 1.0 does not allow");
    }
    let Some(current) = stack.last_mut() else {
        return if raw && text.trim().is_empty() {
            Ok(())
        } else {
            Err("text outside the root element")
        };
    };
    if !raw {
        current.text.push_str(text);
        return Ok(());
    }
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut rest = text.as_str();
    while let Some(amp) = rest.find('&') {
        current.text.push_str(&rest[..amp]);
        let end = rest[amp..].find(';').ok_or("unterminated reference")? + amp;
        current.text.push(reference(&rest[amp + 1..end])?);
        rest = &rest[end + 1..];
    }
    current.text.push_str(rest);
    Ok(())
}

/// `amp`, `#38`, `#x26`, ... Character references may name control characters (the OSS SDKs
/// write them for keys that hold one).
fn reference(name: &str) -> Result<char, &'static str> {
    let code = match name {
        "amp" => return Ok('&'),
        "lt" => return Ok('<'),
        "gt" => return Ok('>'),
        "quot" => return Ok('"'),
        "apos" => return Ok('\''),
        _ => match name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => name.strip_prefix('#').ok_or("unknown entity")?.parse(),
        },
    };
    code.ok()
        .filter(|c| *c != 0)
        .and_then(char::from_u32)
        .ok_or("invalid character reference")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_written_indented_and_escaped() {
        let mut doc = Doc::new("R");
        doc.element("A", "x<&>\"'\r").open("B").element("C", "");
        assert_eq!(
            doc.finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<R>\n  <A>x&lt;&amp;&gt;&quot;&apos;&#13;</A>\n  <B>\n    \
             <C></C>\n  </B>\n</R>\n"
        );
    }

    #[test]
    fn reads_what_the_sdks_send() {
        // oss2 (ElementTree), alibabacloud-oss-v2 (character references for control characters),
        // boto3 (a namespace on the root).
        let doc = "<?xml version='1.0' encoding='utf-8'?>\n<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                   <Quiet>false</Quiet><Object><Key> a &amp; b </Key></Object><Object><Key>&#01;&#x7f;&lt;\r\n</Key>\
                   </Object><Object><Key><![CDATA[<raw> &amp;]]></Key></Object><!-- c --><Object><Key/></Object></Delete>";
        let root = parse(doc).expect("parses");
        assert_eq!(root.name, "Delete");
        assert_eq!(root.child("Quiet").map(|q| q.text.as_str()), Some("false"));
        let keys: Vec<&str> = root
            .all("Object")
            .filter_map(|o| o.child("Key"))
            .map(|k| k.text.as_str())
            .collect();
        assert_eq!(keys, [" a & b ", "\u{1}\u{7f}<\n", "<raw> &amp;", ""]);
    }

    #[test]
    fn refuses_what_is_not_xml() {
        for bad in [
            "",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "<a>&bogus;</a>",
            "<a>&#0;</a>",
            "<a>\u{1}</a>",
            "<!DOCTYPE a><a/>",
            "<a>x & y</a>",
            "text<a/>",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
