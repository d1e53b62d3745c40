"""`tlslens pki`: a lab PKI, to build the story of trust yourself."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from rich.console import Console
from rich.text import Text

from tlslens.cli.output import replace_file
from tlslens.cli.terminal import PipedConsole
from tlslens.errors import OutputError
from tlslens.x509 import pki as tlspki


@click.group()
def pki() -> None:
    """A lab PKI to build the story of trust yourself: root, intermediate, CSR, certificate,
    OCSP answer, revocation and CRL."""


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _write(path: Path, data: bytes, console: Console, secret: bool = False) -> None:
    """``data`` as the file ``path`` (replace_file: a private key its owner's alone from
    its creation, a failure leaving what was there whole). A failure is the output's
    (exit 1, the file named), not a bug."""
    try:
        if not path.parent.exists():  # (a file in its place: "Not a directory", below)
            path.parent.mkdir(parents=True)
        replace_file(path, data, private=secret)
    except OSError as exc:
        raise OutputError(exc, where=str(path)) from exc
    console.print(Text(f"  wrote {path}", style="dim"))


def _load_ca(ca_dir: Path) -> tlspki.Issued:
    try:
        cert = x509.load_pem_x509_certificate((ca_dir / "intermediate.pem").read_bytes())
        key = load_pem_private_key((ca_dir / "intermediate.key").read_bytes(), None)
    except (OSError, ValueError) as exc:
        raise click.ClickException(
            f"{ca_dir}: no usable intermediate CA ({exc}); run `tlslens pki init` first"
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise click.ClickException(f"{ca_dir}/intermediate.key: not an RSA or EC key")
    return tlspki.Issued(cert, key, "")


_CA_FILES = ("root.pem", "root.key", "intermediate.pem", "intermediate.key")


@pki.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--root-cn", default="tlslens lab root CA", show_default=True)
@click.option("--intermediate-cn", default="tlslens lab intermediate CA", show_default=True)
@click.option(
    "--key-type",
    type=click.Choice(["ec", "rsa"]),
    default="ec",
    show_default=True,
    help="Key of both CAs; rsa lets `certs` show the RSA signature arithmetic on each link.",
)
@click.option("--force", is_flag=True, help="Replace a CA that DIRECTORY already holds.")
def pki_init(
    directory: Path, root_cn: str, intermediate_cn: str, key_type: str, force: bool
) -> None:
    """Create a root CA and an intermediate CA in DIRECTORY."""
    existing = [name for name in _CA_FILES if (directory / name).exists()]
    if existing and not force:
        raise click.ClickException(
            f"{directory} already holds a CA ({', '.join(existing)}): a new root key would orphan "
            "every certificate the old one issued. Give --force to replace it."
        )
    console = PipedConsole(highlight=False, soft_wrap=True)
    now = _now()
    root = tlspki.make_root(root_cn, now=now, key=tlspki.new_key(key_type))
    console.print(Text("1. " + root.story))
    assert root.key is not None
    _write(directory / "root.pem", tlspki.pem_cert(root.certificate), console)
    _write(directory / "root.key", tlspki.pem_key(root.key), console, secret=True)
    inter = tlspki.make_intermediate(intermediate_cn, root, now=now, key=tlspki.new_key(key_type))
    console.print(Text("2. " + inter.story))
    assert inter.key is not None
    _write(directory / "intermediate.pem", tlspki.pem_cert(inter.certificate), console)
    _write(directory / "intermediate.key", tlspki.pem_key(inter.key), console, secret=True)
    (directory / _REVOKED).unlink(missing_ok=True)  # a new CA has revoked nothing
    console.print(
        Text(
            f"Give {directory / 'root.pem'} to clients as their trust anchor (e.g. --ca); servers send "
            "their certificate followed by intermediate.pem."
        )
    )


@pki.command("csr")
@click.option("--cn", required=True, help="Common name of the subject.")
@click.option(
    "--san", "sans", multiple=True, help="A DNS name the certificate will cover; repeatable."
)
@click.option("--key-type", type=click.Choice(["ec", "rsa"]), default="ec", show_default=True)
@click.option(
    "--out",
    "prefix",
    required=True,
    type=click.Path(path_type=Path),
    help="Write PREFIX.key and PREFIX.csr.",
)
@click.option("--force", is_flag=True, help="Replace a key that PREFIX.key already holds.")
def pki_csr(cn: str, sans: tuple[str, ...], key_type: str, prefix: Path, force: bool) -> None:
    """Make a private key and a certificate signing request."""
    if prefix.with_suffix(".key").exists() and not force:
        # As `pki init` does for a CA: the certificate issued for the old key would no
        # longer match it (newcomer's trial: it was replaced without a word).
        raise click.ClickException(
            f"{prefix.with_suffix('.key')} already exists: a new key would no longer match "
            "the certificate issued for it. Give --force to replace it."
        )
    console = PipedConsole(highlight=False, soft_wrap=True)
    csr, key, story = tlspki.make_csr(cn, list(sans), tlspki.new_key(key_type))
    console.print(Text(story))
    _write(prefix.with_suffix(".key"), tlspki.pem_key(key), console, secret=True)
    _write(prefix.with_suffix(".csr"), csr.public_bytes(Encoding.PEM), console)


@pki.command("sign")
@click.argument("csr_path", metavar="CSR", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--ca-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The directory `tlslens pki init` made.",
)
@click.option("--days", default=365, show_default=True)
@click.option("--client", is_flag=True, help="Issue a client certificate instead of a server one.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Certificate file; OUT.chain.pem gets the certificate and the intermediate.",
)
def pki_sign(csr_path: Path, ca_dir: Path, days: int, client: bool, out: Path) -> None:
    """Issue a certificate for CSR from the intermediate CA."""
    console = PipedConsole(highlight=False, soft_wrap=True)
    ca = _load_ca(ca_dir)
    try:
        csr = x509.load_pem_x509_csr(csr_path.read_bytes())
        issued = tlspki.sign_csr(csr, ca, now=_now(), days=days, client=client)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{csr_path}: {exc}") from exc
    console.print(Text(issued.story))
    _write(out, tlspki.pem_cert(issued.certificate), console)
    chain = tlspki.pem_cert(issued.certificate) + tlspki.pem_cert(ca.certificate)
    _write(out.with_suffix(".chain.pem"), chain, console)


@pki.command("ocsp")
@click.argument("cert_path", metavar="CERT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ca-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--revoked", is_flag=True, help="Say the certificate is revoked.")
@click.option("--days", default=7, show_default=True, help="How long the response is valid.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def pki_ocsp(cert_path: Path, ca_dir: Path, revoked: bool, days: int, out: Path) -> None:
    """Make a signed OCSP response for CERT (DER), for a server to staple."""
    console = PipedConsole(highlight=False, soft_wrap=True)
    ca = _load_ca(ca_dir)
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{cert_path}: {exc}") from exc
    try:
        der, story = tlspki.make_ocsp_response(
            cert, ca, now=_now(), revoked=revoked, valid_days=days
        )
    except ValueError as exc:
        raise click.ClickException(f"{cert_path}: {exc}; its own CA must answer for it") from exc
    console.print(Text(story))
    _write(out, der, console)


_REVOKED = "revoked.txt"  # one line per revoked serial: hex serial, ISO time


def _revoked(ca_dir: Path) -> dict[int, datetime]:
    path = ca_dir / _REVOKED
    revoked: dict[int, datetime] = {}
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return revoked
    for number, line in enumerate(lines, start=1):
        try:
            serial, when = line.split()
            revoked[int(serial, 16)] = datetime.fromisoformat(when)
        except ValueError as exc:
            raise click.ClickException(f"{path}, line {number}: not 'SERIAL TIME'") from exc
    return revoked


@pki.command("revoke")
@click.argument("cert_path", metavar="CERT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ca-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--days", default=7, show_default=True, help="How long the CRL is valid.")
def pki_revoke(cert_path: Path, ca_dir: Path, days: int) -> None:
    """Revoke CERT and publish the intermediate's CRL (CA-DIR/intermediate.crl, DER)."""
    console = PipedConsole(highlight=False, soft_wrap=True)
    ca = _load_ca(ca_dir)
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        tlspki.verify_issued_by(cert, ca.certificate)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{cert_path}: {exc}") from exc
    now = _now()
    revoked = _revoked(ca_dir)
    if cert.serial_number in revoked:
        console.print(
            Text(
                f"serial {cert.serial_number:x} was already revoked on {revoked[cert.serial_number]:%Y-%m-%d}"
            )
        )
    revoked.setdefault(cert.serial_number, now)
    text = "".join(f"{serial:x} {when.isoformat()}\n" for serial, when in revoked.items())
    _write(ca_dir / _REVOKED, text.encode(), console)
    der, story = tlspki.make_crl(ca, list(revoked), now=now, days=days, revoked_at=revoked)
    console.print(Text(story))
    _write(ca_dir / "intermediate.crl", der, console)
    console.print(
        Text(
            "Clients that fetch this CRL (its URL goes in a certificate's CRL distribution "
            "points) refuse the revoked certificates; a stapled OCSP answer says the same "
            "per certificate (`tlslens pki ocsp --revoked`)."
        )
    )
