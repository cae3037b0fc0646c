//! The rollup function's binary (`bootstrap` in the Lambda zip): the `lambda_runtime`
//! loop around [`metrics_app_rollup_function::handle`].

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{LambdaEvent, service_fn};
use metrics_app_rollup_function::{Config, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // JSON lines, so CloudWatch Logs Insights can query the fields.
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .without_time()
        .init();
    let table = std::env::var("METRICS_APP_TABLE")
        .map_err(|_| "METRICS_APP_TABLE must name the app's table")?;
    let config = Config {
        table,
        ttl_attribute: std::env::var("METRICS_APP_TTL_ATTRIBUTE")
            .unwrap_or_else(|_| "expiresAt".to_owned()),
    };
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    tracing::info!(table = %config.table, "rollup function started");
    lambda_runtime::run(service_fn(|event: LambdaEvent<Event>| {
        let (client, config) = (&client, &config);
        async move {
            Ok::<_, lambda_runtime::Error>(
                handle(client, config, event.payload, chrono::Utc::now()).await,
            )
        }
    }))
    .await
}
