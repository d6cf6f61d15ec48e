//! A tiny XML tree over quick-xml, matched by LOCAL names only: real registries and the
//! gateway use varying namespace prefixes, and the mocks must not care.

use quick_xml::Reader;
use quick_xml::Writer;
use quick_xml::events::{BytesCData, BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// An element with its local name, child elements and concatenated text (text + CDATA).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub children: Vec<Node>,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
#[error("malformed XML: {0}")]
pub struct XmlError(pub String);

impl Node {
    /// First child with this local name.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a path of local names.
    pub fn path(&self, names: &[&str]) -> Option<&Node> {
        names.iter().try_fold(self, |node, n| node.child(n))
    }

    /// Trimmed text of a child, `None` when absent or empty.
    pub fn text_of(&self, name: &str) -> Option<String> {
        self.child(name)
            .map(|c| c.text.trim().to_string())
            .filter(|t| !t.is_empty())
    }

    /// The text of a child that a request must carry: its absence is the caller's error,
    /// named by path (`data/iin is required`).
    pub fn required(&self, name: &str) -> Result<String, String> {
        self.text_of(name)
            .ok_or_else(|| format!("{}/{name} is required", self.name))
    }

    /// First descendant (depth-first, self included) with this local name.
    pub fn find(&self, name: &str) -> Option<&Node> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }
}

/// Parses a document and returns its root element.
pub fn parse(text: &str) -> Result<Node, XmlError> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError(format!("at byte {}: {e}", reader.buffer_position())))?;
        match event {
            Event::Start(s) => stack.push(Node {
                name: local(&s),
                ..Node::default()
            }),
            Event::Empty(s) => {
                let node = Node {
                    name: local(&s),
                    ..Node::default()
                };
                attach(&mut stack, &mut root, node)?;
            }
            Event::End(_) => {
                let node = stack
                    .pop()
                    .ok_or_else(|| XmlError("unbalanced end tag".into()))?;
                attach(&mut stack, &mut root, node)?;
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(ch)) => ch.to_string(),
                    Ok(None) => match &*r.xml10_content() {
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "amp" => "&".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => return Err(XmlError(format!("unknown entity &{other};"))),
                    },
                    Err(e) => return Err(XmlError(format!("bad character reference: {e}"))),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError("document ended inside an element".into()));
    }
    root.ok_or_else(|| XmlError("no root element".into()))
}

fn local(s: &BytesStart<'_>) -> String {
    s.local_name().into_inner().to_string()
}

fn attach(stack: &mut [Node], root: &mut Option<Node>, node: Node) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None if root.is_none() => *root = Some(node),
        None => return Err(XmlError("more than one root element".into())),
    }
    Ok(())
}

/// Streaming writer for business XML and envelopes; text is escaped by quick-xml.
pub struct XmlOut {
    w: Writer<Vec<u8>>,
}

impl std::fmt::Debug for XmlOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmlOut").finish_non_exhaustive()
    }
}

// Writing into a Vec<u8> cannot fail; quick-xml still returns io::Result.
const VEC_WRITE: &str = "writing XML into memory cannot fail";

impl Default for XmlOut {
    fn default() -> Self {
        Self::new()
    }
}

impl XmlOut {
    pub fn new() -> Self {
        Self {
            w: Writer::new(Vec::new()),
        }
    }

    /// Starts a document with an XML declaration.
    pub fn with_decl() -> Self {
        let mut out = Self::new();
        out.w
            .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
            .expect(VEC_WRITE);
        out
    }

    pub fn open(&mut self, name: &str) -> &mut Self {
        self.w
            .write_event(Event::Start(BytesStart::new(name)))
            .expect(VEC_WRITE);
        self
    }

    /// Opens an element with attributes (namespace declarations).
    pub fn open_with(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        let start = BytesStart::new(name).with_attributes(attrs.iter().copied());
        self.w.write_event(Event::Start(start)).expect(VEC_WRITE);
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        self.w
            .write_event(Event::End(BytesEnd::new(name)))
            .expect(VEC_WRITE);
        self
    }

    /// `<name>value</name>`, value escaped.
    pub fn leaf(&mut self, name: &str, value: impl std::fmt::Display) -> &mut Self {
        self.open(name);
        self.w
            .write_event(Event::Text(BytesText::new(&value.to_string())))
            .expect(VEC_WRITE);
        self.close(name)
    }

    /// Writes the leaf only when there is a value.
    pub fn opt_leaf(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.leaf(name, v);
        }
        self
    }

    /// `<name><![CDATA[value]]></name>`.
    pub fn cdata_leaf(&mut self, name: &str, value: &str) -> &mut Self {
        self.open(name);
        for part in BytesCData::escaped(value) {
            self.w.write_event(Event::CData(part)).expect(VEC_WRITE);
        }
        self.close(name)
    }

    pub fn finish(self) -> String {
        String::from_utf8(self.w.into_inner()).expect("quick-xml writes UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_local_names_text_cdata_and_entities() {
        let doc = r#"<a:root xmlns:a="urn:x"><a:x>1 &amp; 2</a:x><y><![CDATA[<b>q</b>]]></y><z/></a:root>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "root");
        assert_eq!(root.text_of("x").unwrap(), "1 & 2");
        assert_eq!(root.text_of("y").unwrap(), "<b>q</b>");
        assert!(root.child("z").is_some());
    }

    #[test]
    fn rejects_unbalanced_documents() {
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("<a>").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn writer_escapes_and_wraps_cdata() {
        let mut out = XmlOut::new();
        out.open("r")
            .leaf("t", "a<b")
            .cdata_leaf("c", "<x/>")
            .close("r");
        let s = out.finish();
        assert_eq!(s, "<r><t>a&lt;b</t><c><![CDATA[<x/>]]></c></r>");
    }
}
