//! A bare hyper server answering every request with a fixed JSON body the size and shape
//! of a stored activity: the reference `scripts/bench-app` measures the app against, run
//! the same way on the same machine.
//!
//!     cargo run --release -p metrics-app --example hello -- 127.0.0.1:18081

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What `GET /api/v1/activities/{id}` answers for the activity `scripts/bench-app` seeds.
const ACTIVITY: &[u8] = br#"{"id":"019ad8f0-5b1e-7c2a-9d4f-2a6b3c4d5e6f","customer":"Acme","project":"Data platform","engineer":"ada","date":"2026-11-20","hours":1.5,"description":"Nightly export","created_at":"2026-11-22T05:06:50.885Z","updated_at":"2026-11-22T05:06:50.885Z"}"#;

async fn hello(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(ACTIVITY)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("hello on http://{addr}");
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(hello))
                .await;
        });
    }
}
