"""The whole exception hierarchy of tlslens."""

from __future__ import annotations


class TLSLensError(Exception):
    """Base of every error tlslens raises on purpose."""


class DecodeError(TLSLensError, ValueError):
    """Malformed bytes: ``layer`` names the parser, ``offset`` the byte where it failed."""

    def __init__(self, msg: str, *, layer: str, offset: int | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.layer = layer
        self.offset = offset

    def __str__(self) -> str:
        where = f" at byte {self.offset}" if self.offset is not None else ""
        return f"{self.layer}: {self.msg}{where}"


class CaptureError(DecodeError):
    """The capture file itself (not a packet inside it) is unreadable."""

    def __str__(self) -> str:
        # Said after the file's name ("x.pcap: the file is empty"): the layer is the file
        # itself, and byte 0 (where every such error is found) tells nothing.
        where = f" at byte {self.offset}" if self.offset else ""
        return f"{self.msg}{where}"


class DecryptError(TLSLensError):
    """A record failed its integrity check (wrong key, or tampered bytes)."""


class UnsupportedCipherError(TLSLensError):
    """The suite's cipher is not available from ``cryptography``."""


class OutputError(TLSLensError):
    """Writing what a command makes failed (a full disk, a device that refuses): the
    output's failure, never a capture's or a connection's. ``where`` names the output,
    ``cause`` is the OSError."""

    def __init__(self, cause: OSError, where: str = "standard output") -> None:
        super().__init__(cause.strerror or str(cause))
        self.cause = cause
        self.where = where

    def __reduce__(self) -> tuple[type[OutputError], tuple[OSError, str]]:
        # Raised in an `extract` worker process, it comes back to the command pickled: by
        # its own arguments, not by its message alone.
        return OutputError, (self.cause, self.where)


class KeyFileError(TLSLensError):
    """A key file that cannot be used; the message says which and why."""


class NotAKeyLogError(KeyFileError):
    """A file given as a key log that is something else (a capture): said, and read
    without it."""


class OptionError(TLSLensError, ValueError):
    """A value given for an option (a secret, a root, a time) that cannot be used:
    ``option`` names the option, the message says why and is safe to print."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option
