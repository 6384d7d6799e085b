"""Load the RSA keys that sign tokens (private) and verify them (public).

A key arrives as PEM text or as the same PEM text base64-encoded, which fits on one line in an
environment variable. Loading tries PEM first, then base64-decodes and tries PEM again.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from flowcore_auth.errors import KeyLoadError

__all__ = [
    "MINIMUM_RSA_KEY_SIZE",
    "PRIVATE_KEY_VARIABLE",
    "PUBLIC_KEY_VARIABLE",
    "load_private_key",
    "load_private_key_file",
    "load_public_key",
    "load_public_key_from_environment",
    "private_key_to_pem",
    "public_key_to_pem",
]

#: Environment variable holding the public key the server verifies tokens with.
PUBLIC_KEY_VARIABLE = "PUBLIC_JWT_SIGNING_KEY"
#: Environment variable that may hold the private key tokens are signed with.
PRIVATE_KEY_VARIABLE = "PRIVATE_JWT_SIGNING_KEY"
#: Smallest RSA modulus, in bits, accepted for RS256 (NIST SP 800-131A disallows less).
MINIMUM_RSA_KEY_SIZE = 2048


def load_public_key(text: str | bytes, *, source: str = PUBLIC_KEY_VARIABLE) -> RSAPublicKey:
    """Load an RSA public key from PEM text or base64-encoded PEM text.

    ``source`` names where the text came from (a variable or a file) in error messages.
    Raises KeyLoadError when the text is neither form or the key is not RSA of at least
    MINIMUM_RSA_KEY_SIZE bits.
    """
    key = _load_pem_or_base64_pem(
        text, serialization.load_pem_public_key, source=source, kind="public key"
    )
    if not isinstance(key, RSAPublicKey):
        raise KeyLoadError(
            f"{source} contains a key of type {_key_type_name(key)}, "
            "but RS256 needs an RSA public key"
        )
    _check_key_size(key.key_size, source)
    return key


def load_public_key_from_environment(environ: Mapping[str, str] | None = None) -> RSAPublicKey:
    """Load the public key from the PUBLIC_JWT_SIGNING_KEY environment variable."""
    environ = os.environ if environ is None else environ
    text = environ.get(PUBLIC_KEY_VARIABLE)
    if not text:
        raise KeyLoadError(
            f"{PUBLIC_KEY_VARIABLE} is not set; set it to the RSA public key that verifies "
            "tokens, as PEM text or base64-encoded PEM (see 'flowcore token keygen')"
        )
    return load_public_key(text, source=PUBLIC_KEY_VARIABLE)


def load_private_key(text: str | bytes, *, source: str = PRIVATE_KEY_VARIABLE) -> RSAPrivateKey:
    """Load an unencrypted RSA private key from PEM text or base64-encoded PEM text.

    Raises KeyLoadError naming ``source`` when the text is neither form, the key is
    encrypted, or it is not RSA of at least MINIMUM_RSA_KEY_SIZE bits.
    """

    def load(data: bytes) -> Any:
        return serialization.load_pem_private_key(data, password=None)

    key = _load_pem_or_base64_pem(text, load, source=source, kind="private key")
    if not isinstance(key, RSAPrivateKey):
        raise KeyLoadError(
            f"{source} contains a key of type {_key_type_name(key)}, "
            "but RS256 needs an RSA private key"
        )
    _check_key_size(key.key_size, source)
    return key


def load_private_key_file(path: str | os.PathLike[str]) -> RSAPrivateKey:
    """Read and load an RSA private key file (PEM or base64-encoded PEM)."""
    file_path = Path(path)
    try:
        data = file_path.read_bytes()
    except OSError as error:
        raise KeyLoadError(
            f"cannot read private key file {str(file_path)!r}: {error.strerror}"
        ) from None
    return load_private_key(data, source=f"private key file {str(file_path)!r}")


def private_key_to_pem(key: RSAPrivateKey) -> str:
    """Serialise a private key as unencrypted PKCS#8 PEM text."""
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode("ascii")


def public_key_to_pem(key: RSAPublicKey) -> str:
    """Serialise a public key as SubjectPublicKeyInfo PEM text."""
    return key.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    ).decode("ascii")


def _load_pem_or_base64_pem(
    text: str | bytes, load: Callable[[bytes], Any], *, source: str, kind: str
) -> Any:
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    data = data.strip()
    if not data:
        raise KeyLoadError(f"{source} is empty; expected an RSA {kind} in PEM form")

    encrypted = False
    for candidate in (data, _base64_decode(data)):
        if candidate is None:
            continue
        try:
            return load(candidate)
        except TypeError:
            # cryptography raises TypeError when a private key needs a password.
            encrypted = True
        except (ValueError, UnsupportedAlgorithm):
            pass

    if encrypted:
        raise KeyLoadError(
            f"{source} contains an encrypted {kind}; provide it without a password "
            "(for example 'openssl pkey -in KEY -out PLAIN')"
        )
    raise KeyLoadError(
        f"{source} does not contain a usable {kind}: expected PEM text "
        f"('-----BEGIN ...-----') or the same PEM text base64-encoded"
    )


def _base64_decode(data: bytes) -> bytes | None:
    # Base64 text may be wrapped over several lines, so drop whitespace before the strict decode.
    compact = b"".join(data.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None


def _check_key_size(key_size: int, source: str) -> None:
    if key_size < MINIMUM_RSA_KEY_SIZE:
        raise KeyLoadError(
            f"{source} contains a {key_size}-bit RSA key; at least "
            f"{MINIMUM_RSA_KEY_SIZE} bits are required"
        )


def _key_type_name(key: object) -> str:
    # cryptography's class names, such as ECPublicKey or Ed25519PrivateKey.
    return type(key).__name__.removeprefix("_")
