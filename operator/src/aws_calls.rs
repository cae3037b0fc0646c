//! Counts every AWS call the operator makes, by service, operation and outcome, so that
//! a no-op resync can be seen to make only reads (`metricsapp_aws_calls_total`), and
//! every failed attempt by what went wrong (`metricsapp_aws_calls_failed_total`), so
//! that sustained throttling can be alerted on. One SDK interceptor, attached to every
//! client: no call site can forget it.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::config::retry::{RetryPartition, TokenBucket};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// How every client retries: the SDK's adaptive mode (on throttling it also slows the
/// client's request rate down, for all calls to that service) with `max_attempts`
/// attempts per call. Backoff is capped at 5 s so that several retries fit in one
/// `--aws-call-timeout`.
pub fn retry_config(max_attempts: u32) -> RetryConfig {
    RetryConfig::adaptive()
        .with_max_attempts(max_attempts)
        .with_max_backoff(Duration::from_secs(5))
}

/// The retry quota of one service's client (its own rate limiter with it). The SDK's
/// default quota (500, 5 a retry, 1 back per first-attempt success) runs dry within a
/// few hundred calls when half of them fail, and from then on no call is retried at
/// all: here a retry of a throttle costs 1 (the adaptive rate limiter already slows
/// those down), of a 5xx 5 and of a timeout 10, and the quota also refills by 5 a
/// second, so that a service that is down is retried about once a second, not in a
/// storm.
pub fn retry_partition(service: &'static str) -> RetryPartition {
    RetryPartition::custom(service)
        .token_bucket(
            TokenBucket::builder()
                .capacity(500)
                .throttling_retry_cost(1)
                .retry_cost(5)
                .timeout_retry_cost(10)
                .refill_rate(5.0)
                .build(),
        )
        .build()
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsCallLabels {
    /// `DynamoDB`, `Lambda`, `S3`.
    pub service: String,
    /// `DescribeTable`, `GetFunction`, `UpdateFunctionCode`, ...
    pub operation: String,
    /// `ok` or `error`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsFailureLabels {
    pub service: String,
    pub operation: String,
    pub kind: FailureKind,
}

/// What went wrong with one attempt of an AWS call.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum FailureKind {
    /// AWS asked to slow down (ThrottlingException, TooManyRequestsException,
    /// SlowDown, ...), whatever the HTTP status.
    Throttled,
    /// AWS failed on its side (5xx).
    Server,
    /// The attempt ran out of time (`--aws-call-timeout`) or its connection did.
    Timeout,
    /// Anything else: refused (4xx), no connection.
    Other,
}

/// Error codes with which AWS services say "slow down" (as the SDK's retry classifier
/// knows them).
const THROTTLING_CODES: [&str; 9] = [
    "Throttling",
    "TooManyRequestsException",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "BandwidthLimitExceeded",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

impl EncodeLabelValue for FailureKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let label = match self {
            FailureKind::Throttled => "throttled",
            FailureKind::Server => "server",
            FailureKind::Timeout => "timeout",
            FailureKind::Other => "other",
        };
        EncodeLabelValue::encode(&label, encoder)
    }
}

impl FailureKind {
    /// From the HTTP status (if an answer came), the error code AWS sent (in a header
    /// or the body: `answer`), and whether time ran out. Pure.
    pub fn of(status: Option<u16>, answer: &str, timed_out: bool) -> FailureKind {
        if timed_out {
            return FailureKind::Timeout;
        }
        match status {
            _ if THROTTLING_CODES.iter().any(|code| answer.contains(code)) => {
                FailureKind::Throttled
            }
            Some(429) => FailureKind::Throttled,
            Some(status) if status >= 500 => FailureKind::Server,
            Some(_) | None => FailureKind::Other,
        }
    }
}

/// The interceptor: counts each finished operation (after its retries) once, and each
/// failed attempt (retried or not) by its kind.
#[derive(Clone, Debug, Default)]
pub struct AwsCallCounter {
    pub calls: Family<AwsCallLabels, Counter>,
    pub failures: Family<AwsFailureLabels, Counter>,
}

fn service_and_operation(cfg: &ConfigBag) -> (String, String) {
    cfg.load::<Metadata>().map_or_else(
        || ("unknown".to_owned(), "unknown".to_owned()),
        |m| (m.service().to_owned(), m.name().to_owned()),
    )
}

impl Intercept for AwsCallCounter {
    fn name(&self) -> &'static str {
        "AwsCallCounter"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Err(error)) = context.output_or_error() else {
            return Ok(());
        };
        let timed_out = error.is_timeout_error()
            || error
                .as_connector_error()
                .is_some_and(|connector| connector.is_timeout());
        let response = context.response();
        let status = response.map(|r| r.status().as_u16());
        // The error code is in a header (REST JSON), or in the body (JSON `__type`,
        // XML `<Code>`); a few hundred bytes hold it.
        let mut answer = String::new();
        if let Some(response) = response {
            if let Some(kind) = response.headers().get("x-amzn-errortype") {
                answer.push_str(kind);
            }
            if let Some(body) = response.body().bytes() {
                answer.push_str(&String::from_utf8_lossy(&body[..body.len().min(512)]));
            }
        }
        let (service, operation) = service_and_operation(cfg);
        self.failures
            .get_or_create(&AwsFailureLabels {
                service,
                operation,
                kind: FailureKind::of(status, &answer, timed_out),
            })
            .inc();
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = service_and_operation(cfg);
        let outcome = match context.output_or_error() {
            Some(Ok(_)) => "ok",
            Some(Err(_)) | None => "error",
        };
        self.calls
            .get_or_create(&AwsCallLabels {
                service,
                operation,
                outcome: outcome.to_owned(),
            })
            .inc();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_told_apart_by_what_aws_answered() {
        let dynamodb = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;
        assert_eq!(
            FailureKind::of(Some(400), dynamodb, false),
            FailureKind::Throttled
        );
        assert_eq!(
            FailureKind::of(Some(429), "TooManyRequestsException", false),
            FailureKind::Throttled
        );
        let s3 = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
        assert_eq!(
            FailureKind::of(Some(503), s3, false),
            FailureKind::Throttled
        );
        let internal = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"}"#;
        assert_eq!(
            FailureKind::of(Some(500), internal, false),
            FailureKind::Server
        );
        assert_eq!(FailureKind::of(None, "", true), FailureKind::Timeout);
        assert_eq!(FailureKind::of(None, "", false), FailureKind::Other);
        let missing = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"}"#;
        assert_eq!(
            FailureKind::of(Some(400), missing, false),
            FailureKind::Other
        );
    }
}
