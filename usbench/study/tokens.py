"""Secrets of a reader study: reader and admin tokens, their digests, CSRF tokens.

Tokens are 32 random bytes (URL-safe base64, 43 characters). The database keeps only
their SHA-256 digests, so a copy of the database does not give access to the app. The
CSRF token of a reader is an HMAC of the reader's token under the study's secret: the page
receives it from the state endpoint (same origin) and sends it back in a header with every
answer; another site can neither read it nor compute it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")
IMAGE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16}$")


def new_token() -> str:
    """A fresh reader or admin token: 32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def new_image_id() -> str:
    """An opaque image id: 12 random bytes, URL-safe (16 characters)."""
    return secrets.token_urlsafe(12)


def token_digest(token: str) -> str:
    """SHA-256 hex digest of a token: what the database stores and looks tokens up by."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def well_formed_token(token: str) -> bool:
    """Whether ``token`` has the shape of a token (checked before any database lookup)."""
    return bool(TOKEN_PATTERN.fullmatch(token))


def well_formed_image_id(image_id: str) -> bool:
    """Whether ``image_id`` has the shape of an image id (no dots, slashes or escapes)."""
    return bool(IMAGE_ID_PATTERN.fullmatch(image_id))


def csrf_token(secret: str, reader_token: str) -> str:
    """The CSRF token of one reader: HMAC-SHA256(study secret, reader token), hex."""
    return hmac.new(secret.encode(), reader_token.encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: str, reader_token: str, offered: str | None) -> bool:
    """Constant-time check of an offered CSRF token."""
    return offered is not None and hmac.compare_digest(csrf_token(secret, reader_token), offered)
