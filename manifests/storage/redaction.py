"""The one redaction path: credentials never leave the process in a URL that is stored or printed, nor
in a message, log line or error.

`safe_url` is how every URL is stored (cards, manifests, config.json, the sample `source` column) or
printed: without user info, query or fragment (`s3://KEY:SECRET@bucket/...`, pre-signed
`https://...?X-Amz-Signature=...`). `redact` masks free text: the values of credential settings seen by
`url_to_fs` / `parse_storage_options` (they are registered here), well-known credential variables of the
environment, `name=value` pairs whose name is a credential setting, signed-request fragments, URL user
info and URL query strings.
"""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit

_SECRET_OPTION = re.compile(r"(?i)(secret|token|password|passwd|key$|^key|key_id|access_key|credential|"
                            r"sas|signature|private)")
_SECRET_VALUES: set[str] = set()
_SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "GOOGLE_APPLICATION_CREDENTIALS",
                     "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN")

# name=value / 'name': 'value' where the name is a credential setting in snake or upper case (not an
# error code such as ExpiredToken or SignatureDoesNotMatch, whose text is harmless and useful)
_SECRET_TEXT = re.compile(
    r"\b([\w.-]*(?:secret|token|password|passwd|key_id|access_key|credential|"
    r"SECRET|TOKEN|PASSWORD|PASSWD|KEY_ID|ACCESS_KEY|CREDENTIAL)[\w.-]*)"
    r"(['\"]?\s*[=:]\s*)(['\"]?)[^'\"\s,;}&]+")
_AUTH_HEADER = re.compile(r"(?i)(Credential=)[^,\s/]+|(Signature=)[0-9a-f]+|(X-Amz-Security-Token=)[^&\s]+")
_SIGNED_QUERY = re.compile(r"(?i)(signature|credential|security-token|^sig$|^se$|^sv$)")
_USERINFO = re.compile(r"(\w+://)[^/@\s]+@")
_URL_QUERY = re.compile(r"(\w+://[^\s?#'\"]*)[?#][^\s'\"]*")


def safe_url(url: str) -> str:
    """The URL as it may be stored or printed: no user info, query or fragment. A local path is unchanged."""
    url = str(url)
    if "://" not in url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def remember_secrets(options) -> None:
    """Register the credential values of storage options so that `redact` masks them from now on."""
    if isinstance(options, dict):
        for k, v in options.items():
            if isinstance(v, (dict, list, tuple)):
                remember_secrets(v)
            elif isinstance(v, str) and len(v) >= 4 and _SECRET_OPTION.search(str(k)) and k != "endpoint_url":
                _SECRET_VALUES.add(v)
    elif isinstance(options, (list, tuple)):
        for v in options:
            remember_secrets(v)


def remember_url_secrets(url: str) -> None:
    """Register the user info and signed-request values of a URL, so that `redact` masks them wherever they
    turn up later (a library's error message quoting a bucket name, say)."""
    url = str(url)
    if "://" not in url:
        return
    parts = urlsplit(url)
    # user:password masks the password; a bare user@ is a token (https://TOKEN@host/...)
    value = parts.password if parts.password is not None else parts.username
    if value and len(value) >= 4:
        _SECRET_VALUES.add(value)
    for name, value in parse_qsl(parts.query):
        if len(value) >= 4 and (_SECRET_OPTION.search(name) or _SIGNED_QUERY.search(name)):
            _SECRET_VALUES.add(value)


def redact(text: str) -> str:
    """Mask anything that looks like a credential in a message before it reaches a log or an error."""
    text = str(text)
    values = set(_SECRET_VALUES)
    for var in _SECRET_VARIABLES:
        value = os.environ.get(var)
        if value and len(value) >= 4:
            values.add(value)
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, "***")
    text = _SECRET_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}***", text)
    text = _AUTH_HEADER.sub(lambda m: (m.group(1) or m.group(2) or m.group(3)) + "***", text)
    text = _URL_QUERY.sub(r"\1?***", text)
    return _USERINFO.sub(r"\1***@", text)
