"""The ``flowcore token`` commands: generate a signing key pair and issue access tokens."""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from flowcore_auth.errors import KeyLoadError
from flowcore_auth.keys import (
    MINIMUM_RSA_KEY_SIZE,
    PRIVATE_KEY_VARIABLE,
    PUBLIC_KEY_VARIABLE,
    load_private_key,
    load_private_key_file,
)
from flowcore_auth.server_spec import ServerSpecError, fetch_token_scheme
from flowcore_auth.tokens import DEFAULT_KEY_SIZE, generate_key_pair, issue_token, parse_lifetime

__all__ = ["ALL_SCOPES_ROLE", "PRIVATE_KEY_FILENAME", "PUBLIC_KEY_FILENAME", "token"]

#: File names that ``keygen`` writes into its output folder.
PRIVATE_KEY_FILENAME = "jwt-signing-key.pem"
PUBLIC_KEY_FILENAME = "jwt-signing-key.pub.pem"
#: Role that contains every scope in a token issued with ``--all-scopes`` (FlowKit's name for it).
ALL_SCOPES_ROLE = "universal_role"


@click.group()
def token() -> None:
    """Create signing keys and issue access tokens for the API."""


@token.command()
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Folder to write the two key files into; created when missing.",
)
@click.option(
    "--key-size",
    type=click.IntRange(min=MINIMUM_RSA_KEY_SIZE),
    default=DEFAULT_KEY_SIZE,
    show_default=True,
    help="RSA modulus size in bits.",
)
@click.option("--force", is_flag=True, help="Overwrite key files that already exist.")
def keygen(out_dir: Path, key_size: int, force: bool) -> None:
    """Write a new RSA key pair for signing and verifying tokens.

    The private key signs tokens and stays with whoever issues them. The public key goes to
    the server, which verifies tokens with it.
    """
    private_path = out_dir / PRIVATE_KEY_FILENAME
    public_path = out_dir / PUBLIC_KEY_FILENAME
    if not force:
        for path in (private_path, public_path):
            if path.exists():
                raise click.ClickException(
                    f"{path} already exists; pass --force to overwrite it or choose "
                    "another --out-dir"
                )

    private_pem, public_pem = generate_key_pair(key_size)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_files_atomically(
            {private_path: (private_pem, 0o600), public_path: (public_pem, 0o644)}
        )
    except OSError as error:
        raise click.ClickException(f"cannot write the key files in {out_dir}: {error}") from None

    encoded_public_key = base64.b64encode(public_pem.encode("ascii")).decode("ascii")
    click.echo(f"Private key: {private_path} (mode 0600; keep it secret, it signs tokens)")
    click.echo(f"Public key:  {public_path}")
    click.echo("Set this where the server runs so that it accepts tokens signed with the key:")
    click.echo(f"export {PUBLIC_KEY_VARIABLE}={encoded_public_key}")


@token.command()
@click.option(
    "--private-key",
    "private_key_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"PEM file of the RSA private key that signs the token. "
    f"Default: the key text in {PRIVATE_KEY_VARIABLE}.",
)
@click.option("--sub", "subject", required=True, help="User name the token is for (sub claim).")
@click.option(
    "--audience",
    help="Name of the server the token is for (aud claim). "
    "Default with --from-spec: the name the server advertises.",
)
@click.option(
    "--lifetime",
    default="1h",
    show_default=True,
    help="How long the token stays valid: a whole number followed by s, m, h or d (30m, 2d).",
)
@click.option(
    "--role",
    "role_options",
    multiple=True,
    metavar="NAME=SCOPE,SCOPE",
    help="Grant the role NAME these scopes; repeat the option for more roles.",
)
@click.option(
    "--all-scopes",
    is_flag=True,
    help=f"Grant every scope the server advertises, in one role named {ALL_SCOPES_ROLE}. "
    "Needs --from-spec.",
)
@click.option(
    "--from-spec",
    "spec_url",
    metavar="URL",
    help="Address of the server's OpenAPI JSON, such as "
    "http://127.0.0.1:9090/api/0/spec/openapi.json. It supplies the audience and, "
    "with --all-scopes, the scopes.",
)
@click.option(
    "--compress/--no-compress",
    default=True,
    show_default=True,
    help="Gzip and base64-encode the user_claims claim, as FlowKit 1.34 tokens do.",
)
def issue(
    private_key_path: Path | None,
    subject: str,
    audience: str | None,
    lifetime: str,
    role_options: Sequence[str],
    all_scopes: bool,
    spec_url: str | None,
    compress: bool,
) -> None:
    """Print a signed access token (RS256) for one user."""
    if all_scopes and spec_url is None:
        raise click.UsageError("--all-scopes needs --from-spec URL to learn the server's scopes")
    token_lifetime = _parse_lifetime_option(lifetime)
    roles = _parse_role_options(role_options)
    private_key = _load_signing_key(private_key_path)

    if spec_url is not None:
        try:
            scheme = fetch_token_scheme(spec_url)
        except ServerSpecError as error:
            raise click.ClickException(str(error)) from None
        if audience is None:
            audience = scheme.audience
        elif audience != scheme.audience:
            click.echo(
                f"Warning: the server at {spec_url} expects the audience {scheme.audience!r}, "
                f"so it will reject this token for {audience!r}",
                err=True,
            )
        unknown = sorted(set().union(*roles.values()) - set(scheme.scopes)) if roles else []
        if unknown:
            click.echo(
                f"Warning: the server at {spec_url} does not advertise these scopes, so they "
                f"allow nothing there (check the spelling): {', '.join(unknown)}",
                err=True,
            )
        if all_scopes:
            roles.setdefault(ALL_SCOPES_ROLE, set()).update(scheme.scopes)

    if audience is None:
        raise click.UsageError(
            "give --audience NAME, or --from-spec URL to read it from the server"
        )
    if not roles:
        click.echo("Warning: the token grants no scopes; add --role or --all-scopes", err=True)

    try:
        token = issue_token(
            private_key,
            subject=subject,
            audience=audience,
            roles=roles,
            lifetime=token_lifetime,
            compress=compress,
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(token)


def _parse_lifetime_option(text: str) -> timedelta:
    try:
        return parse_lifetime(text)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--lifetime'") from None


def _parse_role_options(role_options: Sequence[str]) -> dict[str, set[str]]:
    roles: dict[str, set[str]] = {}
    for option in role_options:
        name, separator, scope_list = option.partition("=")
        name = name.strip()
        scopes = [scope.strip() for scope in scope_list.split(",")]
        if not separator or not name:
            raise click.BadParameter(
                f"{option!r} is not NAME=SCOPE,SCOPE (for example viewer=get_result,run)",
                param_hint="'--role'",
            )
        if not all(scopes):
            raise click.BadParameter(
                f"{option!r} has an empty scope; list scopes separated by single commas",
                param_hint="'--role'",
            )
        roles.setdefault(name, set()).update(scopes)
    return roles


def _load_signing_key(private_key_path: Path | None) -> RSAPrivateKey:
    try:
        if private_key_path is not None:
            return load_private_key_file(private_key_path)
        key_text = os.environ.get(PRIVATE_KEY_VARIABLE)
        if key_text:
            return load_private_key(key_text, source=PRIVATE_KEY_VARIABLE)
    except KeyLoadError as error:
        raise click.ClickException(str(error)) from None
    raise click.UsageError(f"give --private-key FILE or set {PRIVATE_KEY_VARIABLE}")


def _write_files_atomically(contents: dict[Path, tuple[str, int]]) -> None:
    # Each file is written under a temporary name and renamed only once all are written,
    # so a failed write leaves no half-written or lone key file.
    temporary_paths: dict[Path, Path] = {}
    try:
        for path, (text, mode) in contents.items():
            temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            temporary_paths[path] = temporary
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                os.fchmod(handle.fileno(), mode)
                handle.write(text)
        for path, temporary in temporary_paths.items():
            os.replace(temporary, path)
    finally:
        for temporary in temporary_paths.values():
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
