#![allow(clippy::unwrap_used)]

use super::mint::Authority;
use super::*;

/// `service`'s identity from `authority`, trusting `cas` (PEM concatenated).
fn identity(authority: &Authority, service: &str, cas: &str) -> Identity {
    let issued = authority.issue(service).unwrap();
    Identity::from_pem(
        service,
        cas.as_bytes(),
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_bytes(),
    )
    .unwrap()
}

/// Runs a TLS handshake over an in-memory pipe, then one byte each way; `Ok` only when both
/// sides completed. The error names the side that refused first as seen by the client.
async fn handshake(
    server: Arc<rustls::ServerConfig>,
    client: rustls::ClientConfig,
) -> Result<(), String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let acceptor = tokio_rustls::TlsAcceptor::from(server);
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    // An IP address, as discovery gives: the name checked is the service's, not this one.
    let address = ServerName::try_from("10.1.2.3").unwrap();
    let (accepted, connected) = tokio::join!(
        async move {
            // TLS 1.3 clients finish before the server has checked their certificate: the
            // exchange makes the server's verdict reach the client.
            let mut stream = acceptor.accept(server_io).await?;
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await?;
            stream.write_all(&byte).await?;
            stream.flush().await
        },
        async move {
            let mut stream = connector.connect(address, client_io).await?;
            stream.write_all(b"x").await?;
            stream.flush().await?;
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await.map(drop)
        },
    );
    match (accepted, connected) {
        (Ok(()), Ok(())) => Ok(()),
        (server, client) => Err(format!("server: {server:?}; client: {client:?}")),
    }
}

#[tokio::test]
async fn an_edge_and_a_middle_tier_from_the_same_ca_connect_by_ip() {
    let ca = Authority::new("test CA").unwrap();
    let middletier = identity(&ca, "middletier", ca.cert_pem());
    let edge = identity(&ca, "edge", ca.cert_pem());
    handshake(
        middletier.server_config(&["edge"]).unwrap(),
        edge.client_config("middletier").unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn the_caller_refuses_a_server_certificate_naming_another_service() {
    let ca = Authority::new("test CA").unwrap();
    // A valid certificate from the right CA, for the wrong service.
    let impostor = identity(&ca, "edge", ca.cert_pem());
    let edge = identity(&ca, "edge", ca.cert_pem());
    let error = handshake(
        impostor.server_config(&["edge"]).unwrap(),
        edge.client_config("middletier").unwrap(),
    )
    .await
    .unwrap_err();
    assert!(error.contains("NotValidForName"), "{error}");
}

#[tokio::test]
async fn the_caller_refuses_a_server_from_another_ca() {
    let ca = Authority::new("test CA").unwrap();
    let other = Authority::new("attacker CA").unwrap();
    let impostor = identity(&other, "middletier", other.cert_pem());
    let edge = identity(&ca, "edge", ca.cert_pem());
    assert!(
        handshake(
            impostor.server_config(&["edge"]).unwrap(),
            edge.client_config("middletier").unwrap(),
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn the_server_refuses_a_client_naming_another_service_or_none() {
    let ca = Authority::new("test CA").unwrap();
    let middletier = identity(&ca, "middletier", ca.cert_pem());
    let stranger = identity(&ca, "registry", ca.cert_pem());
    let error = handshake(
        middletier.server_config(&["edge"]).unwrap(),
        stranger.client_config("middletier").unwrap(),
    )
    .await
    .unwrap_err();
    assert!(error.contains("server: Err"), "{error}");

    let anonymous = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(
            ServiceVerifier::new(middletier.roots.clone(), &["middletier"]).unwrap(),
        ))
        .with_no_client_auth();
    assert!(
        handshake(middletier.server_config(&["edge"]).unwrap(), anonymous)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn two_cas_in_the_bundle_are_both_trusted_during_a_rotation() {
    let old = Authority::new("old CA").unwrap();
    let new = Authority::new("new CA").unwrap();
    let bundle = format!("{}{}", old.cert_pem(), new.cert_pem());
    // The middle tier already has a certificate from the new CA; the edge still the old one.
    let middletier = identity(&new, "middletier", &bundle);
    let edge = identity(&old, "edge", &bundle);
    handshake(
        middletier.server_config(&["edge"]).unwrap(),
        edge.client_config("middletier").unwrap(),
    )
    .await
    .unwrap();
}

#[test]
fn a_certificate_for_another_service_or_ca_fails_at_load_with_a_clear_error() {
    let ca = Authority::new("test CA").unwrap();
    let issued = ca.issue("edge").unwrap();
    let error = Identity::from_pem(
        "middletier",
        ca.cert_pem().as_bytes(),
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_bytes(),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("middletier.rss-recipe.internal"),
        "{error}"
    );

    let other = Authority::new("other CA").unwrap();
    let error = Identity::from_pem(
        "edge",
        other.cert_pem().as_bytes(),
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_bytes(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("does not chain"), "{error}");

    let error = Identity::from_pem("edge", b"not pem", b"", b"").unwrap_err();
    assert!(error.to_string().contains("tls.ca"), "{error}");
}

#[test]
fn settings_with_only_some_files_are_refused() {
    let settings = TlsSettings {
        ca: Some("/ca.pem".into()),
        ..TlsSettings::default()
    };
    assert!(matches!(
        settings.load("edge").unwrap_err(),
        TlsError::Incomplete
    ));
    assert!(TlsSettings::default().load("edge").unwrap().is_none());
}

#[test]
fn minted_files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = std::env::temp_dir().join(format!("rss-mint-{}", std::process::id()));
    mint::write_deployment(&dir, &["edge", "middletier"]).unwrap();
    let mode = |name: &str| {
        std::fs::metadata(dir.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700);
    for file in [
        "ca.pem",
        "edge.pem",
        "edge.key",
        "middletier.pem",
        "middletier.key",
    ] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
    let settings = TlsSettings {
        ca: Some(dir.join("ca.pem")),
        cert: Some(dir.join("edge.pem")),
        key: Some(dir.join("edge.key")),
    };
    assert_eq!(settings.load("edge").unwrap().unwrap().service(), "edge");
    std::fs::remove_dir_all(&dir).unwrap();
}
