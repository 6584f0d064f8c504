"""Emits log records with the OpenTelemetry Python SDK and prints what it sent.

Usage: send_logs.py --protocol http|grpc --endpoint URL --tenant ID --service NAME

Python `logging` records go through the SDK's LoggingHandler to its real OTLP log
exporter (HTTP/protobuf or gRPC) and, at the same time, to an in-memory exporter; two of
them are logged inside a span, so they carry its trace context. The in-memory copy is
printed as JSON on stdout so the caller can compare what the server stored with what the
SDK sent.
"""

import argparse
import json
import logging

from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


def exporter(protocol, endpoint, tenant):
    headers = {"x-scope-orgid": tenant}
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter(endpoint=endpoint, insecure=True, headers=headers)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return OTLPLogExporter(endpoint=endpoint + "/v1/logs", headers=headers)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--protocol", required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--tenant", required=True)
    p.add_argument("--service", required=True)
    a = p.parse_args()

    resource = Resource.create(
        {"service.name": a.service, "deployment.environment": "test", "host.name": "py-host"}
    )
    provider = LoggerProvider(resource=resource)
    memory = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(exporter(a.protocol, a.endpoint, a.tenant))
    )
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    log = logging.getLogger("shop.checkout")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)

    tracer = TracerProvider(resource=resource).get_tracer("shop.checkout")
    log.info("service started", extra={"version": "1.2.3"})
    with tracer.start_as_current_span("POST /checkout"):
        log.warning("cart is large", extra={"cart.items": 42})
        log.error("payment declined for order 1234", extra={"order.id": "1234"})
    log.debug("idle")

    provider.force_flush()
    sent = []
    for r in memory.get_finished_logs():
        rec = getattr(r, "log_record", r)
        sent.append(
            {
                "body": rec.body,
                "timestamp": rec.timestamp,
                "severity_text": rec.severity_text,
                "severity_number": rec.severity_number.value if rec.severity_number else 0,
                "trace_id": format(rec.trace_id, "032x") if rec.trace_id else "",
                "span_id": format(rec.span_id, "016x") if rec.span_id else "",
                "attributes": {
                    k: v
                    for k, v in (rec.attributes or {}).items()
                    if k in ("version", "cart.items", "order.id")
                },
            }
        )
    provider.shutdown()
    print(json.dumps(sent))


if __name__ == "__main__":
    main()
