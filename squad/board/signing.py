"""Signed runs: a member's identity is a key, not a name someone typed.

A run claims its record: parameters, metrics, and the sha256 of every file it names
(predictions, figures, the executed notebook) in ``files``. ``squad run`` and
``squad submit`` sign the bytes of ``record.json`` with the member's key and put the
signature beside it, in ``record.json.sig``: OpenSSH's signature format (``SSHSIG``,
namespace ``squad-run``), the file ``ssh-keygen -Y sign -n squad-run -f KEY
record.json`` writes. Anyone can check a run with OpenSSH alone::

    ssh-keygen -Y verify -f signers -I alice -n squad-run -s record.json.sig < record.json

The board verifies the signature over the exact bytes it reads, then checks every file
it uses against the sha256 the record gives, so a signed run cannot be changed by
anyone but its signer.

A group keeps one *signers file*, git's SSH-signing format (``allowed_signers``, see
``ssh-keygen(1)``): one line per key, ``principal[,principal...] [options] key-type
base64-key [comment]``, so members can reuse the keys they sign commits with. The board
shows every run under the first principal of the line that holds its key
(:func:`read_signers`), never under the member a record names.

Keys: :func:`new_key` makes an Ed25519 key (the ``cryptography`` package) at
:func:`default_key_path` (``$SQUAD_SIGNING_KEY``, else ``keys/id_ed25519`` in the user's
config folder), mode 0600, in OpenSSH's format, with the public key beside it in
``.pub``. Signatures by Ed25519, ECDSA (NIST P-256/384/521) and RSA (SHA-2) keys verify;
keys on security tokens (``sk-``) do not.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import fnmatch
import hashlib
import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from squad.board.names import normalize_name
from squad.board.safety import one_line
from squad.errors import FileProblemError, InvalidInputError, MissingFileError

__all__ = [
    "KEY_ENV",
    "NAMESPACE",
    "SIGNATURE_FILE",
    "SignatureError",
    "Signers",
    "check_principal",
    "default_key_path",
    "key_fingerprint",
    "load_key",
    "new_key",
    "public_key_line",
    "read_signers",
    "sign_bytes",
    "sign_run",
    "verify_bytes",
]

#: The signature of a run, beside its ``record.json`` (``ssh-keygen -Y sign``'s name).
SIGNATURE_FILE = "record.json.sig"
#: The SSHSIG namespace of run signatures (``ssh-keygen -n squad-run``).
NAMESPACE = "squad-run"
#: Environment variable naming the signing key (default: the user's config folder).
KEY_ENV = "SQUAD_SIGNING_KEY"
SIGNATURE_MAX_BYTES = 16_000
SIGNERS_MAX_BYTES = 1_000_000

_MAGIC = b"SSHSIG"
_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_END = "-----END SSH SIGNATURE-----"
_HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)


class SignatureError(ValueError):
    """A signature that does not verify, or cannot be read (the reason is the text)."""


# --------------------------------------------------------------------------- wire format
def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


class _Reader:
    """SSH wire-format fields, each checked against the bytes left."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise SignatureError("the signature is truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def string(self) -> bytes:
        return self.take(self.uint32())

    def mpint(self) -> int:
        return int.from_bytes(self.string(), "big", signed=True)

    def done(self) -> None:
        if self.pos != len(self.data):
            raise SignatureError("the signature has trailing bytes")


def key_fingerprint(blob: bytes) -> str:
    """OpenSSH's fingerprint of a public key blob: ``SHA256:`` and unpadded base64.

    Examples
    --------
    >>> key_fingerprint(b"x")
    'SHA256:LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE'
    """
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii")
    return "SHA256:" + digest.rstrip("=")


def _public_blob(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    if hasattr(key, "public_key"):  # a private key
        key = key.public_key()
    line = key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return base64.b64decode(line.split()[1])


def _signed_data(namespace: str, hash_name: str, message: bytes) -> bytes:
    digest = _HASHES[hash_name](message).digest()
    return (
        _MAGIC
        + _string(namespace.encode())
        + _string(b"")
        + _string(hash_name.encode())
        + _string(digest)
    )


def sign_bytes(key: Any, message: bytes, *, namespace: str = NAMESPACE) -> str:
    """Sign ``message`` with an Ed25519 key, as ``ssh-keygen -Y sign`` does (armored).

    Parameters
    ----------
    key : cryptography Ed25519PrivateKey
        The signing key (see :func:`load_key`).
    message : bytes
        What is signed (a run's ``record.json``).
    namespace : str, default="squad-run"
        The SSHSIG namespace.

    Returns
    -------
    str
        ``-----BEGIN SSH SIGNATURE-----`` ... ``-----END SSH SIGNATURE-----``.

    Examples
    --------
    >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    >>> key = Ed25519PrivateKey.generate()
    >>> armored = sign_bytes(key, b"record")
    >>> verify_bytes(armored, b"record") == _public_blob(key)
    True
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not isinstance(key, Ed25519PrivateKey):
        msg = "squad signs with Ed25519 keys only; make one with `squad keys new`."
        raise InvalidInputError(msg)
    signature = key.sign(_signed_data(namespace, "sha512", message))
    blob = (
        _MAGIC
        + struct.pack(">I", 1)
        + _string(_public_blob(key))
        + _string(namespace.encode())
        + _string(b"")
        + _string(b"sha512")
        + _string(_string(b"ssh-ed25519") + _string(signature))
    )
    text = base64.b64encode(blob).decode("ascii")
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    return "\n".join([_BEGIN, *lines, _END]) + "\n"


def _unarmor(armored: str) -> bytes:
    lines = [line.strip() for line in armored.strip().splitlines()]
    if len(lines) < 3 or lines[0] != _BEGIN or lines[-1] != _END:
        raise SignatureError("it is not an SSH signature (BEGIN/END lines)")
    try:
        return base64.b64decode("".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError) as err:
        raise SignatureError("its base64 text is broken") from err


def _verify_key_signature(public: bytes, signature: bytes, data: bytes) -> None:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    key_type = _Reader(public).string().decode("ascii", "replace")
    if key_type not in _KEY_TYPES:
        raise SignatureError(f"keys of type {one_line(key_type, 40)} are not supported")
    try:
        line = key_type.encode() + b" " + base64.b64encode(public)
        key = serialization.load_ssh_public_key(line)
    except (ValueError, UnsupportedAlgorithm) as err:
        raise SignatureError("its public key is broken") from err
    reader = _Reader(signature)
    algorithm = reader.string().decode("ascii", "replace")
    raw = reader.string()
    reader.done()
    try:
        if isinstance(key, ed25519.Ed25519PublicKey) and algorithm == "ssh-ed25519":
            key.verify(raw, data)
        elif isinstance(key, rsa.RSAPublicKey) and algorithm in (
            "rsa-sha2-256",
            "rsa-sha2-512",
        ):
            chosen = hashes.SHA256() if algorithm.endswith("256") else hashes.SHA512()
            key.verify(raw, data, padding.PKCS1v15(), chosen)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm == key_type:
            size = key.curve.key_size
            chosen = (
                hashes.SHA256()
                if size <= 256
                else hashes.SHA384()
                if size <= 384
                else hashes.SHA512()
            )
            point = _Reader(raw)
            r, s = point.mpint(), point.mpint()
            point.done()
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(chosen))
        else:
            msg = f"signature type {one_line(algorithm, 40)} does not fit the key"
            raise SignatureError(msg)
    except InvalidSignature as err:
        raise SignatureError("the signature does not match the record") from err


def verify_bytes(armored: str, message: bytes, *, namespace: str = NAMESPACE) -> bytes:
    """Verify an SSH signature of ``message``; return the signer's public key blob.

    Parameters
    ----------
    armored : str
        The signature file's text.
    message : bytes
        The exact bytes that were signed.
    namespace : str, default="squad-run"
        The namespace the signature must have.

    Returns
    -------
    bytes
        The public key (SSH wire format) that made the signature.

    Raises
    ------
    SignatureError
        If it cannot be read, is for another namespace, or does not verify.
    """
    reader = _Reader(_unarmor(armored))
    if reader.take(6) != _MAGIC or reader.uint32() != 1:
        raise SignatureError("it is not an SSHSIG version 1 signature")
    public = reader.string()
    space = reader.string()
    reader.string()  # reserved
    hash_name = reader.string().decode("ascii", "replace")
    signature = reader.string()
    reader.done()
    if space != namespace.encode():
        shown = one_line(space.decode("utf-8", "replace"), 40)
        raise SignatureError(f"it is for namespace {shown!r}, not {namespace!r}")
    if hash_name not in _HASHES:
        raise SignatureError(f"hash {one_line(hash_name, 20)!r} is not sha256/sha512")
    _verify_key_signature(
        public, signature, _signed_data(namespace, hash_name, message)
    )
    return public


# --------------------------------------------------------------------------- keys
def default_key_path() -> Path:
    """Where the signing key is: ``$SQUAD_SIGNING_KEY``, else the config folder's.

    Examples
    --------
    >>> default_key_path().name
    'id_ed25519'
    """
    given = os.environ.get(KEY_ENV)
    if given:
        return Path(given).expanduser()
    import platformdirs

    return platformdirs.user_config_path("squad") / "keys" / "id_ed25519"


def _pub_line(public: bytes, comment: str) -> str:
    key_type = _Reader(public).string().decode("ascii")
    text = f"{key_type} {base64.b64encode(public).decode('ascii')}"
    return f"{text} {comment}".strip()


def new_key(path: str | os.PathLike[str] | None = None, *, comment: str = "") -> Path:
    """Make an Ed25519 signing key (mode 0600) and its ``.pub`` beside it.

    Parameters
    ----------
    path : path-like, optional
        Where to write it; default :func:`default_key_path`. Its folder is made 0700.
    comment : str, default=""
        Text after the public key (e.g. the member's name).

    Returns
    -------
    pathlib.Path
        The private key's path.

    Raises
    ------
    FileExistsError
        If a key is already there (it is never overwritten).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path) if path is not None else default_key_path()
    if path.exists() or path.is_symlink():
        msg = (
            f"A key already exists at {path}; it is kept. Use it, or pass "
            "--key PATH to make another."
        )
        raise FileProblemError(msg)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private)
    os.chmod(path, 0o600)  # whatever the umask
    pub = Path(f"{path}.pub")
    pub.write_text(_pub_line(_public_blob(key), one_line(comment, 100)) + "\n")
    return path


def load_key(path: str | os.PathLike[str] | None = None) -> Any:
    """Read an unencrypted Ed25519 private key in OpenSSH's format.

    Raises
    ------
    squad.errors.MissingFileError
        If there is no key (make one with ``squad keys new``).
    squad.errors.FileProblemError
        If others can read it, it has a passphrase, or it is not an Ed25519 key.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path) if path is not None else default_key_path()
    if not path.is_file():
        msg = f"No signing key at {path}: make one with `squad keys new`."
        raise MissingFileError(msg)
    if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
        mode = oct(stat.S_IMODE(path.stat().st_mode))
        msg = f"Signing key {path} is readable by others (mode {mode}): chmod 600 it."
        raise FileProblemError(msg)
    try:
        key = serialization.load_ssh_private_key(path.read_bytes(), password=None)
    except TypeError as err:  # encrypted
        msg = (
            f"Signing key {path} has a passphrase; sign with OpenSSH instead: "
            f"ssh-keygen -Y sign -n {NAMESPACE} -f {path} record.json"
        )
        raise FileProblemError(msg) from err
    except ValueError as err:
        msg = f"{path} is not an OpenSSH private key ({err})."
        raise FileProblemError(msg) from err
    if not isinstance(key, Ed25519PrivateKey):
        msg = (
            f"Signing key {path} is not an Ed25519 key; make one with `squad keys new`."
        )
        raise FileProblemError(msg)
    return key


def check_principal(name: str) -> str:
    """``name`` (NFKC) as a signers-file principal; refuse what cannot be one.

    Raises
    ------
    squad.errors.InvalidInputError
        For an empty name, white space, commas, quotes, wildcards or characters that
        are not printable.

    Examples
    --------
    >>> check_principal("statcan")
    'statcan'
    """
    name = normalize_name(name)
    if (
        not name
        or not name.isprintable()
        or any(ch.isspace() or ch in ',"*?!' for ch in name)
    ):
        msg = (
            f"Member name {one_line(name, 60)!r} cannot be a signers-file principal: "
            "use letters, digits, '@', '.', '-' or '_'."
        )
        raise InvalidInputError(msg)
    return name


def public_key_line(key: Any, name: str) -> str:
    """The signers-file line of ``key`` for member ``name``.

    Examples
    --------
    >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    >>> public_key_line(Ed25519PrivateKey.generate(), "ons").split()[:2]
    ['ons', 'ssh-ed25519']
    """
    return f"{check_principal(name)} {_pub_line(_public_blob(key), '')}"


# --------------------------------------------------------------------------- signers
@dataclass
class Signers:
    """A group's signers file: public key (base64) -> the name the board shows."""

    path: Path
    names: dict[str, str] = field(default_factory=dict)
    #: Lines left out (unsupported options or key types), as one-line notes.
    skipped: list[str] = field(default_factory=list)

    def name_of(self, public: bytes) -> str | None:
        """The name of the key ``public`` (wire format), or None if not listed."""
        return self.names.get(base64.b64encode(public).decode("ascii"))


def _tokens(line: str, where: str) -> list[str]:
    """Split on white space outside double quotes (quotes kept)."""
    out, current, quoted = [], "", False
    for ch in line:
        if ch == '"':
            quoted = not quoted
            current += ch
        elif ch.isspace() and not quoted:
            if current:
                out.append(current)
            current = ""
        else:
            current += ch
    if quoted:
        raise InvalidInputError(f"{where}: a double quote is not closed.")
    if current:
        out.append(current)
    return out


def _options(text: str, where: str) -> dict[str, str]:
    out, current, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append(current)
            current = ""
            continue
        current += ch
    out.append(current)
    options = {}
    for item in out:
        name, _, value = item.partition("=")
        options[name.strip().lower()] = value.strip().strip('"')
    known = {"namespaces", "cert-authority", "valid-after", "valid-before"}
    unknown = sorted(set(options) - known)
    if unknown:
        shown = one_line(", ".join(unknown), 80)
        raise InvalidInputError(f"{where}: unknown option {shown}.")
    return options


def _stamp(text: str) -> dt.datetime:
    """An allowed-signers time (YYYYMMDD[HHMM[SS]][Z]) as an aware datetime."""
    utc = text.endswith("Z")
    digits = text.rstrip("Z")
    formats = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}
    moment = dt.datetime.strptime(digits, formats[len(digits)])
    return moment.replace(tzinfo=dt.UTC) if utc else moment.astimezone()


def _in_force(options: dict[str, str], where: str) -> bool:
    now = dt.datetime.now(dt.UTC)
    try:
        after = options.get("valid-after")
        before = options.get("valid-before")
        if after and now < _stamp(after):
            return False
        if before and now > _stamp(before):
            return False
    except (KeyError, ValueError) as err:
        raise InvalidInputError(
            f"{where}: a validity time is not YYYYMMDD[HHMM[SS]][Z]."
        ) from err
    return True


def read_signers(path: str | os.PathLike[str]) -> Signers:
    """Read a group's signers file (git's ``allowed_signers`` format).

    Each line: ``principals [options] key-type base64-key [comment]``; ``#`` starts a
    comment line. The first principal (NFKC-normalised) is the name the board shows for
    runs signed by that key. Lines whose ``namespaces=`` leave out ``squad-run``, or
    whose ``valid-after``/``valid-before`` exclude now, do not count; ``cert-authority``
    lines and security-token keys are left out with a note.

    Raises
    ------
    squad.errors.MissingFileError
        If the file does not exist.
    squad.errors.InvalidInputError
        For a malformed line (named by its number), a wildcard principal, or a key
        listed under two different names.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    >>> key = Ed25519PrivateKey.generate()
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "signers"
    >>> _ = f.write_text("# the group\\n" + public_key_line(key, "ons") + " laptop\\n")
    >>> list(read_signers(f).names.values())
    ['ons']
    """
    path = Path(path)
    if not path.is_file():
        msg = f"No signers file at {path}: the group keeps one (see docs/board.md)."
        raise MissingFileError(msg)
    data = path.read_bytes()[: SIGNERS_MAX_BYTES + 1]
    if len(data) > SIGNERS_MAX_BYTES:
        msg = f"Signers file {path} is larger than {SIGNERS_MAX_BYTES:,} bytes."
        raise InvalidInputError(msg)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidInputError(f"Signers file {path} is not UTF-8.") from err
    signers = Signers(path=path)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"Signers file {path} line {number}"
        parts = _tokens(line, where)
        options: dict[str, str] = {}
        if len(parts) >= 3 and not parts[1].startswith(("ssh-", "ecdsa-", "sk-")):
            options = _options(parts[1], where)
            parts = [parts[0], *parts[2:]]
        if len(parts) < 3:
            msg = f"{where} is not 'principal key-type base64-key'."
            raise InvalidInputError(msg)
        principals, key_type, key_text = parts[0].strip('"'), parts[1], parts[2]
        if "cert-authority" in options or key_type.startswith("sk-"):
            signers.skipped.append(
                f"line {number}: certificate authorities and security-token keys "
                "are not supported"
            )
            continue
        if key_type not in _KEY_TYPES:
            msg = f"{where}: key type {one_line(key_type, 40)!r} is not supported."
            raise InvalidInputError(msg)
        spaces = [s.strip() for s in options.get("namespaces", "").split(",") if s]
        if spaces and not any(fnmatch.fnmatchcase(NAMESPACE, s) for s in spaces):
            continue
        if not _in_force(options, where):
            continue
        names = [normalize_name(p) for p in principals.split(",")]
        if not names[0] or any(set(n) & set("*?!") for n in names):
            msg = (
                f"{where}: principal {one_line(principals, 60)!r} must be a plain name."
            )
            raise InvalidInputError(msg)
        try:
            blob = base64.b64decode(key_text, validate=True)
            if _Reader(blob).string().decode("ascii", "replace") != key_type:
                raise ValueError("key type differs")
        except (binascii.Error, ValueError, SignatureError) as err:
            msg = f"{where}: the base64 key is broken."
            raise InvalidInputError(msg) from err
        key = base64.b64encode(blob).decode("ascii")
        known = signers.names.get(key)
        if known is not None and known != names[0]:
            msg = (
                f"{where}: the key is already listed for {one_line(known, 60)!r}; "
                "one key is one member."
            )
            raise InvalidInputError(msg)
        signers.names[key] = names[0]
    return signers


# --------------------------------------------------------------------------- runs
def sign_run(folder: str | os.PathLike[str], key: Any) -> Path:
    """Sign a run folder: its ``record.json`` bytes, after checking every file it names.

    Parameters
    ----------
    folder : path-like
        The run folder.
    key : cryptography Ed25519PrivateKey
        See :func:`load_key`.

    Returns
    -------
    pathlib.Path
        The signature file (``record.json.sig``), written atomically.

    Raises
    ------
    squad.errors.FileProblemError
        If a file the record names is missing or differs from its sha256 (a changed
        run is never signed).
    """
    import json

    from squad._atomic import atomic_write_text, file_sha256

    folder = Path(folder)
    record_path = folder / "record.json"
    try:
        message = record_path.read_bytes()
    except OSError as err:
        msg = f"No run record at {record_path}: nothing to sign."
        raise MissingFileError(msg) from err
    try:
        record = json.loads(message)
        files = record.get("files") or {}
        items = list(files.items())
    except (ValueError, AttributeError) as err:
        msg = f"Run record {record_path} is not a JSON object with files; not signed."
        raise InvalidInputError(msg) from err
    base = folder.resolve()
    for rel, entry in items:
        pure = PurePosixPath(str(rel))
        target = (base / pure).resolve()
        wanted = entry.get("sha256") if isinstance(entry, dict) else None
        if pure.is_absolute() or ".." in pure.parts or not target.is_relative_to(base):
            msg = f"Run {folder} names file {one_line(rel, 80)!r} outside its folder."
            raise FileProblemError(msg)
        if not target.is_file() or (wanted and file_sha256(target) != wanted):
            msg = (
                f"Run {folder}: file {one_line(rel, 80)!r} is missing or differs from "
                "the sha256 its record gives; it is not signed."
            )
            raise FileProblemError(msg)
    return atomic_write_text(folder / SIGNATURE_FILE, sign_bytes(key, message))
