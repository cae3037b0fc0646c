//! Graceful shutdown: a request already in flight when the signal comes still gets its
//! answer (rolling updates depend on it), and the server then stops.

mod common;

use std::time::Duration;

use common::Served;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn an_in_flight_request_completes_after_the_shutdown_signal() {
    let (app, _dir) = common::embedded_router();
    let Served {
        addr,
        stop,
        task: server,
    } = Served::start(app, Duration::from_secs(10)).await;

    // Start a request and send only half of its body: it is now in flight.
    let body = br#"{"Data": "Sample Data"}"#;
    let mut client = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /picus/put HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    client.write_all(head.as_bytes()).await.expect("write head");
    client.write_all(&body[..10]).await.expect("write half");
    tokio::time::sleep(Duration::from_millis(200)).await;

    stop.send(()).expect("signal");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !server.is_finished(),
        "the server waits for the request in flight"
    );
    // New connections are no longer served.
    let refused = TcpStream::connect(addr).await;
    if let Ok(mut late) = refused {
        late.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .ok();
        let mut buf = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_millis(500), late.read_to_end(&mut buf)).await;
        assert!(
            !String::from_utf8_lossy(&buf).contains("200 OK"),
            "a new request was served during shutdown"
        );
        drop(read);
    }

    client.write_all(&body[10..]).await.expect("write rest");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut response))
        .await
        .expect("answered in time")
        .expect("read");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains(r#"{"id":""#), "{response}");

    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops once drained")
        .expect("task")
        .expect("served cleanly");
}

#[tokio::test]
async fn shutdown_gives_up_on_requests_that_outlast_the_drain_limit() {
    let (app, _dir) = common::embedded_router();
    let Served {
        addr,
        stop,
        task: server,
    } = Served::start(app, Duration::from_millis(300)).await;
    let mut client = TcpStream::connect(addr).await.expect("connect");
    client
        .write_all(b"POST /picus/put HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n{")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).expect("signal");
    tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .expect("the server exits after the drain limit")
        .expect("task")
        .expect("exits cleanly");
}
