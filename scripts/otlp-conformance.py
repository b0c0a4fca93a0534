#!/usr/bin/env python3
"""Checks an OTLP/HTTP JSON body (on stdin) against the official OpenTelemetry protobuf definitions.

    python3 scripts/otlp-conformance.py < payload.json

Parses it with google.protobuf.json_format.Parse into an ExportMetricsServiceRequest (unknown fields
are an error), checks what l2met promises about it (service.name, one scope `l2met`, data points with
times, summary quantiles 0..1 ascending with 0 = min and 1 = max, delta monotonic sums), and prints
one JSON line per data point as protobuf read it:
  {"metric", "unit", "type", "source", "start", "time", "count", "sum", "quantiles", "value"}
Exit status: 0 conforming, 1 not conforming (reason on stderr), 3 python packages missing.
Needs the PyPI packages `opentelemetry-proto` and `protobuf`.
"""
import json
import sys

try:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
except ImportError as error:
    sys.stderr.write("missing Python package (%s): install with `python3 -m pip install opentelemetry-proto protobuf`\n" % error)
    sys.exit(3)


def fail(why):
    sys.stderr.write("not conforming: %s\n" % why)
    sys.exit(1)


def attributes(kvs):
    out = {}
    for kv in kvs:
        if kv.value.WhichOneof("value") != "string_value":
            fail("attribute %s is not a string" % kv.key)
        out[kv.key] = kv.value.string_value
    return out


def main():
    text = sys.stdin.read()
    request = ExportMetricsServiceRequest()
    try:
        json_format.Parse(text, request, ignore_unknown_fields=False)
    except json_format.ParseError as error:
        fail("protobuf json_format refused it: %s" % error)
    if len(request.resource_metrics) != 1:
        fail("expected one ResourceMetrics, got %d" % len(request.resource_metrics))
    rm = request.resource_metrics[0]
    resource = attributes(rm.resource.attributes)
    if not resource.get("service.name"):
        fail("resource has no service.name")
    if len(rm.scope_metrics) != 1 or rm.scope_metrics[0].scope.name != "l2met":
        fail("expected the one scope l2met")
    seen = set()
    points = []
    for metric in rm.scope_metrics[0].metrics:
        kind = metric.WhichOneof("data")
        identity = (metric.name, kind, metric.unit)
        if identity in seen:
            fail("metric %s appears twice" % (identity,))
        seen.add(identity)
        if kind == "summary":
            dps = metric.summary.data_points
        elif kind == "sum":
            if metric.sum.aggregation_temporality != AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA:
                fail("sum %s is not delta" % metric.name)
            if not metric.sum.is_monotonic:
                fail("sum %s is not monotonic" % metric.name)
            dps = metric.sum.data_points
        elif kind == "gauge":
            dps = metric.gauge.data_points
        else:
            fail("metric %s has unexpected data %s" % (metric.name, kind))
        if len(dps) == 0:
            fail("metric %s has no data points" % metric.name)
        for dp in dps:
            if dp.start_time_unix_nano == 0 or dp.time_unix_nano <= dp.start_time_unix_nano:
                fail("data point of %s has bad times" % metric.name)
            attrs = attributes(dp.attributes)
            if set(attrs) - {"source"}:
                fail("unexpected attributes %s" % sorted(attrs))
            if "source" in attrs and attrs["source"] == "":
                fail("empty source attribute")
            point = {"metric": metric.name, "unit": metric.unit, "type": kind, "source": attrs.get("source", ""),
                     "start": str(dp.start_time_unix_nano), "time": str(dp.time_unix_nano)}
            if kind == "summary":
                qs = [(q.quantile, q.value) for q in dp.quantile_values]
                if [q for q, _ in qs] != [0.0, 0.5, 0.95, 0.99, 1.0]:
                    fail("summary %s quantiles are %s" % (metric.name, [q for q, _ in qs]))
                values = [v for _, v in qs]
                if values != sorted(values):
                    fail("summary %s quantile values are not ascending" % metric.name)
                if dp.count == 0:
                    fail("summary %s has count 0" % metric.name)
                point.update(count=str(dp.count), sum=dp.sum, quantiles=[[q, v] for q, v in qs])
            else:
                if dp.WhichOneof("value") != "as_double":
                    fail("%s point is not as_double" % metric.name)
                point["value"] = dp.as_double
            points.append(point)
    print(json.dumps({"service.name": resource["service.name"], "scope.version": rm.scope_metrics[0].scope.version}))
    for p in points:
        print(json.dumps(p, sort_keys=True))


main()
