"""The engine's parts; `swrun.engine` is the face the rest of swrun imports. Each
_Part is a mixin of `Engine` (method bodies moved unchanged; `self` is the Engine).

    operator.py    what the engine asks a person: Decision, Answer, OperatorNeeded, Operator
    clock.py       the clocks the engine reads (tests replace `_now` and `_monotonic` here)
    milestones.py  _Milestones: a step's or a section's milestone reached, each logged once
    texts.py       _Texts: a step's command and where it acts, values filled in, secrets masked
    carried.py     _Carried: carried shell state, a step's environment and StepContext
    approvals.py   _Approvals: four-eyes approval, waiting for the approvals a step needs
    attempts.py    _Attempts: a step's attempts and retries, its process announced, check mode
    rollback.py    _Rollback: the rollback pass, asking first for the values only it uses
    asking.py      _Asking: waiting for the operator's answer, and what the answer logs
"""
