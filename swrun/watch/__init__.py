"""`swrun watch`: follow a live run from another terminal, read-only (docs/team.md).

`tail` reads the log and its output sidecar as they grow, `status` says where the run is,
`feed` is the `--plain` text feed, `app` the console. Only `app` imports Textual.
"""
