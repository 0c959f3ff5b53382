//! Service identity: mutual TLS between the recipe's services, trust decided by service name.
//!
//! A deployment has its own certificate authority (the *deployment CA*). Every service gets a
//! certificate from it naming the service as the DNS name `<service>.rss-recipe.internal`
//! ([`service_dns_name`]), e.g. `middletier.rss-recipe.internal`. That name is what a peer
//! checks, never the address it connected to: callers find instances through the registry, by
//! IP, so the address proves nothing. The name is a DNS SAN (not a SPIFFE-style URI SAN) because
//! rustls's own verifier checks DNS names, so no X.509 parser is added to any build; the
//! `.internal` suffix is reserved for private use and never resolves on the internet.
//!
//! - A caller ([`Identity::client_config`]) verifies the server's chain against the CA, then
//!   requires the one name it expects (the edge accepts only `middletier`).
//! - A server ([`Identity::server_config`]) requires a client certificate from the CA naming
//!   one of the services it serves (the middle tier accepts only `edge`).
//!
//! Both sides present their own certificate. The CA file may hold several CAs, every one
//! trusted: that is how a new CA is rolled in, and the old one out, without downtime (see
//! `docs/security.md`). Files are read at start; a rolling restart picks up new ones.
//!
//! `[tls]` settings name the three PEM files ([`TlsSettings`]); [`mint`] (feature `mint`)
//! writes a CA and service certificates for tests and local runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use serde::{Deserialize, Serialize};

/// The DNS-name suffix under which services are named in their certificates.
pub const SERVICE_DOMAIN: &str = "rss-recipe.internal";

/// The name a certificate for `service` carries: `<service>.rss-recipe.internal`.
pub fn service_dns_name(service: &str) -> String {
    format!("{service}.{SERVICE_DOMAIN}")
}

/// `[tls]`: where a service finds the deployment CA and its own certificate and key (PEM).
/// All three set: mutual TLS on; none: plain HTTP (allowed in `local` and `test` only, where
/// the service's settings check says so).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsSettings {
    /// The CA certificate(s) peers' certificates must chain to; several CAs in one file are all
    /// trusted (rotation).
    pub ca: Option<PathBuf>,
    /// This service's certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// This service's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

impl TlsSettings {
    /// The identity of `service` from the configured files; `None` when none is configured.
    pub fn load(&self, service: &str) -> Result<Option<Identity>, TlsError> {
        match (&self.ca, &self.cert, &self.key) {
            (None, None, None) => Ok(None),
            (Some(ca), Some(cert), Some(key)) => {
                let read = |what, path: &Path| {
                    std::fs::read(path).map_err(|source| TlsError::Read {
                        what,
                        path: path.to_owned(),
                        source,
                    })
                };
                let identity = Identity::from_pem(
                    service,
                    &read("tls.ca", ca)?,
                    &read("tls.cert", cert)?,
                    &read("tls.key", key)?,
                )
                .map_err(|error| error.in_files(ca, cert, key))?;
                Ok(Some(identity))
            }
            _ => Err(TlsError::Incomplete),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls.ca, tls.cert and tls.key must be set together (or none of them)")]
    Incomplete,
    #[error("cannot read {what} ({}): {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} holds no usable PEM {expected}")]
    Pem {
        what: String,
        expected: &'static str,
    },
    #[error(
        "the certificate in {what} does not name this service: a certificate for '{service}' \
         must carry the DNS name {}",
        service_dns_name(service)
    )]
    WrongService { what: String, service: String },
    #[error("the certificate in {what} does not chain to the CA in tls.ca: {source}")]
    Untrusted {
        what: String,
        #[source]
        source: rustls::Error,
    },
    #[error("invalid TLS configuration: {0}")]
    Config(String),
}

impl TlsError {
    /// Names the configured files instead of the in-memory PEM labels.
    fn in_files(self, ca: &Path, cert: &Path, key: &Path) -> TlsError {
        let file = |what: String| match what.as_str() {
            "tls.ca" => format!("tls.ca ({})", ca.display()),
            "tls.cert" => format!("tls.cert ({})", cert.display()),
            "tls.key" => format!("tls.key ({})", key.display()),
            _ => what,
        };
        match self {
            TlsError::Pem { what, expected } => TlsError::Pem {
                what: file(what),
                expected,
            },
            TlsError::WrongService { what, service } => TlsError::WrongService {
                what: file(what),
                service,
            },
            TlsError::Untrusted { what, source } => TlsError::Untrusted {
                what: file(what),
                source,
            },
            other => other,
        }
    }
}

/// A service's TLS identity: the CAs it trusts and its own certificate chain and key.
#[derive(Clone)]
pub struct Identity {
    service: String,
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Identity")
            .field("service", &self.service)
            .field("cas", &self.roots.len())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Parses the PEM texts and checks that the certificate names `service` and chains to one
    /// of the CAs, so a misplaced file fails at start rather than at the first call.
    pub fn from_pem(service: &str, ca: &[u8], cert: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        let pem_error = |what: &str, expected| TlsError::Pem {
            what: what.to_owned(),
            expected,
        };
        let mut roots = RootCertStore::empty();
        for der in CertificateDer::pem_slice_iter(ca) {
            let der = der.map_err(|_| pem_error("tls.ca", "CA certificate"))?;
            roots
                .add(der)
                .map_err(|_| pem_error("tls.ca", "CA certificate"))?;
        }
        if roots.is_empty() {
            return Err(pem_error("tls.ca", "CA certificate"));
        }
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| pem_error("tls.cert", "certificate"))?;
        let leaf = chain
            .first()
            .ok_or_else(|| pem_error("tls.cert", "certificate"))?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| pem_error("tls.key", "key"))?;
        let identity = Identity {
            service: service.to_owned(),
            roots: Arc::new(roots),
            chain: chain.clone(),
            key: Arc::new(key),
        };
        // Our own certificate must pass the check our peers make.
        let verifier = ServiceVerifier::new(identity.roots.clone(), &[service])?;
        verifier
            .verify(leaf, &chain[1..], UnixTime::now())
            .map_err(|error| match error {
                VerifyError::Name => TlsError::WrongService {
                    what: "tls.cert".to_owned(),
                    service: service.to_owned(),
                },
                VerifyError::Chain(source) => TlsError::Untrusted {
                    what: "tls.cert".to_owned(),
                    source,
                },
            })?;
        Ok(identity)
    }

    /// The service this identity belongs to.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// A server configuration that presents this identity and requires a client certificate
    /// from the CA naming one of `accepted_clients`.
    pub fn server_config(
        &self,
        accepted_clients: &[&str],
    ) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let verifier = Arc::new(ServiceVerifier::new(self.roots.clone(), accepted_clients)?);
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsError::Config(error.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|error| TlsError::Config(error.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// A client configuration that presents this identity and accepts only a server whose
    /// certificate, from the CA, names `server` (whatever address it was reached at).
    pub fn client_config(&self, server: &str) -> Result<rustls::ClientConfig, TlsError> {
        let verifier = Arc::new(ServiceVerifier::new(self.roots.clone(), &[server])?);
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsError::Config(error.to_string()))?
            .dangerous()
            // Not "dangerous": the chain is verified as usual; only the name compared differs.
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|error| TlsError::Config(error.to_string()))
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

enum VerifyError {
    Chain(rustls::Error),
    Name,
}

/// Verifies a peer's chain against the deployment CAs with rustls's WebPKI verifiers, then
/// requires one of the accepted service names; the address the peer was reached at is
/// ignored. One type serves both directions.
#[derive(Debug)]
struct ServiceVerifier {
    server: Arc<rustls::client::WebPkiServerVerifier>,
    client: Arc<dyn ClientCertVerifier>,
    /// The accepted names, as DNS names (`edge.rss-recipe.internal`).
    accepted: Vec<ServerName<'static>>,
}

impl ServiceVerifier {
    fn new(roots: Arc<RootCertStore>, services: &[&str]) -> Result<Self, TlsError> {
        let provider = provider();
        let server = rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .map_err(|error| TlsError::Config(error.to_string()))?;
        let client = rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|error| TlsError::Config(error.to_string()))?;
        let accepted = services
            .iter()
            .map(|service| {
                ServerName::try_from(service_dns_name(service))
                    .map_err(|_| TlsError::Config(format!("'{service}' is not a service name")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            server,
            client,
            accepted,
        })
    }

    /// The chain against the CAs (as a server certificate, which checks validity dates and
    /// signatures; the name is checked next), then the name.
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), VerifyError> {
        let first = self.accepted.first().ok_or(VerifyError::Name)?;
        // Verifying for the first accepted name also verifies the chain; a name mismatch
        // alone leaves the others to try.
        match self
            .server
            .verify_server_cert(end_entity, intermediates, first, &[], now)
        {
            Ok(_) => return Ok(()),
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => {}
            Err(other) => return Err(VerifyError::Chain(other)),
        }
        let parsed = ParsedCertificate::try_from(end_entity).map_err(VerifyError::Chain)?;
        if self.names(&parsed) {
            Ok(())
        } else {
            Err(VerifyError::Name)
        }
    }

    /// Whether the certificate names one of the accepted services.
    fn names(&self, parsed: &ParsedCertificate<'_>) -> bool {
        self.accepted
            .iter()
            .any(|name| rustls::client::verify_server_name(parsed, name).is_ok())
    }

    fn rejected(&self, error: VerifyError) -> rustls::Error {
        match error {
            VerifyError::Chain(error) => error,
            VerifyError::Name => {
                let names: Vec<String> = self
                    .accepted
                    .iter()
                    .map(|name| name.to_str().into_owned())
                    .collect();
                tracing::warn!(accepted = ?names, "refused a peer certificate for another service");
                rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
            }
        }
    }
}

impl ServerCertVerifier for ServiceVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _address: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verify(end_entity, intermediates, now)
            .map(|()| ServerCertVerified::assertion())
            .map_err(|error| self.rejected(error))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.server.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.server.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.server.supported_verify_schemes()
    }
}

impl ClientCertVerifier for ServiceVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.client.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Client-auth key usage and the chain, as WebPKI checks them for clients; then the name.
        self.client
            .verify_client_cert(end_entity, intermediates, now)?;
        if self.names(&ParsedCertificate::try_from(end_entity)?) {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(self.rejected(VerifyError::Name))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.client.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.client.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.client.supported_verify_schemes()
    }
}

#[cfg(feature = "mint")]
pub mod mint;

#[cfg(all(test, feature = "mint"))]
mod tests;
