//! The `[cassandra]` settings: where the cluster is, how to talk to it, and how to create the
//! keyspace when it does not exist yet.

use std::time::Duration;

use scylla::statement::Consistency;
use serde::{Deserialize, Serialize};

use platform::config::Secret;

use crate::store::StoreError;

/// `[cassandra]` settings (`RSS_CASSANDRA__NODES`, ...).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CassandraSettings {
    /// Contact points, comma-separated `host:port`.
    pub nodes: String,
    pub keyspace: String,
    /// Datacenter to prefer (token-aware, DC-aware routing); empty for none.
    pub local_datacenter: String,
    pub consistency: ConsistencyLevel,
    /// Per request, so a sick cluster fails requests fast instead of piling them up.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Replication for a keyspace we create: `SimpleStrategy` with this factor unless
    /// `datacenters` is set.
    pub replication_factor: u32,
    /// `dc1:3,dc2:3` creates the keyspace with `NetworkTopologyStrategy` (clusters).
    pub datacenters: String,
    /// How often a connected store checks that Cassandra still answers (health).
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    pub username: String,
    #[serde(skip_serializing)]
    pub password: Option<Secret>,
}

impl Default for CassandraSettings {
    fn default() -> Self {
        Self {
            nodes: "127.0.0.1:9042".to_owned(),
            keyspace: "rss".to_owned(),
            local_datacenter: String::new(),
            consistency: ConsistencyLevel::LocalQuorum,
            request_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
            replication_factor: 1,
            datacenters: String::new(),
            probe_interval: Duration::from_secs(2),
            username: String::new(),
            password: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsistencyLevel {
    One,
    Two,
    Three,
    Quorum,
    All,
    LocalOne,
    LocalQuorum,
    EachQuorum,
}

impl From<ConsistencyLevel> for Consistency {
    fn from(level: ConsistencyLevel) -> Self {
        match level {
            ConsistencyLevel::One => Consistency::One,
            ConsistencyLevel::Two => Consistency::Two,
            ConsistencyLevel::Three => Consistency::Three,
            ConsistencyLevel::Quorum => Consistency::Quorum,
            ConsistencyLevel::All => Consistency::All,
            ConsistencyLevel::LocalOne => Consistency::LocalOne,
            ConsistencyLevel::LocalQuorum => Consistency::LocalQuorum,
            ConsistencyLevel::EachQuorum => Consistency::EachQuorum,
        }
    }
}

impl CassandraSettings {
    /// The replication map of a keyspace we create, as CQL.
    pub(super) fn replication(&self) -> Result<String, StoreError> {
        if self.datacenters.trim().is_empty() {
            return Ok(format!(
                "{{'class': 'SimpleStrategy', 'replication_factor': {}}}",
                self.replication_factor
            ));
        }
        let mut parts = vec!["'class': 'NetworkTopologyStrategy'".to_owned()];
        for entry in self.datacenters.split(',') {
            let (dc, factor) = entry.trim().split_once(':').ok_or_else(|| {
                StoreError::Unavailable(format!(
                    "cassandra.datacenters: expected dc:factor, got {entry:?}"
                ))
            })?;
            let factor: u32 = factor.trim().parse().map_err(|_| {
                StoreError::Unavailable(format!("cassandra.datacenters: bad factor in {entry:?}"))
            })?;
            if !is_identifier(dc.trim()) {
                return Err(StoreError::Unavailable(format!(
                    "cassandra.datacenters: bad name {dc:?}"
                )));
            }
            parts.push(format!("'{}': {factor}", dc.trim()));
        }
        Ok(format!("{{{}}}", parts.join(", ")))
    }
}

/// Keyspace and datacenter names go into DDL text, so they are restricted to identifiers.
pub(super) fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 48
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_follows_the_settings() {
        let mut settings = CassandraSettings::default();
        assert_eq!(
            settings.replication().expect("simple"),
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        );
        settings.datacenters = "eu_west:3, us-east:2".to_owned();
        assert_eq!(
            settings.replication().expect("nts"),
            "{'class': 'NetworkTopologyStrategy', 'eu_west': 3, 'us-east': 2}"
        );
        settings.datacenters = "eu';DROP:3".to_owned();
        assert!(
            settings.replication().is_err(),
            "names go into DDL, so they are checked"
        );
    }
}
