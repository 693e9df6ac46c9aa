"""The run log's parts; `swrun.runlog` is the face the rest of swrun imports."""
