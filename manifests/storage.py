"""Where datasets live: local paths and any fsspec URL (s3://, gs://, memory://, ...).

Credentials come from each store's standard chain (environment, config files, instance roles); for
S3-compatible endpoints AWS_ENDPOINT_URL or explicit storage options. Nothing here ever prints them.
"""

from __future__ import annotations

import os
import re

import fsspec


class StorageError(RuntimeError):
    """A storage operation failed; the message names the URL and what to do."""


def is_local(url: str) -> bool:
    return "://" not in str(url) or str(url).startswith("file://")


def url_to_fs(url: str, storage_options: dict | None = None):
    """(filesystem, path) for a URL or a local path."""
    url = str(url)
    options = dict(storage_options or {})
    if url.startswith("s3://") and "endpoint_url" not in options and "client_kwargs" not in options:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            options["endpoint_url"] = endpoint
    fs, path = fsspec.core.url_to_fs(url, **options)
    return fs, path


def join(url: str, *parts: str) -> str:
    url = str(url).rstrip("/")
    return "/".join([url, *[p.strip("/") for p in parts if p]])


_SECRET = re.compile(r"(?i)(secret|token|password|key_id|access_key|credential)[^,;\s]*\s*[=:]\s*['\"]?[^'\"\s,;}]+")


def redact(text: str) -> str:
    """Mask anything that looks like a credential in a message before it reaches a log or an error."""
    text = _SECRET.sub(lambda m: m.group(0).split("=")[0].split(":")[0] + "=***", str(text))
    for var in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"):
        value = os.environ.get(var)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text
