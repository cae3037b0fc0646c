//! Test-only faults in the real SDK clients: an HTTP client wrapped around the SDK's own
//! that answers a seeded share of requests the way each service answers when it
//! throttles or fails (DynamoDB's 400 ThrottlingException and 500 InternalServerError,
//! Lambda's 429 TooManyRequestsException and 500 ServiceException, S3's 503 SlowDown
//! and 500 InternalError), so that the SDK's retries, the operator's error
//! classification and its status all see what AWS would send.
//!
//! Throttles and most 500s never reach the server, as with AWS; one 500 in three is
//! sent on and its answer replaced, as when AWS acted and then failed to say so (the
//! case that makes duplicates if a retry is not idempotent).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

use crate::controller::AwsClients;

/// Which share of requests fail, and what was sent and failed so far.
#[derive(Debug)]
pub struct Faults {
    seed: u64,
    /// Percent of requests that fail (0: none).
    percent: AtomicU32,
    mix: Mix,
    /// Requests seen, the index of the next one.
    requests: AtomicU64,
    pub throttled: AtomicU64,
    pub failed: AtomicU64,
    /// 500s answered after the server had acted.
    pub failed_after: AtomicU64,
}

/// What the failing requests get.
#[derive(Debug, Clone, Copy)]
pub enum Mix {
    /// Half throttles, half 500s (one in three of those after the server acted).
    ThrottlesAndErrors,
    /// Throttles only.
    Throttles,
}

impl Faults {
    pub fn new(seed: u64, percent: u32, mix: Mix) -> Arc<Self> {
        Arc::new(Faults {
            seed,
            percent: AtomicU32::new(percent),
            mix,
            requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            failed_after: AtomicU64::new(0),
        })
    }

    pub fn set_percent(&self, percent: u32) {
        self.percent.store(percent, Ordering::Relaxed);
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn injected(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
            + self.failed.load(Ordering::Relaxed)
            + self.failed_after.load(Ordering::Relaxed)
    }

    /// The fault for the next request, if it gets one: the same sequence for the same
    /// seed on every run.
    fn next(&self) -> Option<Fault> {
        let index = self.requests.fetch_add(1, Ordering::Relaxed);
        let roll = splitmix64(self.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        if roll % 100 >= u64::from(self.percent.load(Ordering::Relaxed)) {
            return None;
        }
        let (fault, counter) = match (self.mix, (roll >> 32) % 6) {
            (Mix::Throttles, _) | (Mix::ThrottlesAndErrors, 0..=2) => {
                (Fault::Throttled, &self.throttled)
            }
            (Mix::ThrottlesAndErrors, 3 | 4) => (Fault::Failed, &self.failed),
            (Mix::ThrottlesAndErrors, _) => (Fault::FailedAfter, &self.failed_after),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Some(fault)
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Throttled,
    Failed,
    FailedAfter,
}

#[derive(Debug, Clone, Copy)]
pub enum Service {
    DynamoDb,
    Lambda,
    S3,
}

impl Service {
    /// The answer this service sends for `fault`: status, headers, body.
    fn answer(self, fault: Fault) -> HttpResponse {
        let throttled = matches!(fault, Fault::Throttled);
        let (status, headers, body): (u16, &[(&str, &str)], &str) = match (self, throttled) {
            (Service::DynamoDb, true) => (
                400,
                &[("content-type", "application/x-amz-json-1.0")],
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#,
            ),
            (Service::DynamoDb, false) => (
                500,
                &[("content-type", "application/x-amz-json-1.0")],
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#,
            ),
            (Service::Lambda, true) => (
                429,
                &[
                    ("content-type", "application/json"),
                    ("x-amzn-errortype", "TooManyRequestsException"),
                ],
                r#"{"Type":"User","message":"Rate exceeded","Reason":"CallerRateLimitExceeded"}"#,
            ),
            (Service::Lambda, false) => (
                500,
                &[
                    ("content-type", "application/json"),
                    ("x-amzn-errortype", "ServiceException"),
                ],
                r#"{"Type":"Service","message":"InternalFailure"}"#,
            ),
            (Service::S3, true) => (
                503,
                &[("content-type", "application/xml")],
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>FAULT</RequestId></Error>",
            ),
            (Service::S3, false) => (
                500,
                &[("content-type", "application/xml")],
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>FAULT</RequestId></Error>",
            ),
        };
        let mut response = HttpResponse::new(
            StatusCode::try_from(status).expect("an HTTP status"),
            SdkBody::from(body),
        );
        for (name, value) in headers {
            response.headers_mut().insert(*name, *value);
        }
        response
    }
}

/// The SDK's HTTP client with faults.
#[derive(Debug, Clone)]
struct FaultyClient {
    inner: SharedHttpClient,
    service: Service,
    faults: Arc<Faults>,
}

impl HttpClient for FaultyClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultyConnector {
            inner: self.inner.http_connector(settings, components),
            service: self.service,
            faults: self.faults.clone(),
        })
    }
}

#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    service: Service,
    faults: Arc<Faults>,
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let service = self.service;
        match self.faults.next() {
            None => self.inner.call(request),
            Some(fault @ (Fault::Throttled | Fault::Failed)) => {
                HttpConnectorFuture::ready(Ok(service.answer(fault)))
            }
            Some(Fault::FailedAfter) => {
                let sent = self.inner.call(request);
                HttpConnectorFuture::new(async move {
                    sent.await?;
                    Ok(service.answer(Fault::FailedAfter))
                })
            }
        }
    }
}

/// Clients for `endpoint` retrying as `retry` says (the operator's is
/// `aws_calls::retry_config`) within the operator's retry quota, each failing the share
/// of requests `faults` says.
pub async fn faulty_clients(
    endpoint: &str,
    faults: &Arc<Faults>,
    retry: aws_config::retry::RetryConfig,
) -> AwsClients {
    let config = metricsapp_testing::sdk_config(endpoint).await;
    // The client the SDK builds by default (hyper, rustls with aws-lc).
    let inner = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https();
    let client = |service| FaultyClient {
        inner: inner.clone(),
        service,
        faults: faults.clone(),
    };
    AwsClients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .http_client(client(Service::DynamoDb))
                .retry_partition(crate::aws_calls::retry_partition("dynamodb"))
                .retry_config(retry.clone())
                .build(),
        ),
        lambda: aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(&config)
                .http_client(client(Service::Lambda))
                .retry_partition(crate::aws_calls::retry_partition("lambda"))
                .retry_config(retry.clone())
                .build(),
        ),
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .http_client(client(Service::S3))
                .retry_partition(crate::aws_calls::retry_partition("s3"))
                .retry_config(retry)
                .build(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_fails_the_same_requests_in_the_given_share() {
        let pattern = |seed| {
            let faults = Faults::new(seed, 50, Mix::ThrottlesAndErrors);
            (0..1000)
                .map(|_| faults.next().is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(pattern(26), pattern(26));
        assert_ne!(pattern(26), pattern(27));
        let failed = pattern(26).iter().filter(|f| **f).count();
        assert!((450..=550).contains(&failed), "{failed} of 1000");
    }
}
