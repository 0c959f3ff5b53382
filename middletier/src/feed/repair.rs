//! Repairing broken XML feeds the way a lenient reader (a browser's feed preview, feedparser's
//! loose parser) would, so that feed-rs can read them.
//!
//! The strict parse is always tried first (see the parent module); this module runs only when
//! it failed, when [`needs_repair`]'s cheap scan found something feed-rs would silently get
//! wrong, or when a document that parsed has no entries although it visibly has some. It
//! rewrites the document in one linear pass into well-formed XML:
//!
//! - bare `&` become `&amp;`; HTML named entities (`&nbsp;`, `&eacute;`, all of HTML5's) become
//!   character references; `&#150;`-style references take their windows-1252 meaning, as in
//!   browsers; references to characters XML forbids become U+FFFD;
//! - junk before the root element (PHP warnings, HTML, stray text) and after it is dropped;
//! - an unclosed CDATA section or comment at the end is closed; a truncated tag is dropped;
//! - missing closing tags are supplied: at the end of the document, and where an ancestor's
//!   closing tag shows an element was left open; closing tags that match nothing are dropped;
//! - attributes are normalised (unquoted, valueless and duplicate attributes);
//! - in RSS, markup written unescaped inside `<title>`, `<description>` or `<content:encoded>`
//!   is taken as the HTML it was meant to be (feed-rs would keep only the first text node);
//! - format variants feed-rs does not know are rewritten to ones it does: `<rss>` without a
//!   version or with 0.90/0.93/0.94/2.01/2.1, RSS under a default namespace, RSS 0.90's
//!   Netscape namespace, Atom 0.3 (namespace, element names, `mode="base64|escaped|xml"`), and
//!   Atom `type` values feed-rs rejects;
//! - controls XML forbids are removed; nesting deeper than [`MAX_DEPTH`] is flattened.
//!
//! Everything is bounded: one pass over the input, output at most a small constant times the
//! input, no recursion, no entity expansion (a DTD is dropped whole).

use base64::Engine as _;
use memchr::memmem;

/// Deeper start tags are dropped (their text is kept): no feed nests this deep.
pub(super) const MAX_DEPTH: usize = 512;
/// Attributes kept per element: a real one has a handful.
const MAX_ATTRIBUTES: usize = 64;

const ATOM: &str = "http://www.w3.org/2005/Atom";
const ATOM_03: &str = "http://purl.org/atom/ns#";
const RSS_1: &str = "http://purl.org/rss/1.0/";
const RSS_090: &str = "http://my.netscape.com/rdf/simple/0.9/";

/// A repaired document and what was done to it.
#[derive(Debug, Default)]
pub(super) struct Repaired {
    pub text: String,
    /// What was wrong with the document, in plain words.
    pub recovered: Vec<String>,
    /// Format variants read as the standard they extend (not errors).
    pub adapted: Vec<String>,
}

/// Whether a document that may parse strictly still needs the repair pass: an `&` that does
/// not start an XML reference (feed-rs would keep `&eacute;` literally), markup written
/// unescaped inside an RSS description (feed-rs would keep only the text before it), or an
/// XML declaration past the start (which makes feed-rs panic). A few `memchr` scans: cheap
/// beside parsing.
pub(super) fn needs_repair(document: &str) -> bool {
    let bytes = document.as_bytes();
    has_foreign_reference(bytes) || has_markup_in_rss_text(bytes) || has_late_declaration(bytes)
}

/// An XML declaration after the start (two documents concatenated, junk before the real
/// one): feed-rs switches quick-xml's decoder on every declaration, and quick-xml 0.42 panics
/// when that happens after its first buffer (found by the fuzzer). The repair drops them all.
/// (`<?xml-stylesheet` is not a declaration.)
pub(super) fn has_late_declaration(bytes: &[u8]) -> bool {
    let start = bytes.len() - bytes.trim_ascii_start().len();
    let Some(rest) = bytes.get(start + 1..) else {
        return false;
    };
    memmem::find_iter(rest, b"<?xml").any(|at| {
        rest.get(at + 5)
            .is_none_or(|&next| next.is_ascii_whitespace() || next == b'?')
    })
}

fn has_foreign_reference(bytes: &[u8]) -> bool {
    let cdata = memmem::Finder::new(b"<![CDATA[");
    let mut next_cdata = cdata.find(bytes);
    let mut at = 0;
    while let Some(found) = memchr::memchr(b'&', &bytes[at..]) {
        let amp = at + found;
        if let Some(start) = next_cdata
            && start < amp
        {
            let Some(end) = memmem::find(&bytes[start..], b"]]>") else {
                return true;
            };
            at = start + end + 3;
            next_cdata = cdata.find(&bytes[at..]).map(|next| next + at);
            continue;
        }
        if xml_reference_length(&bytes[amp..]).is_none() {
            return true;
        }
        at = amp + 1;
    }
    false
}

/// The length of a well-formed XML reference at the start of `text` (which starts with `&`).
fn xml_reference_length(text: &[u8]) -> Option<usize> {
    let body = &text[1..];
    let end = body.iter().take(12).position(|&b| b == b';')?;
    let name = &body[..end];
    let valid = match name {
        b"amp" | b"lt" | b"gt" | b"quot" | b"apos" => true,
        [b'#', b'x' | b'X', hex @ ..] => !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit),
        [b'#', digits @ ..] => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    valid.then_some(end + 2)
}

fn has_markup_in_rss_text(bytes: &[u8]) -> bool {
    for tag in [b"<description".as_slice(), b"<content:encoded"] {
        for start in memmem::find_iter(bytes, tag) {
            let after = start + tag.len();
            if !bytes
                .get(after)
                .is_some_and(|&b| b == b'>' || b.is_ascii_whitespace())
            {
                continue;
            }
            let Some(close) = memchr::memchr(b'>', &bytes[after..]).map(|at| after + at) else {
                return true;
            };
            if bytes[close - 1] == b'/' {
                continue;
            }
            let mut at = close + 1;
            loop {
                let Some(lt) = memchr::memchr(b'<', &bytes[at..]).map(|found| at + found) else {
                    return true;
                };
                let rest = &bytes[lt..];
                if rest.starts_with(b"<![CDATA[") {
                    match memmem::find(rest, b"]]>") {
                        Some(end) => at = lt + end + 3,
                        None => return true,
                    }
                } else if rest.starts_with(b"</") {
                    break;
                } else {
                    return true;
                }
            }
        }
    }
    false
}

/// Which kind of feed the root element said this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Unknown,
    Rss,
    Atom,
}

/// An element open in the output.
#[derive(Debug)]
struct Open {
    /// As written in the input (end tags are matched against it).
    source_name: String,
    /// As written to the output.
    name: String,
    /// Where its start tag begins in the output, and where its content begins.
    start_at: usize,
    content_at: usize,
    /// An Atom text construct: feed-rs rejects an empty one, so it is dropped instead.
    drop_if_empty: bool,
    /// Atom 0.3 `mode="base64"`: its text is decoded when it closes.
    base64: bool,
    /// An RSS 1.0 item (feed-rs drops items without `<link>`): its `rdf:about`, and whether a
    /// link was seen.
    rdf_item: Option<(String, bool)>,
}

/// A start tag as read from the input.
#[derive(Debug)]
struct StartTag {
    name: String,
    attributes: Vec<(String, String)>,
    self_closing: bool,
}

/// Counts of each kind of repair, turned into sentences at the end.
#[derive(Debug, Default)]
struct Counts {
    junk_before_root: bool,
    content_after_root: bool,
    bare_ampersands: usize,
    html_entities: usize,
    bad_character_references: usize,
    bare_less_thans: usize,
    forbidden_characters: usize,
    unclosed_cdata: bool,
    unclosed_comment: bool,
    truncated_tag: bool,
    stray_end_tags: usize,
    implicitly_closed: usize,
    void_elements: usize,
    attributes: usize,
    markup_in_text: usize,
    too_deep: usize,
    empty_text_constructs: usize,
    atom_types: usize,
    items_without_links: usize,
    unclosed_at_end: Vec<String>,
}

/// Repairs `document` (see the module docs).
pub(super) fn repair(document: &str) -> Repaired {
    let mut rewriter = Rewriter {
        src: document,
        pos: 0,
        out: String::with_capacity(document.len() + document.len() / 8 + 64),
        stack: Vec::new(),
        kind: Kind::Unknown,
        root_seen: false,
        rdf: false,
        atom03: false,
        counts: Counts::default(),
        adapted: Vec::new(),
    };
    rewriter.run();
    let recovered = rewriter.counts.sentences();
    Repaired {
        text: rewriter.out,
        recovered,
        adapted: rewriter.adapted,
    }
}

struct Rewriter<'a> {
    src: &'a str,
    pos: usize,
    out: String,
    stack: Vec<Open>,
    kind: Kind,
    root_seen: bool,
    rdf: bool,
    atom03: bool,
    counts: Counts,
    adapted: Vec<String>,
}

impl Rewriter<'_> {
    fn run(&mut self) {
        let bytes = self.src.as_bytes();
        while self.pos < bytes.len() {
            if self.root_seen && self.stack.is_empty() {
                self.after_root();
                return;
            }
            let Some(found) = memchr::memchr2(b'<', b'&', &bytes[self.pos..]) else {
                let text = &self.src[self.pos..];
                self.text(text);
                self.pos = bytes.len();
                break;
            };
            let at = self.pos + found;
            let text = &self.src[self.pos..at];
            self.text(text);
            self.pos = at;
            if bytes[at] == b'&' {
                if self.root_seen {
                    self.pos = self.reference(at);
                } else {
                    self.counts.junk_before_root = true;
                    self.pos = at + 1;
                }
            } else {
                self.markup();
            }
        }
        self.close_all_at_end();
    }

    fn after_root(&mut self) {
        let rest = self.src[self.pos..].trim();
        let only_comments = rest.is_empty()
            || (rest.starts_with("<!--") || rest.starts_with("<?")) && !rest.contains("><");
        if !only_comments {
            self.counts.content_after_root = true;
        }
        self.pos = self.src.len();
    }

    /// Text between markup: outside the root it is junk; inside, forbidden controls go.
    fn text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if !self.root_seen {
            if !text.trim().is_empty() {
                self.counts.junk_before_root = true;
            }
            return;
        }
        push_xml_chars(&mut self.out, text, &mut self.counts.forbidden_characters);
    }

    /// Writes the reference at `at` (an `&`) as XML and returns where the input continues.
    fn reference(&mut self, at: usize) -> usize {
        at + fix_reference(&self.src[at..], &mut self.counts, &mut self.out)
    }

    fn markup(&mut self) {
        let rest = &self.src[self.pos..];
        if rest.starts_with("<!--") {
            match rest.find("-->") {
                Some(end) => self.pos += end + 3,
                None => {
                    self.counts.unclosed_comment = true;
                    self.pos = self.src.len();
                }
            }
        } else if rest.starts_with("<![CDATA[") {
            let body_at = "<![CDATA[".len();
            let (body, next) = match rest[body_at..].find("]]>") {
                Some(end) => (&rest[body_at..body_at + end], body_at + end + 3),
                None => {
                    self.counts.unclosed_cdata = true;
                    (&rest[body_at..], rest.len())
                }
            };
            if self.root_seen {
                self.out.push_str("<![CDATA[");
                push_xml_chars(&mut self.out, body, &mut self.counts.forbidden_characters);
                self.out.push_str("]]>");
            } else if !body.trim().is_empty() {
                self.counts.junk_before_root = true;
            }
            self.pos += next;
        } else if rest.starts_with("<!") {
            // A DOCTYPE (with its internal subset: entity declarations are never expanded).
            self.pos += declaration_length(rest);
        } else if rest.starts_with("<?") {
            // Declarations and processing instructions: the document is UTF-8 now, and
            // feed-rs ignores stylesheets.
            match rest.find("?>") {
                Some(end) => self.pos += end + 2,
                None => {
                    self.counts.truncated_tag = true;
                    self.pos = self.src.len();
                }
            }
        } else if rest.starts_with("</") {
            self.end_tag();
        } else if rest[1..].starts_with(is_name_start) {
            self.start_tag();
        } else {
            if self.root_seen {
                self.out.push_str("&lt;");
                self.counts.bare_less_thans += 1;
            } else {
                self.counts.junk_before_root = true;
            }
            self.pos += 1;
        }
    }

    fn start_tag(&mut self) {
        let Some((tag, length)) = read_start_tag(&self.src[self.pos..], &mut self.counts) else {
            self.counts.truncated_tag = true;
            self.pos = self.src.len();
            return;
        };
        self.pos += length;
        if !self.root_seen {
            if !self.take_as_root(&tag) {
                self.counts.junk_before_root = true;
                return;
            }
        } else if self.stack.len() >= MAX_DEPTH {
            self.counts.too_deep += 1;
            return;
        }
        self.open(tag);
    }

    /// Whether `tag` is a feed's root element; if so, fixes the format variants it shows.
    fn take_as_root(&mut self, tag: &StartTag) -> bool {
        self.rdf = local_name(&tag.name) == "RDF";
        self.kind = match local_name(&tag.name) {
            "rss" | "RDF" => Kind::Rss,
            "feed" => Kind::Atom,
            _ => return false,
        };
        self.root_seen = true;
        true
    }

    fn open(&mut self, mut tag: StartTag) {
        let is_root = self.stack.is_empty();
        let source_name = tag.name.clone();
        let local = local_name(&tag.name).to_owned();
        self.fix_namespaces(&mut tag, is_root);
        if is_root && local == "rss" {
            self.fix_rss_version(&mut tag);
        }
        if self.kind == Kind::Atom && !is_root && self.atom03 {
            rename_atom03(&mut tag.name, &local);
        }
        let local = local_name(&tag.name).to_owned();
        let text_construct = self.kind == Kind::Atom
            && matches!(
                local.as_str(),
                "title" | "subtitle" | "summary" | "content" | "rights"
            );
        let mut base64 = false;
        if text_construct {
            base64 = self.fix_atom_type(&mut tag, &local);
        }
        let drop_if_empty = text_construct && !tag.attributes.iter().any(|(name, _)| name == "src");
        if tag.self_closing && drop_if_empty {
            self.counts.empty_text_constructs += 1;
            return;
        }
        let void =
            !tag.self_closing && is_html_void(&local) && !self.closed_right_after(&source_name);
        if void {
            self.counts.void_elements += 1;
        }
        let start_at = self.out.len();
        write_start_tag(&mut self.out, &tag, tag.self_closing || void);
        if tag.self_closing || void {
            return;
        }
        let raw_text = self.kind == Kind::Rss
            && !is_root
            && matches!(local.as_str(), "title" | "description" | "encoded");
        if local == "link"
            && let Some(parent) = self.stack.last_mut()
            && let Some((_, seen)) = parent.rdf_item.as_mut()
        {
            *seen = true;
        }
        let rdf_item = (self.rdf && local == "item").then(|| {
            let about = tag
                .attributes
                .iter()
                .find(|(name, _)| local_name(name) == "about")
                .map_or_else(|| "about:blank".to_owned(), |(_, value)| value.clone());
            (about, false)
        });
        self.stack.push(Open {
            source_name,
            name: tag.name,
            start_at,
            content_at: self.out.len(),
            drop_if_empty,
            base64,
            rdf_item,
        });
        if raw_text {
            self.raw_text();
        }
    }

    /// Whether the input continues with this element's end tag (`<br></br>` is fine as is).
    fn closed_right_after(&self, name: &str) -> bool {
        let rest = self.src[self.pos..].trim_start();
        rest.strip_prefix("</")
            .and_then(|rest| rest.strip_prefix(name))
            .is_some_and(|rest| rest.trim_start().starts_with('>'))
    }

    /// The content of an RSS text element up to its end tag (or an ancestor's), as text:
    /// markup in it is HTML that was not escaped.
    fn raw_text(&mut self) {
        let bytes = self.src.as_bytes();
        let mut at = self.pos;
        let mut markup = false;
        let end = loop {
            let Some(found) = memchr::memchr2(b'<', b'&', &bytes[at..]) else {
                let text = &self.src[at..];
                push_xml_chars(&mut self.out, text, &mut self.counts.forbidden_characters);
                break None;
            };
            let lt = at + found;
            let text = &self.src[at..lt];
            push_xml_chars(&mut self.out, text, &mut self.counts.forbidden_characters);
            if bytes[lt] == b'&' {
                at = lt + fix_reference(&self.src[lt..], &mut self.counts, &mut self.out);
                continue;
            }
            let rest = &self.src[lt..];
            if let Some(cdata) = rest.strip_prefix("<![CDATA[") {
                let (body, next) = match cdata.find("]]>") {
                    Some(end) => (&cdata[..end], "<![CDATA[".len() + end + 3),
                    None => {
                        self.counts.unclosed_cdata = true;
                        (cdata, rest.len())
                    }
                };
                push_escaped(&mut self.out, body, &mut self.counts.forbidden_characters);
                at = lt + next;
                continue;
            }
            if let Some(name) = rest.strip_prefix("</").map(tag_name)
                && self.stack.iter().any(|open| open.source_name == name)
            {
                break Some(lt);
            }
            if rest.starts_with("<!--") {
                at = lt + rest.find("-->").map_or(rest.len(), |end| end + 3);
                continue;
            }
            markup = true;
            self.out.push_str("&lt;");
            at = lt + 1;
        };
        if markup {
            self.counts.markup_in_text += 1;
        }
        self.pos = end.unwrap_or(bytes.len());
    }

    fn end_tag(&mut self) {
        let rest = &self.src[self.pos..];
        let name = tag_name(&rest[2..]);
        let Some(close) = rest.find('>') else {
            self.counts.truncated_tag = true;
            self.pos = self.src.len();
            return;
        };
        self.pos += close + 1;
        if !self.root_seen {
            self.counts.junk_before_root = true;
            return;
        }
        let found = self
            .stack
            .iter()
            .rposition(|open| open.source_name == name)
            .or_else(|| {
                self.stack
                    .iter()
                    .rposition(|open| open.source_name.eq_ignore_ascii_case(name))
            });
        let Some(index) = found else {
            self.counts.stray_end_tags += 1;
            return;
        };
        self.counts.implicitly_closed += self.stack.len() - index - 1;
        while self.stack.len() > index {
            self.close_top();
        }
    }

    fn close_top(&mut self) {
        let Some(open) = self.stack.pop() else {
            return;
        };
        if open.drop_if_empty && self.out.len() == open.content_at {
            self.out.truncate(open.start_at);
            self.counts.empty_text_constructs += 1;
            return;
        }
        if let Some((about, false)) = &open.rdf_item {
            self.counts.items_without_links += 1;
            self.out.push_str("<link>");
            self.out.push_str(about);
            self.out.push_str("</link>");
        }
        if open.base64 {
            let encoded: String = self.out[open.content_at..]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            self.out.truncate(open.content_at);
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim_end_matches('='))
                .or_else(|_| {
                    base64::engine::general_purpose::STANDARD_NO_PAD
                        .decode(encoded.trim_end_matches('='))
                })
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok());
            match decoded {
                Some(text) => {
                    push_escaped(&mut self.out, &text, &mut self.counts.forbidden_characters)
                }
                None => self.counts.bad_character_references += 1,
            }
        }
        self.out.push_str("</");
        self.out.push_str(&open.name);
        self.out.push('>');
    }

    fn close_all_at_end(&mut self) {
        if !self.stack.is_empty() {
            self.counts.unclosed_at_end = self
                .stack
                .iter()
                .rev()
                .map(|open| open.source_name.clone())
                .collect();
        }
        while !self.stack.is_empty() {
            self.close_top();
        }
    }

    /// Namespace fixes: Atom 0.3 and RSS 0.90 namespaces become their successors'; a default
    /// namespace on `<rss>` (which has none) is dropped; bindings XML forbids are dropped.
    fn fix_namespaces(&mut self, tag: &mut StartTag, is_root: bool) {
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
                self.counts.attributes += before - tag.attributes.len();
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

    fn fix_rss_version(&mut self, tag: &mut StartTag) {
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
    fn fix_atom_type(&mut self, tag: &mut StartTag, local: &str) -> bool {
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
            self.counts.atom_types += 1;
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
fn rename_atom03(name: &mut String, local: &str) {
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

fn local_name(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == ':' || !c.is_ascii() && !c.is_whitespace()
}

fn is_name_char(c: char) -> bool {
    !(c.is_whitespace() || c.is_control() || matches!(c, '/' | '>' | '<' | '=' | '"' | '\'' | '&'))
}

/// The element name at the start of `text`.
fn tag_name(text: &str) -> &str {
    let end = text.find(|c: char| !is_name_char(c)).unwrap_or(text.len());
    &text[..end]
}

/// HTML elements that never have content, written as HTML (`<br>`) in feeds. `link` and
/// `source` are RSS elements with content, so they are not among them.
fn is_html_void(local: &str) -> bool {
    matches!(
        local.to_ascii_lowercase().as_str(),
        "area" | "br" | "col" | "embed" | "hr" | "img" | "input" | "param" | "track" | "wbr"
    )
}

/// Reads a start tag at the start of `text` leniently; `None` if the input ends inside it.
fn read_start_tag(text: &str, counts: &mut Counts) -> Option<(StartTag, usize)> {
    let raw_name = tag_name(&text[1..]);
    let mut at = 1 + raw_name.len();
    // A QName has at most one colon, not at either end.
    let name = if raw_name.matches(':').count() > 1
        || raw_name.starts_with(':')
        || raw_name.ends_with(':')
    {
        counts.attributes += 1;
        raw_name.replace(':', "_")
    } else {
        raw_name.to_owned()
    };
    let mut tag = StartTag {
        name,
        attributes: Vec::new(),
        self_closing: false,
    };
    let bytes = text.as_bytes();
    loop {
        while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        match bytes.get(at)? {
            b'>' => return Some((tag, at + 1)),
            b'/' if bytes.get(at + 1) == Some(&b'>') => {
                tag.self_closing = true;
                return Some((tag, at + 2));
            }
            // Another tag begins: this one was never closed.
            b'<' => {
                counts.truncated_tag = true;
                return Some((tag, at));
            }
            _ => {}
        }
        let name = tag_name(&text[at..]);
        if name.is_empty() || !name.starts_with(is_name_start) {
            // Stray characters (quotes, `/`, `=`...) between attributes.
            counts.attributes += 1;
            at += text[at..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        at += name.len();
        let mut cursor = at;
        while bytes.get(cursor).is_some_and(u8::is_ascii_whitespace) {
            cursor += 1;
        }
        let value = if bytes.get(cursor) == Some(&b'=') {
            cursor += 1;
            while bytes.get(cursor).is_some_and(u8::is_ascii_whitespace) {
                cursor += 1;
            }
            match *bytes.get(cursor)? {
                quote @ (b'"' | b'\'') => {
                    let start = cursor + 1;
                    let length = memchr::memchr(quote, &bytes[start..])?;
                    at = start + length + 1;
                    &text[start..start + length]
                }
                _ => {
                    counts.attributes += 1;
                    let start = cursor;
                    let length = text[start..]
                        .find(|c: char| c.is_whitespace() || c == '>')
                        .unwrap_or(text.len() - start);
                    at = start + length;
                    let value = &text[start..start + length];
                    value
                        .strip_suffix('/')
                        .filter(|_| bytes.get(at) == Some(&b'>'))
                        .map_or(value, |v| {
                            at -= 1;
                            v
                        })
                }
            }
        } else {
            counts.attributes += 1;
            name
        };
        if tag.attributes.len() >= MAX_ATTRIBUTES || tag.attributes.iter().any(|(n, _)| n == name) {
            counts.attributes += 1;
            continue;
        }
        let mut escaped = String::with_capacity(value.len());
        push_attribute_value(&mut escaped, value, counts);
        let name = if name.matches(':').count() > 1 || name.ends_with(':') {
            name.replace(':', "_")
        } else {
            name.to_owned()
        };
        tag.attributes.push((name, escaped));
    }
}

fn write_start_tag(out: &mut String, tag: &StartTag, self_closing: bool) {
    out.push('<');
    out.push_str(&tag.name);
    for (name, value) in &tag.attributes {
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        out.push_str(value);
        out.push('"');
    }
    out.push_str(if self_closing { "/>" } else { ">" });
}

/// An attribute value, as XML in double quotes.
fn push_attribute_value(out: &mut String, value: &str, counts: &mut Counts) {
    let mut rest = value;
    while let Some(at) = rest.find(['&', '<', '"']) {
        push_xml_chars(out, &rest[..at], &mut counts.forbidden_characters);
        let tail = &rest[at..];
        match tail.as_bytes()[0] {
            b'&' => {
                let next = fix_reference(tail, counts, out);
                rest = &tail[next..];
            }
            b'<' => {
                out.push_str("&lt;");
                rest = &tail[1..];
            }
            _ => {
                out.push_str("&quot;");
                rest = &tail[1..];
            }
        }
    }
    push_xml_chars(out, rest, &mut counts.forbidden_characters);
}

/// `text` (which has no markup) without the characters XML 1.0 forbids.
fn push_xml_chars(out: &mut String, text: &str, forbidden: &mut usize) {
    let is_forbidden = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{fffe}' | '\u{ffff}')
    };
    if !text.contains(is_forbidden) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        if is_forbidden(c) {
            *forbidden += 1;
        } else {
            out.push(c);
        }
    }
}

/// Text escaped for XML character data.
fn push_escaped(out: &mut String, text: &str, forbidden: &mut usize) {
    let mut rest = text;
    while let Some(at) = rest.find(['&', '<', '>']) {
        push_xml_chars(out, &rest[..at], forbidden);
        out.push_str(match rest.as_bytes()[at] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            _ => "&gt;",
        });
        rest = &rest[at + 1..];
    }
    push_xml_chars(out, rest, forbidden);
}

/// Writes the reference at the start of `text` (an `&`) as XML; returns how much input it used.
fn fix_reference(text: &str, counts: &mut Counts, out: &mut String) -> usize {
    if let Some(length) = xml_reference_length(text.as_bytes()) {
        let body = &text[1..length - 1];
        if let Some(number) = body.strip_prefix('#') {
            let value = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => number.parse().ok(),
            };
            character_reference(value, counts, out);
        } else {
            out.push_str(&text[..length]);
        }
        return length;
    }
    let body = &text[1..];
    let name_length = body
        .bytes()
        .take(40)
        .take_while(u8::is_ascii_alphanumeric)
        .count();
    if name_length > 0 && body.as_bytes().get(name_length) == Some(&b';') {
        let name = &body[..=name_length];
        if let Some(&(first, second)) = markup5ever::data::NAMED_ENTITIES.get(name)
            && first != 0
        {
            counts.html_entities += 1;
            for code in [first, second].into_iter().filter(|code| *code != 0) {
                out.push_str("&#");
                out.push_str(&code.to_string());
                out.push(';');
            }
            return name_length + 2;
        }
    }
    counts.bare_ampersands += 1;
    out.push_str("&amp;");
    1
}

/// A numeric reference as XML: as is if XML allows the character, C1 controls read as
/// windows-1252 (as browsers do), anything else U+FFFD.
fn character_reference(value: Option<u32>, counts: &mut Counts, out: &mut String) {
    let Some(value) = value else {
        counts.bad_character_references += 1;
        out.push('\u{fffd}');
        return;
    };
    if (0x80..=0x9f).contains(&value) {
        counts.bad_character_references += 1;
        let byte = [u8::try_from(value).unwrap_or(b'?')];
        out.push_str(
            &encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(&byte)
                .0,
        );
        return;
    }
    match char::from_u32(value) {
        Some(c)
            if matches!(c, '\t' | '\n' | '\r')
                || (c >= ' ' && !matches!(c, '\u{fffe}' | '\u{ffff}')) =>
        {
            out.push_str("&#");
            out.push_str(&value.to_string());
            out.push(';');
        }
        _ => {
            counts.bad_character_references += 1;
            out.push('\u{fffd}');
        }
    }
}

/// The length of a `<!...>` declaration at the start of `text`, internal subset included.
fn declaration_length(text: &str) -> usize {
    let mut depth = 0usize;
    let mut quote = None;
    for (at, c) in text.char_indices().skip(2) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, '>') if depth == 0 => return at + 1,
            _ => {}
        }
    }
    text.len()
}

impl Counts {
    fn sentences(&self) -> Vec<String> {
        let mut said = Vec::new();
        let mut say = |condition: bool, sentence: String| {
            if condition {
                said.push(sentence);
            }
        };
        let n = |count: usize, one: &str, many: &str| {
            if count == 1 {
                one.to_owned()
            } else {
                format!("{count} {many}")
            }
        };
        say(
            self.junk_before_root,
            "junk before the root element was skipped".to_owned(),
        );
        say(
            self.content_after_root,
            "content after the root element was ignored".to_owned(),
        );
        say(
            self.bare_ampersands > 0,
            format!(
                "{} escaped",
                n(self.bare_ampersands, "a bare '&' was", "bare '&' were")
            ),
        );
        say(
            self.html_entities > 0,
            format!(
                "{} (not defined in XML) read as HTML",
                n(self.html_entities, "an HTML entity", "HTML entities")
            ),
        );
        say(
            self.bad_character_references > 0,
            format!(
                "{} replaced",
                n(
                    self.bad_character_references,
                    "an invalid character reference or base64 text was",
                    "invalid character references or base64 texts were"
                )
            ),
        );
        say(
            self.bare_less_thans > 0,
            format!(
                "{} escaped",
                n(self.bare_less_thans, "a bare '<' was", "bare '<' were")
            ),
        );
        say(
            self.forbidden_characters > 0,
            format!(
                "{} XML does not allow removed",
                n(
                    self.forbidden_characters,
                    "a control character",
                    "control characters"
                )
            ),
        );
        say(
            self.unclosed_cdata,
            "an unclosed CDATA section at the end was closed".to_owned(),
        );
        say(
            self.unclosed_comment,
            "an unclosed comment at the end was dropped".to_owned(),
        );
        say(
            self.truncated_tag,
            "a truncated tag was dropped or closed".to_owned(),
        );
        say(
            !self.unclosed_at_end.is_empty(),
            format!(
                "missing closing tags at the end were added: {}",
                self.unclosed_at_end
                    .iter()
                    .take(8)
                    .map(|name| format!("</{name}>"))
                    .collect::<String>()
            ),
        );
        say(
            self.implicitly_closed > 0,
            format!(
                "{} left open inside another was closed with it",
                n(self.implicitly_closed, "an element", "elements")
            ),
        );
        say(
            self.stray_end_tags > 0,
            format!(
                "{} that matched no open element dropped",
                n(self.stray_end_tags, "a closing tag", "closing tags")
            ),
        );
        say(
            self.void_elements > 0,
            format!(
                "{} (like <br>) closed",
                n(
                    self.void_elements,
                    "an HTML empty element",
                    "HTML empty elements"
                )
            ),
        );
        say(
            self.attributes > 0,
            format!(
                "{} (unquoted, valueless, duplicate or misnamed) fixed",
                n(
                    self.attributes,
                    "a malformed attribute",
                    "malformed attributes"
                )
            ),
        );
        say(
            self.markup_in_text > 0,
            format!(
                "unescaped HTML inside {} taken as HTML",
                n(
                    self.markup_in_text,
                    "an RSS text element was",
                    "RSS text elements was"
                )
            ),
        );
        say(
            self.too_deep > 0,
            format!(
                "elements nested deeper than {MAX_DEPTH} levels were flattened ({} tags)",
                self.too_deep
            ),
        );
        say(
            self.empty_text_constructs > 0,
            format!(
                "{} dropped",
                n(
                    self.empty_text_constructs,
                    "an empty Atom text element was",
                    "empty Atom text elements were"
                )
            ),
        );
        say(
            self.items_without_links > 0,
            format!(
                "{} without the <link> RSS 1.0 requires kept",
                n(self.items_without_links, "an item", "items")
            ),
        );
        say(
            self.atom_types > 0,
            format!(
                "{} corrected",
                n(
                    self.atom_types,
                    "an invalid Atom type attribute was",
                    "invalid Atom type attributes were"
                )
            ),
        );
        said
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_feeds_need_no_repair() {
        for document in [
            "<rss version=\"2.0\"><channel><title>A &amp; B &#233; &#xe9;</title></channel></rss>",
            "<rss><channel><item><description><![CDATA[<p>Caf&eacute; & co</p>]]></description></item></channel></rss>",
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"html\">&lt;b&gt;x&lt;/b&gt;</title></feed>",
        ] {
            assert!(!needs_repair(document), "{document}");
        }
        for document in [
            "<rss><channel><title>A & B</title></channel></rss>",
            "<rss><channel><title>Caf&eacute;</title></channel></rss>",
            "<rss><channel><item><description>Hi <b>there</b></description></item></channel></rss>",
            "<rss><channel><item><description><![CDATA[x]]> &nbsp;</description></item></channel></rss>",
        ] {
            assert!(needs_repair(document), "{document}");
        }
    }

    #[test]
    fn breakage_is_repaired_and_reported() {
        let repaired = repair(
            "Warning: x in y.php\n<?xml version=\"1.0\"?>\n<rss><channel><title>A & B&nbsp;&eacute;</title>\
             <item><description>Hi <b>there</b><br></description><link>x</link></item><item><description><![CDATA[cut",
        );
        assert_eq!(
            repaired.text,
            "<rss version=\"2.0\"><channel><title>A &amp; B&#160;&#233;</title>\
             <item><description>Hi &lt;b>there&lt;/b>&lt;br></description><link>x</link></item>\
             <item><description>cut</description></item></channel></rss>"
        );
        let said = repaired.recovered.join("; ");
        for expected in [
            "junk before the root",
            "bare '&' was escaped",
            "2 HTML entities",
            "unclosed CDATA",
            "</description></item></channel></rss>",
            "unescaped HTML",
        ] {
            assert!(said.contains(expected), "{expected} in {said}");
        }
        assert_eq!(
            repaired.adapted,
            ["<rss> has no version attribute: read as RSS 2.0"]
        );
    }

    #[test]
    fn mismatched_and_stray_tags_close_like_a_browser() {
        let repaired = repair(
            "<feed><entry><title>t</title><summary type=\"xhtml\"><div><p>a<br>b</div></summary></entry></foo></feed>",
        );
        assert_eq!(
            repaired.text,
            "<feed><entry><title>t</title><summary type=\"xhtml\"><div><p>a<br/>b</p></div></summary></entry></feed>"
        );
    }

    #[test]
    fn atom_03_becomes_atom_10() {
        let repaired = repair(
            "<feed version=\"0.3\" xmlns=\"http://purl.org/atom/ns#\"><tagline>t</tagline><entry>\
             <issued>2004-01-01T00:00:00Z</issued><content type=\"text/html\" mode=\"base64\">PGI+aGk8L2I+</content>\
             <summary type=\"text/plain\" mode=\"escaped\"></summary></entry></feed>",
        );
        assert_eq!(
            repaired.text,
            "<feed version=\"0.3\" xmlns=\"http://www.w3.org/2005/Atom\"><subtitle>t</subtitle><entry>\
             <published>2004-01-01T00:00:00Z</published><content type=\"html\">&lt;b&gt;hi&lt;/b&gt;</content>\
             </entry></feed>"
        );
    }

    #[test]
    fn references_become_xml_ones() {
        let repaired = repair(
            "<rss version=\"2.0\"><channel><title>&#150; &#0; &copy &hellip; &bogus; a=1&b=2</title></channel></rss>",
        );
        assert_eq!(
            repaired.text,
            "<rss version=\"2.0\"><channel><title>\u{2013} \u{fffd} &amp;copy &#8230; &amp;bogus; a=1&amp;b=2</title></channel></rss>"
        );
    }
}
