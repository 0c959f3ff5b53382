//! The one linear pass that rewrites a document into well-formed XML, keeping the stack of
//! open elements: junk outside the root dropped, CDATA and comments closed, missing end tags
//! supplied, unescaped markup in RSS text taken as HTML, Atom 0.3's base64 decoded.

use base64::Engine as _;

use super::chars::{push_escaped, push_xml_chars};
use super::references::fix_reference;
use super::report::Counts;
use super::tags::{
    StartTag, is_html_void, is_name_start, local_name, read_start_tag, tag_name, write_start_tag,
};
use super::variants::{Format, Kind, rename_atom03};
use super::{MAX_DEPTH, Repaired};

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

/// The rewriter's state: where it is in the input, the output so far and its open elements.
pub(super) struct Rewriter<'a> {
    src: &'a str,
    pos: usize,
    out: String,
    stack: Vec<Open>,
    root_seen: bool,
    /// What the root said the document is, and the variants adapted on the way.
    format: Format,
    counts: Counts,
}

impl<'a> Rewriter<'a> {
    pub(super) fn new(document: &'a str) -> Self {
        Self {
            src: document,
            pos: 0,
            out: String::with_capacity(document.len() + document.len() / 8 + 64),
            stack: Vec::new(),
            root_seen: false,
            format: Format::default(),
            counts: Counts::default(),
        }
    }

    /// Rewrites the whole document, and says what was done to it.
    pub(super) fn rewrite(mut self) -> Repaired {
        self.run();
        Repaired {
            recovered: self.counts.sentences(),
            text: self.out,
            adapted: self.format.adapted,
        }
    }
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
        self.root_seen = self.format.take_root(tag);
        self.root_seen
    }

    fn open(&mut self, mut tag: StartTag) {
        let is_root = self.stack.is_empty();
        let source_name = tag.name.clone();
        let local = local_name(&tag.name).to_owned();
        self.format
            .fix_namespaces(&mut tag, is_root, &mut self.counts);
        if is_root && local == "rss" {
            self.format.fix_rss_version(&mut tag);
        }
        if self.format.kind == Kind::Atom && !is_root && self.format.atom03 {
            rename_atom03(&mut tag.name, &local);
        }
        let local = local_name(&tag.name).to_owned();
        let text_construct = self.format.kind == Kind::Atom
            && matches!(
                local.as_str(),
                "title" | "subtitle" | "summary" | "content" | "rights"
            );
        let mut base64 = false;
        if text_construct {
            base64 = self
                .format
                .fix_atom_type(&mut tag, &local, &mut self.counts);
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
        let raw_text = self.format.kind == Kind::Rss
            && !is_root
            && matches!(local.as_str(), "title" | "description" | "encoded");
        if local == "link"
            && let Some(parent) = self.stack.last_mut()
            && let Some((_, seen)) = parent.rdf_item.as_mut()
        {
            *seen = true;
        }
        let rdf_item = (self.format.rdf && local == "item").then(|| {
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
