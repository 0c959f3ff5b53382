//! How a service describes itself to the registry.

use std::net::Ipv6Addr;

use platform::health;

use crate::client::ClientSettings;
use crate::model::{
    ActionType, DataCenterInfo, InstanceInfo, LeaseInfo, Port, Status, now_millis, whole_seconds,
};

/// What a service says about itself; [`InstanceConfig::instance_info`] builds the full Eureka
/// record from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceConfig {
    /// Application name, e.g. `middletier` (the registry upper-cases it).
    pub app: String,
    /// What callers look the service up by, e.g. `middletier`.
    pub vip_address: String,
    /// Host name callers connect to.
    pub host: String,
    pub ip_addr: String,
    pub port: u16,
    /// Whether `port` serves HTTPS: then it is registered as Eureka's secure port
    /// (`securePort` enabled, `port` disabled) and callers reach it at `https://`.
    pub secure: bool,
    /// e.g. `/health`.
    pub health_check_path: String,
}

impl InstanceConfig {
    /// `{host}:{app}:{port}`, the id Spring Cloud's Eureka client uses: unique per process on a
    /// host and stable across restarts, so a restarted instance replaces its old record.
    pub fn instance_id(&self) -> String {
        format!("{}:{}:{}", self.host, self.app.to_lowercase(), self.port)
    }

    /// The application name as the registry stores it.
    pub fn app_name(&self) -> String {
        self.app.to_uppercase()
    }

    /// `http://host:port/` (`https` when [`InstanceConfig::secure`]), IPv6 literals bracketed.
    pub fn base_url(&self) -> String {
        let host = if self.host.parse::<Ipv6Addr>().is_ok() {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let scheme = if self.secure { "https" } else { "http" };
        format!("{scheme}://{host}:{}/", self.port)
    }

    pub fn instance_info(&self, status: health::Status, settings: &ClientSettings) -> InstanceInfo {
        let base = self.base_url();
        let health_url = format!("{base}{}", self.health_check_path.trim_start_matches('/'));
        let now = now_millis();
        InstanceInfo {
            instance_id: self.instance_id(),
            host_name: self.host.clone(),
            app: self.app_name(),
            ip_addr: self.ip_addr.clone(),
            status: status.into(),
            overridden_status: Status::Unknown,
            port: if self.secure {
                Port::disabled(self.port)
            } else {
                Port::enabled(self.port)
            },
            secure_port: if self.secure {
                Port::enabled(self.port)
            } else {
                Port::disabled(443)
            },
            country_id: 1,
            data_center_info: DataCenterInfo::my_own(),
            lease_info: LeaseInfo {
                renewal_interval_in_secs: whole_seconds(settings.renewal_interval),
                duration_in_secs: whole_seconds(settings.lease_duration),
                ..LeaseInfo::default()
            },
            metadata: Default::default(),
            home_page_url: base,
            status_page_url: health_url.clone(),
            health_check_url: health_url.clone(),
            secure_health_check_url: self.secure.then_some(health_url),
            vip_address: self.vip_address.clone(),
            secure_vip_address: self.vip_address.clone(),
            app_group_name: None,
            asg_name: None,
            is_coordinating_discovery_server: false,
            last_updated_timestamp: now,
            last_dirty_timestamp: now,
            action_type: ActionType::Added,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn instance_info_describes_the_service_as_eureka_expects() {
        let config = InstanceConfig {
            app: "middletier".to_owned(),
            vip_address: "middletier".to_owned(),
            host: "host1".to_owned(),
            ip_addr: "10.0.0.1".to_owned(),
            port: 9191,
            secure: false,
            health_check_path: "/health".to_owned(),
        };
        let settings = ClientSettings {
            renewal_interval: Duration::from_millis(100),
            ..ClientSettings::default()
        };
        let info = config.instance_info(health::Status::Starting, &settings);
        assert_eq!(info.instance_id, "host1:middletier:9191");
        assert_eq!(info.app, "MIDDLETIER");
        assert_eq!(info.status, Status::Starting);
        assert_eq!(info.home_page_url, "http://host1:9191/");
        assert_eq!(info.health_check_url, "http://host1:9191/health");
        assert_eq!(info.lease_info.renewal_interval_in_secs, 1);
        assert_eq!(info.lease_info.duration_in_secs, 90);
        assert_eq!(info.data_center_info.name, "MyOwn");
        assert!(info.port.enabled && !info.secure_port.enabled);
    }

    #[test]
    fn a_secure_instance_advertises_its_secure_port_and_https_urls() {
        let config = InstanceConfig {
            app: "middletier".to_owned(),
            vip_address: "middletier".to_owned(),
            host: "host1".to_owned(),
            ip_addr: "10.0.0.1".to_owned(),
            port: 9191,
            secure: true,
            health_check_path: "/health".to_owned(),
        };
        let info = config.instance_info(health::Status::Up, &ClientSettings::default());
        assert_eq!(info.secure_port, Port::enabled(9191));
        assert!(!info.port.enabled);
        assert_eq!(info.home_page_url, "https://host1:9191/");
        assert_eq!(
            info.secure_health_check_url.as_deref(),
            Some("https://host1:9191/health")
        );
    }
}
