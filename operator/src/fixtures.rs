//! Test-only builders that read like sentences, and a mocked Kubernetes API server
//! (kube's tower-test pattern, as in kube-rs/controller-rs) that answers an expected
//! sequence of requests and records every request it was sent.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::client::Body;
use kube::{Client, Resource};
use metricsapp_aws::table::DeletionPolicy;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::FINALIZER;
use crate::controller::{Context, Settings};
use crate::crd::{MetricsApp, MetricsAppSpec, RolloutSpec, ServiceSpec, TableSpec};
use crate::metrics::Metrics;
use crate::resources::AppSettings;

pub const TEST_UID: &str = "5b7c4a0e-2f7b-4a8e-9d59-2f4c1f0e8a11";

pub const APP_PATH: &str = "/apis/metricsapp.dev/v1alpha1/namespaces/team/metricsapps/metrics";
pub const STATUS_PATH: &str =
    "/apis/metricsapp.dev/v1alpha1/namespaces/team/metricsapps/metrics/status";
pub const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/team/events";
pub const SERVICE_ACCOUNT_PATH: &str = "/api/v1/namespaces/team/serviceaccounts/metrics";
pub const CONFIG_MAP_PATH: &str = "/api/v1/namespaces/team/configmaps/metrics";
pub const SERVICE_PATH: &str = "/api/v1/namespaces/team/services/metrics";
pub const DEPLOYMENT_PATH: &str = "/apis/apps/v1/namespaces/team/deployments/metrics";

pub trait MetricsAppExt: Sized {
    /// `team/metrics`, image `ghcr.io/metricsapp/metrics-app:1`, every default.
    fn test() -> Self;
    /// With the operator's finalizer, as after the first pass.
    fn finalized(self) -> Self;
    /// With `table.name` set (tests against moto use a unique name each).
    fn with_table(self, name: &str) -> Self;
    /// Marked for deletion by the API server.
    fn deleting(self) -> Self;
}

impl MetricsAppExt for MetricsApp {
    fn test() -> Self {
        let mut app = MetricsApp::new(
            "metrics",
            MetricsAppSpec {
                image: "ghcr.io/metricsapp/metrics-app:1".into(),
                replicas: 2,
                table: TableSpec::default(),
                rollout: RolloutSpec::default(),
                service: ServiceSpec::default(),
                resources: None,
                env: Vec::new(),
                service_account: None,
                suspend: false,
            },
        );
        app.meta_mut().namespace = Some("team".into());
        app.meta_mut().uid = Some(TEST_UID.into());
        app.meta_mut().generation = Some(1);
        app
    }

    fn finalized(mut self) -> Self {
        self.meta_mut().finalizers = Some(vec![FINALIZER.into()]);
        self
    }

    fn with_table(mut self, name: &str) -> Self {
        self.spec.table.name = Some(name.into());
        self
    }

    fn deleting(mut self) -> Self {
        self.meta_mut().deletion_timestamp = Some(Time(Timestamp::now()));
        self
    }
}

/// A table name no other test uses (all tests share one moto server).
pub fn unique_table(test: &str) -> String {
    format!("operator-{test}-{}", uuid::Uuid::new_v4().simple())
}

/// A DynamoDB client for moto's server at `MOTO_ENDPOINT`. Without it the test fails
/// when `METRICSAPP_REQUIRE_AWS=1` and otherwise says loudly that it was skipped.
pub async fn moto(test: &str) -> Option<aws_sdk_dynamodb::Client> {
    match std::env::var("MOTO_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Some(dynamodb_at(&endpoint).await),
        _ => {
            assert!(
                std::env::var("METRICSAPP_REQUIRE_AWS").as_deref() != Ok("1"),
                "{test} needs MOTO_ENDPOINT (run ./scripts/test)"
            );
            eprintln!("SKIPPED: {test} needs MOTO_ENDPOINT (run ./scripts/test)");
            None
        }
    }
}

/// A real SDK client against `endpoint` with test credentials.
pub async fn dynamodb_at(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}

/// A request the mocked API server expects, and how it answers.
pub struct Expect {
    pub method: &'static str,
    pub path: &'static str,
    /// For Events: the reason the Event must carry.
    pub reason: Option<&'static str>,
    pub reply: Reply,
}

pub enum Reply {
    /// The request body, as the API server returns an applied or created object.
    Echo,
    NotFound,
    Json(Value),
    /// The MetricsApp (given as JSON) with the status the request patched in.
    StatusOf(Value),
}

impl Expect {
    pub fn get(path: &'static str, reply: Reply) -> Self {
        Expect {
            method: "GET",
            path,
            reason: None,
            reply,
        }
    }

    /// A server-side apply (or other patch) answered with the object it carries.
    pub fn patch(path: &'static str) -> Self {
        Expect {
            method: "PATCH",
            path,
            reason: None,
            reply: Reply::Echo,
        }
    }

    pub fn patch_answered(path: &'static str, object: Value) -> Self {
        Expect {
            method: "PATCH",
            path,
            reason: None,
            reply: Reply::Json(object),
        }
    }

    /// A status patch of `app`, answered with `app` carrying the patched status.
    pub fn status(app: &MetricsApp) -> Self {
        let app = serde_json::to_value(app).expect("app serializes");
        Expect {
            method: "PATCH",
            path: STATUS_PATH,
            reason: None,
            reply: Reply::StatusOf(app),
        }
    }

    pub fn event(reason: &'static str) -> Self {
        Expect {
            method: "POST",
            path: EVENTS_PATH,
            reason: Some(reason),
            reply: Reply::Echo,
        }
    }

    fn summary(&self) -> String {
        summary(self.method, self.path, self.reason)
    }
}

fn summary(method: &str, path: &str, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("{method} {path} {reason}"),
        None => format!("{method} {path}"),
    }
}

/// One request the mocked API server received.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
}

impl Exchange {
    pub fn summary(&self) -> String {
        let reason = (self.path == EVENTS_PATH)
            .then(|| self.body["reason"].as_str())
            .flatten();
        summary(&self.method, &self.path, reason)
    }
}

/// The named request sequences of the reconciler tests.
pub enum Scenario {
    /// A new MetricsApp: only the finalizer is added.
    FinalizerCreation(MetricsApp),
    /// Table created, then the four app objects created, then the status.
    Creation(MetricsApp),
    /// The live objects as the previous pass left them: nothing to write but `writes`.
    Existing {
        live: LiveObjects,
        writes: Vec<Expect>,
    },
    /// The table was edited behind the operator's back: the revert is reported, the
    /// app's objects are unchanged, the status shows the table being corrected.
    DriftCorrection { live: LiveObjects, app: MetricsApp },
    /// The table pass failed: a Warning Event with `reason`, then the status.
    TableFailure {
        app: MetricsApp,
        reason: &'static str,
    },
    /// No request at all.
    Nothing,
    /// Only the status is written (suspended, or the table failed terminally).
    StatusOnly(MetricsApp),
    /// Deletion with Retain: an Event, then the finalizer removed.
    DeletionRetain(MetricsApp),
    /// Deletion with Delete: backup and deletion Events, then the finalizer removed.
    DeletionDelete(MetricsApp),
}

/// The app's objects as the API server holds them.
#[derive(Clone)]
pub struct LiveObjects {
    pub service_account: Value,
    pub config_map: Value,
    pub service: Value,
    pub deployment: Value,
}

impl LiveObjects {
    /// The objects a pass applied (from the recorded SSA bodies).
    pub fn from_applies(exchanges: &[Exchange]) -> Self {
        let applied = |path: &str| {
            exchanges
                .iter()
                .rev()
                .find(|exchange| exchange.method == "PATCH" && exchange.path == path)
                .map(|exchange| exchange.body.clone())
                .unwrap_or_else(|| panic!("no apply of {path} recorded"))
        };
        LiveObjects {
            service_account: applied(SERVICE_ACCOUNT_PATH),
            config_map: applied(CONFIG_MAP_PATH),
            service: applied(SERVICE_PATH),
            deployment: applied(DEPLOYMENT_PATH),
        }
    }

    /// As once the Deployment's pods are all ready.
    pub fn with_available_deployment(mut self, replicas: i32) -> Self {
        self.deployment["status"] = json!({
            "observedGeneration": 1,
            "replicas": replicas,
            "readyReplicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}],
        });
        self
    }
}

impl Scenario {
    pub fn expected(self) -> Vec<Expect> {
        match self {
            Scenario::FinalizerCreation(app) => {
                let finalized = serde_json::to_value(app.finalized()).expect("app serializes");
                vec![Expect::patch_answered(APP_PATH, finalized)]
            }
            Scenario::Creation(app) => vec![
                Expect::event("TableCreated"),
                Expect::get(SERVICE_ACCOUNT_PATH, Reply::NotFound),
                Expect::patch(SERVICE_ACCOUNT_PATH),
                Expect::event("ServiceAccountCreated"),
                Expect::get(CONFIG_MAP_PATH, Reply::NotFound),
                Expect::patch(CONFIG_MAP_PATH),
                Expect::event("ConfigMapCreated"),
                Expect::get(SERVICE_PATH, Reply::NotFound),
                Expect::patch(SERVICE_PATH),
                Expect::event("ServiceCreated"),
                Expect::get(DEPLOYMENT_PATH, Reply::NotFound),
                Expect::patch(DEPLOYMENT_PATH),
                Expect::event("DeploymentCreated"),
                Expect::status(&app),
            ],
            Scenario::Existing { live, writes } => {
                let mut expected = vec![
                    Expect::get(SERVICE_ACCOUNT_PATH, Reply::Json(live.service_account)),
                    Expect::get(CONFIG_MAP_PATH, Reply::Json(live.config_map)),
                    Expect::get(SERVICE_PATH, Reply::Json(live.service)),
                    Expect::get(DEPLOYMENT_PATH, Reply::Json(live.deployment)),
                ];
                expected.extend(writes);
                expected
            }
            Scenario::DriftCorrection { live, app } => {
                let mut expected = vec![Expect::event("DriftCorrected")];
                expected.extend(
                    Scenario::Existing {
                        live,
                        writes: vec![Expect::status(&app)],
                    }
                    .expected(),
                );
                expected
            }
            Scenario::TableFailure { app, reason } => {
                vec![Expect::event(reason), Expect::status(&app)]
            }
            Scenario::Nothing => vec![],
            Scenario::StatusOnly(app) => vec![Expect::status(&app)],
            Scenario::DeletionRetain(app) => vec![
                Expect::event("TableRetained"),
                Expect::patch_answered(APP_PATH, without_finalizer(app)),
            ],
            Scenario::DeletionDelete(app) => vec![
                Expect::event("TableBackedUp"),
                Expect::event("TableDeleted"),
                Expect::patch_answered(APP_PATH, without_finalizer(app)),
            ],
        }
    }
}

fn without_finalizer(mut app: MetricsApp) -> Value {
    app.meta_mut().finalizers = None;
    serde_json::to_value(app).expect("app serializes")
}

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// The test's side of the mocked API server.
pub struct ApiServer(Handle);

/// A Context whose Kubernetes client talks to the mocked API server, and whose
/// DynamoDB client is `dynamodb`.
pub fn context(dynamodb: aws_sdk_dynamodb::Client) -> (Arc<Context>, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "team");
    let settings = Settings {
        resync_period: Duration::from_secs(300),
        default_deletion_policy: DeletionPolicy::Retain,
        app: AppSettings {
            region: "us-east-1".into(),
        },
    };
    let ctx = Context::new(
        client,
        dynamodb,
        Arc::new(Metrics::default()),
        settings,
        None,
    );
    (Arc::new(ctx), ApiServer(handle))
}

impl ApiServer {
    /// Answers requests in order from `scenario` until every client is dropped, and
    /// returns what it received. A request out of sequence gets a 500 (so the pass
    /// fails) and is recorded, so the test's comparison shows it.
    pub fn run(self, scenario: Scenario) -> JoinHandle<(Vec<String>, Vec<Exchange>)> {
        let expected = scenario.expected();
        let summaries = expected.iter().map(Expect::summary).collect();
        let mut handle = self.0;
        tokio::spawn(async move {
            let mut expected = expected.into_iter();
            let mut exchanges = Vec::new();
            while let Some((request, send)) = handle.next_request().await {
                let exchange = read(request).await;
                let response = match expected.next() {
                    Some(expect) if expect.summary() == exchange.summary() => {
                        respond(expect.reply, &exchange)
                    }
                    _ => status(StatusCode::INTERNAL_SERVER_ERROR, "request out of sequence"),
                };
                send.send_response(response);
                exchanges.push(exchange);
            }
            (summaries, exchanges)
        })
    }
}

/// Waits for the mocked API server to finish (after the test dropped its Context) and
/// asserts it received exactly the expected requests, in order.
pub async fn verify(server: JoinHandle<(Vec<String>, Vec<Exchange>)>) -> Vec<Exchange> {
    let (expected, exchanges) = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the Context was dropped, so the mocked API server must finish")
        .expect("mocked API server task");
    let received: Vec<String> = exchanges.iter().map(Exchange::summary).collect();
    assert_eq!(received, expected, "requests received vs expected");
    exchanges
}

async fn read(request: Request<Body>) -> Exchange {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let bytes = request
        .into_body()
        .collect_bytes()
        .await
        .expect("request body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("request body is JSON")
    };
    Exchange {
        method,
        path,
        query,
        body,
    }
}

fn respond(reply: Reply, exchange: &Exchange) -> Response<Body> {
    match reply {
        Reply::Echo => json_response(&exchange.body),
        Reply::Json(value) => json_response(&value),
        Reply::StatusOf(mut app) => {
            app["status"] = exchange.body["status"].clone();
            json_response(&app)
        }
        Reply::NotFound => {
            let body = json!({
                "kind": "Status", "apiVersion": "v1", "status": "Failure",
                "reason": "NotFound", "code": 404, "message": "not found",
            });
            Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body(Body::from(serde_json::to_vec(&body).expect("JSON")))
                .expect("response")
        }
    }
}

fn json_response(value: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .body(Body::from(serde_json::to_vec(value).expect("JSON")))
        .expect("response")
}

fn status(code: StatusCode, message: &str) -> Response<Body> {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure",
        "reason": "InternalError", "code": code.as_u16(), "message": message,
    });
    Response::builder()
        .status(code)
        .body(Body::from(serde_json::to_vec(&body).expect("JSON")))
        .expect("response")
}
