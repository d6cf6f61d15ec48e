//! A small element tree over quick-xml, matched by local names.
//!
//! Registries differ in namespaces and prefixes from one firmware or release to the next,
//! so adapters look elements up by local name only. The tree keeps what adapters need —
//! names, attributes, text — and nothing else.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// Documents deeper than this are refused: a registry answer is never this deep, and the
/// limit keeps a hostile answer from exhausting the adapter's stack.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    /// Local name, without prefix.
    pub name: String,
    /// Attributes by local name, unescaped.
    pub attrs: Vec<(String, String)>,
    /// Text and CDATA directly inside this element, unescaped, concatenated.
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// Parses a whole document and returns its root element.
    pub fn parse(doc: &str) -> Result<Element, String> {
        let mut reader = Reader::from_str(doc);
        let mut stack: Vec<Element> = Vec::new();
        let mut root = None;
        loop {
            let event = reader
                .read_event()
                .map_err(|e| format!("malformed XML at byte {}: {e}", reader.error_position()))?;
            match event {
                Event::Start(start) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err("XML nested too deeply".into());
                    }
                    stack.push(open(&start)?);
                }
                Event::Empty(start) => {
                    let element = open(&start)?;
                    close(element, &mut stack, &mut root)?;
                }
                Event::End(_) => {
                    let element = stack.pop().ok_or("unbalanced end tag")?;
                    close(element, &mut stack, &mut root)?;
                }
                Event::Text(text) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&text.xml10_content());
                    }
                }
                Event::CData(data) => {
                    if let Some(top) = stack.last_mut() {
                        let data = data.xml10_content();
                        top.text.push_str(&data);
                    }
                }
                Event::GeneralRef(reference) => {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(c)) => c,
                        Ok(None) => predefined_entity(&reference)
                            .ok_or_else(|| format!("unknown entity &{};", &*reference))?,
                        Err(e) => return Err(format!("bad character reference: {e}")),
                    };
                    if let Some(top) = stack.last_mut() {
                        top.text.push(resolved);
                    }
                }
                Event::Eof => break,
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
            }
        }
        if !stack.is_empty() {
            return Err("XML document ends inside an element".into());
        }
        root.ok_or_else(|| "XML document has no root element".into())
    }

    /// First direct child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All direct children with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// First element with this local name, depth first, this element included.
    pub fn find(&self, name: &str) -> Option<&Element> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }

    /// Trimmed text of the first direct child with this name.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// Trimmed text of a required child, or an error that names it.
    pub fn required(&self, name: &str) -> Result<&str, String> {
        match self.text_of(name) {
            Some(t) if !t.is_empty() => Ok(t),
            _ => Err(format!("<{}> has no <{name}>", self.name)),
        }
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn open(start: &BytesStart<'_>) -> Result<Element, String> {
    let mut element = Element {
        name: start.local_name().as_ref().to_owned(),
        ..Element::default()
    };
    for attr in start.attributes() {
        let attr = attr.map_err(|e| format!("bad attribute: {e}"))?;
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("bad attribute value: {e}"))?;
        let key = attr.key.local_name().as_ref().to_owned();
        element.attrs.push((key, value.into_owned()));
    }
    Ok(element)
}

fn close(
    element: Element,
    stack: &mut [Element],
    root: &mut Option<Element>,
) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_none() => *root = Some(element),
        None => return Err("XML document has more than one root element".into()),
    }
    Ok(())
}

fn predefined_entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

/// Escapes text for element content or attribute values.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(text)
}

/// Builds `<name>escaped text</name>`, the one way adapters write business XML fields.
pub fn leaf(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(text));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Builds `<root><name>text</name>…</root>` with every text escaped: the request body of
/// most registries, in one call.
pub fn element(root: &str, fields: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(2 * root.len() + 5 + fields.len() * 32);
    out.push('<');
    out.push_str(root);
    out.push('>');
    for (name, text) in fields {
        leaf(&mut out, name, text);
    }
    out.push_str("</");
    out.push_str(root);
    out.push('>');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names_ignore_prefixes_and_entities_resolve() {
        let doc = r#"<?xml version="1.0"?>
            <ns2:root xmlns:ns2="urn:x" ns2:id="7"><ns2:a>x &amp; y &#x41;</ns2:a><b><![CDATA[<raw>]]></b></ns2:root>"#;
        let root = Element::parse(doc).unwrap();
        assert_eq!(root.name, "root");
        assert_eq!(root.attr("id"), Some("7"));
        assert_eq!(root.text_of("a"), Some("x & y A"));
        assert_eq!(root.text_of("b"), Some("<raw>"));
    }

    #[test]
    fn malformed_documents_are_errors_not_empty_trees() {
        assert!(Element::parse("<a><b></a>").is_err());
        assert!(Element::parse("<a>").is_err());
        assert!(Element::parse("").is_err());
        assert!(Element::parse("<a/><b/>").is_err());
        assert!(Element::parse("<a>&bogus;</a>").is_err());
    }

    #[test]
    fn element_wraps_escaped_leaves() {
        assert_eq!(
            element("Q", &[("a", "1"), ("b", "<2>")]),
            "<Q><a>1</a><b>&lt;2&gt;</b></Q>"
        );
        assert_eq!(element("Q", &[]), "<Q></Q>");
    }

    #[test]
    fn leaf_escapes() {
        let mut s = String::new();
        leaf(&mut s, "n", "A<B & \"C\"");
        assert_eq!(s, "<n>A&lt;B &amp; &quot;C&quot;</n>");
    }
}
