//! A user's reading preferences, stored by the middle tier so they follow the user across
//! browsers and edges: `GET/PUT /middletier/accounts/{user}/preferences`.
//!
//! Every field has a default, so a value stored before a field existed still reads; a value
//! the middle tier does not know (a theme it has no name for, a page size out of range) is
//! refused rather than stored, so what is stored is always something every edge can show.

use serde::{Deserialize, Serialize};

/// Fewest items per page a user may choose.
pub const MIN_ITEMS_PER_PAGE: u16 = 10;
/// Most items per page a user may choose: the river's own cap.
pub const MAX_ITEMS_PER_PAGE: u16 = 200;
/// Items per page for a user who never chose: what the river showed before preferences.
pub const DEFAULT_ITEMS_PER_PAGE: u16 = 50;

/// `GET/PUT /middletier/accounts/{user}/preferences`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Preferences {
    pub theme: Theme,
    /// Items on one page of the river, [`MIN_ITEMS_PER_PAGE`] to [`MAX_ITEMS_PER_PAGE`].
    pub items_per_page: u16,
    /// Links to originals open in a new tab.
    pub open_in_new_tab: bool,
    /// Opening an item in the reading view marks it read.
    pub mark_read_on_open: bool,
    pub list_style: ListStyle,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            theme: Theme::System,
            items_per_page: DEFAULT_ITEMS_PER_PAGE,
            open_in_new_tab: false,
            mark_read_on_open: true,
            list_style: ListStyle::Full,
        }
    }
}

impl Preferences {
    /// The preferences, unless a field is out of its range (serde already refused unknown
    /// names): the message says which and why.
    pub fn check(&self) -> Result<(), String> {
        if !(MIN_ITEMS_PER_PAGE..=MAX_ITEMS_PER_PAGE).contains(&self.items_per_page) {
            return Err(format!(
                "items per page must be between {MIN_ITEMS_PER_PAGE} and {MAX_ITEMS_PER_PAGE}"
            ));
        }
        Ok(())
    }
}

/// The colours pages use; `System` follows the browser's `prefers-color-scheme`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    Light,
    Dark,
    #[default]
    System,
}

impl Theme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Dark => "dark",
            Self::System => "system",
        }
    }
}

/// How the river lists items: whole summaries, or a title and one line each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ListStyle {
    #[default]
    Full,
    Compact,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_stored_before_a_field_existed_reads_with_that_fields_default() {
        let read: Preferences = serde_json::from_str(r#"{"theme":"dark"}"#).expect("parses");
        assert_eq!(
            read,
            Preferences {
                theme: Theme::Dark,
                ..Preferences::default()
            }
        );
    }

    #[test]
    fn unknown_names_and_fields_are_refused() {
        assert!(serde_json::from_str::<Preferences>(r#"{"theme":"sepia"}"#).is_err());
        assert!(serde_json::from_str::<Preferences>(r#"{"list_style":"grid"}"#).is_err());
        assert!(serde_json::from_str::<Preferences>(r#"{"font":"serif"}"#).is_err());
        assert!(serde_json::from_str::<Preferences>(r#"{"items_per_page":70000}"#).is_err());
    }

    #[test]
    fn page_sizes_outside_the_range_are_refused() {
        for (size, ok) in [(9, false), (10, true), (200, true), (201, false)] {
            let prefs = Preferences {
                items_per_page: size,
                ..Preferences::default()
            };
            assert_eq!(prefs.check().is_ok(), ok, "{size}");
        }
    }
}
