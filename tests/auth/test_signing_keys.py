"""Loading signing keys from PEM text, base64-encoded PEM text and files."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flowcore_auth import KeyLoadError, load_private_key, load_public_key
from flowcore_auth.keys import (
    load_private_key_file,
    load_public_key_from_environment,
    public_key_to_pem,
)

NOT_A_KEY = (
    "PUBLIC_JWT_SIGNING_KEY does not contain a usable public key: expected PEM text "
    "('-----BEGIN ...-----') or the same PEM text base64-encoded"
)


def encode(text: str) -> str:
    """Base64-encode text on one line."""
    return base64.b64encode(text.encode("ascii")).decode("ascii")


def test_public_key_from_pem(key_pair: tuple[str, str]) -> None:
    key = load_public_key(key_pair[1])

    assert key.key_size == 2048
    assert public_key_to_pem(key) == key_pair[1]


def test_public_key_from_base64(key_pair: tuple[str, str]) -> None:
    assert public_key_to_pem(load_public_key(encode(key_pair[1]))) == key_pair[1]


def test_public_key_from_wrapped_base64(key_pair: tuple[str, str]) -> None:
    wrapped = base64.encodebytes(key_pair[1].encode("ascii")).decode("ascii")

    assert "\n" in wrapped.strip()
    assert public_key_to_pem(load_public_key(wrapped)) == key_pair[1]


def test_public_key_from_bytes_with_padding(key_pair: tuple[str, str]) -> None:
    assert public_key_to_pem(load_public_key(f"\n  {key_pair[1]}\n".encode())) == key_pair[1]


def test_public_key_pkcs1_pem(key_pair: tuple[str, str]) -> None:
    pkcs1 = (
        load_public_key(key_pair[1])
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        .decode("ascii")
    )

    assert pkcs1.startswith("-----BEGIN RSA PUBLIC KEY-----")
    assert public_key_to_pem(load_public_key(pkcs1)) == key_pair[1]


def test_public_key_from_environment(key_pair: tuple[str, str]) -> None:
    key = load_public_key_from_environment({"PUBLIC_JWT_SIGNING_KEY": encode(key_pair[1])})

    assert public_key_to_pem(key) == key_pair[1]


def test_public_key_environment_unset() -> None:
    with pytest.raises(KeyLoadError) as raised:
        load_public_key_from_environment({})

    assert str(raised.value).startswith("PUBLIC_JWT_SIGNING_KEY is not set;")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "",
            "PUBLIC_JWT_SIGNING_KEY is empty; expected an RSA public key in PEM form",
            id="empty",
        ),
        pytest.param(
            " \n ",
            "PUBLIC_JWT_SIGNING_KEY is empty; expected an RSA public key in PEM form",
            id="blank",
        ),
        pytest.param("not a key at all", NOT_A_KEY, id="garbage"),
        pytest.param(encode("still not a key"), NOT_A_KEY, id="base64 garbage"),
        pytest.param(
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", NOT_A_KEY, id="bad pem"
        ),
    ],
)
def test_public_key_invalid(text: str, message: str) -> None:
    with pytest.raises(KeyLoadError) as raised:
        load_public_key(text)

    assert str(raised.value) == message


def test_public_key_private_pem_rejected(key_pair: tuple[str, str]) -> None:
    with pytest.raises(KeyLoadError) as raised:
        load_public_key(key_pair[0])

    assert str(raised.value) == NOT_A_KEY


def test_public_key_not_rsa() -> None:
    ec_pem = public_key_to_pem(ec.generate_private_key(ec.SECP256R1()).public_key())  # type: ignore[arg-type]

    with pytest.raises(KeyLoadError) as raised:
        load_public_key(ec_pem)

    assert str(raised.value) == (
        "PUBLIC_JWT_SIGNING_KEY contains a key of type ECPublicKey, "
        "but RS256 needs an RSA public key"
    )


def test_public_key_too_short() -> None:
    short_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)

    with pytest.raises(KeyLoadError) as raised:
        load_public_key(public_key_to_pem(short_key.public_key()), source="the test key")

    assert str(raised.value) == (
        "the test key contains a 1024-bit RSA key; at least 2048 bits are required"
    )


def test_private_key_from_pem_and_base64(key_pair: tuple[str, str]) -> None:
    from_pem = load_private_key(key_pair[0])
    from_base64 = load_private_key(encode(key_pair[0]))

    assert public_key_to_pem(from_pem.public_key()) == key_pair[1]
    assert public_key_to_pem(from_base64.public_key()) == key_pair[1]


def test_private_key_traditional_pem(key_pair: tuple[str, str]) -> None:
    traditional = (
        load_private_key(key_pair[0])
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        .decode("ascii")
    )

    assert traditional.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert public_key_to_pem(load_private_key(traditional).public_key()) == key_pair[1]


def test_private_key_encrypted_rejected(key_pair: tuple[str, str]) -> None:
    encrypted = load_private_key(key_pair[0]).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"a passphrase"),
    )

    with pytest.raises(KeyLoadError) as raised:
        load_private_key(encrypted, source="the test key")

    assert str(raised.value).startswith("the test key contains an encrypted private key;")


def test_private_key_public_pem_rejected(key_pair: tuple[str, str]) -> None:
    with pytest.raises(KeyLoadError) as raised:
        load_private_key(key_pair[1])

    assert str(raised.value) == (
        "PRIVATE_JWT_SIGNING_KEY does not contain a usable private key: expected PEM text "
        "('-----BEGIN ...-----') or the same PEM text base64-encoded"
    )


def test_private_key_file(tmp_path: Path, key_pair: tuple[str, str]) -> None:
    path = tmp_path / "signing.pem"
    path.write_text(key_pair[0])

    assert public_key_to_pem(load_private_key_file(path).public_key()) == key_pair[1]


def test_private_key_file_missing(tmp_path: Path) -> None:
    path = tmp_path / "absent.pem"

    with pytest.raises(KeyLoadError) as raised:
        load_private_key_file(path)

    assert str(raised.value) == (
        f"cannot read private key file {str(path)!r}: No such file or directory"
    )


def test_private_key_file_names_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.pem"
    path.write_text("nonsense")

    with pytest.raises(KeyLoadError) as raised:
        load_private_key_file(path)

    assert str(raised.value).startswith(f"private key file {str(path)!r} does not contain")
