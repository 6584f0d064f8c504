//! OTLP traces over gRPC: a tonic client against the served gRPC listener on loopback.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::trace::v1::Span;
use oxeye_core::trace::TraceQueryable;
use oxeye_core::trace_mem::MemTraceStore;
use oxeye_core::{StoreError, TenantId};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::traces_ingest_http::{Failing, request, span, trace_state};
use crate::ServerState;

/// Serves OTLP/gRPC for `state` on an ephemeral loopback port; returns a connected client.
async fn serve(
    state: Arc<ServerState>,
) -> (
    TraceServiceClient<tonic::transport::Channel>,
    CancellationToken,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let token = CancellationToken::new();
    tokio::spawn(crate::otlp::serve_grpc(state, listener, token.clone()));
    let client = TraceServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    (client, token)
}

#[tokio::test]
async fn export_over_loopback_with_tenant_metadata() {
    let store = Arc::new(MemTraceStore::new());
    let (s, seen) = trace_state(store.clone());
    let (mut client, token) = serve(s).await;

    let mut req = tonic::Request::new(request("grpc-svc", vec![span(1, 1, "rpc")]));
    req.metadata_mut()
        .insert("x-scope-orgid", "grpc-team".parse().unwrap());
    let resp = client.export(req).await.unwrap().into_inner();
    assert_eq!(resp.partial_success, None);
    let t = store
        .trace_by_id(&TenantId::new("grpc-team").unwrap(), &[1; 16], None)
        .unwrap()
        .expect("stored for the tenant of the metadata");
    assert_eq!(
        t.resource_spans[0].resource.service_name(),
        Some("grpc-svc")
    );
    assert!(
        store
            .trace_by_id(&TenantId::new("anonymous").unwrap(), &[1; 16], None)
            .unwrap()
            .is_none()
    );

    // without metadata: the default tenant; a bad span is a partial success
    let bad = Span {
        trace_id: vec![2; 3],
        ..span(2, 2, "short-trace-id")
    };
    let resp = client
        .export(request("grpc-svc", vec![span(2, 1, "ok"), bad]))
        .await
        .unwrap()
        .into_inner();
    let partial = resp.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("short-trace-id"),
        "{}",
        partial.error_message
    );
    assert!(
        store
            .trace_by_id(&TenantId::new("anonymous").unwrap(), &[2; 16], None)
            .unwrap()
            .is_some()
    );

    // an invalid tenant is InvalidArgument
    let mut req = tonic::Request::new(request("grpc-svc", vec![span(3, 1, "rpc")]));
    req.metadata_mut()
        .insert("x-scope-orgid", "a/b".parse().unwrap());
    let err = client.export(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("X-Scope-OrgID"), "{}", err.message());
    assert_eq!(
        *seen.lock(),
        vec![("grpc-team".to_string(), 1), ("anonymous".to_string(), 1)]
    );
    token.cancel();
}

#[tokio::test]
async fn store_errors_map_to_grpc_codes() {
    let (s, _) = trace_state(Arc::new(Failing(|| {
        StoreError::LimitExceeded("too many spans".into())
    })));
    let (mut client, token) = serve(s).await;
    let err = client
        .export(request("svc", vec![span(1, 1, "a")]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    assert!(err.message().contains("too many spans"));
    token.cancel();

    let (s, _) = trace_state(Arc::new(Failing(|| {
        StoreError::Unavailable("closing".into())
    })));
    let (mut client, token) = serve(s).await;
    let err = client
        .export(request("svc", vec![span(1, 1, "a")]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    token.cancel();
}
