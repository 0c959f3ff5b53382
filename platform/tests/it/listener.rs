//! The accept loop every listener uses: a trickled request is closed, the connection cap holds,
//! and mutual TLS admits only the accepted service, with the peer's address still visible.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use platform::lifecycle::Shutdown;
use platform::server::{Listening, serve_with};
use platform::testing::TestPki;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Serves `router` on a loopback port; the server stops when the returned token is dropped.
async fn start(router: Router, listening: Listening) -> (SocketAddr, Shutdown) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    tokio::spawn(serve_with(listener, router, shutdown.clone(), listening));
    (address, shutdown)
}

fn hello() -> Router {
    Router::new().route("/", get(|| async { "hello" }))
}

/// Reads until the server closes the connection (or `within` passes: `None`).
async fn read_to_close(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    within: Duration,
) -> Option<String> {
    let mut answer = Vec::new();
    match tokio::time::timeout(within, stream.read_to_end(&mut answer)).await {
        Ok(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Err(_elapsed) => None,
    }
}

#[tokio::test]
async fn a_request_trickled_a_byte_at_a_time_is_closed() {
    let (address, _stop) = start(
        hello(),
        Listening {
            header_read_timeout: Duration::from_millis(300),
            ..Listening::default()
        },
    )
    .await;
    let (mut reader, mut writer) = TcpStream::connect(address).await.unwrap().into_split();
    // The attack: headers that never end, one byte every 50 ms (bounded: 400 bytes, 20 s).
    let trickle = tokio::spawn(async move {
        let request = b"GET / HTTP/1.1\r\nHost: x\r\n"
            .iter()
            .chain(b"X-Padding: ".iter())
            .copied();
        for byte in request.chain(std::iter::repeat(b'a')).take(400) {
            if writer.write_all(&[byte]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    });
    let answer = read_to_close(&mut reader, Duration::from_secs(10))
        .await
        .expect("the server closes a connection whose headers never end");
    assert!(!answer.contains("hello"), "{answer}");
    trickle.abort();
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let (release, released) = tokio::sync::watch::channel(false);
    let router = hello().route(
        "/hold",
        get(move || {
            let mut released = released.clone();
            async move {
                let _ = released.wait_for(|released| *released).await;
                "held"
            }
        }),
    );
    let (address, _stop) = start(
        router,
        Listening {
            max_connections: 2,
            ..Listening::default()
        },
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        held.push(stream);
    }
    // The third connects (the kernel's backlog) but is not served while two are open.
    let mut third = TcpStream::connect(address).await.unwrap();
    third
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_to_close(&mut third, Duration::from_millis(500)).await,
        None,
        "a third connection was served beyond a cap of two"
    );
    release.send_replace(true);
    for mut stream in held {
        let answer = read_to_close(&mut stream, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(answer.contains("held"), "{answer}");
    }
    let answer = read_to_close(&mut third, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(answer.contains("hello"), "{answer}");
}

#[tokio::test]
async fn mutual_tls_admits_the_accepted_service_and_keeps_the_peer_address() {
    let pki = TestPki::new();
    let middletier = pki.identity("middletier");
    let router = Router::new().route(
        "/",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
    );
    let (address, _stop) = start(
        router,
        Listening {
            tls: Some(middletier.server_config(&["edge"]).unwrap()),
            ..Listening::default()
        },
    )
    .await;
    let url = format!("https://{address}/");
    let client = |identity: platform::tls::Identity| {
        platform::http::client_builder()
            .tls_backend_preconfigured(identity.client_config("middletier").unwrap())
            .build()
            .unwrap()
    };
    let answer = client(pki.identity("edge")).get(&url).send().await.unwrap();
    assert_eq!(answer.text().await.unwrap(), "127.0.0.1");

    // A certificate from the same CA for another service, and no certificate at all.
    assert!(
        client(pki.identity("registry"))
            .get(&url)
            .send()
            .await
            .is_err()
    );
    let anonymous = platform::http::client_builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap()])
        .tls_danger_accept_invalid_hostnames(true)
        .build()
        .unwrap();
    assert!(anonymous.get(&url).send().await.is_err());
    // Plain HTTP to the TLS port gets nothing served.
    let mut plain = TcpStream::connect(address).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut plain, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(!answer.contains("127.0.0.1"), "{answer}");
}
