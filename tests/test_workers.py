"""`show --json --workers N` (issue 12): the same bytes as one process, on every corpus
capture, on the project's captures with their key logs (resumptions included, so
``resumed_from`` is renumbered) and on a capture of many hosts, whose connections do split."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import tlslens
from tlslens.cli import main
from tlslens.flows.packet import share_of

import adversarial
from conftest import CAPTURES


def _show(*args: str) -> str:
    result = CliRunner().invoke(main, ["show", "--json", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr[-1000:]
    return result.stdout


def test_every_corpus_capture_gives_the_same_bytes(corpus: Path) -> None:
    captures = sorted(p for p in corpus.rglob("*.pcap*") if p.is_file())
    assert len(captures) > 50
    for path in captures:
        assert _show("--workers", "2", str(path)) == _show(str(path)), path


def test_decrypted_and_resumed_connections_give_the_same_bytes() -> None:
    for path in sorted(CAPTURES.glob("*.pcap*")):
        keys = path.with_suffix(".keys")
        options = ["--keylog", str(keys)] if keys.exists() else []
        one = _show(*options, str(path))
        assert _show("--workers", "3", *options, str(path)) == one, path
    resumption = CAPTURES / "openssl-resumption.pcap"
    keys = ["--keylog", str(resumption.with_suffix(".keys"))]
    assert '"resumed_from": 1' in _show(*keys, "--workers", "2", str(resumption))
    # A filter on the connection number applies to the numbers of the whole capture.
    assert _show(*keys, "--workers", "2", "--connection", "3", str(resumption)) == _show(
        *keys, "--connection", "3", str(resumption)
    )


def test_many_hosts_are_shared_out_and_merged_back(tmp_path: Path) -> None:
    path = tmp_path / "many.pcapng"
    adversarial._write(path, adversarial._normal(300))
    shares = {share_of(c.client.ip, c.server.ip, 2) for c in tlslens.read_capture(path)}
    assert shares == {0, 1}  # both workers have work
    one = _show(str(path))
    assert len(one.splitlines()) == 300
    assert _show("--workers", "2", str(path)) == one
    # The narration too, in a file or a pipe (CliRunner's output is not a terminal).
    narrated = CliRunner().invoke(main, ["show", "--workers", "1", str(path)])
    assert narrated.exit_code == 0 and narrated.stdout.count("Connection 300 ·") == 1
    for args in ([], ["--brief"], ["--ladder"], ["--connection", "7"]):
        two = CliRunner().invoke(main, ["show", *args, "--workers", "2", str(path)])
        assert two.exit_code == 0
        one_run = CliRunner().invoke(main, ["show", *args, "--workers", "1", str(path)])
        assert (two.stdout, two.stderr) == (one_run.stdout, one_run.stderr), args


def test_a_chain_completed_by_another_share_gets_the_same_verdict(tmp_path: Path) -> None:
    """Connections from many hosts, some sending the leaf alone and some the leaf with its
    intermediate: the chains are checked by the parent in first-packet order, so a chain an
    intermediate from another host pair completes ("elsewhere in the capture") and the late
    intermediate note come out as one process gives them."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from _frames import tls12_capture

    pki = Path(__file__).parent / "vectors" / "pki"
    leaf, inter = (
        x509.load_pem_x509_certificate((pki / name).read_bytes()).public_bytes(Encoding.DER)
        for name in ("server.pem", "intermediate.pem")
    )
    chains = [([leaf] if i % 3 != 1 else [leaf, inter], "tlslens.test") for i in range(60)]
    path = tmp_path / "elsewhere.pcapng"
    tls12_capture(path, chains, dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    trust = ["--ca", str(pki / "root.pem")]
    one = CliRunner().invoke(main, ["show", "--json", *trust, str(path)])
    two = CliRunner().invoke(main, ["show", "--json", "--workers", "2", *trust, str(path)])
    assert "intermediate_elsewhere_in_capture" in one.stdout
    assert two.stdout == one.stdout
    shares = {share_of(c.client.ip, c.server.ip, 2) for c in tlslens.read_capture(path)}
    assert shares == {0, 1}
    assert one.stderr and two.stderr == one.stderr  # the late-intermediate note, once


def test_unreadable_and_broken_captures_are_said_as_one_process_says_them(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"garbage bytes here")
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes((CAPTURES / "demo-tls12-tls13.pcapng").read_bytes()[:3000])
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "tlslens", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    commands = (["show", "--json"], ["show"], ["show", "--brief"], ["certs"], ["decrypt"])
    for path in (tmp_path / "missing.pcap", garbage, cut):
        for command in commands:
            one = run(*command, "--workers", "1", str(path))
            two = run(*command, "--workers", "2", str(path))
            assert (two.returncode, two.stdout, two.stderr) == (
                one.returncode,
                one.stdout,
                one.stderr,
            ), (command, path)
            assert one.stderr.strip(), path


def test_the_notes_on_stderr_are_one_process_notes() -> None:
    """The resumption savings of each server and a --connection that names nothing are said
    on stderr with --workers as one process says them."""
    import subprocess
    import sys

    resumption = CAPTURES / "openssl-resumption.pcap"
    keys = ["--keylog", str(resumption.with_suffix(".keys"))]

    def run(*args: str) -> tuple[int, str, str]:
        command = [sys.executable, "-m", "tlslens", "show", "--json", *keys, *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        return done.returncode, done.stdout, done.stderr

    one = run(str(resumption))
    assert "resumption saved" in one[2]
    assert run("--workers", "2", str(resumption)) == one
    missing = run("--connection", "99", str(resumption))
    assert "there is no connection 99" in missing[2]
    assert run("--workers", "2", "--connection", "99", str(resumption)) == missing


def test_a_big_capture_is_shared_out_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --workers, `show --json` of a capture of AUTO_SPLIT_AT bytes or more uses
    every core, and --records comes out of the workers too."""
    from tlslens.cli import options as options_module
    from tlslens.cli import show as show_module

    path = CAPTURES / "openssl-resumption.pcap"
    keys = ["--keylog", str(path.with_suffix(".keys"))]
    one = _show(*keys, "--records", "--workers", "1", str(path))
    used: list[int] = []
    real = show_module.SharedJson

    def counted(*args: object, **kwargs: object) -> object:
        used.append(int(str(args[1])))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(show_module, "SharedJson", counted)
    monkeypatch.setattr(options_module.os, "cpu_count", lambda: 2)
    assert _show(*keys, "--records", str(path)) == one  # under the size: one process
    assert used == []
    monkeypatch.setattr(options_module, "AUTO_SPLIT_AT", path.stat().st_size)
    assert _show(*keys, "--records", str(path)) == one
    assert used == [2] and '"records": [' in one


def test_without_secrets_one_client_s_connections_are_shared_out(tmp_path: Path) -> None:
    """With no secret given, shares go by 4-tuple: one client's connections to one server
    (the project's captures are all 127.0.0.1 to 127.0.0.1) spread over the workers, and
    the parent says which connection each resumes."""
    from tlslens.flows.packet import endpoint

    resumption = CAPTURES / "openssl-resumption.pcap"
    conns = list(tlslens.read_capture(resumption))
    keys = {
        share_of(endpoint(c.client.ip, c.client.port), endpoint(c.server.ip, c.server.port), 2)
        for c in conns
    }
    assert keys == {0, 1}
    one = _show(str(resumption))
    assert '"resumed_from": 1' in one and '"resumed_from": 3' in one
    assert _show("--workers", "2", str(resumption)) == one
    for path in sorted(CAPTURES.glob("*.pcap*")):
        assert _show("--workers", "3", str(path)) == _show(str(path)), path


def test_secrets_in_the_capture_that_a_resumption_needs_from_another_share(
    tmp_path: Path,
) -> None:
    """A pcapng whose own key log (a Decryption Secrets Block) lacks the lines of the two
    resumed TLS 1.2 connections: one process decrypts them with the secrets learnt from the
    connections they resume. Shared out by 4-tuple, a worker may not have learnt it: it
    says so, and the capture is read again by address pair, with the same bytes out."""
    from tlslens.capture import open_capture
    from tlslens.capture.writer import PcapngWriter
    from tlslens.flows.packet import endpoint
    from tlslens.pipeline import read_capture

    source = CAPTURES / "openssl-resumption.pcap"
    keyed = list(read_capture(source, keys=_keys(source.with_suffix(".keys"))))
    resumed = [c for c in keyed if c.resumed and not c.tls13]
    assert len(resumed) == 2
    skip = {c.client_hello.random.hex() for c in resumed if c.client_hello is not None}
    log = "".join(
        line + "\n"
        for line in source.with_suffix(".keys").read_text().splitlines()
        if line and not any(random in line for random in skip)
    )
    path = tmp_path / "secrets.pcapng"
    raw, reader = open_capture(source)
    with raw, path.open("wb") as out:
        writer = PcapngWriter(out)
        frames = list(reader)
        writer.add_interface(frames[0][1], tsresol=9)
        writer.add_secrets(log.encode())
        for ts_ns, _linktype, data in frames:
            writer.add_packet(ts_ns, data)
    one = _show(str(path))
    sources = [json.loads(line)["decryption"]["source"] for line in one.splitlines()]
    assert sources.count("resumed_session") == 1 and sources.count("resumed_ticket") == 1

    # A number of workers that puts a resumption and the connection it resumes apart.
    def share(c: object, n: int) -> int:
        return share_of(
            endpoint(c.client.ip, c.client.port), endpoint(c.server.ip, c.server.port), n
        )  # type: ignore[attr-defined]

    workers = next(
        n for n in range(2, 9) if any(share(keyed[c.id - 2], n) != share(c, n) for c in resumed)
    )
    apart = next(c for c in resumed if share(keyed[c.id - 2], workers) != share(c, workers))
    # Alone in its share, the resumption cannot be decrypted with what the capture carries.
    alone = read_capture(path, share=(share(apart, workers), workers), share_by_connection=True)
    (mine,) = [c for c in alone if c.tcp_stream == apart.tcp_stream]
    assert mine.decryption is not None and mine.decryption.to_json()["status"] != "decrypted"
    assert _show("--workers", str(workers), str(path)) == one


def _keys(path: Path) -> object:
    from tlslens.keys.store import KeyStore

    store = KeyStore()
    store.keylog.add_text(path.read_text(), path.name, "file")
    return store


def _narrate(*args: str) -> tuple[int, str, str]:
    import subprocess
    import sys

    command = [sys.executable, "-m", "tlslens", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_the_narration_in_a_pipe_is_one_process_narration(corpus: Path) -> None:
    """`show`, `show --brief`, `--ladder`, `--records` and `certs` to a pipe with
    --workers 2 write the bytes one process writes, stdout and stderr, on the project's
    captures with their key logs (resumptions: read again by address pair; chains
    completed by another connection's intermediate) and on every corpus capture; the
    workers' markers for connection numbers never show."""
    captures = sorted(CAPTURES.glob("*.pcap*"))
    for path in captures:
        keys = path.with_suffix(".keys")
        options = ["--keylog", str(keys)] if keys.exists() else []
        commands = (["show"], ["show", "--brief"], ["show", "--ladder"], ["certs"], ["decrypt"])
        for command in commands:
            one = _narrate(*command, *options, "--workers", "1", str(path))
            assert _narrate(*command, *options, "--workers", "2", str(path)) == one, (command, path)
            two = _narrate(*command, *options, "--workers", "2", str(path))
            assert not re.search("tlslens[0-9a-f]{32}", two[1])
    for path in sorted(p for p in corpus.rglob("*.pcap*") if p.is_file()):
        runner = CliRunner()
        one = runner.invoke(main, ["show", "--records", "--workers", "1", str(path)])
        two = runner.invoke(main, ["show", "--records", "--workers", "2", str(path)])
        assert (two.exit_code, two.stdout, two.stderr) == (
            one.exit_code,
            one.stdout,
            one.stderr,
        ), path


def test_the_narration_is_made_by_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The narration above came from the workers, not from one process falling back: on
    many hosts by 4-tuple, on the resumption capture by address pair (its resumptions are
    another share's by 4-tuple)."""
    from tlslens.cli import narrated

    reads: list[narrated.SharedText] = []
    real = narrated.SharedText.__iter__

    def kept(self: narrated.SharedText) -> Iterator[str]:
        reads.append(self)
        return real(self)

    monkeypatch.setattr(narrated.SharedText, "__iter__", kept)
    many = tmp_path / "many.pcapng"
    adversarial._write(many, adversarial._normal(300))
    resumption = CAPTURES / "openssl-resumption.pcap"
    keys = ["--keylog", str(resumption.with_suffix(".keys"))]
    for args, split in (([str(many)], "connections"), ([*keys, str(resumption)], "addresses")):
        for command in ("show", "certs"):
            result = CliRunner().invoke(main, [command, "--workers", "2", *args])
            assert result.exit_code == 0
            assert not reads[-1].fallback and reads[-1]._split == split, (command, args)


def test_decrypt_out_writes_the_files_one_process_writes(tmp_path: Path) -> None:
    """`decrypt --out DIR --workers 2`: the same connN-c2s.bin / connN-s2c.bin files, the
    same narration naming them, for each project capture with its key log."""
    for path in sorted(CAPTURES.glob("*.pcap*")):
        keys = ["--keylog", str(path.with_suffix(".keys"))]
        out = {n: tmp_path / f"{path.stem}-{n}" for n in (1, 2)}
        said = {
            n: _narrate("decrypt", *keys, "--workers", str(n), "--out", str(out[n]), str(path))
            for n in (1, 2)
        }
        assert said[2][1].replace(str(out[2]), "DIR") == said[1][1].replace(str(out[1]), "DIR")
        assert (said[2][0], said[2][2]) == (said[1][0], said[1][2])
        names = sorted(p.name for p in out[1].iterdir())
        assert names == sorted(p.name for p in out[2].iterdir()) and names, path
        for name in names:
            assert (out[1] / name).read_bytes() == (out[2] / name).read_bytes(), (path, name)


def test_the_replay_of_journals_keeps_only_what_the_slower_worker_has_not_passed() -> None:
    """Session secrets learnt by one worker and looked up by another are judged in frame
    order, as they come: a worker's events wait only until every worker has read past them,
    so the parent's memory stays bounded however long the capture. Within one frame (the
    end of the capture, where every open connection is flushed) they go by connection."""
    from tlslens.cli.journals import END, Replay

    replay = Replay(2)
    learn = [10, 0, "learn", "sessions", "aa", True]
    assert replay.add(0, 100, [learn, [90, 4, "learn", "tickets", "bb", True]])
    assert len(replay.events[0]) == 2  # worker 1 has read nothing yet
    assert replay.add(1, 50, [[20, 1, "look_up", "sessions", "aa", True]])
    assert [len(q) for q in replay.events] == [1, 0]  # up to frame 50 replayed
    # A lookup that misses what one process would have found (the ticket, frame 90).
    assert not replay.add(1, END, [[95, 5, "look_up", "tickets", "bb", False]])
    fresh = Replay(2)
    assert fresh.add(0, END, [[5, 0, "look_up", "sessions", "cc", False]])
    assert fresh.add(1, END, [[6, 1, "learn", "sessions", "cc", True]])
    # The last frame: connection 2 (worker 1) learns before connection 3 (worker 0) looks up.
    flushed = Replay(2)
    assert flushed.add(0, END, [[99, 3, "look_up", "sessions", "dd", False]])
    assert not flushed.add(1, END, [[99, 2, "learn", "sessions", "dd", True]])


def test_what_connections_open_at_the_end_learn_and_look_up_is_judged_as_one_process(
    tmp_path: Path,
) -> None:
    """A TLS 1.2 connection and the resumption of its session, both still open at the end of
    the capture with their server's data behind a hole (a SYN-ACK 100 bytes early, no FIN):
    one process learns the session and finds it in the end-of-capture flush, in first-packet
    order. A worker holding only the resumption looks it up then too, at the capture's last
    frame and after the other worker's learning, so the parent sees that it missed it and
    reads again by address pair: the same bytes as one process."""
    import struct

    from tlslens.capture import open_capture
    from tlslens.capture.writer import write_pcap
    from tlslens.flows.packet import TCPSegment, decode_tcp, endpoint
    from tlslens.pipeline import read_capture

    source = CAPTURES / "openssl-resumption.pcap"
    keyed = list(read_capture(source, keys=_keys(source.with_suffix(".keys"))))
    full, resumed = keyed[0], keyed[1]
    assert resumed.resumed == "session_id" and resumed.resumed_from == full.id
    random = resumed.client_hello.random.hex() if resumed.client_hello else "?"
    log = tmp_path / "flush.keys"
    text = source.with_suffix(".keys").read_text()
    log.write_text("".join(f"{line}\n" for line in text.splitlines() if random not in line))
    ports = {full.client.port, resumed.client.port}
    frames = []
    raw, reader = open_capture(source)
    with raw:
        for ts_ns, linktype, data in reader:
            segment = decode_tcp(linktype, data)
            if isinstance(segment, TCPSegment) and {segment.sport, segment.dport} & ports:
                if segment.flags & 0x05:  # FIN or RST: open until the end
                    continue
                if segment.flags & 0x12 == 0x12:  # SYN-ACK: data 100 bytes after it
                    early = struct.pack(">I", (segment.seq - 100) & 0xFFFFFFFF)
                    data = data[:38] + early + data[42:]
            frames.append((ts_ns, data))
    path = tmp_path / "flush.pcap"
    with path.open("wb") as out:
        write_pcap(out, frames, nanoseconds=True)
    one = _show("--keylog", str(log), str(path))
    rows = [json.loads(line) for line in one.splitlines()]
    assert rows[1]["decryption"]["source"] == "resumed_session", rows[1]["decryption"]
    assert rows[1]["bytes"]["s2c"]["gaps"] == 1

    def share(c: object, n: int) -> int:
        return share_of(
            endpoint(c.client.ip, c.client.port), endpoint(c.server.ip, c.server.port), n
        )  # type: ignore[attr-defined]

    # Apart, the resumption in the lower share: by worker alone it would be judged first.
    workers = next(n for n in range(2, 9) if share(resumed, n) < share(full, n))
    assert _show("--keylog", str(log), "--workers", str(workers), str(path)) == one


def test_a_narration_uses_every_core_by_default_only_into_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The narration waits for the workers to end before it is written: by default it uses
    them only when it goes to a file; through a pipe (``| less``) it comes as it is made, by
    one process. JSON streams, so it uses them either way; --workers always decides."""
    import os
    import sys

    from tlslens.cli import options

    monkeypatch.setattr(options, "AUTO_SPLIT_AT", 0)
    monkeypatch.setattr(options.os, "cpu_count", lambda: 2)
    capture = CAPTURES / "python-ssl.pcap"
    with (tmp_path / "out.txt").open("w") as file:
        monkeypatch.setattr(sys, "stdout", file)
        assert options.workers_for(capture, None, spooled=True) == 2
    read, write = os.pipe()
    with os.fdopen(write, "w") as pipe:
        monkeypatch.setattr(sys, "stdout", pipe)
        assert options.workers_for(capture, None, spooled=True) == 1
        assert options.workers_for(capture, None) == 2
        assert options.workers_for(capture, 3, spooled=True) == 3
    os.close(read)


def test_connections_held_past_the_bounds_come_out_as_one_process_gives_them(
    tmp_path: Path,
) -> None:
    """Connections that stay open while later ones end (keep-alive, or cut by the end of the
    capture) meet the reorder window, and many open at once meet --max-connections. A worker
    cannot see when another share's connection ends as one process sees it, so where such a
    bound may bite, the capture is read by one process (without giving twice what was
    already given): the same bytes, JSON and narration."""
    from tlslens.bounds import Limits
    from tlslens.capture.writer import write_pcap
    from tlslens.flows.packet import TCP_FIN, TCPSegment, decode_tcp

    order: dict[tuple[object, ...], int] = {}
    frames = []
    for ts, frame in adversarial._normal(300):
        seg = decode_tcp(1, frame)
        assert isinstance(seg, TCPSegment)
        ends = sorted([(seg.src, seg.sport), (seg.dst, seg.dport)])
        number = order.setdefault(tuple(ends), len(order))
        if number in (3, 50, 51, 120) and seg.flags & TCP_FIN:
            continue  # these never end
        frames.append((ts, frame))
    path = tmp_path / "held.pcapng"  # pcapng: the lines wait in the workers' files
    adversarial._write(path, iter(frames))
    streamed = tmp_path / "held.pcap"  # pcap without keys: they stream as they come
    with streamed.open("wb") as out:
        write_pcap(out, frames, nanoseconds=True)
    for options, said, capture in (
        (["--reorder-window", "5"], "reported out of first-packet order", path),
        (["--max-connections", "3"], "closed early", path),
        (["--reorder-window", "5"], "reported out of first-packet order", streamed),
        (["--max-connections", "3"], "closed early", streamed),
    ):
        one = _show(*options, str(capture))
        assert said in one
        assert _show("--workers", "2", *options, str(capture)) == one, options
        assert _show("--workers", "3", *options, str(capture)) == one, options
        narrated = [
            CliRunner().invoke(main, ["show", "--brief", *options, "--workers", w, str(capture)])
            for w in ("1", "2")
        ]
        assert narrated[0].exit_code == 0
        assert (narrated[1].stdout, narrated[1].stderr) == (
            narrated[0].stdout,
            narrated[0].stderr,
        )
    # A worker says so only where a bound may bite, and stops there; with the default
    # bounds it reads its whole share (about 150 of the 300).
    for limits, reached in ((Limits(reorder_window=5), True), (Limits(), False)):
        reading = tlslens.read_capture(path, limits=limits, share=(0, 2), share_by_connection=True)
        count = sum(1 for _ in reading)
        assert reading.watch is not None and reading.watch.reached is reached
        assert count < 20 if reached else count > 100


def test_many_connections_open_at_once_are_still_shared_out(tmp_path: Path) -> None:
    """Sixty connections open at once that end in the order they began meet no bound in
    one process (none is held back): the workers read on, and give one process's bytes."""
    from tlslens.bounds import Limits

    hello = adversarial.compose.push_records(22, 0x0301, adversarial._hello())
    flight = adversarial.compose.push_records(22, 0x0303, adversarial._server_flight([]))
    frames = sorted(
        (
            frame
            for i in range(60)
            for frame in adversarial._connection(i, hello, flight, adversarial.T0 + i * 100)
        ),
        key=lambda frame: frame[0],
    )
    path = tmp_path / "together.pcap"
    with path.open("wb") as out:
        from tlslens.capture.writer import write_pcap

        write_pcap(out, frames, nanoseconds=True)
    limits = Limits(reorder_window=5)
    for k in (0, 1):
        reading = tlslens.read_capture(path, limits=limits, share=(k, 2), share_by_connection=True)
        assert sum(1 for _ in reading) > 10
        assert reading.watch is not None and not reading.watch.reached
    one = _show("--reorder-window", "5", str(path))
    assert len(one.splitlines()) == 60 and "out of first-packet order" not in one
    assert _show("--workers", "2", "--reorder-window", "5", str(path)) == one
