"""Exports a small trace with the OpenTelemetry Python SDK and prints what it sent.

Usage: send_traces.py --protocol http|grpc --endpoint URL --tenant ID --service NAME

The spans go through the SDK's real OTLP exporter (HTTP/protobuf or gRPC) and, at the
same time, into an in-memory exporter; the in-memory copy is printed as JSON on stdout
so the caller can compare what the server stored with what the SDK sent.
"""

import argparse
import json
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode


def exporter(protocol, endpoint, tenant):
    headers = {"x-scope-orgid": tenant}
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint, insecure=True, headers=headers)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint + "/v1/traces", headers=headers)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--protocol", required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--tenant", required=True)
    p.add_argument("--service", required=True)
    a = p.parse_args()

    provider = TracerProvider(
        resource=Resource.create({"service.name": a.service, "deployment.environment": "test"})
    )
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(SimpleSpanProcessor(exporter(a.protocol, a.endpoint, a.tenant)))
    tracer = provider.get_tracer("shop.checkout", "1.2.3")

    with tracer.start_as_current_span("warmup") as other:
        other.set_attribute("phase", "warmup")
    linked = other.get_span_context()

    with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.request.method", "POST")
        root.set_attribute("http.response.status_code", 502)
        root.set_attribute("retry.ratio", 0.25)
        root.set_attribute("feature.enabled", True)
        root.set_attribute("cart.items", ["apple", "pear"])
        root.add_event("cache miss", {"cache.key": "cart:42", "attempt": 2})
        with tracer.start_as_current_span(
            "SELECT carts", kind=SpanKind.CLIENT, links=[Link(linked, {"link.reason": "warmup"})]
        ) as db:
            db.set_attribute("db.system", "postgresql")
            db.set_status(Status(StatusCode.OK))
        with tracer.start_as_current_span("charge card", kind=SpanKind.INTERNAL) as charge:
            charge.set_attribute("payment.amount", 1999)
            charge.set_status(Status(StatusCode.ERROR, "card declined"))
        root.set_status(Status(StatusCode.ERROR, "upstream failed"))

    provider.force_flush()
    provider.shutdown()

    def attrs(m):
        out = {}
        for k, v in (m or {}).items():
            out[k] = list(v) if isinstance(v, tuple) else v
        return out

    spans = []
    for s in memory.get_finished_spans():
        ctx = s.get_span_context()
        spans.append(
            {
                "trace_id": format(ctx.trace_id, "032x"),
                "span_id": format(ctx.span_id, "016x"),
                "parent_span_id": format(s.parent.span_id, "016x") if s.parent else "",
                "name": s.name,
                # the SDK numbers kinds from 0 (internal); OTLP from 1
                "kind": s.kind.value + 1,
                "start": s.start_time,
                "end": s.end_time,
                "attributes": attrs(s.attributes),
                "events": [
                    {"name": e.name, "time": e.timestamp, "attributes": attrs(e.attributes)}
                    for e in s.events
                ],
                "links": [
                    {
                        "trace_id": format(l.context.trace_id, "032x"),
                        "span_id": format(l.context.span_id, "016x"),
                        "attributes": attrs(l.attributes),
                    }
                    for l in s.links
                ],
                "status_code": s.status.status_code.value,
                "status_message": s.status.description or "",
                "scope": s.instrumentation_scope.name,
            }
        )
    json.dump(spans, sys.stdout)


if __name__ == "__main__":
    main()
