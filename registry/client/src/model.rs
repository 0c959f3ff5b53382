//! Eureka's wire types, shared by the registry server and its clients.
//!
//! Output follows Eureka's JSON exactly (what the Java, Python and JavaScript clients parse);
//! input is lenient because real clients disagree on details: `@enabled` as a bool or a string,
//! numbers as strings, a single object where a list is expected, optional fields left out.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer, ser::SerializeStruct};

/// What Java clients put in `dataCenterInfo.@class` outside AWS.
pub const DEFAULT_DATA_CENTER_CLASS: &str =
    "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo";
/// Eureka marks an empty metadata map with its Java class rather than sending `{}`.
const EMPTY_METADATA_CLASS: &str = "java.util.Collections$EmptyMap";

/// Milliseconds since the Unix epoch: the unit of every timestamp on the wire.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Seconds on the wire, rounded up so a sub-second setting never reads as "no lease".
pub fn whole_seconds(duration: Duration) -> u32 {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    u32::try_from(seconds).unwrap_or(u32::MAX)
}

/// An instance's status, as Eureka names it. Unknown names read as `UNKNOWN`, as Eureka does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Up,
    Down,
    Starting,
    OutOfService,
    #[default]
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "UP",
            Status::Down => "DOWN",
            Status::Starting => "STARTING",
            Status::OutOfService => "OUT_OF_SERVICE",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// Never fails: Eureka's `InstanceStatus.toEnum` maps anything unrecognised to `UNKNOWN`.
    pub fn parse(name: &str) -> Status {
        match name.trim().to_ascii_uppercase().as_str() {
            "UP" => Status::Up,
            "DOWN" => Status::Down,
            "STARTING" => Status::Starting,
            "OUT_OF_SERVICE" => Status::OutOfService,
            _ => Status::Unknown,
        }
    }

    fn up() -> Status {
        Status::Up
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<platform::health::Status> for Status {
    fn from(status: platform::health::Status) -> Self {
        use platform::health::Status as Health;
        match status {
            Health::Up => Status::Up,
            Health::Down => Status::Down,
            Health::Starting => Status::Starting,
            Health::OutOfService => Status::OutOfService,
        }
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = lenient::string(deserializer)?;
        Ok(Status::parse(&name))
    }
}

/// Why the instance last changed, as Eureka reports it in full and delta fetches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionType {
    #[default]
    Added,
    Modified,
    Deleted,
}

impl<'de> Deserialize<'de> for ActionType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = lenient::string(deserializer)?;
        Ok(match name.trim().to_ascii_uppercase().as_str() {
            "MODIFIED" => ActionType::Modified,
            "DELETED" => ActionType::Deleted,
            _ => ActionType::Added,
        })
    }
}

/// A port and whether it is in use: `{"$": 8080, "@enabled": "true"}` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Port {
    pub port: u16,
    pub enabled: bool,
}

impl Port {
    pub fn enabled(port: u16) -> Port {
        Port {
            port,
            enabled: true,
        }
    }

    pub fn disabled(port: u16) -> Port {
        Port {
            port,
            enabled: false,
        }
    }

    /// Eureka's `InstanceInfo` defaults, used when a client leaves the ports out.
    fn default_port() -> Port {
        Port::enabled(7001)
    }

    fn default_secure_port() -> Port {
        Port::disabled(7002)
    }
}

/// [`Port`] as it is written, for the OpenAPI document (input may also be a bare number).
#[cfg(feature = "openapi")]
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PortWire {
    #[serde(rename = "$")]
    pub port: u16,
    #[serde(rename = "@enabled")]
    #[schema(pattern = "^(true|false)$")]
    pub enabled: String,
}

impl Serialize for Port {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut port = serializer.serialize_struct("Port", 2)?;
        port.serialize_field("$", &self.port)?;
        port.serialize_field("@enabled", if self.enabled { "true" } else { "false" })?;
        port.end()
    }
}

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Object {
            #[serde(rename = "$", deserialize_with = "lenient::u16")]
            port: u16,
            // A port given without the flag is presumably meant to be used.
            #[serde(
                rename = "@enabled",
                default,
                deserialize_with = "lenient::optional_bool"
            )]
            enabled: Option<bool>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Object(Object),
            Bare(#[serde(deserialize_with = "lenient::u16")] u16),
        }
        Ok(match Repr::deserialize(deserializer)? {
            Repr::Object(object) => Port {
                port: object.port,
                enabled: object.enabled.unwrap_or(true),
            },
            Repr::Bare(port) => Port::enabled(port),
        })
    }
}

/// Where the instance runs. Outside AWS Eureka only needs the name `MyOwn`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataCenterInfo {
    #[serde(rename = "@class", default = "default_data_center_class")]
    pub class: String,
    /// Empty when the client sent none, which the server rejects.
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: String,
    /// AWS instances (`AmazonInfo`) describe themselves here; kept so they round-trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

fn default_data_center_class() -> String {
    DEFAULT_DATA_CENTER_CLASS.to_owned()
}

impl DataCenterInfo {
    /// What every instance outside AWS sends.
    pub fn my_own() -> DataCenterInfo {
        DataCenterInfo {
            class: default_data_center_class(),
            name: "MyOwn".to_owned(),
            metadata: None,
        }
    }
}

impl Default for DataCenterInfo {
    fn default() -> Self {
        DataCenterInfo {
            class: default_data_center_class(),
            name: String::new(),
            metadata: None,
        }
    }
}

/// Lease terms and history. Clients send the intervals; the server fills the timestamps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LeaseInfo {
    /// How often the client promises to renew; 0 when not given.
    #[serde(default, deserialize_with = "lenient::u32")]
    pub renewal_interval_in_secs: u32,
    /// How long the lease lasts without renewal; 0 means the server's default.
    #[serde(default, deserialize_with = "lenient::u32")]
    pub duration_in_secs: u32,
    #[serde(default, deserialize_with = "lenient::u64")]
    pub registration_timestamp: u64,
    #[serde(default, deserialize_with = "lenient::u64")]
    pub last_renewal_timestamp: u64,
    #[serde(default, deserialize_with = "lenient::u64")]
    pub eviction_timestamp: u64,
    #[serde(default, deserialize_with = "lenient::u64")]
    pub service_up_timestamp: u64,
}

/// Everything Eureka knows about one instance, field for field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InstanceInfo {
    /// Older clients send none; the server then uses `host_name`, as Eureka does.
    #[serde(default, deserialize_with = "lenient::string")]
    pub instance_id: String,
    #[serde(default, deserialize_with = "lenient::string")]
    #[cfg_attr(feature = "openapi", schema(required = true, min_length = 1))]
    pub host_name: String,
    /// Upper-case once registered: Eureka stores application names that way.
    #[serde(default, deserialize_with = "lenient::string")]
    pub app: String,
    #[serde(default, deserialize_with = "lenient::string")]
    #[cfg_attr(feature = "openapi", schema(required = true, min_length = 1))]
    pub ip_addr: String,
    #[serde(default = "Status::up")]
    pub status: Status,
    /// Older Eureka servers spell it `overriddenstatus`.
    #[serde(default, alias = "overriddenstatus")]
    pub overridden_status: Status,
    #[serde(default = "Port::default_port")]
    #[cfg_attr(feature = "openapi", schema(value_type = PortWire))]
    pub port: Port,
    #[serde(default = "Port::default_secure_port")]
    #[cfg_attr(feature = "openapi", schema(value_type = PortWire))]
    pub secure_port: Port,
    #[serde(default = "default_country_id", deserialize_with = "lenient::u32")]
    pub country_id: u32,
    #[serde(default)]
    pub data_center_info: DataCenterInfo,
    #[serde(default)]
    pub lease_info: LeaseInfo,
    #[serde(default, with = "metadata")]
    pub metadata: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub home_page_url: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub status_page_url: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub health_check_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_health_check_url: Option<String>,
    /// Comma-separated list of the VIPs this instance serves.
    #[serde(default, deserialize_with = "lenient::string")]
    pub vip_address: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub secure_vip_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_group_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asg_name: Option<String>,
    #[serde(default, with = "bool_string")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^(true|false)$"))]
    pub is_coordinating_discovery_server: bool,
    /// Milliseconds; a string on the wire.
    #[serde(default, with = "millis_string")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]{1,19}$"))]
    pub last_updated_timestamp: u64,
    /// Milliseconds; a string on the wire. The client's clock, used by Eureka to order updates.
    #[serde(default, with = "millis_string")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]{1,19}$"))]
    pub last_dirty_timestamp: u64,
    #[serde(default)]
    pub action_type: ActionType,
}

fn default_country_id() -> u32 {
    1
}

impl InstanceInfo {
    /// Whether this instance serves `vip`; Eureka matches each entry of the comma-separated
    /// list case-insensitively.
    pub fn serves_vip(&self, vip: &str) -> bool {
        let vip = vip.trim();
        self.vip_address
            .split(',')
            .any(|entry| entry.trim().eq_ignore_ascii_case(vip))
    }
}

/// One application and its instances.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Application {
    #[serde(deserialize_with = "lenient::string")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient::one_or_many")]
    pub instance: Vec<InstanceInfo>,
}

/// The registry's contents (or a VIP's share of them), as `GET /apps` answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Applications {
    /// Bumped on every change; clients use it to notice stale fetches.
    #[serde(
        rename = "versions__delta",
        default,
        deserialize_with = "lenient::string"
    )]
    pub versions_delta: String,
    #[serde(
        rename = "apps__hashcode",
        default,
        deserialize_with = "lenient::string"
    )]
    pub apps_hashcode: String,
    #[serde(default, deserialize_with = "lenient::one_or_many")]
    pub application: Vec<Application>,
}

impl Applications {
    /// Wraps `application` with its version and the hash code computed from its instances.
    pub fn new(version: u64, application: Vec<Application>) -> Applications {
        let apps_hashcode = apps_hashcode(application.iter().flat_map(|app| &app.instance));
        Applications {
            versions_delta: version.to_string(),
            apps_hashcode,
            application,
        }
    }

    /// A delta: its own `application` list, with the hash code of the whole registry, which
    /// clients compare with their copy after applying the delta.
    pub fn delta(
        version: u64,
        apps_hashcode: String,
        application: Vec<Application>,
    ) -> Applications {
        Applications {
            versions_delta: version.to_string(),
            apps_hashcode,
            application,
        }
    }

    /// Every instance of every application.
    pub fn instances(&self) -> impl Iterator<Item = &InstanceInfo> {
        self.application.iter().flat_map(|app| &app.instance)
    }
}

/// Eureka's reconcile hash code: instance counts per status, sorted by status name, e.g.
/// `DOWN_1_UP_3_`. Clients compare it after applying a delta to detect drift.
pub fn apps_hashcode<'a>(instances: impl IntoIterator<Item = &'a InstanceInfo>) -> String {
    let mut counts = BTreeMap::<&'static str, usize>::new();
    for instance in instances {
        *counts.entry(instance.status.as_str()).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(status, count)| format!("{status}_{count}_"))
        .collect()
}

/// `{"applications": {...}}`, the body of `GET /apps` and `GET /vips/{vip}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplicationsDocument {
    pub applications: Applications,
}

/// `{"application": {...}}`, the body of `GET /apps/{app}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplicationDocument {
    pub application: Application,
}

/// `{"instance": {...}}`, the body of a registration and of `GET /apps/{app}/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceDocument {
    pub instance: InstanceInfo,
}

/// What one registry node asks another to apply: one entry of `POST /peerreplication/batch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReplicationItem {
    #[serde(deserialize_with = "lenient::string")]
    pub app_name: String,
    #[serde(deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_dirty_timestamp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overridden_status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Sent with registrations; heartbeats and status changes leave it out, as Eureka does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_info: Option<InstanceInfo>,
    pub action: ReplicationAction,
}

/// Eureka's `PeerEurekaNode.Action`, named as on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReplicationAction {
    Heartbeat,
    Register,
    Cancel,
    StatusUpdate,
    DeleteStatusOverride,
}

/// `{"replicationList": [...]}`, the body of `POST /peerreplication/batch`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReplicationList {
    #[serde(default)]
    pub replication_list: Vec<ReplicationItem>,
}

/// The outcome of one replicated change: the HTTP status the direct call would have answered,
/// and for a 409 the receiver's newer copy of the instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReplicationResult {
    pub status_code: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_entity: Option<InstanceInfo>,
}

/// `{"responseList": [...]}`, one result per item in the order sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReplicationResults {
    #[serde(default)]
    pub response_list: Vec<ReplicationResult>,
}

/// `metadata`: a map of strings, or Eureka's `{"@class": "java.util.Collections$EmptyMap"}`.
mod metadata {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeMap};

    use super::EMPTY_METADATA_CLASS;

    pub fn serialize<S: Serializer>(
        metadata: &BTreeMap<String, String>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if metadata.is_empty() {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry("@class", EMPTY_METADATA_CLASS)?;
            map.end()
        } else {
            serializer.collect_map(metadata)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, String>, D::Error> {
        let raw = Option::<BTreeMap<String, serde_json::Value>>::deserialize(deserializer)?;
        Ok(raw
            .unwrap_or_default()
            .into_iter()
            .filter(|(key, _)| key != "@class")
            .filter_map(|(key, value)| match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(text) => Some((key, text)),
                other => Some((key, other.to_string())),
            })
            .collect())
    }
}

/// Booleans Eureka writes as `"true"`/`"false"`.
mod bool_string {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &bool, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(if *value { "true" } else { "false" })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
        Ok(super::lenient::optional_bool(deserializer)?.unwrap_or(false))
    }
}

/// Millisecond timestamps Eureka writes as strings.
mod millis_string {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        super::lenient::u64(deserializer)
    }
}

/// Deserializers that accept what the various Eureka clients actually send.
mod lenient {
    use serde::{Deserialize, Deserializer, de::Error};

    /// Any JSON scalar. `Int` comes before `Float` so integers stay exact.
    #[derive(Debug, Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Bool(bool),
        Int(u64),
        Signed(i64),
        Float(f64),
        Text(String),
    }

    fn number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        match Option::<Scalar>::deserialize(deserializer)? {
            None => Ok(0),
            Some(Scalar::Int(value)) => Ok(value),
            Some(Scalar::Text(text)) if text.trim().is_empty() => Ok(0),
            Some(Scalar::Text(text)) => text
                .trim()
                .parse()
                .map_err(|_| D::Error::custom(format!("expected a number, found {text:?}"))),
            Some(other) => Err(D::Error::custom(format!(
                "expected a number, found {other:?}"
            ))),
        }
    }

    pub fn u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        number(deserializer)
    }

    pub fn u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
        let value = number(deserializer)?;
        u32::try_from(value).map_err(|_| D::Error::custom(format!("{value} is out of range")))
    }

    pub fn u16<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
        let value = number(deserializer)?;
        u16::try_from(value).map_err(|_| D::Error::custom(format!("port {value} is out of range")))
    }

    pub fn optional_bool<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<bool>, D::Error> {
        match Option::<Scalar>::deserialize(deserializer)? {
            None => Ok(None),
            Some(Scalar::Bool(value)) => Ok(Some(value)),
            Some(Scalar::Int(value)) => Ok(Some(value != 0)),
            Some(Scalar::Text(text)) => match text.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                "" => Ok(None),
                _ => Err(D::Error::custom(format!(
                    "expected true or false, found {text:?}"
                ))),
            },
            Some(other) => Err(D::Error::custom(format!(
                "expected true or false, found {other:?}"
            ))),
        }
    }

    /// Strings; `null` reads as empty and other scalars as their text.
    pub fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        Ok(match Option::<Scalar>::deserialize(deserializer)? {
            None => String::new(),
            Some(Scalar::Text(text)) => text,
            Some(Scalar::Bool(value)) => value.to_string(),
            Some(Scalar::Int(value)) => value.to_string(),
            Some(Scalar::Signed(value)) => value.to_string(),
            Some(Scalar::Float(value)) => value.to_string(),
        })
    }

    /// A list, or (as Jackson writes one-element lists in some configurations) a bare object.
    pub fn one_or_many<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany<T> {
            Many(Vec<T>),
            One(T),
        }
        Ok(match Option::<OneOrMany<T>>::deserialize(deserializer)? {
            None => Vec::new(),
            Some(OneOrMany::Many(items)) => items,
            Some(OneOrMany::One(item)) => vec![item],
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn instance(status: Status) -> InstanceInfo {
        serde_json::from_value(json!({"hostName": "h", "status": status.as_str()})).unwrap()
    }

    #[test]
    fn apps_hashcode_counts_statuses_sorted_by_name() {
        let instances = [
            instance(Status::Up),
            instance(Status::Down),
            instance(Status::Up),
            instance(Status::OutOfService),
            instance(Status::Up),
        ];
        assert_eq!(apps_hashcode(&instances), "DOWN_1_OUT_OF_SERVICE_1_UP_3_");
        assert_eq!(apps_hashcode(&[]), "");
    }

    /// A registration as the Java client sends it, timestamps and all.
    fn eureka_json() -> serde_json::Value {
        json!({
            "instanceId": "host1:middletier:9191",
            "hostName": "host1",
            "app": "MIDDLETIER",
            "ipAddr": "10.0.0.1",
            "status": "UP",
            "overriddenStatus": "UNKNOWN",
            "port": {"$": 9191, "@enabled": "true"},
            "securePort": {"$": 443, "@enabled": "false"},
            "countryId": 1,
            "dataCenterInfo": {
                "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo",
                "name": "MyOwn"
            },
            "leaseInfo": {
                "renewalIntervalInSecs": 30,
                "durationInSecs": 90,
                "registrationTimestamp": 1_700_000_000_000_u64,
                "lastRenewalTimestamp": 1_700_000_030_000_u64,
                "evictionTimestamp": 0,
                "serviceUpTimestamp": 1_700_000_000_100_u64
            },
            "metadata": {"@class": "java.util.Collections$EmptyMap"},
            "homePageUrl": "http://host1:9191/",
            "statusPageUrl": "http://host1:9191/health",
            "healthCheckUrl": "http://host1:9191/health",
            "vipAddress": "middletier",
            "secureVipAddress": "middletier",
            "isCoordinatingDiscoveryServer": "false",
            "lastUpdatedTimestamp": "1700000000000",
            "lastDirtyTimestamp": "1699999999000",
            "actionType": "ADDED"
        })
    }

    #[test]
    fn instance_info_round_trips_eureka_json_exactly() {
        let parsed: InstanceInfo = serde_json::from_value(eureka_json()).unwrap();
        assert_eq!(parsed.port, Port::enabled(9191));
        assert_eq!(parsed.lease_info.service_up_timestamp, 1_700_000_000_100);
        assert_eq!(serde_json::to_value(&parsed).unwrap(), eureka_json());
    }

    #[test]
    fn instance_info_accepts_what_lenient_clients_send() {
        let parsed: InstanceInfo = serde_json::from_value(json!({
            "hostName": "h",
            "app": "svc",
            "port": {"$": "8080", "@enabled": true},
            "securePort": 8443,
            "countryId": "1",
            "leaseInfo": {"durationInSecs": "10"},
            "metadata": {"@class": "java.util.HashMap", "zone": "a", "weight": 3},
            "isCoordinatingDiscoveryServer": false,
            "lastDirtyTimestamp": 1_700_000_000_000_u64,
            "overriddenstatus": "OUT_OF_SERVICE",
            "status": "bogus"
        }))
        .unwrap();
        assert_eq!(parsed.port, Port::enabled(8080));
        assert_eq!(parsed.secure_port, Port::enabled(8443));
        assert_eq!(parsed.lease_info.duration_in_secs, 10);
        assert_eq!(parsed.metadata.get("zone").map(String::as_str), Some("a"));
        assert_eq!(parsed.metadata.get("weight").map(String::as_str), Some("3"));
        assert!(!parsed.metadata.contains_key("@class"));
        assert_eq!(parsed.last_dirty_timestamp, 1_700_000_000_000);
        assert_eq!(parsed.overridden_status, Status::OutOfService);
        assert_eq!(parsed.status, Status::Unknown);
    }

    #[test]
    fn applications_accept_a_single_object_where_a_list_is_expected() {
        let parsed: ApplicationsDocument = serde_json::from_value(json!({
            "applications": {
                "versions__delta": 3,
                "apps__hashcode": "UP_1_",
                "application": {"name": "A", "instance": eureka_json()}
            }
        }))
        .unwrap();
        assert_eq!(parsed.applications.versions_delta, "3");
        assert_eq!(parsed.applications.instances().count(), 1);
    }

    #[test]
    fn vip_lists_match_case_insensitively() {
        let mut info = instance(Status::Up);
        info.vip_address = "middletier, Other-Vip".to_owned();
        assert!(info.serves_vip("MIDDLETIER"));
        assert!(info.serves_vip("other-vip"));
        assert!(!info.serves_vip("edge"));
    }
}
