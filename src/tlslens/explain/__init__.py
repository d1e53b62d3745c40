"""Narration, split by topic: hellos, key exchange, certificates, keys, the summary.

Pure: a ``Connection`` in, plain-text ``Step``s and lines out; the CLI and the
HTML report decide how they look.
"""

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
