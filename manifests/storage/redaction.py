"""Masking credentials in every message, log line and error before it leaves the process.

`redact` masks the values of credential settings seen by `url_to_fs` / `parse_storage_options` (they are
registered here), well-known credential variables of the environment, `name=value` pairs whose name is a
credential setting, signed-request fragments and URL user info.
"""

from __future__ import annotations

import os
import re

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
_USERINFO = re.compile(r"(\w+://)[^/@\s]+@")


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
    return _USERINFO.sub(r"\1***@", text)
