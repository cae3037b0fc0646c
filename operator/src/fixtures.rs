//! Test-only builders that read like sentences, and a mocked Kubernetes API server
//! (kube's tower-test pattern, as in kube-rs/controller-rs) that answers an expected
//! sequence of requests and records every request it was sent.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::client::Body;
use kube::core::{PartialObjectMeta, PartialObjectMetaExt};
use kube::runtime::watcher;
use kube::{Client, Resource};
use metricsapp_aws::table::DeletionPolicy;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::FINALIZER;
use crate::controller::{AwsClients, CacheWriters, Context, Settings};
use crate::crd::{
    FunctionArchitecture, FunctionCode, FunctionDeletionPolicy, FunctionSpec, MetricsApp,
    MetricsAppSpec, RolloutSpec, S3Code, ServiceSpec, TableSpec,
};
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
pub const BUDGET_PATH: &str = "/apis/policy/v1/namespaces/team/poddisruptionbudgets/metrics";
pub const POLICY_PATH: &str = "/apis/networking.k8s.io/v1/namespaces/team/networkpolicies/metrics";
pub const SECRETS_PATH: &str = "/api/v1/namespaces/team/secrets";
pub const SECRET_PATH: &str = "/api/v1/namespaces/team/secrets/metrics-auth";

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
                placement: Default::default(),
                autoscaling: None,
                management_policy: Default::default(),
                expire_after: None,
                disruption: Default::default(),
                network_policy: Default::default(),
                auth: Default::default(),
                suspend: false,
                functions: Vec::new(),
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

/// A function entry with a zip in S3 and every default.
pub fn function_spec(name: &str) -> FunctionSpec {
    FunctionSpec {
        name: name.into(),
        function_name: None,
        code: FunctionCode {
            s3: Some(S3Code {
                bucket: "metricsapp-functions".into(),
                key: format!("{name}.zip"),
                object_version: None,
            }),
            image_uri: None,
            sha256: None,
        },
        runtime: None,
        handler: None,
        architecture: FunctionArchitecture::default(),
        memory_mb: 128,
        timeout_seconds: 10,
        env: Default::default(),
        role_arn: "arn:aws:iam::123456789012:role/metrics-functions".into(),
        reserved_concurrency: None,
        tags: Default::default(),
        trigger: None,
        url: None,
        deletion_policy: FunctionDeletionPolicy::default(),
        adopt: false,
    }
}

/// SDK clients for moto's server at `MOTO_ENDPOINT`. Without it the test fails when
/// `METRICSAPP_REQUIRE_AWS=1` and otherwise says loudly that it was skipped.
pub async fn moto(test: &str) -> Option<AwsClients> {
    let endpoint = metricsapp_testing::endpoint("MOTO_ENDPOINT", test)?;
    Some(aws_at(&endpoint).await)
}

/// Real SDK clients against `endpoint` with test credentials.
pub async fn aws_at(endpoint: &str) -> AwsClients {
    let config = metricsapp_testing::sdk_config(endpoint).await;
    AwsClients {
        dynamodb: aws_sdk_dynamodb::Client::new(&config),
        lambda: aws_sdk_lambda::Client::new(&config),
        s3: metricsapp_testing::s3(&config),
    }
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
    /// The request body with a new resourceVersion, as the API server returns an
    /// applied or created object.
    Echo,
    /// An error Status with this code and message.
    Refused(StatusCode, &'static str),
    Json(Value),
    /// The MetricsApp (given as JSON) with the status the request patched in.
    StatusOf(Value),
}

impl Expect {
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
    /// What the mocked API server answered.
    pub response: Value,
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
    /// The AWS resources created (one Event each, `aws_events`), then the four app
    /// objects created, then the status.
    Creation {
        app: MetricsApp,
        aws_events: Vec<&'static str>,
    },
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
    /// Exactly these requests.
    Requests(Vec<Expect>),
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
    /// Token Secrets, as the labelled Secrets watch holds them.
    pub secrets: Vec<Value>,
    /// The PodDisruptionBudget, when the app has one.
    pub budget: Option<Value>,
    /// The NetworkPolicy, when the app has one.
    pub policy: Option<Value>,
}

impl LiveObjects {
    /// The objects a pass applied (as the API server answered the applies).
    pub fn from_applies(exchanges: &[Exchange]) -> Self {
        let applied = |path: &str| {
            exchanges
                .iter()
                .rev()
                .find(|exchange| exchange.method == "PATCH" && exchange.path == path)
                .map(|exchange| exchange.response.clone())
                .unwrap_or_else(|| panic!("no apply of {path} recorded"))
        };
        LiveObjects {
            service_account: applied(SERVICE_ACCOUNT_PATH),
            config_map: applied(CONFIG_MAP_PATH),
            service: applied(SERVICE_PATH),
            deployment: applied(DEPLOYMENT_PATH),
            secrets: Vec::new(),
            budget: exchanges
                .iter()
                .rev()
                .find(|exchange| exchange.method == "PATCH" && exchange.path == BUDGET_PATH)
                .map(|exchange| exchange.response.clone()),
            policy: exchanges
                .iter()
                .rev()
                .find(|exchange| exchange.method == "PATCH" && exchange.path == POLICY_PATH)
                .map(|exchange| exchange.response.clone()),
        }
    }

    /// `before`, with each object a pass applied replaced by the API server's answer.
    pub fn from_applies_over(before: Option<&LiveObjects>, exchanges: &[Exchange]) -> Self {
        let applied = |path: &str| {
            exchanges
                .iter()
                .rev()
                .find(|exchange| exchange.method == "PATCH" && exchange.path == path)
                .map(|exchange| exchange.response.clone())
        };
        let keep = |path: &str, old: Option<&Value>| {
            applied(path)
                .or_else(|| old.cloned())
                .unwrap_or_else(|| panic!("no apply of {path} recorded"))
        };
        LiveObjects {
            service_account: keep(SERVICE_ACCOUNT_PATH, before.map(|b| &b.service_account)),
            config_map: keep(CONFIG_MAP_PATH, before.map(|b| &b.config_map)),
            service: keep(SERVICE_PATH, before.map(|b| &b.service)),
            deployment: keep(DEPLOYMENT_PATH, before.map(|b| &b.deployment)),
            secrets: before.map(|b| b.secrets.clone()).unwrap_or_default(),
            budget: applied(BUDGET_PATH).or_else(|| before.and_then(|b| b.budget.clone())),
            policy: applied(POLICY_PATH).or_else(|| before.and_then(|b| b.policy.clone())),
        }
    }

    /// Puts the objects in the watch caches, as the watches would.
    pub fn seed(&self, writers: &mut CacheWriters) {
        fn meta<K: Resource<DynamicType = ()>>(value: &Value) -> PartialObjectMeta<K> {
            let metadata: ObjectMeta =
                serde_json::from_value(value["metadata"].clone()).expect("object metadata");
            metadata.into_response_partial::<K>()
        }
        let deployment: Deployment =
            serde_json::from_value(self.deployment.clone()).expect("a Deployment");
        writers
            .deployments
            .apply_watcher_event(&watcher::Event::Apply(deployment));
        writers
            .services
            .apply_watcher_event(&watcher::Event::Apply(meta::<Service>(&self.service)));
        writers
            .config_maps
            .apply_watcher_event(&watcher::Event::Apply(meta::<ConfigMap>(&self.config_map)));
        writers
            .service_accounts
            .apply_watcher_event(&watcher::Event::Apply(meta::<ServiceAccount>(
                &self.service_account,
            )));
        if let Some(budget) = &self.budget {
            writers
                .disruption_budgets
                .apply_watcher_event(&watcher::Event::Apply(meta::<PodDisruptionBudget>(budget)));
        }
        if let Some(policy) = &self.policy {
            writers
                .network_policies
                .apply_watcher_event(&watcher::Event::Apply(meta::<NetworkPolicy>(policy)));
        }
        for secret in &self.secrets {
            let mut secret: Secret = serde_json::from_value(secret.clone()).expect("a Secret");
            crate::controller::strip_secret(&mut secret);
            writers
                .secrets
                .apply_watcher_event(&watcher::Event::Apply(secret));
        }
    }

    /// With this Secret in the labelled Secrets watch (`stringData` as the API server
    /// stores it: in `data`).
    pub fn with_secret(mut self, secret: Value) -> Self {
        let mut typed: Secret = serde_json::from_value(secret).expect("a Secret");
        for (key, value) in typed.string_data.take().unwrap_or_default() {
            typed
                .data
                .get_or_insert_default()
                .insert(key, k8s_openapi::ByteString(value.into_bytes()));
        }
        if typed.metadata.resource_version.is_none() {
            typed.metadata.resource_version = Some(next_resource_version());
        }
        let secret = serde_json::to_value(typed).expect("a Secret serializes");
        self.secrets.push(secret);
        self
    }

    /// The apply of the PodDisruptionBudget a process that does not remember it sends.
    pub fn budget_apply(&self) -> Expect {
        Expect::patch_answered(BUDGET_PATH, self.budget.clone().expect("a budget"))
    }

    /// The apply of the NetworkPolicy a process that does not remember it sends.
    pub fn policy_apply(&self) -> Expect {
        Expect::patch_answered(POLICY_PATH, self.policy.clone().expect("a policy"))
    }

    /// As once someone changed the Deployment's image by hand (`kubectl edit`).
    pub fn with_edited_image(mut self, image: &str) -> Self {
        self.deployment["spec"]["template"]["spec"]["containers"][0]["image"] = image.into();
        self.deployment["metadata"]["resourceVersion"] = next_resource_version().into();
        self
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
    /// The app objects the watch caches hold before the pass.
    pub fn live(&self) -> Option<&LiveObjects> {
        match self {
            Scenario::Existing { live, .. } | Scenario::DriftCorrection { live, .. } => Some(live),
            Scenario::FinalizerCreation(_)
            | Scenario::Creation { .. }
            | Scenario::TableFailure { .. }
            | Scenario::Requests(_)
            | Scenario::Nothing
            | Scenario::StatusOnly(_)
            | Scenario::DeletionRetain(_)
            | Scenario::DeletionDelete(_) => None,
        }
    }

    pub fn expected(self) -> Vec<Expect> {
        match self {
            Scenario::FinalizerCreation(app) => {
                let finalized = serde_json::to_value(app.finalized()).expect("app serializes");
                vec![Expect::patch_answered(APP_PATH, finalized)]
            }
            Scenario::Creation { app, aws_events } => aws_events
                .into_iter()
                .map(Expect::event)
                .chain([
                    Expect::patch(SERVICE_ACCOUNT_PATH),
                    Expect::event("ServiceAccountCreated"),
                    Expect::patch(CONFIG_MAP_PATH),
                    Expect::event("ConfigMapCreated"),
                    Expect::patch(SERVICE_PATH),
                    Expect::event("ServiceCreated"),
                    Expect::patch(DEPLOYMENT_PATH),
                    Expect::event("DeploymentCreated"),
                    Expect::patch(BUDGET_PATH),
                    Expect::event("PodDisruptionBudgetCreated"),
                    Expect::patch(POLICY_PATH),
                    Expect::event("NetworkPolicyCreated"),
                    Expect::status(&app),
                ])
                .collect(),
            Scenario::Existing { writes, .. } => writes,
            Scenario::DriftCorrection { app, .. } => {
                vec![Expect::event("DriftCorrected"), Expect::status(&app)]
            }
            Scenario::TableFailure { app, reason } => {
                vec![Expect::event(reason), Expect::status(&app)]
            }
            Scenario::Requests(requests) => requests,
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

/// A Context whose Kubernetes client talks to the mocked API server, whose AWS clients
/// are `aws`, and whose watch caches hold `live` (when given).
pub fn context(aws: AwsClients, live: Option<&LiveObjects>) -> (Arc<Context>, ApiServer) {
    context_limited(aws, live, crate::limits::Limits::default())
}

/// [`context`] under the administrator's `limits`.
pub fn context_limited(
    aws: AwsClients,
    live: Option<&LiveObjects>,
    limits: crate::limits::Limits,
) -> (Arc<Context>, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "team");
    let settings = Settings {
        resync_period: Duration::from_secs(300),
        default_deletion_policy: DeletionPolicy::Retain,
        app: AppSettings {
            region: "us-east-1".into(),
            name_prefix: String::new(),
        },
        aws_deadline: Duration::from_secs(30),
        aws_full_read_period: Duration::from_secs(3600),
        concurrency: 4,
        transient_grace_period: Duration::from_secs(600),
        limits,
    };
    let (caches, mut writers) = crate::controller::caches();
    if let Some(live) = live {
        live.seed(&mut writers);
    }
    // Every AWS call of the pass is counted, as in the operator.
    let metrics = Arc::new(Metrics::default());
    let counter = metrics.aws_calls.clone();
    let aws = AwsClients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws.dynamodb
                .config()
                .to_builder()
                .interceptor(counter.clone())
                .build(),
        ),
        lambda: aws_sdk_lambda::Client::from_conf(
            aws.lambda
                .config()
                .to_builder()
                .interceptor(counter.clone())
                .build(),
        ),
        s3: aws_sdk_s3::Client::from_conf(
            aws.s3.config().to_builder().interceptor(counter).build(),
        ),
    };
    let ctx = Context::new(client, aws, metrics, settings, caches, None);
    (Arc::new(ctx), ApiServer(handle))
}

impl ApiServer {
    /// Answers every request as the API server would for a pass that converges (applies
    /// and Events echoed, status patches merged into `app`), for tests that check what a
    /// series of passes leads to rather than one exact sequence. Returns what it
    /// received.
    pub fn run_any(self, app: &MetricsApp) -> JoinHandle<Vec<Exchange>> {
        let app = serde_json::to_value(app).expect("app serializes");
        let mut handle = self.0;
        tokio::spawn(async move {
            let mut exchanges = Vec::new();
            while let Some((request, send)) = handle.next_request().await {
                let mut exchange = read(request).await;
                let reply = if exchange.path == STATUS_PATH {
                    Reply::StatusOf(app.clone())
                } else {
                    Reply::Echo
                };
                let (code, body) = respond(reply, &exchange);
                exchange.response = body.clone();
                send.send_response(
                    Response::builder()
                        .status(code)
                        .body(Body::from(serde_json::to_vec(&body).expect("JSON")))
                        .expect("response"),
                );
                exchanges.push(exchange);
            }
            exchanges
        })
    }

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
                let mut exchange = read(request).await;
                let (code, body) = match expected.next() {
                    Some(expect) if expect.summary() == exchange.summary() => {
                        respond(expect.reply, &exchange)
                    }
                    _ => status(StatusCode::INTERNAL_SERVER_ERROR, "request out of sequence"),
                };
                exchange.response = body.clone();
                send.send_response(
                    Response::builder()
                        .status(code)
                        .body(Body::from(serde_json::to_vec(&body).expect("JSON")))
                        .expect("response"),
                );
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
        response: Value::Null,
    }
}

/// Applies a JSON merge patch (RFC 7386), as the API server does with a status patch.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = json!({});
            }
            let object = target.as_object_mut().expect("an object");
            for (key, value) in fields {
                if value.is_null() {
                    object.remove(key);
                } else {
                    merge(object.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// A resourceVersion no object had before (the API server's are opaque strings).
pub fn next_resource_version() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1000);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .to_string()
}

fn respond(reply: Reply, exchange: &Exchange) -> (StatusCode, Value) {
    match reply {
        Reply::Echo => {
            let mut body = exchange.body.clone();
            body["metadata"]["resourceVersion"] = next_resource_version().into();
            (StatusCode::OK, body)
        }
        Reply::Json(value) => (StatusCode::OK, value),
        Reply::StatusOf(mut app) => {
            merge(&mut app["status"], &exchange.body["status"]);
            (StatusCode::OK, app)
        }
        Reply::Refused(code, message) => status(code, message),
    }
}

fn status(code: StatusCode, message: &str) -> (StatusCode, Value) {
    let reason = match code {
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::UNPROCESSABLE_ENTITY => "Invalid",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::CONFLICT => "AlreadyExists",
        _ => "InternalError",
    };
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure",
        "reason": reason, "code": code.as_u16(), "message": message,
    });
    (code, body)
}
