"""URLs and filesystems: local paths and any fsspec URL (s3://, gs://, memory://, ...), and the
`--storage-option KEY=VALUE` spelling every command shares.

Credentials come from each store's standard chain (environment, config files, instance roles); for
S3-compatible endpoints AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3) or explicit storage options
(`--storage-option endpoint_url=https://...`).
"""

from __future__ import annotations

import json
import os

import fsspec

from .redaction import remember_secrets, remember_url_secrets, safe_url


def is_local(url: str) -> bool:
    return "://" not in str(url) or str(url).startswith("file://")


def url_to_fs(url: str, storage_options: dict | None = None, *, quick_retries: bool = False):
    """(filesystem, path) for a URL or a local path.

    s3://: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL name an S3-compatible endpoint unless the options give
    one. botocore retries in its "standard" mode (5 attempts, throttling and 5xx included); with
    quick_retries (what `Store` asks for, since `with_retries` adds the long, logged backoff on top)
    botocore and s3fs try twice each. Options given explicitly always win.
    """
    url = str(url)
    options = dict(storage_options or {})
    remember_secrets(options)
    remember_url_secrets(url)
    if url.startswith(("s3://", "s3a://")):
        if "@" in url.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError(f"{safe_url(url)}: credentials inside an s3:// URL are not supported (and would end "
                             "up in shell history and logs); use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a "
                             "profile or role, or --storage-option key=... --storage-option secret=...")
        client_kwargs = options.get("client_kwargs") or {}
        if "endpoint_url" not in options and "endpoint_url" not in client_kwargs:
            endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            if endpoint:
                options["endpoint_url"] = endpoint
        config = dict(options.get("config_kwargs") or {})
        config.setdefault("retries", {"max_attempts": 2 if quick_retries else 5, "mode": "standard"})
        config.setdefault("connect_timeout", 5)
        config.setdefault("read_timeout", 60)
        options["config_kwargs"] = config
    fs, path = fsspec.core.url_to_fs(url, **options)
    if quick_retries and hasattr(fs, "retries") and url.startswith(("s3://", "s3a://")):
        # s3fs's own retries (a class attribute, 5 by default); this instance is Store's own, since its
        # config_kwargs differ from a plain url_to_fs call's
        fs.retries = min(int(fs.retries), 2)
    return fs, path


def join(url: str, *parts: str) -> str:
    url = str(url).rstrip("/")
    return "/".join([url, *[p.strip("/") for p in parts if p]])


def bucket_and_key(url: str) -> tuple[str, str]:
    """('bucket', 'key/inside') of an object-store URL; ('', path) for a local path."""
    url = safe_url(url)
    if "://" not in url or url.startswith("file://"):
        return "", url.removeprefix("file://")
    rest = url.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    return bucket, key


def endpoint_of(fs) -> str:
    """Where requests of this filesystem go, for messages ('AWS S3' when the default endpoint)."""
    for candidate in (getattr(fs, "endpoint_url", None), (getattr(fs, "client_kwargs", None) or {}).get("endpoint_url")):
        if candidate:
            return str(candidate)
    protocol = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
    if protocol in ("s3", "s3a"):
        return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "AWS S3"
    return str(protocol)


def parse_storage_options(pairs) -> dict:
    """`--storage-option key=value` pairs -> fsspec storage options.

    Dotted keys nest (`client_kwargs.region_name=eu-west-1`); values parse as JSON where they can
    (`anon=true`, `config_kwargs={"read_timeout": 30}`), otherwise stay strings.
    """
    options: dict = {}
    for pair in pairs or ():
        if "=" not in pair:
            raise ValueError(f"--storage-option {pair.split('=')[0]!r}: expected key=value")
        key, value = pair.split("=", 1)
        key = key.strip()
        if not key:
            raise ValueError("--storage-option with an empty key: expected key=value")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        node = options
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"--storage-option {key}: {p} is not a mapping")
        node[leaf] = parsed
    remember_secrets(options)
    return options
