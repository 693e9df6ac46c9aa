"""The run log's parts; `swrun.runlog` is the face the rest of swrun imports.

    writer.py       RunLog: create (header linked into place) or continue a log (torn tail
                    repaired), append one fsynced table per event with the chain's `prev`
    sidecars.py     step output files: their names, the sum of what one holds, closing one
    lock.py         the log's own flock, and who holds it
    reader.py       read_log/parse_bytes: framing, torn tail, limits, schema; peek_header
    keys.py         the type of each key swrun writes, checked on every read
    discovery.py    default_log_path, find_logs, find_unfinished
    resumestate.py  resume_state: what a resumed run takes from its log
"""
