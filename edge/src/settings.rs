//! The edge's configuration (see `platform::config` for how it is layered).

use serde::{Deserialize, Serialize};

use platform::config::ServerSettings;
use registry::client::ClientSettings;

use crate::upstream::{CommandsSettings, MiddletierSettings};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub registry: ClientSettings,
    pub middletier: MiddletierSettings,
    pub commands: CommandsSettings,
    pub ui: UiSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: ServerSettings::localhost(9090),
            registry: ClientSettings::default(),
            middletier: MiddletierSettings::default(),
            commands: CommandsSettings::default(),
            ui: UiSettings::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UiSettings {
    /// Until accounts exist, every visitor reads as this user (as in the recipe).
    pub default_user: String,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            default_user: "default".to_owned(),
        }
    }
}
