"""RFC 8879 certificate compression: a CompressedCertificate opened into its Certificate.

Strategy: the declared ``uncompressed_length`` is checked against the message limit
(``--max-message``) before anything is decompressed, and the stream is then inflated
incrementally with an output cap of that declared length plus one byte: a stream
that says "1 KiB" and inflates to a gigabyte (a decompression bomb) stops one byte
past the kilobyte, and a declared length that lies either way is told. What comes
out is the body of a TLS 1.3 Certificate message (RFC 8879 §4), parsed by the same
parser as a Certificate sent as is; the message keeps it in ``certificate``. The
transcript hash is unaffected: it covers the CompressedCertificate as sent.
"""

from __future__ import annotations

import zlib

from tlslens import registry
from tlslens._buffer import push_vector
from tlslens._core import CompressCertificate
from tlslens.errors import DecodeError
from tlslens.handshake import extensions as ext
from tlslens.handshake import messages as hs
from tlslens.x509.cache import PerCertificate

ZLIB = 1
BROTLI = 2
ZSTD = 3
ALGORITHMS = (ZLIB, BROTLI, ZSTD)  # the ones tlslens can open, in RFC 8879 order
_CHUNK = 1 << 14  # compressed bytes given to a decompressor at a time


def algorithm_name(value: int) -> str:
    return registry.lookup(registry.CERTIFICATE_COMPRESSION, value)


def offered_algorithms(message: ext.Holder) -> list[int]:
    """The algorithms of a compress_certificate extension (ClientHello, CertificateRequest)."""
    value = ext.decoded_in(message, ext.COMPRESS_CERTIFICATE, CompressCertificate)
    return list(value.algorithms) if value is not None else []


def push_compress_certificate(algorithms: tuple[int, ...]) -> bytes:
    """The body of a compress_certificate extension offering ``algorithms``."""
    out = bytearray()
    push_vector(out, 1, b"".join(a.to_bytes(2, "big") for a in algorithms))
    return bytes(out)


def _inflate_zlib(data: bytes, cap: int) -> tuple[bytes, bool]:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, cap)
    except zlib.error as exc:
        raise DecodeError(f"zlib stream is corrupt ({exc})", layer="handshake") from exc
    if inflater.unused_data:
        raise DecodeError(
            f"{len(inflater.unused_data)} bytes after the end of the zlib stream",
            layer="handshake",
        )
    return out, inflater.eof


def _inflate_brotli(data: bytes, cap: int) -> tuple[bytes, bool]:
    import brotli  # imported when a brotli certificate comes: most runs never need it

    inflater = brotli.Decompressor()
    out = bytearray()
    try:
        for start in range(0, max(len(data), 1), _CHUNK):
            piece = data[start : start + _CHUNK]
            # Past the cap the decoder holds the rest back; ask for it in empty calls.
            out += inflater.process(piece, output_buffer_limit=cap - len(out) + 1)
            while len(out) < cap and not inflater.can_accept_more_data():
                out += inflater.process(b"", output_buffer_limit=cap - len(out) + 1)
            if len(out) >= cap:
                break
    except brotli.error as exc:
        raise DecodeError(f"brotli stream is corrupt ({exc})", layer="handshake") from exc
    return bytes(out[:cap]), inflater.is_finished()


def _inflate_zstd(data: bytes, cap: int) -> tuple[bytes, bool]:
    import zstandard  # imported when a zstd certificate comes: most runs never need it

    try:
        frame = zstandard.get_frame_parameters(data)
    except zstandard.ZstdError as exc:
        raise DecodeError(f"zstd frame header is unreadable ({exc})", layer="handshake") from exc
    if frame.content_size != zstandard.CONTENTSIZE_UNKNOWN and frame.content_size >= cap:
        raise DecodeError(
            f"the zstd frame declares {frame.content_size} bytes, past {cap - 1} "
            "(not decompressed)",
            layer="handshake",
        )
    # The window a frame asks for is memory too: at most the output allowed, or the 2 MiB
    # (zstd's default window, level 3) of a compressor that streamed without the size.
    window = 1 << max(21, (cap - 1).bit_length())
    if frame.window_size > window:
        raise DecodeError(
            f"the zstd frame asks for a {frame.window_size}-byte window, past {window} "
            "(not decompressed)",
            layer="handshake",
        )
    inflater = zstandard.ZstdDecompressor(max_window_size=window)
    try:
        with inflater.stream_reader(data, read_across_frames=False) as reader:
            out = reader.read(cap)
        if len(out) == cap:
            return out, True
        # The reader says nothing of a frame cut short; a one-shot object does, and its
        # output is known by now to stay under the cap.
        whole = inflater.decompressobj()
        whole.decompress(data)
    except zstandard.ZstdError as exc:
        raise DecodeError(f"zstd stream is corrupt ({exc})", layer="handshake") from exc
    if whole.unused_data:
        raise DecodeError(
            f"{len(whole.unused_data)} bytes after the end of the zstd frame", layer="handshake"
        )
    return out, whole.eof


_INFLATERS = {ZLIB: _inflate_zlib, BROTLI: _inflate_brotli, ZSTD: _inflate_zstd}


def decompress(algorithm: int, data: bytes, limit: int) -> bytes:
    """The decompressed ``data``, at most ``limit`` bytes.

    Raises DecodeError when the algorithm is not one of RFC 8879's, the stream is
    corrupt or cut short, or it expands past ``limit`` (no more than ``limit`` + 1
    bytes are ever produced); any other exception is a bug.
    """
    inflate = _INFLATERS.get(algorithm)
    if inflate is None:
        raise DecodeError(
            f"unknown compression algorithm {algorithm_name(algorithm)}", layer="handshake"
        )
    out, finished = inflate(bytes(data), limit + 1)
    name = algorithm_name(algorithm)
    if len(out) > limit:
        raise DecodeError(
            f"the {name} stream expands past {limit} bytes (decompression stopped there)",
            layer="handshake",
        )
    if not finished:
        raise DecodeError(
            f"the {name} stream is cut short after {len(out)} bytes", layer="handshake"
        )
    return out


def decompress_certificate(
    message: hs.CompressedCertificate, ctx: hs.HandshakeContext, max_message: int
) -> hs.CompressedCertificate:
    """The message with the Certificate it carries in ``certificate``, or with ``malformed``
    saying why it could not be opened (RFC 8879 asks a client to abort with bad_certificate
    then; a capture is read on)."""
    opened = _opened(
        (
            message.algorithm,
            bytes(message.compressed_certificate_message),
            message.uncompressed_length,
            max_message,
            _tls13(ctx),
        )
    )
    if isinstance(opened, str):
        return message.with_malformed(opened)
    return message.with_certificate(opened)


_Opening = tuple[int, bytes, int, int, hs.HandshakeContext]


def _open(key: _Opening) -> hs.Certificate | str:
    """The Certificate inside, or why it could not be opened."""
    algorithm, data, declared, max_message, ctx = key
    name = algorithm_name(algorithm)
    try:
        if declared > max_message:
            raise DecodeError(
                f"past the limit of {max_message} bytes per message (--max-message): "
                "not decompressed",
                layer="handshake",
            )
        body = decompress(algorithm, data, declared)
        if len(body) != declared:
            raise DecodeError(
                f"the {name} stream gives {len(body)} bytes, not the {declared} it declares",
                layer="handshake",
            )
        certificate = hs.parse_message(hs.CERTIFICATE, body, ctx)
    except DecodeError as exc:
        return (
            f"CompressedCertificate ({name}, {len(data)} bytes declaring {declared} "
            f"uncompressed): {exc.msg}"
        )
    assert isinstance(certificate, hs.Certificate)
    return certificate


# A browser's server sends the same compressed chain to every connection: it is opened once
# (about 0.1 ms a time). What is kept is bounded by the larger of the compressed and the
# declared sizes, as a certificate cache's entries are; the Certificate is immutable.
_opened = PerCertificate(_open, lambda key: max(len(key[1]), key[2]))


def _tls13(ctx: hs.HandshakeContext) -> hs.HandshakeContext:
    # RFC 8879 is TLS 1.3 only: what is inside has the TLS 1.3 layout whatever was read so far.
    return ctx if ctx.tls13 else ctx._replace(version=hs.TLS1_3)


def certificate_of(message: hs.HandshakeMessage | None) -> hs.Certificate | None:
    """The Certificate a message carries: itself, or a CompressedCertificate's once opened."""
    if isinstance(message, hs.Certificate):
        return message
    if isinstance(message, hs.CompressedCertificate):
        return message.certificate
    return None
