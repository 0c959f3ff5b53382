//! The registry's trust boundary: who is calling, and what each caller may do.
//!
//! Every Eureka client carries its credentials the same way, as the user info of the registry
//! URL it is given (`http://middletier:<secret>@registry:8761/eureka/v2/`), sent as HTTP Basic.
//! The registry knows its principals from `[auth]`, each in one or more roles:
//!
//! - *services* register, renew and cancel instances, and only their own: the principal that
//!   first registered an instance id owns it (recorded under
//!   [`OWNER_KEY`](crate::domain::OWNER_KEY)) until it is cancelled or evicted;
//! - *operators* override statuses, change metadata and cancel any instance;
//! - *peers* (other registry nodes) send `POST /peerreplication/batch` and the
//!   `x-netflix-discovery-replication` header; from anyone else that header is dropped, so an
//!   ordinary client's request is handled as the client's own.
//!
//! Reads are open or need any principal, by [`ReadAccess`]. A principal may be listed twice in
//! a role with two secrets, so credentials rotate without downtime: add the new secret, move the
//! clients over, remove the old one. With no principal configured at all the registry is open,
//! as a plain Eureka is, which only development allows (`RSS_ENV=prod` refuses to start).
//!
//! [`authenticate`] is the layer in front of the API and the dashboard: it names the
//! [`Caller`] (401 for wrong or, where required, missing credentials); the handlers state what
//! they need as an [`Authorized`] extractor (403 when the caller lacks the role). It sits below
//! the API and knows nothing of it.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use platform::config::{InvalidSetting, Secret};
use serde_json::json;
use subtle::ConstantTimeEq as _;

use crate::domain::Origin;
use crate::settings::{AuthSettings, ReadAccess};

/// The header Eureka marks replicated requests with; such requests are never replicated again,
/// and only a peer may send it.
pub const REPLICATION_HEADER: &str = "x-netflix-discovery-replication";

/// What the `WWW-Authenticate` challenge names, as Eureka's servers do.
const CHALLENGE: &str = r#"Basic realm="eureka""#;

/// The shortest secret accepted: a guessable one would make the boundary decorative.
const MIN_SECRET_LEN: usize = 16;

/// The principals `settings` lists; errors name the key and the entry, never a secret.
fn entries(settings: &AuthSettings) -> Result<Vec<Entry>, InvalidSetting> {
    let mut entries = Vec::new();
    for (key, role, list) in [
        ("auth.services", Role::Service, &settings.services),
        ("auth.operators", Role::Operator, &settings.operators),
        ("auth.peers", Role::Peer, &settings.peers),
    ] {
        let items = list.expose().split(',').map(str::trim);
        for (position, item) in items.filter(|item| !item.is_empty()).enumerate() {
            let entry = position + 1;
            let Some((name, secret)) = item.split_once(':') else {
                return Err(InvalidSetting::new(
                    key,
                    format!("entry {entry} is not `name:secret`"),
                ));
            };
            let name = name.trim();
            if name.is_empty() {
                return Err(InvalidSetting::new(
                    key,
                    format!("entry {entry} has no name"),
                ));
            }
            if secret.len() < MIN_SECRET_LEN {
                return Err(InvalidSetting::new(
                    key,
                    format!(
                        "the secret of {name:?} (entry {entry}) is shorter than \
                         {MIN_SECRET_LEN} characters"
                    ),
                ));
            }
            entries.push(Entry {
                name: name.to_owned(),
                role,
                secret: Secret::new(secret),
            });
        }
    }
    Ok(entries)
}

/// What a principal may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Service,
    Operator,
    Peer,
}

impl Role {
    const fn bit(self) -> u8 {
        match self {
            Role::Service => 1,
            Role::Operator => 2,
            Role::Peer => 4,
        }
    }
}

#[derive(Debug)]
struct Entry {
    name: String,
    role: Role,
    secret: Secret,
}

/// A caller whose credentials matched: its name and every role it holds with that secret.
#[derive(Clone, Debug)]
pub struct Principal {
    name: Arc<str>,
    roles: u8,
}

impl Principal {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles & role.bit() != 0
    }
}

/// Who made a request, as [`authenticate`] found it (a request extension).
#[derive(Clone, Debug)]
pub enum Caller {
    /// No principal is configured: the registry is open, as a plain Eureka is.
    Unchecked,
    /// No credentials (on a read the settings leave open).
    Anonymous,
    Principal(Principal),
}

/// The configured principals, compared in constant time.
#[derive(Debug)]
pub struct Access {
    entries: Vec<Entry>,
    reads: ReadAccess,
}

impl Access {
    /// From `[auth]`; fails on a malformed list or a short secret, naming the key.
    pub fn new(settings: &AuthSettings) -> Result<Access, InvalidSetting> {
        Ok(Access {
            entries: entries(settings)?,
            reads: settings.reads,
        })
    }

    /// No principals: everyone may do everything (tests of the registry's own rules).
    pub fn open() -> Access {
        Access {
            entries: Vec::new(),
            reads: ReadAccess::Open,
        }
    }

    pub fn is_open(&self) -> bool {
        self.entries.is_empty()
    }

    /// The caller `headers` name; `Err` when credentials were sent and do not match.
    fn identify(&self, headers: &HeaderMap) -> Result<Caller, ()> {
        if self.is_open() {
            return Ok(Caller::Unchecked);
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Ok(Caller::Anonymous);
        };
        let (user, password) = basic_credentials(value.as_bytes()).ok_or(())?;
        self.principal(&user, &password)
            .map(Caller::Principal)
            .ok_or(())
    }

    /// The principal `user` with `password`. Every entry is compared, each in constant time,
    /// so the time taken says nothing about which names or secrets exist.
    fn principal(&self, user: &str, password: &str) -> Option<Principal> {
        let mut roles = 0_u8;
        for entry in &self.entries {
            let name = entry.name.as_bytes().ct_eq(user.as_bytes());
            let secret = entry.secret.expose().as_bytes().ct_eq(password.as_bytes());
            if bool::from(name & secret) {
                roles |= entry.role.bit();
            }
        }
        (roles != 0).then(|| Principal {
            name: user.into(),
            roles,
        })
    }
}

/// `Authorization: Basic base64(user:password)`, decoded.
fn basic_credentials(value: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// The layer in front of the API and the dashboard: names the [`Caller`] for the handlers;
/// answers 401 to wrong credentials, and to none where the settings require them (every
/// change, and reads unless [`ReadAccess::Open`]); drops the replication header unless the
/// caller is a peer.
pub async fn authenticate(
    State(access): State<Arc<Access>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Ok(caller) = access.identify(request.headers()) else {
        return AuthRejection::Unauthenticated.into_response();
    };
    let read = matches!(*request.method(), Method::GET | Method::HEAD);
    if matches!(caller, Caller::Anonymous) && !(read && access.reads == ReadAccess::Open) {
        return AuthRejection::Unauthenticated.into_response();
    }
    // Only a peer may mark a request as replicated; from anyone else the mark is dropped here,
    // so no handler can mistake an ordinary client for a peer.
    let peer = match &caller {
        Caller::Unchecked => true,
        Caller::Principal(principal) => principal.has(Role::Peer),
        Caller::Anonymous => false,
    };
    if !peer {
        request.headers_mut().remove(REPLICATION_HEADER);
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

fn replication_header(headers: &HeaderMap) -> bool {
    headers
        .get(REPLICATION_HEADER)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("true"))
}

/// The roles an endpoint admits (besides a peer replicating, which any change admits).
pub trait Policy {
    const ROLES: &'static [Role];
    /// Who may call, for the 403 message.
    const WHO: &'static str;
}

/// Register and renew: services.
#[derive(Debug)]
pub struct Services;
impl Policy for Services {
    const ROLES: &'static [Role] = &[Role::Service];
    const WHO: &'static str = "services";
}

/// Cancel: the service that owns the instance, or an operator.
#[derive(Debug)]
pub struct ServicesOrOperators;
impl Policy for ServicesOrOperators {
    const ROLES: &'static [Role] = &[Role::Service, Role::Operator];
    const WHO: &'static str = "services and operators";
}

/// Status overrides and metadata.
#[derive(Debug)]
pub struct Operators;
impl Policy for Operators {
    const ROLES: &'static [Role] = &[Role::Operator];
    const WHO: &'static str = "operators";
}

/// The replication batch.
#[derive(Debug)]
pub struct Peers;
impl Policy for Peers {
    const ROLES: &'static [Role] = &[Role::Peer];
    const WHO: &'static str = "registry peers";
}

/// A caller allowed by `P`: what a handler takes to state who may call it.
#[derive(Debug)]
pub struct Authorized<P> {
    /// [`Origin::Peer`] only for a peer sending the replication header.
    pub origin: Origin,
    principal: Option<Principal>,
    policy: PhantomData<P>,
}

impl<P> Authorized<P> {
    /// The principal acting as a service directly (not replicating): the owner its instances
    /// are recorded under and checked against. `None` when the registry is open.
    pub fn service(&self) -> Option<&str> {
        self.principal
            .as_ref()
            .filter(|principal| self.origin == Origin::Client && principal.has(Role::Service))
            .map(Principal::name)
    }

    /// Whether the caller may act on any instance (an operator, or a peer replicating).
    pub fn acts_on_any_instance(&self) -> bool {
        self.origin == Origin::Peer
            || self
                .principal
                .as_ref()
                .is_none_or(|principal| principal.has(Role::Operator))
    }
}

impl<P: Policy, S: Send + Sync> FromRequestParts<S> for Authorized<P> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AuthRejection> {
        // The layer has already dropped the header from anyone but a peer.
        let origin = if replication_header(&parts.headers) {
            Origin::Peer
        } else {
            Origin::Client
        };
        let principal = match parts.extensions.get::<Caller>() {
            Some(Caller::Unchecked) => None,
            Some(Caller::Principal(principal)) => Some(principal.clone()),
            Some(Caller::Anonymous) | None => return Err(AuthRejection::Unauthenticated),
        };
        let allowed = origin == Origin::Peer
            || principal
                .as_ref()
                .is_none_or(|principal| P::ROLES.iter().any(|role| principal.has(*role)));
        if !allowed {
            return Err(AuthRejection::Forbidden(format!(
                "only {} may do this",
                P::WHO
            )));
        }
        Ok(Authorized {
            origin,
            principal,
            policy: PhantomData,
        })
    }
}

/// A request refused at the boundary.
#[derive(Debug)]
pub enum AuthRejection {
    /// 401 with Eureka's Basic challenge: no credentials where they are needed, or wrong ones.
    Unauthenticated,
    /// 403: the credentials are right but the role is not.
    Forbidden(String),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, CHALLENGE)],
                Json(json!({ "error": "registry credentials required" })),
            )
                .into_response(),
            AuthRejection::Forbidden(message) => {
                (StatusCode::FORBIDDEN, Json(json!({ "error": message }))).into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SECRET_A: &str = "0123456789abcdef-a";
    const SECRET_B: &str = "0123456789abcdef-b";

    fn settings(services: &str, operators: &str) -> AuthSettings {
        AuthSettings {
            services: Secret::new(services),
            operators: Secret::new(operators),
            ..AuthSettings::default()
        }
    }

    #[test]
    fn a_principal_listed_twice_accepts_either_secret_while_rotating() {
        let access = Access::new(&settings(
            &format!("svc:{SECRET_A}, svc:{SECRET_B}"),
            &format!("ops:{SECRET_A}"),
        ))
        .unwrap();
        for secret in [SECRET_A, SECRET_B] {
            let principal = access.principal("svc", secret).unwrap();
            assert!(principal.has(Role::Service) && !principal.has(Role::Operator));
        }
        assert!(access.principal("svc", "0123456789abcdef-c").is_none());
        assert!(access.principal("ops", SECRET_B).is_none());
        assert!(
            access
                .principal("ops", SECRET_A)
                .unwrap()
                .has(Role::Operator)
        );
    }

    #[test]
    fn malformed_or_weak_lists_are_refused_without_showing_the_secret() {
        for (list, expected) in [
            ("svc", "is not `name:secret`"),
            (":0123456789abcdef", "has no name"),
            ("svc:short-secret", "shorter than 16"),
        ] {
            let error = Access::new(&settings(list, "")).unwrap_err();
            assert_eq!(error.key, "auth.services");
            assert!(error.message.contains(expected), "{error}");
            assert!(!error.message.contains("short-secret"), "{error}");
        }
        assert!(!AuthSettings::default().is_configured());
    }

    #[test]
    fn basic_credentials_decode_as_every_client_sends_them() {
        // base64("svc:pa:ss")
        assert_eq!(
            basic_credentials(b"Basic c3ZjOnBhOnNz"),
            Some(("svc".to_owned(), "pa:ss".to_owned()))
        );
        assert_eq!(basic_credentials(b"Bearer c3ZjOnBhOnNz"), None);
        assert_eq!(basic_credentials(b"Basic !!!"), None);
    }

    #[test]
    fn settings_show_no_secret() {
        let shown =
            platform::config::redacted_json(&settings(&format!("svc:{SECRET_A}"), "")).to_string();
        assert!(!shown.contains(SECRET_A), "{shown}");
    }
}
