"""The path from the leaf up, issuer by issuer, and what the certificates as sent say about it.

Strategy: RFC 5280 §6 checks a path; it leaves finding one to the relying party (RFC 4158
describes how clients build them). Like a client, the walk looks for each certificate's
issuer first among the certificates sent (by name, then by signature), then among those
lent to the path (a client's chain may use the server's intermediates), and last in the
trust store. Where no issuer is found the walk stops and names the gap. Problems are
(code, message) pairs, in the order ``validate`` reports them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography import x509

from tlslens._text import plural
from tlslens.x509.names import issuer_key, subject_text
from tlslens.x509.signature import self_signed, signed_by
from tlslens.x509.trust import TrustStore

# No real chain comes near this many certificates; the bound keeps a hostile chain from
# costing a signature check per step for long.
_LONGEST_WALK = 10


@dataclass(slots=True)
class Walk:
    path: list[x509.Certificate]  # leaf first, the last certificate found at the top
    order: list[int]  # indices of the sent certificates, in path order
    in_store: bool = False  # the top of the path is a trust anchor
    unknown_root: str | None = None  # the issuer named by the top of the path, not found
    missing_issuer: x509.Certificate | None = None  # the path's top, whose issuer was not found
    problems: list[tuple[str, str]] = field(default_factory=list)


def walk_path(
    sent: Sequence[x509.Certificate],
    lent: Sequence[x509.Certificate],
    store: TrustStore,
    seen_elsewhere: Mapping[bytes, x509.Certificate],
) -> Walk:
    """Walk up from ``sent[0]`` (the leaf) to a self-signed certificate or a root of ``store``.

    ``seen_elsewhere``: other connections' certificates by issuer key, which can explain a
    gap in the path (never close it)."""
    walk = Walk(path=[sent[0]], order=[0])
    current = sent[0]
    while len(walk.path) < _LONGEST_WALK:
        if self_signed(current):
            walk.in_store = store.contains(current)
            break
        issuer = _sent_or_lent_issuer(walk, current, sent, lent)
        if issuer is not None:
            walk.path.append(issuer)
            current = issuer
            continue
        root = next((r for r in store.by_subject(current.issuer) if signed_by(current, r)), None)
        if root is not None:
            walk.path.append(root)
            walk.in_store = True
        else:
            _issuer_not_found(walk, current, seen_elsewhere)
        break
    walk.problems.extend(_order_problems(walk, sent, store.name))
    return walk


def _sent_or_lent_issuer(
    walk: Walk,
    current: x509.Certificate,
    sent: Sequence[x509.Certificate],
    lent: Sequence[x509.Certificate],
) -> x509.Certificate | None:
    """The issuer of ``current`` among the certificates sent (not yet on the path), noted in
    ``walk.order``; else among those lent; None when neither holds it."""
    index = next(
        (
            i
            for i, cert in enumerate(sent)
            if i not in walk.order and cert.subject == current.issuer and signed_by(current, cert)
        ),
        None,
    )
    if index is not None:
        walk.order.append(index)
        return sent[index]
    return next(
        (
            cert
            for cert in lent
            if cert not in walk.path and cert.subject == current.issuer and signed_by(current, cert)
        ),
        None,
    )


def _issuer_not_found(
    walk: Walk, current: x509.Certificate, seen_elsewhere: Mapping[bytes, x509.Certificate]
) -> None:
    issuer_name = current.issuer.rfc4514_string()
    walk.missing_issuer = current
    message = f"the issuer of {subject_text(current)}, {issuer_name}, was not sent"
    if len(walk.path) == 1:
        # Only the leaf was sent and its issuer is no root: the classic forgotten intermediate.
        walk.problems.append(
            ("missing_intermediate", message + ", and it is not a root of the store.")
        )
    else:
        walk.unknown_root = issuer_name
    elsewhere = intermediate_elsewhere(current, seen_elsewhere)
    if elsewhere is not None:
        walk.problems.append(
            (
                "intermediate_elsewhere_in_capture",
                f"{issuer_name} does appear in another connection of this capture, as an "
                f"intermediate CA issued by {elsewhere.issuer.rfc4514_string()}: the server "
                "forgot it here, and clients that cached it will still connect.",
            )
        )


def intermediate_elsewhere(
    child: x509.Certificate, seen_elsewhere: Mapping[bytes, x509.Certificate]
) -> x509.Certificate | None:
    """The certificate of another connection that issued ``child``, whose issuer this
    chain lacks: it can explain the gap, never change the verdict. Only an intermediate
    (not a root, which a server need not send) counts; the pool is read at the issuer's
    name only."""
    elsewhere = seen_elsewhere.get(issuer_key(child))
    if elsewhere is not None and not self_signed(elsewhere) and signed_by(child, elsewhere):
        return elsewhere
    return None


def _order_problems(
    walk: Walk, sent: Sequence[x509.Certificate], store_name: str
) -> list[tuple[str, str]]:
    """What the certificates as sent say beside the path: their order, the ones off the path,
    a leaf signed by itself, a path that ends outside the store."""
    problems = []
    if walk.order != sorted(walk.order):
        problems.append(
            (
                "wrong_order",
                "the certificates were not sent leaf first, each followed by its issuer",
            )
        )
    extra = [cert for i, cert in enumerate(sent) if i not in walk.order]
    if extra:
        problems.append(
            (
                "extra_certificates",
                f"{plural(len(extra), 'certificate')} sent that are not on the path: "
                + "; ".join(subject_text(c) for c in extra[:3]),
            )
        )
    leaf = sent[0]
    if self_signed(leaf) and len(walk.path) == 1:
        problems.append(("self_signed", f"the leaf, {subject_text(leaf)}, is signed by itself"))
    if not walk.in_store and not any(code == "missing_intermediate" for code, _ in walk.problems):
        end = walk.unknown_root or subject_text(walk.path[-1])
        problems.append(
            (
                "untrusted_root",
                f"the chain ends at {end}, which is not in today's {store_name} trust store "
                "(a root that was trusted when the capture was made and has left the store since "
                "is reported the same way)",
            )
        )
    return problems
