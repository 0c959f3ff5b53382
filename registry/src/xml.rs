//! Eureka's XML: what the server answers when `Accept` does not ask for JSON (the Python client
//! parses nothing else), and registrations sent as XML.
//!
//! Output is written by hand in XStream's layout (element order, `overriddenstatus`, ports as
//! `<port enabled="true">8080</port>`), since clients walk the tree by tag name. Input is turned
//! into the JSON tree Eureka's JSON codec would have produced (attributes as `@name`, text next
//! to attributes as `$`), so both formats share [`registry_client::model`]'s one lenient decoder.

use std::fmt::Write as _;

use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::Event;
use serde_json::{Map, Value};

use registry_client::model::{Application, Applications, InstanceDocument, InstanceInfo, Port};

/// Deepest element nesting a registration may have. Eureka's own is four levels deep
/// (`instance/dataCenterInfo/metadata/key`); the JSON tree built from the XML is read
/// recursively, so a document nested thousands deep would overflow the stack.
pub const MAX_DEPTH: usize = 16;

const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#;

#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    #[error("malformed XML: {0}")]
    Syntax(String),
    #[error("XML nested deeper than {MAX_DEPTH} elements")]
    TooDeep,
    #[error("unexpected XML document: {0}")]
    Shape(#[source] serde_json::Error),
}

/// `<applications>`, the body of `GET /apps`, `/apps/delta`, `/vips/{vip}`, `/svips/{svip}`.
pub fn applications(applications: &Applications) -> String {
    let mut out = String::from(DECLARATION);
    out.push_str("<applications>");
    element(&mut out, "versions__delta", &applications.versions_delta);
    element(&mut out, "apps__hashcode", &applications.apps_hashcode);
    for app in &applications.application {
        write_application(&mut out, app);
    }
    out.push_str("</applications>");
    out
}

/// `<application>`, the body of `GET /apps/{app}`.
pub fn application(application: &Application) -> String {
    let mut out = String::from(DECLARATION);
    write_application(&mut out, application);
    out
}

/// `<instance>`, the body of `GET /apps/{app}/{id}` and `GET /instances/{id}`.
pub fn instance(instance: &InstanceInfo) -> String {
    let mut out = String::from(DECLARATION);
    write_instance(&mut out, instance);
    out
}

fn write_application(out: &mut String, application: &Application) {
    out.push_str("<application>");
    element(out, "name", &application.name);
    for instance in &application.instance {
        write_instance(out, instance);
    }
    out.push_str("</application>");
}

fn write_instance(out: &mut String, info: &InstanceInfo) {
    out.push_str("<instance>");
    element(out, "instanceId", &info.instance_id);
    element(out, "hostName", &info.host_name);
    element(out, "app", &info.app);
    element(out, "ipAddr", &info.ip_addr);
    element(out, "status", info.status.as_str());
    element(out, "overriddenstatus", info.overridden_status.as_str());
    port(out, "port", info.port);
    port(out, "securePort", info.secure_port);
    element(out, "countryId", &info.country_id.to_string());
    let _ = write!(
        out,
        r#"<dataCenterInfo class="{}">"#,
        escape(info.data_center_info.class.as_str())
    );
    element(out, "name", &info.data_center_info.name);
    if let Some(metadata) = &info.data_center_info.metadata {
        map(out, "metadata", metadata.iter());
    }
    out.push_str("</dataCenterInfo>");
    let lease = &info.lease_info;
    out.push_str("<leaseInfo>");
    element(
        out,
        "renewalIntervalInSecs",
        &lease.renewal_interval_in_secs.to_string(),
    );
    element(out, "durationInSecs", &lease.duration_in_secs.to_string());
    element(
        out,
        "registrationTimestamp",
        &lease.registration_timestamp.to_string(),
    );
    element(
        out,
        "lastRenewalTimestamp",
        &lease.last_renewal_timestamp.to_string(),
    );
    element(
        out,
        "evictionTimestamp",
        &lease.eviction_timestamp.to_string(),
    );
    element(
        out,
        "serviceUpTimestamp",
        &lease.service_up_timestamp.to_string(),
    );
    out.push_str("</leaseInfo>");
    if info.metadata.is_empty() {
        out.push_str(r#"<metadata class="java.util.Collections$EmptyMap"/>"#);
    } else {
        map(out, "metadata", info.metadata.iter());
    }
    element(out, "homePageUrl", &info.home_page_url);
    element(out, "statusPageUrl", &info.status_page_url);
    element(out, "healthCheckUrl", &info.health_check_url);
    if let Some(url) = &info.secure_health_check_url {
        element(out, "secureHealthCheckUrl", url);
    }
    element(out, "vipAddress", &info.vip_address);
    element(out, "secureVipAddress", &info.secure_vip_address);
    if let Some(group) = &info.app_group_name {
        element(out, "appGroupName", group);
    }
    if let Some(asg) = &info.asg_name {
        element(out, "asgName", asg);
    }
    let coordinating = if info.is_coordinating_discovery_server {
        "true"
    } else {
        "false"
    };
    element(out, "isCoordinatingDiscoveryServer", coordinating);
    element(
        out,
        "lastUpdatedTimestamp",
        &info.last_updated_timestamp.to_string(),
    );
    element(
        out,
        "lastDirtyTimestamp",
        &info.last_dirty_timestamp.to_string(),
    );
    let action = match info.action_type {
        registry_client::model::ActionType::Added => "ADDED",
        registry_client::model::ActionType::Modified => "MODIFIED",
        registry_client::model::ActionType::Deleted => "DELETED",
    };
    element(out, "actionType", action);
    out.push_str("</instance>");
}

fn element(out: &mut String, name: &str, text: &str) {
    let _ = write!(out, "<{name}>{}</{name}>", escape(text));
}

fn port(out: &mut String, name: &str, port: Port) {
    let _ = write!(
        out,
        r#"<{name} enabled="{}">{}</{name}>"#,
        port.enabled, port.port
    );
}

/// Metadata as one element per key. Keys that are not XML names cannot be written as elements
/// (XStream would fail on them too); they are left out of XML and remain in JSON.
fn map<'a>(out: &mut String, name: &str, entries: impl Iterator<Item = (&'a String, &'a String)>) {
    let _ = write!(out, "<{name}>");
    for (key, value) in entries.filter(|(key, _)| is_xml_name(key)) {
        element(out, key, value);
    }
    let _ = write!(out, "</{name}>");
}

fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.to_ascii_lowercase().starts_with("xml")
}

/// A registration sent as XML (`<instance>...</instance>`).
pub fn parse_instance(body: &[u8]) -> Result<InstanceInfo, XmlError> {
    let text = std::str::from_utf8(body).map_err(|error| XmlError::Syntax(error.to_string()))?;
    let tree = to_json(text)?;
    let document: InstanceDocument = serde_json::from_value(tree).map_err(XmlError::Shape)?;
    Ok(document.instance)
}

/// One element being read: its attributes, children and text so far.
#[derive(Default)]
struct Node {
    name: String,
    fields: Map<String, Value>,
    text: String,
}

impl Node {
    fn add_child(&mut self, name: String, value: Value) {
        match self.fields.get_mut(&name) {
            // A repeated element (several `<instance>`) becomes a list, as in Eureka's JSON.
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                self.fields.insert(name, value);
            }
        }
    }

    /// Text alone is a string; with attributes or children, an object (text under `$`); empty
    /// is `null`, which the lenient decoder reads as "not given".
    fn into_value(mut self) -> Value {
        let text = self.text.trim();
        if self.fields.is_empty() {
            return if text.is_empty() {
                Value::Null
            } else {
                Value::String(text.to_owned())
            };
        }
        if !text.is_empty() {
            self.fields
                .insert("$".to_owned(), Value::String(text.to_owned()));
        }
        Value::Object(self.fields)
    }
}

/// The XML document as Eureka's JSON tree: `{"instance": {...}}`.
fn to_json(text: &str) -> Result<Value, XmlError> {
    let syntax = |error: &dyn std::fmt::Display| XmlError::Syntax(error.to_string());
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        match reader.read_event().map_err(|error| syntax(&error))? {
            event @ (Event::Start(_) | Event::Empty(_)) => {
                let (Event::Start(start) | Event::Empty(start)) = &event else {
                    unreachable!("matched above")
                };
                let mut node = Node {
                    name: start.local_name().as_ref().to_owned(),
                    ..Node::default()
                };
                for attribute in start.attributes() {
                    let attribute = attribute.map_err(|error| syntax(&error))?;
                    let key = attribute.key.local_name().as_ref().to_owned();
                    let value = attribute
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|error| syntax(&error))?;
                    node.fields
                        .insert(format!("@{key}"), Value::String(value.into_owned()));
                }
                if matches!(event, Event::Empty(_)) {
                    close(&mut stack, node)?;
                } else if stack.len() > MAX_DEPTH {
                    // Refused while reading, before any recursion over the tree.
                    return Err(XmlError::TooDeep);
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                let node = stack
                    .pop()
                    .filter(|_| !stack.is_empty())
                    .ok_or_else(|| syntax(&"unbalanced end tag"))?;
                close(&mut stack, node)?;
            }
            Event::Text(content) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&content.xml10_content());
                }
            }
            Event::CData(content) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(content.as_ref());
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => resolve_predefined_entity(&reference.xml10_content())
                        .ok_or_else(|| syntax(&"unknown entity"))?
                        .to_owned(),
                };
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    match stack.pop() {
        Some(root) if stack.is_empty() => Ok(Value::Object(root.fields)),
        _ => Err(syntax(&"unclosed element")),
    }
}

fn close(stack: &mut [Node], node: Node) -> Result<(), XmlError> {
    let parent = stack
        .last_mut()
        .ok_or_else(|| XmlError::Syntax("element outside the document".to_owned()))?;
    let name = node.name.clone();
    parent.add_child(name, node.into_value());
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use registry_client::model::Status;

    #[test]
    fn deeply_nested_xml_is_refused_without_recursing() {
        let depth = 20_000;
        let body = format!(
            "<instance>{}{}</instance>",
            "<a>".repeat(depth),
            "</a>".repeat(depth)
        );
        assert!(matches!(
            parse_instance(body.as_bytes()),
            Err(XmlError::TooDeep)
        ));
    }

    #[test]
    fn registration_xml_reads_like_its_json() {
        let body = br#"<?xml version="1.0"?>
            <instance>
              <instanceId>h1:svc:8080</instanceId><hostName>h1</hostName><app>SVC</app>
              <ipAddr>10.0.0.1</ipAddr><status>UP</status>
              <overriddenstatus>UNKNOWN</overriddenstatus>
              <port enabled="true">8080</port><securePort enabled="false">443</securePort>
              <countryId>1</countryId>
              <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo">
                <name>MyOwn</name>
              </dataCenterInfo>
              <leaseInfo><renewalIntervalInSecs>5</renewalIntervalInSecs>
                <durationInSecs>15</durationInSecs></leaseInfo>
              <metadata><zone>a&amp;b</zone><empty/></metadata>
              <vipAddress>svc</vipAddress>
            </instance>"#;
        let info = parse_instance(body).unwrap();
        assert_eq!(info.instance_id, "h1:svc:8080");
        assert_eq!(info.port, Port::enabled(8080));
        assert_eq!(info.secure_port, Port::disabled(443));
        assert_eq!(info.status, Status::Up);
        assert_eq!(info.data_center_info.name, "MyOwn");
        assert_eq!(info.lease_info.duration_in_secs, 15);
        assert_eq!(info.metadata.get("zone").map(String::as_str), Some("a&b"));
        assert!(!info.metadata.contains_key("empty"));
    }

    #[test]
    fn written_instances_parse_back_identically() {
        let body = br#"<instance><hostName>h</hostName><app>A</app><ipAddr>1.2.3.4</ipAddr>
            <status>DOWN</status><metadata><k>v &lt;1&gt;</k></metadata>
            <dataCenterInfo class="x"><name>MyOwn</name></dataCenterInfo></instance>"#;
        let info = parse_instance(body).unwrap();
        let written = instance(&info);
        assert!(written.contains("<overriddenstatus>UNKNOWN</overriddenstatus>"));
        assert!(written.contains(r#"<port enabled="true">7001</port>"#));
        assert_eq!(parse_instance(written.as_bytes()).unwrap(), info);
    }

    #[test]
    fn malformed_xml_is_an_error() {
        assert!(parse_instance(b"<instance><app>A</instance>").is_err());
        assert!(parse_instance(b"<instance>").is_err());
    }
}
