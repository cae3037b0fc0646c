//! Counts every AWS call the operator makes, by service, operation and outcome, so that
//! a no-op resync can be seen to make only reads (`metricsapp_aws_calls_total`). One SDK
//! interceptor, attached to every client: no call site can forget it.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsCallLabels {
    /// `DynamoDB`, `Lambda`, `S3`.
    pub service: String,
    /// `DescribeTable`, `GetFunction`, `UpdateFunctionCode`, ...
    pub operation: String,
    /// `ok` or `error`.
    pub outcome: String,
}

/// The interceptor: counts each finished operation (after its retries) once.
#[derive(Clone, Debug, Default)]
pub struct AwsCallCounter {
    pub calls: Family<AwsCallLabels, Counter>,
}

impl Intercept for AwsCallCounter {
    fn name(&self) -> &'static str {
        "AwsCallCounter"
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map_or(("unknown", "unknown"), |m| (m.service(), m.name()));
        let outcome = match context.output_or_error() {
            Some(Ok(_)) => "ok",
            Some(Err(_)) | None => "error",
        };
        self.calls
            .get_or_create(&AwsCallLabels {
                service: service.to_owned(),
                operation: operation.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        Ok(())
    }
}
