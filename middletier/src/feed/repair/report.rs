//! What the repair did, counted while it runs and said in plain words at the end (what
//! `check-feed` shows as how a feed was recovered).

use super::MAX_DEPTH;

/// Counts of each kind of repair, turned into sentences at the end.
#[derive(Debug, Default)]
pub(super) struct Counts {
    pub(super) junk_before_root: bool,
    pub(super) content_after_root: bool,
    pub(super) bare_ampersands: usize,
    pub(super) html_entities: usize,
    pub(super) bad_character_references: usize,
    pub(super) bare_less_thans: usize,
    pub(super) forbidden_characters: usize,
    pub(super) unclosed_cdata: bool,
    pub(super) unclosed_comment: bool,
    pub(super) truncated_tag: bool,
    pub(super) stray_end_tags: usize,
    pub(super) implicitly_closed: usize,
    pub(super) void_elements: usize,
    pub(super) attributes: usize,
    pub(super) markup_in_text: usize,
    pub(super) too_deep: usize,
    pub(super) empty_text_constructs: usize,
    pub(super) atom_types: usize,
    pub(super) items_without_links: usize,
    pub(super) unclosed_at_end: Vec<String>,
}

impl Counts {
    /// What was repaired, one sentence per kind of breakage found.
    pub(super) fn sentences(&self) -> Vec<String> {
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
