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
//!
//! # Layout
//! - [`needs_repair`] (in `scan`): the cheap pre-scan for what feed-rs would get wrong.
//! - `rewriter`: the one pass over the input, keeping the stack of open elements.
//! - `tags`: reading start tags leniently and writing them back as XML.
//! - `references`: character and entity references made XML's; `chars`: character data
//!   without forbidden characters, escaped.
//! - `variants`: format variants feed-rs does not know, rewritten to ones it does.
//! - `report`: what was repaired, counted, then said in plain words.

mod chars;
mod references;
mod report;
mod rewriter;
mod scan;
mod tags;
mod variants;

pub(super) use scan::{has_late_declaration, needs_repair};

/// Deeper start tags are dropped (their text is kept): no feed nests this deep.
const MAX_DEPTH: usize = 512;

/// A repaired document and what was done to it.
#[derive(Debug, Default)]
pub(super) struct Repaired {
    pub text: String,
    /// What was wrong with the document, in plain words.
    pub recovered: Vec<String>,
    /// Format variants read as the standard they extend (not errors).
    pub adapted: Vec<String>,
}

/// Repairs `document` (see the module docs).
pub(super) fn repair(document: &str) -> Repaired {
    rewriter::Rewriter::new(document).rewrite()
}

#[cfg(test)]
mod tests {
    use super::*;

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
