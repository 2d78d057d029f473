//! The tower layer around the gRPC services. It looks up the RPC's access rule, admits or
//! refuses the request, puts the `Principal` and the request's `RequestOrigin` into the request
//! extensions and writes the rate-limit headers of the answer.

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::extract::ConnectInfo;
use http::{Request, Response, header};
use tonic::{Status, body::Body};
use tower::{Layer, Service};

use super::gate::Gate;
use crate::{
    domain::origin::RequestOrigin,
    grpc::{client_address::ClientAddresses, errors::normalize},
    metrics::Protocol,
};

#[derive(Clone)]
pub struct AuthLayer {
    gate: Arc<Gate>,
    addresses: Arc<ClientAddresses>,
}

impl AuthLayer {
    pub fn new(gate: Arc<Gate>, addresses: ClientAddresses) -> Self {
        Self {
            gate,
            addresses: Arc::new(addresses),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            gate: self.gate.clone(),
            addresses: self.addresses.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    gate: Arc<Gate>,
    addresses: Arc<ClientAddresses>,
    inner: S,
}

impl<S> Service<Request<Body>> for AuthService<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let gate = self.gate.clone();
        let addresses = self.addresses.clone();
        // The readied service handles this request; a fresh clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            // Only read for the metrics, and only when they are on: this is every request's path.
            let observed = gate.metrics.is_enabled().then(|| {
                let path = request.uri().path().to_owned();
                let protocol = protocol_of(&path, request.extensions().get::<Protocol>());
                (std::time::Instant::now(), path, protocol)
            });
            let response = admit_and_call(&gate, &addresses, &mut inner, request).await;
            if let Some((started, path, protocol)) = observed {
                // Unary RPCs answer errors trailers-only: a status in the headers is the outcome.
                let code = Status::from_header_map(response.headers())
                    .map_or(tonic::Code::Ok, |status| status.code());
                gate.metrics
                    .request(&path, protocol, code, started.elapsed());
            }
            Ok(response)
        })
    }
}

/// The door of a request: as the dispatcher marked it, and an Envoy check is the gateway's.
fn protocol_of(path: &str, marked: Option<&Protocol>) -> Protocol {
    if path.starts_with(ENVOY_AUTHORIZATION) {
        return Protocol::Gateway;
    }
    marked.copied().unwrap_or(Protocol::Grpc)
}

const ENVOY_AUTHORIZATION: &str = "/envoy.service.auth.v3.Authorization/";

async fn admit_and_call<S>(
    gate: &Gate,
    addresses: &ClientAddresses,
    inner: &mut S,
    mut request: Request<Body>,
) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    // The peer reaches REST requests too: the transcoder carries the extensions over.
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let headers = request.headers();
    let client = || addresses.client_ip(peer, headers);
    // Read here, where the peer and the trusted proxies are known, so a use case gets where its
    // request came from without knowing the transport.
    let origin = RequestOrigin::new(
        client().map(|ip| ip.to_string()),
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    );
    match gate.admit(request.uri().path(), headers, client).await {
        Ok(mut admission) => {
            if let Some(principal) = admission.principal.take() {
                request.extensions_mut().insert(principal);
            }
            request.extensions_mut().insert(origin);
            let Ok(response) = inner.call(request).await;
            // Unary services answer errors trailers-only, so the status is in the
            // headers. An error gets the contract's ErrorInfo if it came from tonic
            // itself, and does not use up the key's day.
            let Some(status) = Status::from_header_map(response.headers())
                .filter(|status| status.code() != tonic::Code::Ok)
            else {
                let mut response = response;
                response.headers_mut().extend(admission.response_headers());
                return response;
            };
            if let Some(counted) = admission.counted {
                gate.refund(counted).await;
                if let Some(budget) = admission.budget.as_mut() {
                    budget.remaining = (budget.remaining + 1).min(budget.limit);
                }
            }
            let mut response = normalize(status).into_http();
            response.headers_mut().extend(admission.response_headers());
            response
        }
        Err(err) => Status::from(err).into_http(),
    }
}
