"""The questions a scan asks one server, and what each answer means.

Core: no sockets. A ``Scanner`` asks through a ``Prober`` (the network edge,
``net.sweep``), which runs each ``Offer`` as one connection and returns the parsed answer.
Independent questions run at once (``asyncio.gather``); each enumeration asks its list
forwards and backwards first, then eliminates choices in one chain (the server has an
order: that chain is the order) or in parallel partitions (it follows the client).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from tlslens import registry
from tlslens._core import SelectedGroup
from tlslens.events import AlertEvent, HandshakeEvent
from tlslens.handshake import extensions as ext
from tlslens.handshake import messages as hs
from tlslens.model import Connection
from tlslens.scan.compressed import certificate_compression
from tlslens.scan.findings import CertificateChain, ScanReport
from tlslens.scan.probe import (
    DEFAULT_GROUPS,
    DEFAULT_SIGNATURE_ALGORITHMS,
    FFDHE,
    SSL3,
    TLS10,
    TLS11,
    TLS12,
    TLS13,
    Offer,
    ProbeResult,
)


class Prober(Protocol):
    """What the scanner needs from the network edge."""

    async def probe(self, offer: Offer) -> ProbeResult: ...

    async def sslv2(self) -> ProbeResult: ...

    async def resumption(self, possible: dict[str, bool], suites: Sequence[int]) -> None: ...


VERSION_NAMES = {
    SSL3: "SSL 3.0",
    TLS10: "TLS 1.0",
    TLS11: "TLS 1.1",
    TLS12: "TLS 1.2",
    TLS13: "TLS 1.3",
}
TLS13_SUITES = tuple(code for code, info in registry.CIPHER_SUITES.items() if info.tls13)
# Every suite a TLS 1.2-or-older server could pick, strongest kinds first (so that a server
# following the client's order shows the order a careful client would offer).
LEGACY_SUITES = tuple(
    sorted(
        (c for c, i in registry.CIPHER_SUITES.items() if not i.tls13 and not i.scsv),
        key=lambda c: (
            {"ECDHE": 0, "DHE": 1}.get(registry.CIPHER_SUITES[c].kx or "", 2),
            not registry.CIPHER_SUITES[c].aead,
            c,
        ),
    )
)
ALPN_CANDIDATES = (
    "h2",
    "http/1.1",
    "http/1.0",
    "http/0.9",
    "spdy/3.1",
    "h3",
    "acme-tls/1",
    "imap",
    "pop3",
    "smtp",
    "ftp",
    "xmpp-client",
    "postgresql",
    "mysql",
    "ldap",
)
MAX_SENSIBLE_CHAIN = 10
# Probe failures that leave "is this version accepted?" open (a reset or a close is a no).
UNDECIDED = ("timed out", "no complete answer", "not TLS", "HTTP", "malformed", "exceeds")
# Classical groups only, outside the group questions: a server that prefers a hybrid group
# would otherwise answer every probe with a HelloRetryRequest the scanner cannot follow.
CLASSICAL_GROUPS = tuple(g for g in DEFAULT_GROUPS if g < 0x1100)
# RFC 8446 §4.2.3: RSASSA-PKCS1-v1_5, SHA-1 and SHA-224 schemes never sign a TLS 1.3
# handshake (they may still be offered for certificates).
TLS13_SIGNATURE_ALGORITHMS = tuple(
    s for s in DEFAULT_SIGNATURE_ALGORITHMS if s & 0xFF not in (1, 2) and s >> 8 not in (2, 3)
)
# TLS 1.2 signs with any named scheme of the hash/signature pairs (RFC 5246 §7.4.1.4.1)
# and the RSA-PSS and EdDSA ones (RFC 8446 §4.2.3 allows them in 1.2): each is asked alone.
TLS12_SIGNATURE_ALGORITHMS = tuple(
    s for s in DEFAULT_SIGNATURE_ALGORITHMS if registry.SIGNATURE_SCHEMES.get(s) is not None
)


def _answered_with(result: ProbeResult, version: int) -> Connection | None:
    conn = result.conn
    if conn is None or conn.server_hello is None or conn.version != version:
        return None
    return conn


def hrr_group(conn: Connection | None) -> int | None:
    if conn is None or conn.hello_retry_request is None:
        return None
    value = ext.decoded_in(conn.hello_retry_request, ext.KEY_SHARE, SelectedGroup)
    return value.selected_group if value is not None else None


def _ske_curve(conn: Connection) -> int | None:
    ske = conn.server_key_exchange
    if ske is None:
        return None
    curve = ske.params.get("named_curve")
    return int(curve) if isinstance(curve, int) else None


Choice = TypeVar("Choice", int, str)
PARTITIONS = 8  # at most this many chains at once when the server follows our order


async def enumerate_choices(
    candidates: Sequence[Choice],
    ask: Callable[[list[Choice]], Awaitable[Choice | None]],
    first: Choice | None = None,
) -> tuple[list[Choice], bool | None]:
    """Everything the server accepts among ``candidates`` and whether it has its own order.

    The list is asked forwards and backwards at once: the same answer means the server
    picks by its own preference (or accepts one alone), and then each remaining choice is
    asked in turn, which is that preference order. Different answers mean it follows the
    client: the candidates are dealt into interleaved partitions, each eliminated in
    parallel, and the result is in the client's (our) order."""
    pool: list[Choice] = list(candidates)
    opening = _known(first) if first is not None else ask(pool)
    answers: list[Choice | None] = list(await asyncio.gather(opening, ask(pool[::-1])))
    forward, backward = answers
    if forward is None or forward not in pool:
        return [], None
    if backward is not None and backward != forward and backward in pool:
        rest = [c for c in pool if c not in (forward, backward)]
        budget = [PARTITIONS - 2]
        accepted = {forward, backward}
        halves = [rest[0::2], rest[1::2]]
        for chain in await asyncio.gather(*(_spread(h, ask, budget) for h in halves if h)):
            accepted.update(chain)
        return [c for c in pool if c in accepted], False
    rest_order: list[Choice] = await _eliminate([c for c in pool if c != forward], ask)
    order: list[Choice] = [forward]
    order.extend(rest_order)
    return order, (True if len(order) > 1 else None)


async def _merge_blocks(
    first: list[Choice],
    second: list[Choice],
    ask: Callable[[list[Choice]], Awaitable[Choice | None]],
) -> list[Choice]:
    """Two lists, each in the server's order, as one: a block ahead of the other when the
    last of one beats the first of the other, else merged head by head."""
    if not first or not second:
        return first + second
    if await ask([first[-1], second[0]]) == first[-1]:
        return first + second
    if await ask([second[-1], first[0]]) == second[-1]:
        return second + first
    merged: list[Choice] = []
    a, b = list(first), list(second)
    while a and b:
        winner = await ask([a[0], b[0]])
        if winner == a[0]:
            merged.append(a.pop(0))
        elif winner == b[0]:
            merged.append(b.pop(0))
        else:
            break
    return merged + a + b


async def _spread(
    pool: list[Choice],
    ask: Callable[[list[Choice]], Awaitable[Choice | None]],
    budget: list[int],
) -> list[Choice]:
    """Eliminate choices (the server follows our order, so any split is sound); after each
    one found, while ``budget`` lasts, the rest goes on as two chains at once. Long lists
    fan out to PARTITIONS chains; short ones end in few refusals."""
    found: list[Choice] = []
    remaining = list(pool)
    while remaining:
        choice = await ask(remaining)
        if choice is None or choice not in remaining:
            break
        found.append(choice)
        remaining.remove(choice)
        if budget[0] > 0 and len(remaining) > 1:
            budget[0] -= 1
            halves = [remaining[0::2], remaining[1::2]]
            for chain in await asyncio.gather(*(_spread(h, ask, budget) for h in halves)):
                found.extend(chain)
            return found
    return found


async def _known(value: Choice) -> Choice | None:
    return value


async def _eliminate(
    pool: list[Choice], ask: Callable[[list[Choice]], Awaitable[Choice | None]]
) -> list[Choice]:
    """Offer what is left, remove what the server picks, until it refuses."""
    found: list[Choice] = []
    remaining = list(pool)
    while remaining:
        choice = await ask(remaining)
        if choice is None or choice not in remaining:
            break
        found.append(choice)
        remaining.remove(choice)
    return found


class Scanner:
    """Fills one ScanReport: the plan of probes and what each answer means."""

    def __init__(self, prober: Prober, report: ScanReport, *, resumption: bool = True) -> None:
        self.t = prober
        self.report = report
        self.resumption = resumption
        self.first: dict[int, Connection] = {}

    def offer(self, version: int, suites: Sequence[int], **kw: object) -> Offer:
        kw.setdefault("groups", CLASSICAL_GROUPS)
        return Offer(version=version, cipher_suites=tuple(suites), sni=self.report.sni, **kw)  # type: ignore[arg-type]

    async def run(self) -> None:
        await self.versions()
        if not self.first:
            return
        tasks = [self.suites(version) for version in self.first]
        tasks += [self.groups(), self.alpn_and_signatures(), self.signatures12(), self.fallback()]
        tasks.append(certificate_compression(self.t.probe, self.offer, self.report, self.first))
        if self.resumption:
            tasks.append(self.t.resumption(self._resumable(), self._resumption_suites()))
        await asyncio.gather(*tasks)
        self.legacy_features()
        self.report.mark_not_applicable()

    def _resumable(self) -> dict[str, bool]:
        """What the first TLS 1.2 ServerHello allows: a session ID to resume by, and a
        session_ticket extension (RFC 5077 §3.2: sent when a ticket will follow)."""
        conn = self.first.get(TLS12)
        if conn is None or conn.server_hello is None:
            return {}
        hello = conn.server_hello
        ticket = ext.find(hello.extensions, ext.SESSION_TICKET) is not None
        # That probe offered a ticket: a server about to issue one may leave the session ID
        # empty (OpenSSL does, RFC 5077 §3.4) and still resume by ID a client that offers
        # none. Only an empty ID without a ticket to come rules the ID out.
        return {"session_id": bool(hello.legacy_session_id) or ticket, "ticket": ticket}

    def _resumption_suites(self) -> list[int]:
        """The TLS 1.2 suite the server chose in its first answer: resumption is asked
        with it, so that a server of RSA key exchange alone is asked in its own terms."""
        conn = self.first.get(TLS12)
        return [conn.cipher_suite] if conn is not None and conn.cipher_suite is not None else []

    async def versions(self) -> None:
        report = self.report
        probes = {
            SSL3: self.offer(SSL3, LEGACY_SUITES),
            TLS10: self.offer(TLS10, LEGACY_SUITES),
            TLS11: self.offer(TLS11, LEGACY_SUITES),
            # Compression offered in the TLS 1.2 probe: a server that enables it picks it.
            TLS12: self.offer(TLS12, LEGACY_SUITES, compression_methods=(1, 0)),
            TLS13: self.offer(TLS13, TLS13_SUITES),
        }
        versions = list(probes)
        results = await asyncio.gather(*(self.t.probe(probes[v]) for v in versions), self.t.sslv2())
        errors: dict[str, list[str]] = {}  # reason -> the probes that failed for it
        for version, result in zip(versions, results[:-1], strict=True):
            support = report.versions[VERSION_NAMES[version]]
            conn = _answered_with(result, version)
            if conn is not None:
                support.accepted = True
                self.first[version] = conn
                continue
            # An alert, another version, a close or a reset is a no; a timeout or bytes
            # that are not TLS leave the question open.
            undecided = result.error is not None and any(word in result.error for word in UNDECIDED)
            support.accepted = None if undecided else False
            if result.error:
                errors.setdefault(result.error, []).append(VERSION_NAMES[version])
        for version in sorted(self.first, reverse=True):  # the newest version's chain first
            self._observe(self.first[version])
        sslv2 = results[-1]
        report.versions["SSL 2.0"].accepted = bool(
            sslv2.conn is not None and sslv2.conn.sslv2_server_hello
        )
        if not self.first:
            # One line per reason: a server that resets every probe is told so once.
            report.errors.extend(
                f"{', '.join(names)} {'probe' if len(names) == 1 else 'probes'}: {reason}"
                for reason, names in errors.items()
            )

    async def suites(self, version: int) -> None:
        name = VERSION_NAMES[version]
        candidates = list(TLS13_SUITES if version == TLS13 else LEGACY_SUITES)

        async def ask(pool: list[int]) -> int | None:
            conn = _answered_with(await self.t.probe(self.offer(version, pool)), version)
            if conn is None or conn.cipher_suite is None:
                return None
            self._observe(conn)
            if conn.cipher_suite not in pool:
                self.report.errors.append(
                    f"{name}: the server chose {registry.cipher_suite_name(conn.cipher_suite)}, "
                    "which was not offered"
                )
                return None
            return conn.cipher_suite

        first = self.first[version]
        support = self.report.versions[name]
        support.cipher_suites, support.server_order = await enumerate_choices(
            candidates, ask, first.cipher_suite
        )

    def _observe(self, conn: Connection) -> None:
        """What every answer tells besides its choice: DH sizes, encrypt-then-MAC, the
        certificate chain."""
        self._keep_chain(conn)
        hello = conn.server_hello
        info = conn.suite_info
        if hello is not None and info is not None and not info.aead and not info.tls13:
            etm = ext.find(hello.extensions, ext.ENCRYPT_THEN_MAC) is not None
            self.report.encrypt_then_mac = bool(self.report.encrypt_then_mac) or etm
        ske = conn.server_key_exchange
        if ske is not None and "dh_p" in ske.params:
            bits = len(ske.params["dh_p"].lstrip(b"\0")) * 8
            if bits not in self.report.dh_bits:
                self.report.dh_bits.append(bits)

    async def groups(self) -> None:
        report = self.report
        tls13 = TLS13 in self.first
        ecdhe12 = [
            s for s in LEGACY_SUITES if (registry.CIPHER_SUITES[s].kx or "").startswith("ECDHE")
        ]
        version = TLS13 if tls13 else max((v for v in self.first if v != TLS13), default=None)
        if version is None:
            return

        async def selected(groups: list[int]) -> int | None:
            if tls13:
                # No key share at all: the server must say which group it wants (a
                # HelloRetryRequest), by its own preference when it has one.
                result = await self.t.probe(
                    self.offer(TLS13, TLS13_SUITES, groups=tuple(groups), key_share_groups=())
                )
                return hrr_group(result.conn)
            conn = _answered_with(
                await self.t.probe(self.offer(version, ecdhe12, groups=tuple(groups))), version
            )
            return _ske_curve(conn) if conn is not None else None

        # Elliptic-curve and hybrid groups, and finite-field ones, are asked apart and at
        # once: servers rank each family as a block, so one more probe orders the blocks.
        curves = [g for g in DEFAULT_GROUPS if g not in FFDHE]
        fields = [g for g in DEFAULT_GROUPS if g in FFDHE]
        (ec_found, ec_order), (ff_found, ff_order) = await asyncio.gather(
            enumerate_choices(curves, selected), enumerate_choices(fields, selected)
        )
        report.groups = await _merge_blocks(ec_found, ff_found, selected)
        orders = [order for order in (ec_order, ff_order) if order is not None]
        report.groups_server_order = orders[0] if orders else None
        if tls13:
            report.hello_retry_request = self.first[TLS13].hello_retry_request is not None

    def _keep_chain(self, conn: Connection) -> None:
        """One certificate chain per key type, from whichever answer showed it first: the
        suite and signature enumerations reach every key type the server selects (an
        ECDSA-only offer gets the ECDSA certificate, or a refusal)."""
        report = self.report
        if not conn.certificates or conn.version is None:
            return
        leaf = conn.certificates[0]
        key_type = leaf.key.split()[0] if leaf.key else "unknown"
        if any(chain.key_type == key_type for chain in report.certificate_chains):
            return
        version = VERSION_NAMES.get(conn.version, registry.version_name(conn.version))
        if len(conn.certificates) > MAX_SENSIBLE_CHAIN:
            report.errors.append(
                f"{version}: the server sent {len(conn.certificates)} certificates; a chain "
                "needs a few (leaf, intermediates): clients may refuse it or waste time on it"
            )
        report.certificate_chains.append(CertificateChain(key_type, conn, version))
        report.ocsp_stapled = bool(report.ocsp_stapled) or conn.stapled_ocsp is not None

    async def fallback(self) -> None:
        accepted = sorted(self.first)
        if len(accepted) < 2:
            return
        below = accepted[-2]
        result = await self.t.probe(self.offer(below, LEGACY_SUITES, fallback_scsv=True))
        conn = result.conn
        if conn is None:
            return
        if any(
            isinstance(e, AlertEvent)
            and registry.alert_name(e.description) == "inappropriate_fallback"
            for e in conn.alerts
        ):
            self.report.fallback_scsv = True
        elif conn.server_hello is not None:
            self.report.fallback_scsv = False

    async def alpn_and_signatures(self) -> None:
        """ALPN protocols, and the TLS 1.3 signature schemes, found by the same probes: each
        answer names one of each (EncryptedExtensions and CertificateVerify), so both lists
        shrink together. A refusal is put to each list alone to learn which one ran dry.
        Without TLS 1.3 the newest version asks ALPN alone."""
        tls13 = TLS13 in self.first
        version = TLS13 if tls13 else max(self.first)
        suites = (
            TLS13_SUITES
            if tls13
            else [s for s in LEGACY_SUITES if registry.CIPHER_SUITES[s].forward_secrecy]
        )
        protocols: list[str] = list(ALPN_CANDIDATES)
        schemes: list[int] = list(TLS13_SIGNATURE_ALGORITHMS) if tls13 else []
        found_protocols: list[str] = []
        found_schemes: list[int] = []

        async def ask(alpn: list[str], sigs: list[int]) -> Connection | None:
            offer = self.offer(
                version,
                suites,
                alpn=tuple(alpn),
                signature_algorithms=tuple(sigs or DEFAULT_SIGNATURE_ALGORITHMS),
            )
            conn = _answered_with(await self.t.probe(offer), version)
            if conn is not None:
                self._observe(conn)
            return conn

        while protocols or schemes:
            conn = await ask(protocols, schemes)
            if conn is None:
                if protocols and schemes:
                    alone = await ask([], schemes)  # the schemes alone
                    if alone is None:
                        schemes = []
                        continue
                    protocols = []  # the server refuses what is left of the protocols
                    conn = alone
                else:
                    break
            chosen = conn.alpn
            if protocols and chosen in protocols:
                found_protocols.append(chosen)
                protocols.remove(chosen)
            else:
                protocols = []  # none of the rest is taken: the server answered without it
            scheme = _signature_scheme(conn) if schemes else None
            if scheme is not None and scheme in schemes:
                found_schemes.append(scheme)
                schemes.remove(scheme)
            else:
                schemes = []
        self.report.alpn = found_protocols
        if tls13:
            self.report.signature_algorithms["TLS 1.3"] = found_schemes

    async def signatures12(self) -> None:
        """The TLS 1.2 signature schemes: one probe per scheme, each offering that scheme
        alone with every suite (so the server answers with one of its own, RSA key exchange
        included). A server that takes the offer and signs its ServerKeyExchange with that
        scheme, or sends none to sign (RSA key exchange), accepts it; the order of the
        list is ours."""
        if TLS12 not in self.first:
            return

        async def accepts(scheme: int) -> bool:
            offer = self.offer(TLS12, LEGACY_SUITES, signature_algorithms=(scheme,))
            conn = _answered_with(await self.t.probe(offer), TLS12)
            if conn is None:
                return False
            self._observe(conn)
            signed = _signature_scheme(conn)
            return signed == scheme or (signed is None and conn.server_key_exchange is None)

        answers = await asyncio.gather(*(accepts(s) for s in TLS12_SIGNATURE_ALGORITHMS))
        self.report.signature_algorithms["TLS 1.2"] = [
            s for s, ok in zip(TLS12_SIGNATURE_ALGORITHMS, answers, strict=True) if ok
        ]

    def legacy_features(self) -> None:
        """What the first answer of the newest version up to TLS 1.2 says about the rest."""
        report = self.report
        legacy = [v for v in sorted(self.first) if v != TLS13]
        if not legacy:
            return
        conn = self.first[legacy[-1]]
        hello = conn.server_hello
        assert hello is not None
        report.secure_renegotiation = ext.find(hello.extensions, ext.RENEGOTIATION_INFO) is not None
        report.extended_master_secret = (
            ext.find(hello.extensions, ext.EXTENDED_MASTER_SECRET) is not None
        )
        report.compression = hello.legacy_compression_method != 0
        if report.encrypt_then_mac is None and not (conn.suite_info and conn.suite_info.aead):
            report.encrypt_then_mac = ext.find(hello.extensions, ext.ENCRYPT_THEN_MAC) is not None


def _signature_scheme(conn: Connection) -> int | None:
    for event in conn.timeline:
        if not isinstance(event, HandshakeEvent):
            continue
        message = event.message
        if isinstance(message, hs.CertificateVerify) and event.direction == "s2c":
            return message.signature_scheme
        if isinstance(message, hs.ServerKeyExchange):
            return message.signature_scheme
    return None
