//! An in-process HTTP reverse proxy between the `deployer` binary and moto.
//!
//! Moto answers calls but cannot tell a test *which* calls were made, and it
//! never fails the way AWS does (throttling, 5xx, dropped connections). The
//! proxy closes both gaps:
//!
//! * it records every AWS call as an [`ApiCall`] (service from the SigV4
//!   credential scope, operation from `Action=` or `X-Amz-Target`), so tests
//!   can assert e.g. that a second deploy makes no mutating call;
//! * it injects faults — scripted per operation or random with a seed — in
//!   the wire format of the service, so the SDK parses them exactly like a
//!   real AWS error and retries (or not) exactly as it would in production;
//! * it can rewrite moto's JSON answers, e.g. to script an ECS rollout;
//! * it keeps each request's headers and body ([`AwsProxy::requests`]), for
//!   tests that check what was sent (a conditional write's `If-Match`, the
//!   command of an `ExecuteCommand`);
//! * it can add latency to every call, and records when each call started
//!   and ended ([`AwsProxy::timed_calls`]), for the benchmark
//!   (`examples/bench.rs`) that measures the binary as if AWS were far away.
//! * with no backend at all ([`AwsProxy::offline`]) it still records every
//!   call and refuses each one, for tests whose run must not call AWS.
//!
//! It runs on a tokio runtime of its own on a background thread, so tests
//! stay plain `#[test]` functions that run the binary with
//! `std::process::Command` and configure the proxy through the thread-safe
//! [`AwsProxy`] handle at any time.
//!
//! Requests and answers are buffered whole: AWS control-plane payloads are
//! small, and buffering is what makes `Expect: 100-continue` and chunked
//! uploads from the SDK a non-issue (hyper answers the `100 Continue` itself,
//! and the upstream request gets a plain `Content-Length`).

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::oneshot;

/// One AWS API call as seen by the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    /// SigV4 signing name: "ec2", "ecs", "elasticloadbalancing", "iam",
    /// "logs", "ecr", "sts" (or "unknown" for an unsigned request).
    pub service: String,
    /// "DescribeVpcs", "CreateCluster", ... (for a call that is neither
    /// query nor JSON protocol: "METHOD /path").
    pub operation: String,
    /// The HTTP status the client got (for `DropAfterForward`: the status
    /// moto answered, which the client never saw).
    pub status: u16,
    /// The injected fault, if any: the error code for `Fault::Error` and
    /// throttles (e.g. "ThrottlingException"), "DropAfterForward", or
    /// "Delay(..)".
    pub fault: Option<String>,
}

impl ApiCall {
    /// Whether the operation may change state (see [`is_read_only`]).
    pub fn is_mutating(&self) -> bool {
        !is_read_only(&self.operation)
    }
}

impl fmt::Display for ApiCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} -> {}", self.service, self.operation, self.status)?;
        if let Some(fault) = &self.fault {
            write!(f, " [{fault}]")?;
        }
        Ok(())
    }
}

/// An [`ApiCall`] with when it ran, as seen by the proxy: for benchmarks that
/// want per-call latency or the critical path (the longest chain of calls
/// that each started after the previous one ended).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedCall {
    pub call: ApiCall,
    /// When the proxy started reading the request, before any latency or
    /// fault it injects.
    pub start: Instant,
    /// When the proxy had the answer ready to send (or, for
    /// `DropAfterForward`, was about to drop the connection).
    pub end: Instant,
    /// A hash of the request's method, path, query and body, without the
    /// headers (which carry a fresh signature each time): equal for
    /// identical requests, such as the polls of a wait loop.
    pub request_hash: u64,
}

/// A request as the proxy received it, with the call it was: what a test
/// checks when what matters is what was sent, not only that it was.
#[derive(Debug, Clone)]
pub struct SentRequest {
    pub call: ApiCall,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl SentRequest {
    /// A header's value, when it is there and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_str(&self.headers, name)
    }

    /// The body as JSON (JSON-protocol services: ECS, ECR, CloudWatch Logs).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} sent a body that is not JSON ({e}): {:?}",
                self.call, self.body
            )
        })
    }
}

/// Read-only operations whose names do not start with a read-only verb.
const READ_ONLY_OPERATIONS: &[&str] = &[
    "FilterLogEvents",
    "SimulatePrincipalPolicy",
    "SimulateCustomPolicy",
    "BatchCheckLayerAvailability",
    "DecodeAuthorizationMessage",
];

/// Whether an operation only reads: it starts with Describe/List/Get/
/// BatchGet/Head (S3's HeadBucket, HeadObject), or is one of a few known
/// read-only exceptions.
pub fn is_read_only(operation: &str) -> bool {
    ["Describe", "List", "Get", "BatchGet", "Head"]
        .iter()
        .any(|prefix| operation.starts_with(prefix))
        || READ_ONLY_OPERATIONS.contains(&operation)
}

/// A fault to inject into one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this error in the service's wire format, without
    /// forwarding the call to moto (so it has no effect).
    Error {
        status: u16,
        code: String,
        message: String,
    },
    /// The service's own throttling error: EC2 `RequestLimitExceeded` (503),
    /// IAM/ELBv2/STS `Throttling` (400), JSON services `ThrottlingException`
    /// (400). Not forwarded.
    Throttle,
    /// Forward to moto (so the call takes effect), then close the client's
    /// connection without answering: the client sees a dropped connection
    /// and cannot know whether the call happened.
    DropAfterForward,
    /// Wait this long, then forward normally.
    Delay(Duration),
}

impl Fault {
    /// Shorthand for [`Fault::Error`].
    pub fn error(status: u16, code: &str, message: &str) -> Fault {
        Fault::Error {
            status,
            code: code.to_string(),
            message: message.to_string(),
        }
    }
}

/// Edits a JSON answer of moto before the client sees it.
type Rewriter = Box<dyn FnMut(&mut serde_json::Value) + Send>;

/// Everything the test thread and the proxy share.
#[derive(Default)]
struct State {
    calls: Vec<ApiCall>,
    /// The same calls, with timings (kept apart so `calls` stays cheap to
    /// compare in tests).
    timed: Vec<TimedCall>,
    /// The same calls, with what was sent.
    requests: Vec<SentRequest>,
    latency: Duration,
    /// Per operation, a queue of (remaining uses, fault).
    scripts: HashMap<String, VecDeque<(usize, Fault)>>,
    random: Option<RandomFaults>,
    rewriters: HashMap<String, Rewriter>,
    /// Numbers the request ids of injected errors.
    injected: u64,
}

struct RandomFaults {
    rng: SplitMix64,
    probability: f64,
}

/// The handle to a running proxy; stops it on drop.
pub struct AwsProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl AwsProxy {
    /// Starts a proxy on a free 127.0.0.1 port forwarding to `upstream_url`
    /// (e.g. `MotoServer::url`). It accepts connections when this returns.
    pub fn start(upstream_url: &str) -> AwsProxy {
        let upstream: Uri = upstream_url
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("bad upstream URL {upstream_url:?}: {e}"));
        assert!(
            upstream.scheme_str() == Some("http") && upstream.authority().is_some(),
            "the proxy forwards plain http only; got {upstream_url:?}"
        );
        AwsProxy::serve_for(Some(upstream))
    }

    /// Starts a proxy with no emulator behind it, for runs that must make no
    /// AWS call at all: it still records every call, and answers each one
    /// with a non-retryable error ([`NO_BACKEND`], HTTP 400) in the service's
    /// wire format, so a stray call shows up both in [`AwsProxy::calls`] and
    /// as a failed run. Latency, scripts, random faults and rewriters do not
    /// apply.
    pub fn offline() -> AwsProxy {
        AwsProxy::serve_for(None)
    }

    fn serve_for(upstream: Option<Uri>) -> AwsProxy {
        // Bound here rather than in the thread so the port is known, and
        // already accepting (into the backlog), when `start` returns.
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("proxy cannot bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("proxy cannot read its address: {e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("proxy cannot make its socket non-blocking: {e}"));
        // One current-thread runtime per proxy: the proxy only shuffles bytes
        // to a Python server, and it must not depend on whether (or which)
        // runtime the test itself uses.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("proxy cannot build its tokio runtime: {e}"));
        let state = Arc::new(Mutex::new(State::default()));
        let (shutdown, shutdown_rx) = oneshot::channel();
        let context = Arc::new(Context {
            upstream,
            state: Arc::clone(&state),
            // No connection pooling towards moto: a fresh local connection
            // costs ~0.1 ms, and it rules out the race where moto closes an
            // idle pooled connection just as a request is written to it
            // (which would surface as a spurious 502).
            client: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(0)
                .build_http(),
        });
        let thread = std::thread::Builder::new()
            .name(format!("aws-proxy-{}", addr.port()))
            .spawn(move || runtime.block_on(serve(listener, context, shutdown_rx)))
            .unwrap_or_else(|e| panic!("proxy cannot spawn its thread: {e}"));
        AwsProxy {
            addr,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// All AWS calls so far, in the order they completed (moto's own
    /// `/moto-api/` traffic is forwarded but not recorded).
    pub fn calls(&self) -> Vec<ApiCall> {
        self.lock().calls.clone()
    }

    /// All AWS calls so far with their start and end times, in the order
    /// they completed (like [`AwsProxy::calls`]).
    pub fn timed_calls(&self) -> Vec<TimedCall> {
        self.lock().timed.clone()
    }

    /// The recorded requests of `operation`, with their headers and bodies,
    /// in the order they completed.
    pub fn requests(&self, operation: &str) -> Vec<SentRequest> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.call.operation == operation)
            .cloned()
            .collect()
    }

    /// Forgets the recorded calls (faults, scripts and rewriters stay).
    pub fn clear(&self) {
        let mut state = self.lock();
        state.calls.clear();
        state.timed.clear();
        state.requests.clear();
    }

    /// Recorded calls of operations that may change state. Includes attempts
    /// that got an injected error and so never reached moto: they are still
    /// attempts to mutate. Filter on `fault`/`status` where that matters.
    pub fn mutating_calls(&self) -> Vec<ApiCall> {
        self.lock()
            .calls
            .iter()
            .filter(|call| call.is_mutating())
            .cloned()
            .collect()
    }

    /// Recorded calls that had a fault injected.
    pub fn faulted_calls(&self) -> Vec<ApiCall> {
        self.lock()
            .calls
            .iter()
            .filter(|call| call.fault.is_some())
            .cloned()
            .collect()
    }

    /// How many recorded calls (of any service) had this operation.
    pub fn count(&self, operation: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|call| call.operation == operation)
            .count()
    }

    /// "service:Operation" for every recorded call, handy for snapshots.
    pub fn operations(&self) -> Vec<String> {
        self.lock()
            .calls
            .iter()
            .map(|call| format!("{}:{}", call.service, call.operation))
            .collect()
    }

    /// Adds this latency to every AWS call from now on (default: none).
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// The next `times` calls of `operation` get `fault`. Scripts for the
    /// same operation queue up: `script(op, 1, a); script(op, 1, b)` faults
    /// the next call with `a` and the one after with `b`. Scripts win over
    /// random faults.
    pub fn script(&self, operation: &str, times: usize, fault: Fault) {
        if times > 0 {
            self.lock()
                .scripts
                .entry(operation.to_string())
                .or_default()
                .push_back((times, fault));
        }
    }

    /// From now on each AWS call, with this probability, gets a random
    /// fault: the service's throttling error, a 500 `InternalFailure` or
    /// 503 `ServiceUnavailable`, or `DropAfterForward`. Deterministic for a
    /// seed given the same sequence of calls. A probability of 0 turns
    /// random faults off.
    pub fn set_random_faults(&self, seed: u64, probability: f64) {
        assert!(
            (0.0..=1.0).contains(&probability),
            "probability must be in 0..=1, got {probability}"
        );
        self.lock().random = (probability > 0.0).then_some(RandomFaults {
            rng: SplitMix64(seed),
            probability,
        });
    }

    /// Lets `rewrite` edit moto's successful (2xx) JSON answers to
    /// `operation` before the client sees them; JSON-protocol services only
    /// (ECS, ECR, CloudWatch Logs). Replaces an earlier rewriter of the same
    /// operation. The closure runs on the proxy's thread while the proxy
    /// state is locked: it must not call back into this `AwsProxy`.
    /// `FnMut`, so it can count calls and script a sequence of answers.
    pub fn set_rewriter(
        &self,
        operation: &str,
        rewrite: impl FnMut(&mut serde_json::Value) + Send + 'static,
    ) {
        self.lock()
            .rewriters
            .insert(operation.to_string(), Box::new(rewrite));
    }

    /// Removes the rewriter of `operation`, if any.
    pub fn clear_rewriter(&self, operation: &str) {
        self.lock().rewriters.remove(operation);
    }

    /// Removes latency, scripts, random faults and rewriters (the recorded
    /// calls stay; see [`AwsProxy::clear`]).
    pub fn reset_faults(&self) {
        let mut state = self.lock();
        state.latency = Duration::ZERO;
        state.scripts.clear();
        state.random = None;
        state.rewriters.clear();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

impl Drop for AwsProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            // The accept loop ends at once; dropping the runtime afterwards
            // cancels connection tasks that are still open.
            let _ = thread.join();
        }
    }
}

/// A poisoned lock only means a test thread panicked while holding it; the
/// state is still consistent enough to keep serving and recording.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// The error code an offline proxy ([`AwsProxy::offline`]) answers every
/// AWS call with; also the call's recorded `fault`.
pub const NO_BACKEND: &str = "TestProxyHasNoBackend";

struct Context {
    /// `None` for an offline proxy.
    upstream: Option<Uri>,
    state: Arc<Mutex<State>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

async fn serve(
    listener: std::net::TcpListener,
    context: Arc<Context>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("aws proxy: cannot register its listener with tokio: {e}");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let context = Arc::clone(&context);
                    tokio::spawn(async move {
                        let service = service_fn(move |request| {
                            let context = Arc::clone(&context);
                            async move { handle(&context, request).await }
                        });
                        // An error here is either a client that hung up or
                        // our own DropAfterForward: nothing to report.
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                // E.g. EMFILE under load: back off instead of spinning.
                Err(e) => {
                    eprintln!("aws proxy: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

/// Returned by the service to make hyper close the connection without
/// sending any response: that is how `DropAfterForward` drops.
#[derive(Debug)]
struct DropConnection;

impl fmt::Display for DropConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DropConnection {}

type ProxyResponse = Response<Full<Bytes>>;

/// The wire protocol of a call, which decides how errors are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// awsJson1_1: ECS, ECR, CloudWatch Logs.
    Json,
    /// EC2's dialect of the query protocol (its own error envelope).
    Ec2Query,
    /// awsQuery: IAM, ELBv2, STS.
    Query,
    /// restXml: S3.
    RestXml,
    /// Anything else (REST protocols, unsigned requests).
    Other,
}

async fn handle(
    context: &Context,
    request: Request<Incoming>,
) -> Result<ProxyResponse, DropConnection> {
    let start = Instant::now();
    let (parts, body) = request.into_parts();
    // A client that disconnects mid-body gets nothing back anyway.
    let body = body.collect().await.map_err(|_| DropConnection)?.to_bytes();

    if parts.uri.path().starts_with("/moto-api") {
        return Ok(match forward(context, &parts, body).await {
            Ok(upstream) => upstream.into_response(),
            Err(e) => bad_gateway(&e),
        });
    }

    let (service, protocol, operation) = identify(&parts, &body);
    let request_hash = request_hash(&parts, &body);
    // `Bytes` clones share the buffer: the body is kept without a copy.
    let sent_body = body.clone();
    let sent = |call: ApiCall| SentRequest {
        call,
        headers: parts.headers.clone(),
        body: sent_body.clone(),
    };

    if context.upstream.is_none() {
        let message = "this test runs without an AWS emulator: no AWS call is expected";
        let response = error_response(context, protocol, 400, NO_BACKEND, message);
        let call = ApiCall {
            service,
            operation,
            status: 400,
            fault: Some(NO_BACKEND.to_string()),
        };
        let mut state = lock(&context.state);
        state.calls.push(call.clone());
        state.requests.push(sent(call.clone()));
        state.timed.push(TimedCall {
            call,
            start,
            end: Instant::now(),
            request_hash,
        });
        return Ok(response);
    }

    // Decide everything under one short lock, act on it without the lock.
    let (latency, fault) = {
        let mut state = lock(&context.state);
        let scripted = take_scripted(&mut state, &operation);
        let random = random_fault(&mut state);
        (state.latency, scripted.or(random))
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let record = |status: u16, fault: Option<String>| {
        let call = ApiCall {
            service: service.clone(),
            operation: operation.clone(),
            status,
            fault,
        };
        let end = Instant::now();
        let mut state = lock(&context.state);
        state.calls.push(call.clone());
        state.requests.push(sent(call.clone()));
        state.timed.push(TimedCall {
            call,
            start,
            end,
            request_hash,
        });
    };

    let mut fault_name = None;
    match fault {
        Some(Fault::Error {
            status,
            code,
            message,
        }) => {
            let response = error_response(context, protocol, status, &code, &message);
            record(status, Some(code));
            return Ok(response);
        }
        Some(Fault::Throttle) => {
            let (status, code) = throttle_for(protocol);
            let message = "Rate exceeded (injected by the test proxy)";
            let response = error_response(context, protocol, status, code, message);
            record(status, Some(code.to_string()));
            return Ok(response);
        }
        Some(Fault::DropAfterForward) => {
            let status = match forward(context, &parts, body).await {
                Ok(upstream) => upstream.status.as_u16(),
                Err(e) => {
                    eprintln!("aws proxy: {service}:{operation}: {e}");
                    StatusCode::BAD_GATEWAY.as_u16()
                }
            };
            record(status, Some("DropAfterForward".to_string()));
            return Err(DropConnection);
        }
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            fault_name = Some(format!("Delay({delay:?})"));
        }
        None => {}
    }

    let mut upstream = match forward(context, &parts, body).await {
        Ok(upstream) => upstream,
        Err(e) => {
            // Not an injected fault, but loud: moto died or hung up.
            eprintln!("aws proxy: {service}:{operation}: {e}");
            record(StatusCode::BAD_GATEWAY.as_u16(), fault_name);
            return Ok(bad_gateway(&e));
        }
    };
    if protocol == Protocol::Json && upstream.status.is_success() {
        if let Err(e) = rewrite(context, &operation, &mut upstream) {
            eprintln!("aws proxy: {service}:{operation}: {e}");
            let response = error_response(context, protocol, 500, "TestProxyRewriterFailed", &e);
            record(500, Some("TestProxyRewriterFailed".to_string()));
            return Ok(response);
        }
    }
    record(upstream.status.as_u16(), fault_name);
    Ok(upstream.into_response())
}

/// Works out (service, protocol, operation) of an AWS request.
fn identify(parts: &hyper::http::request::Parts, body: &Bytes) -> (String, Protocol, String) {
    let headers = &parts.headers;
    let target = header_str(headers, "x-amz-target");
    // SigV4: "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-central-1/ec2/aws4_request, ..."
    let service = header_str(headers, header::AUTHORIZATION.as_str())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|credential| credential.split([',', ' ']).next())
        .and_then(|scope| scope.split('/').nth(3))
        .map(str::to_string)
        .unwrap_or_else(|| "unknown".to_string());

    if let Some(target) = target {
        // "AmazonEC2ContainerServiceV20141113.CreateCluster"
        let operation = target.rsplit('.').next().unwrap_or(target);
        return (service, Protocol::Json, operation.to_string());
    }
    if service == "s3" {
        return (service, Protocol::RestXml, s3_operation(parts));
    }
    let action = form_value(body, "Action")
        .or_else(|| form_value(parts.uri.query().unwrap_or("").as_bytes(), "Action"));
    match action {
        Some(action) if service == "ec2" => (service, Protocol::Ec2Query, action),
        Some(action) => (service, Protocol::Query, action),
        None => {
            let operation = match service.as_str() {
                "route53" => route53_operation(parts.method.as_str(), parts.uri.path()),
                _ => None,
            }
            .unwrap_or_else(|| format!("{} {}", parts.method, parts.uri.path()));
            // Route 53 speaks REST-XML, whose errors have the query protocol's envelope.
            let protocol = if service == "route53" {
                Protocol::Query
            } else {
                Protocol::Other
            };
            (service, protocol, operation)
        }
    }
}

/// The operation of a Route 53 (REST) request, by method and path, for the calls deployer makes
/// and the tests' own set-up (see the Route 53 API Reference for each path).
fn route53_operation(method: &str, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let operation = match (method, &parts[..]) {
        ("GET", [_, "hostedzonesbyname"]) => "ListHostedZonesByName",
        ("GET", [_, "hostedzone"]) => "ListHostedZones",
        ("POST", [_, "hostedzone"]) => "CreateHostedZone",
        ("GET", [_, "hostedzone", _]) => "GetHostedZone",
        ("DELETE", [_, "hostedzone", _]) => "DeleteHostedZone",
        ("GET", [_, "hostedzone", _, "rrset"]) => "ListResourceRecordSets",
        ("POST", [_, "hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        ("GET", [_, "change", _]) => "GetChange",
        _ => return None,
    };
    Some(operation.to_owned())
}

/// The S3 operation of a path-style REST request (`/bucket` or `/bucket/key`): the SDK's `x-id`
/// query parameter where it sends one, else the method and the bucket sub-resource.
fn s3_operation(parts: &hyper::http::request::Parts) -> String {
    let query = parts.uri.query().unwrap_or("");
    if let Some(id) = form_value(query.as_bytes(), "x-id") {
        return id;
    }
    let has = |key: &str| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(key))
    };
    let path = parts.uri.path().trim_start_matches('/');
    let method = parts.method.as_str();
    if path.contains('/') && !path.ends_with('/') {
        return match method {
            "GET" => "GetObject",
            "PUT" => "PutObject",
            "DELETE" => "DeleteObject",
            "HEAD" => "HeadObject",
            _ => return format!("{method} /{path}"),
        }
        .to_owned();
    }
    let verb = match method {
        "GET" => "Get",
        "PUT" => "Put",
        "DELETE" => "Delete",
        _ => "",
    };
    for (key, name) in [
        ("versioning", "BucketVersioning"),
        ("encryption", "BucketEncryption"),
        ("publicAccessBlock", "PublicAccessBlock"),
        ("policy", "BucketPolicy"),
        ("location", "BucketLocation"),
        ("tagging", "BucketTagging"),
    ] {
        if has(key) && !verb.is_empty() {
            return format!("{verb}{name}");
        }
    }
    match method {
        "HEAD" => "HeadBucket".to_owned(),
        "PUT" => "CreateBucket".to_owned(),
        "DELETE" => "DeleteBucket".to_owned(),
        "GET" => "ListObjects".to_owned(),
        _ => format!("{method} /{path}"),
    }
}

/// See [`TimedCall::request_hash`].
fn request_hash(parts: &hyper::http::request::Parts, body: &Bytes) -> u64 {
    let mut hasher = DefaultHasher::new();
    parts.method.as_str().hash(&mut hasher);
    parts.uri.path().hash(&mut hasher);
    parts.uri.query().unwrap_or("").hash(&mut hasher);
    body.hash(&mut hasher);
    hasher.finish()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The decoded value of `key` in an `application/x-www-form-urlencoded` body.
fn form_value(form: &[u8], key: &str) -> Option<String> {
    form.split(|&b| b == b'&').find_map(|pair| {
        let mut kv = pair.splitn(2, |&b| b == b'=');
        let k = kv.next()?;
        (k == key.as_bytes()).then(|| percent_decode(kv.next().unwrap_or(b"")))
    })
}

fn percent_decode(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < input.len() => {
                let hex = std::str::from_utf8(&input[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn take_scripted(state: &mut State, operation: &str) -> Option<Fault> {
    let queue = state.scripts.get_mut(operation)?;
    let (remaining, fault) = queue.front_mut()?;
    let fault = fault.clone();
    *remaining -= 1;
    if *remaining == 0 {
        queue.pop_front();
    }
    Some(fault)
}

fn random_fault(state: &mut State) -> Option<Fault> {
    let random = state.random.as_mut()?;
    // Always draw both numbers, so whether and how a call is faulted depends
    // only on its position in the call sequence.
    let roll = random.rng.next_f64();
    let kind = random.rng.next_u64();
    if roll >= random.probability {
        return None;
    }
    // A third each: throttling, a server error, a dropped connection.
    Some(match (kind % 3, kind / 3 % 2) {
        (0, _) => Fault::Throttle,
        (1, 0) => Fault::error(500, "InternalFailure", "injected internal failure"),
        (1, _) => Fault::error(503, "ServiceUnavailable", "injected unavailability"),
        _ => Fault::DropAfterForward,
    })
}

/// The throttling error each service really sends.
fn throttle_for(protocol: Protocol) -> (u16, &'static str) {
    match protocol {
        Protocol::Ec2Query => (503, "RequestLimitExceeded"),
        Protocol::Query => (400, "Throttling"),
        // S3 answers a request rate it cannot take with 503 SlowDown.
        Protocol::RestXml => (503, "SlowDown"),
        Protocol::Json | Protocol::Other => (400, "ThrottlingException"),
    }
}

/// An AWS error in the wire format of `protocol`, so the SDK's own
/// deserializer sees the intended code and message.
fn error_response(
    context: &Context,
    protocol: Protocol,
    status: u16,
    code: &str,
    message: &str,
) -> ProxyResponse {
    let request_id = {
        let mut state = lock(&context.state);
        state.injected += 1;
        format!("00000000-0000-4000-8000-{:012x}", state.injected)
    };
    let (content_type, body) = match protocol {
        Protocol::Json | Protocol::Other => (
            "application/x-amz-json-1.1",
            serde_json::json!({ "__type": code, "message": message }).to_string(),
        ),
        Protocol::Ec2Query => (
            "text/xml;charset=UTF-8",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>\
                 <Code>{}</Code><Message>{}</Message></Error></Errors>\
                 <RequestID>{request_id}</RequestID></Response>",
                xml_escape(code),
                xml_escape(message)
            ),
        ),
        Protocol::RestXml => (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code>\
                 <Message>{}</Message><RequestId>{request_id}</RequestId></Error>",
                xml_escape(code),
                xml_escape(message)
            ),
        ),
        Protocol::Query => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>{}</Type><Code>{}</Code>\
                 <Message>{}</Message></Error><RequestId>{request_id}</RequestId>\
                 </ErrorResponse>",
                if status >= 500 { "Receiver" } else { "Sender" },
                xml_escape(code),
                xml_escape(message)
            ),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    if protocol == Protocol::Json {
        if let Ok(code) = HeaderValue::from_str(code) {
            headers.insert("x-amzn-errortype", code);
        }
    }
    response
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn bad_gateway(error: &str) -> ProxyResponse {
    let mut response = Response::new(Full::new(Bytes::from(format!("aws proxy: {error}"))));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}

/// Moto's answer, buffered.
struct Upstream {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Upstream {
    fn into_response(self) -> ProxyResponse {
        let mut response = Response::new(Full::new(self.body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

/// Headers that describe one hop (or a body encoding we undo by
/// buffering) and so must not be copied to the next hop. `Expect` is here
/// because we already have the whole body. `Content-Length` is recomputed by
/// hyper from the buffered body, which also keeps it right after a rewrite.
fn is_hop_header(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
        header::EXPECT,
        header::CONTENT_LENGTH,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

fn copy_headers(from: &HeaderMap) -> HeaderMap {
    let mut to = HeaderMap::with_capacity(from.len());
    for (name, value) in from {
        if !is_hop_header(name) {
            to.append(name.clone(), value.clone());
        }
    }
    to
}

/// Sends the request to moto unchanged (same method, path, query, headers
/// including `Host`, and body) and buffers the answer.
async fn forward(
    context: &Context,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<Upstream, String> {
    let Some(upstream) = &context.upstream else {
        return Err("the proxy has no backend (offline)".to_string());
    };
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let uri = format!(
        "http://{}{path_and_query}",
        upstream
            .authority()
            .map_or("", |authority| authority.as_str())
    );
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = uri
        .parse()
        .map_err(|e| format!("cannot build upstream URI {uri:?}: {e}"))?;
    // Includes the client's Host header, which hyper-util keeps (it only
    // fills Host in when absent): moto routes by Host first, then by the
    // SigV4 scope, and the signature covers Host.
    *request.headers_mut() = copy_headers(&parts.headers);
    let response = context
        .client
        .request(request)
        .await
        .map_err(|e| format!("moto did not answer: {e:?}"))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("moto's answer broke off: {e}"))?
        .to_bytes();
    Ok(Upstream {
        status: parts.status,
        headers: copy_headers(&parts.headers),
        body,
    })
}

/// Applies the operation's rewriter, if any, to a JSON answer.
fn rewrite(context: &Context, operation: &str, upstream: &mut Upstream) -> Result<(), String> {
    let mut state = lock(&context.state);
    let Some(rewriter) = state.rewriters.get_mut(operation) else {
        return Ok(());
    };
    let mut value: serde_json::Value = serde_json::from_slice(&upstream.body)
        .map_err(|e| format!("moto's answer is not JSON, cannot rewrite it: {e}"))?;
    // A panicking rewriter (e.g. a failed assert in it) must become a clear
    // error rather than silently killing the connection task.
    std::panic::catch_unwind(AssertUnwindSafe(|| rewriter(&mut value)))
        .map_err(|_| format!("the rewriter of {operation} panicked"))?;
    drop(state);
    upstream.body = Bytes::from(value.to_string());
    // A checksum of moto's original body would no longer match.
    upstream.headers.remove("x-amz-crc32");
    Ok(())
}

/// SplitMix64: a tiny, well-mixed PRNG, enough for reproducible fault
/// sequences without an extra dependency.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
