//! Format variants feed-rs does not know, rewritten to the standard they extend: RSS versions
//! and namespaces, RSS 0.90's Netscape namespace, Atom 0.3 (namespace, element names, `mode`),
//! and Atom `type` values feed-rs rejects. What was read as what is reported (not as errors).

use super::report::Counts;
use super::tags::{StartTag, local_name};

const ATOM: &str = "http://www.w3.org/2005/Atom";
const ATOM_03: &str = "http://purl.org/atom/ns#";
const RSS_1: &str = "http://purl.org/rss/1.0/";
const RSS_090: &str = "http://my.netscape.com/rdf/simple/0.9/";

/// Which kind of feed the root element said this is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Kind {
    #[default]
    Unknown,
    Rss,
    Atom,
}

/// What the root element said the document is, and the variants read as the standard they
/// extend on the way.
#[derive(Debug, Default)]
pub(super) struct Format {
    pub(super) kind: Kind,
    /// RSS 1.0 (`<rdf:RDF>`), whose items need a `<link>` for feed-rs to keep them.
    pub(super) rdf: bool,
    /// Atom 0.3, by its namespace or its `version`: its element names and `mode` are renamed.
    pub(super) atom03: bool,
    /// Format variants read as the standard they extend (not errors).
    pub(super) adapted: Vec<String>,
}

impl Format {
    /// Whether `tag` is a feed's root element; if so, remembers which kind of feed it says.
    pub(super) fn take_root(&mut self, tag: &StartTag) -> bool {
        self.rdf = local_name(&tag.name) == "RDF";
        self.kind = match local_name(&tag.name) {
            "rss" | "RDF" => Kind::Rss,
            "feed" => Kind::Atom,
            _ => return false,
        };
        true
    }

    /// Namespace fixes: Atom 0.3 and RSS 0.90 namespaces become their successors'; a default
    /// namespace on `<rss>` (which has none) is dropped; bindings XML forbids are dropped.
    pub(super) fn fix_namespaces(
        &mut self,
        tag: &mut StartTag,
        is_root: bool,
        counts: &mut Counts,
    ) {
        let rss_root = is_root && local_name(&tag.name) == "rss";
        let before = tag.attributes.len();
        tag.attributes.retain(|(name, value)| {
            let Some(prefix) = name.strip_prefix("xmlns") else {
                return true;
            };
            match prefix.strip_prefix(':') {
                None if prefix.is_empty() => !rss_root,
                Some(bound) => {
                    !value.is_empty() && bound != "xml" && bound != "xmlns" && !bound.is_empty()
                }
                None => true,
            }
        });
        if tag.attributes.len() != before {
            if rss_root {
                self.adapted.push(
                    "<rss> declared a default namespace; it was ignored (RSS 2.0 has none)"
                        .to_owned(),
                );
            } else {
                counts.attributes += before - tag.attributes.len();
            }
        }
        let root_prefix = tag
            .name
            .split_once(':')
            .map(|(prefix, _)| prefix.to_owned());
        for (name, value) in &mut tag.attributes {
            if !name.starts_with("xmlns") {
                continue;
            }
            if rss_root
                && root_prefix
                    .as_deref()
                    .is_some_and(|prefix| name.strip_prefix("xmlns:") == Some(prefix))
            {
                *value = RSS_1.to_owned();
                self.adapted
                    .push("RSS 2.0 in a namespace of its own was read as plain RSS 2.0".to_owned());
                continue;
            }
            if value == ATOM_03 {
                *value = ATOM.to_owned();
                if !self.atom03 {
                    self.atom03 = true;
                    self.adapted.push("Atom 0.3 read as Atom 1.0".to_owned());
                }
            } else if value == RSS_090 {
                *value = RSS_1.to_owned();
                self.adapted
                    .push("RSS 0.90 (Netscape namespace) read as RSS 1.0".to_owned());
            }
        }
        if is_root
            && self.kind == Kind::Atom
            && !self.atom03
            && tag
                .attributes
                .iter()
                .any(|(name, value)| name == "version" && value.trim() == "0.3")
        {
            self.atom03 = true;
            self.adapted.push("Atom 0.3 read as Atom 1.0".to_owned());
        }
    }

    pub(super) fn fix_rss_version(&mut self, tag: &mut StartTag) {
        let version = tag
            .attributes
            .iter()
            .find(|(name, _)| name == "version")
            .map(|(_, value)| value.trim().to_owned());
        let readable = match version.as_deref() {
            Some(v @ ("2.0" | "0.91" | "0.92")) => v.to_owned(),
            Some(v) if v.starts_with("0.9") => {
                self.adapted.push(format!("RSS {v} read as RSS 0.92"));
                "0.92".to_owned()
            }
            Some(v) => {
                self.adapted
                    .push(format!("RSS version {v:?} read as RSS 2.0"));
                "2.0".to_owned()
            }
            None => {
                self.adapted
                    .push("<rss> has no version attribute: read as RSS 2.0".to_owned());
                "2.0".to_owned()
            }
        };
        tag.attributes.retain(|(name, _)| name != "version");
        tag.attributes.insert(0, ("version".to_owned(), readable));
    }

    /// Makes an Atom text construct's `type` one feed-rs accepts (and Atom 0.3's `mode`
    /// Atom 1.0's); returns whether the content is base64 to decode.
    pub(super) fn fix_atom_type(
        &mut self,
        tag: &mut StartTag,
        local: &str,
        counts: &mut Counts,
    ) -> bool {
        let mode = take_attribute(tag, "mode");
        let declared = take_attribute(tag, "type");
        let lower = declared.as_deref().map(|t| t.trim().to_ascii_lowercase());
        let base64 = mode.as_deref().map(str::trim) == Some("base64");
        let mut fixed = match lower.as_deref() {
            None => None,
            Some("text" | "text/plain" | "plain") => Some("text".to_owned()),
            Some("html" | "text/html" | "escaped") => Some("html".to_owned()),
            Some("xhtml" | "application/xhtml+xml") => Some("xhtml".to_owned()),
            Some(xml) if local == "content" && (xml.ends_with("+xml") || xml.ends_with("/xml")) => {
                Some("xhtml".to_owned())
            }
            Some(other) if local == "content" => Some(other.to_owned()),
            Some(_) => Some("html".to_owned()),
        };
        if mode.as_deref().map(str::trim) == Some("xml") {
            fixed = Some("xhtml".to_owned());
        } else if mode.is_some() && fixed.is_none() {
            fixed = Some("html".to_owned());
        }
        if base64 && fixed.as_deref().is_some_and(|t| t != "text" && t != "html") {
            fixed = Some("html".to_owned());
        }
        if fixed.as_deref() != declared.as_deref() && !(self.atom03 && mode.is_some()) {
            counts.atom_types += 1;
        }
        if let Some(fixed) = fixed {
            tag.attributes.push(("type".to_owned(), fixed));
        }
        base64
    }
}

fn take_attribute(tag: &mut StartTag, name: &str) -> Option<String> {
    let index = tag.attributes.iter().position(|(n, _)| n == name)?;
    Some(tag.attributes.remove(index).1)
}

/// Atom 0.3 element names for their Atom 1.0 equivalents.
pub(super) fn rename_atom03(name: &mut String, local: &str) {
    let renamed = match local {
        "modified" => "updated",
        "issued" => "published",
        "tagline" => "subtitle",
        "copyright" => "rights",
        _ => return,
    };
    let prefix_length = name.len() - local.len();
    name.truncate(prefix_length);
    name.push_str(renamed);
}
