"""Secrets out of anything shown: `https://user:pass@host/v1?api_key=...` -> `https://***@host/v1?api_key=***`.

A `--base-url` may carry credentials (user:password@, a key in the query string) and an error message or the
browser's model list would otherwise show them to whoever reads it. Applied where text leaves the program: CLI
error lines, `rag serve` warnings, the chat's model dropdown and its error messages.
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<info>[^/@\s?#]+)@")
_QUERY_SECRET = re.compile(r"(?i)(?P<key>\b(?:api[_-]?key|key|token|access[_-]?token|secret|password|pass|pwd|"
                           r"auth|sig|signature)=)(?P<value>[^&#\s'\"]+)")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/-]{8,}=*")
_KEYLIKE = re.compile(r"\b(sk|pk|rk|hf|ghp|gho|xox[abp])[-_][A-Za-z0-9_-]{12,}\b")


def redact(text: str) -> str:
    """`text` with URL credentials, query-string secrets, bearer tokens and API-key-looking strings masked."""
    if not text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}***@", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m['key']}***", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}***", text)
    return _KEYLIKE.sub(lambda m: f"{m.group(1)}-***", text)
