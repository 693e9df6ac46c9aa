"""`swrun timeline --format otlp LOG…`: each finished (or unfinished) log exported as the
OpenTelemetry trace a live run with OTEL_EXPORTER_OTLP_ENDPOINT set would have made."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from swrun.errors import UsageError
from swrun.exitcodes import ExitCode
from swrun.runlog import LogData


def export(logs: Sequence[LogData]) -> ExitCode:
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        raise UsageError("timeline --format otlp: set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. "
                         "http://localhost:4318) to say where the traces go")
    from swrun.otel import export_logs, trace_id_of

    count, errors = export_logs(logs)
    for error in errors[:5]:
        print(f"swrun: warning: OTLP export: {error}", file=sys.stderr)
    traces = ", ".join(f"{d.run.get('id')}={trace_id_of(str(d.run.get('id'))):032x}"
                       for d in logs)
    print(f"swrun: exported {count} span(s) of {len(logs)} run(s) to {endpoint} "
          f"(trace ids: {traces})", file=sys.stderr)
    return ExitCode.STEP_FAILED if errors else ExitCode.OK
