"""Narration, split by topic: hellos, key exchange, certificates, keys, the summary.

Pure: a ``Connection`` in, plain-text ``Step``s and lines out; the CLI and the
HTML report decide how they look.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlslens._lazy import lazy_names

if TYPE_CHECKING:
    from tlslens.explain.chain import (
        certificate_lines,
        describe_ocsp,
        late_intermediate_lines,
        path_tree,
        trust_lines,
    )
    from tlslens.explain.derivation import (
        ForwardSecrecyTally,
        decryption_status,
        decryption_summary,
        key_steps,
    )
    from tlslens.explain.framing import record_lines
    from tlslens.explain.summary import ResumptionSavings, carried_over, summary_lines
    from tlslens.explain.timeline import explain
    from tlslens.explain.vocabulary import Step, describe_cipher_suite

# Imported when asked for: `show --json` needs the tallies (derivation, summary, chain)
# but not the narration (timeline, hello, key exchange, framing).
_WHERE = {
    "ForwardSecrecyTally": "tlslens.explain.derivation",
    "ResumptionSavings": "tlslens.explain.summary",
    "Step": "tlslens.explain.vocabulary",
    "carried_over": "tlslens.explain.summary",
    "certificate_lines": "tlslens.explain.chain",
    "decryption_status": "tlslens.explain.derivation",
    "decryption_summary": "tlslens.explain.derivation",
    "describe_cipher_suite": "tlslens.explain.vocabulary",
    "describe_ocsp": "tlslens.explain.chain",
    "explain": "tlslens.explain.timeline",
    "key_steps": "tlslens.explain.derivation",
    "late_intermediate_lines": "tlslens.explain.chain",
    "path_tree": "tlslens.explain.chain",
    "record_lines": "tlslens.explain.framing",
    "summary_lines": "tlslens.explain.summary",
    "trust_lines": "tlslens.explain.chain",
}

__all__ = [
    "ForwardSecrecyTally",
    "ResumptionSavings",
    "Step",
    "carried_over",
    "certificate_lines",
    "decryption_status",
    "decryption_summary",
    "describe_cipher_suite",
    "describe_ocsp",
    "explain",
    "key_steps",
    "late_intermediate_lines",
    "path_tree",
    "record_lines",
    "summary_lines",
    "trust_lines",
]

__getattr__, __dir__ = lazy_names(__name__, _WHERE)
