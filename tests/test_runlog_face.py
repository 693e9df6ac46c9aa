"""The run log's parts live in swrun/log/; the names swrun, tests and bench import from
swrun.runlog stay importable there, as the same objects."""

from __future__ import annotations

from swrun import runlog
from swrun.log import discovery, reader, resumestate, sidecars, writer


def test_the_runlog_face_keeps_its_names() -> None:
    for name in runlog.__all__:
        assert hasattr(runlog, name), name
    assert runlog.RunLog is writer.RunLog
    assert runlog.read_log is reader.read_log
    assert runlog.parse_bytes is reader.parse_bytes
    assert runlog.SCHEMA_VERSION == reader.SCHEMA_VERSION
    assert runlog.find_logs is discovery.find_logs
    assert runlog.resume_state is resumestate.resume_state
    assert runlog._sidecar_name is sidecars._sidecar_name
