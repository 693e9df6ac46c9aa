"""Evidence a change board accepts: the run log's hash chain, SSH signatures over it
(`ssh-keygen -Y`, as git signs commits), `swrun verify`, four-eyes approvals and bundles.

Nothing here imports textual or a backend library; signing and checking signatures run
`ssh-keygen`, so the keys and `allowed_signers` files operators keep for git work as they are.
"""

from __future__ import annotations

LOG_NAMESPACE = "swrun"
"""The `ssh-keygen -Y` namespace of a run log's signature."""
APPROVAL_NAMESPACE = "swrun-approval"
"""The namespace of an approval: a log signature can never pass for an approval."""
NO_ALLOWED_SIGNERS = ("no allowed_signers file says whose keys count (allowed_signers in the "
                      "front matter, SWRUN_ALLOWED_SIGNERS, or git's "
                      "gpg.ssh.allowedSignersFile)")
"""Said by the engine and by the pre-flights when a step needs approval and no file says whose
keys count."""
