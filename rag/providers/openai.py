"""Provider `openai`: any server that speaks the OpenAI chat-completions API.

That covers OpenAI itself, vLLM, Ollama (`http://localhost:11434/v1`), the llama.cpp servers
(`python -m llama_cpp.server`, `llama-server`) and LM Studio. SPEC: `openai:MODEL`; options:

    base_url        else OPENAI_BASE_URL, else https://api.openai.com/v1
    api_key         else OPENAI_API_KEY; required only by api.openai.com (local servers usually take none)
    timeout         seconds to wait for an answer (default 60); connect_timeout (default 5)
    max_retries     extra attempts after a 429, a 5xx or a failed connection (default 3)
    backoff         first retry delay in seconds (default 0.5), doubled each time, with jitter
    context_tokens  the context size the caller should budget the prompt for (default 8192)
    source_tokens   cut each source to its sentences most relevant to the question, about this many tokens
                    (default: whole passages; 80 suits small models, as llamacpp uses)
    transport       an httpx transport (httpx.MockTransport in tests)

Every failure becomes one line from the rag.errors tree that says what to do. The API key never appears in an
error message, a log line or a repr.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from ..errors import (
    AuthenticationError,
    MissingDependencyError,
    ModelError,
    ModelSpecError,
    ModelTimeoutError,
    ModelUnavailableError,
    UserError,
)
from .base import Model, Prompt, checked_options, register_provider

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_S = 8.0
MAX_RETRY_AFTER_S = 60.0


class OpenAIModel(Model):
    can_stream = True
    generative = True

    def __init__(
        self,
        name: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        context_tokens: int = 8192,
        source_tokens: int | None = None,
        transport: Any = None,
    ) -> None:
        try:
            import httpx
        except ImportError:
            raise MissingDependencyError("httpx", "openai", "OpenAI-compatible servers") from None
        self._httpx = httpx
        self.name = name
        self._listed_name: str | None = None
        self.model_id = f"openai:{name}" if name else "openai"
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        # Kept private and out of __repr__: the key must not leak into logs or tracebacks.
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY") or None
        if not self._api_key and urlsplit(self.base_url).hostname == "api.openai.com":
            raise UserError("set OPENAI_API_KEY or pass --api-key to use api.openai.com")
        self.timeout = float(timeout)
        self.max_retries = max(0, int(max_retries))
        self.backoff = float(backoff)
        self.context_tokens = int(context_tokens)
        self.source_tokens = int(source_tokens) if source_tokens else None
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(self.timeout, connect=float(connect_timeout)),
            transport=transport,
        )

    def __repr__(self) -> str:
        key = "***" if self._api_key else None
        return f"OpenAIModel(model_id={self.model_id!r}, base_url={self.base_url!r}, api_key={key!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAIModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def generate(self, prompt: Prompt, *, stream: bool = False) -> Iterator[str]:
        body: dict[str, Any] = {
            "model": self.name or self._first_model(),
            "messages": list(prompt.messages) or _fallback_messages(prompt),
            "temperature": prompt.temperature,
            "max_tokens": prompt.max_tokens,
            "stream": stream,
        }
        if prompt.stop:
            body["stop"] = list(prompt.stop)
        response = self._send("POST", "/chat/completions", body, stream=stream)
        try:
            if stream:
                yield from self._read_sse(response)
            else:
                yield self._read_message(response)
        finally:
            response.close()

    def models(self) -> list[str]:
        """The model ids the server lists at GET /models."""
        response = self._send("GET", "/models", None, stream=False)
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        finally:
            response.close()
        data = payload.get("data") if isinstance(payload, dict) else payload
        return [m["id"] for m in data or () if isinstance(m, dict) and m.get("id")]

    def _first_model(self) -> str:
        # Single-model local servers (llama.cpp, LM Studio) ignore the name, but the API still requires one.
        if self._listed_name is None:
            names = self.models()
            if not names:
                raise ModelSpecError(f"name a model as openai:MODEL; the server at {self.base_url} lists none")
            self._listed_name = names[0]
        return self._listed_name

    def _send(self, method: str, path: str, body: dict | None, *, stream: bool) -> Any:
        """One request with retries on 429/5xx/connection failures; a response with a 2xx status, else an error."""
        httpx = self._httpx
        url = self.base_url + path
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                request = self._client.build_request(method, url, json=body)
                response = self._client.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                if last:
                    raise self._connect_error(exc, attempts) from None
                delay = self._delay(attempt, None)
                log.info("cannot reach %s (%s); retry %d/%d in %.2fs", url, _reason(exc, self._api_key),
                         attempt + 1, self.max_retries, delay)
                time.sleep(delay)
                continue
            except httpx.TimeoutException:
                raise ModelTimeoutError(
                    f"the model server at {self.base_url} gave no answer within {self.timeout:g} s; "
                    "raise the timeout or use a smaller/faster model"
                ) from None
            except httpx.TransportError as exc:
                raise ModelUnavailableError(
                    f"the connection to the model server at {self.base_url} failed "
                    f"({_reason(exc, self._api_key)}); check the server and --base-url / OPENAI_BASE_URL"
                ) from None

            if response.status_code < 300:
                return response
            if response.status_code in RETRY_STATUSES and not last:
                delay = self._delay(attempt, response.headers.get("Retry-After"))
                log.info("%s answered %d; retry %d/%d in %.2fs", url, response.status_code,
                         attempt + 1, self.max_retries, delay)
                response.close()
                time.sleep(delay)
                continue
            raise self._status_error(response, attempts=attempt + 1, model=(body or {}).get("model", ""))
        raise AssertionError("unreachable")  # the loop either returns or raises

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            seconds = _parse_retry_after(retry_after)
            if seconds is not None:
                return min(seconds, MAX_RETRY_AFTER_S)
        # Full jitter keeps many clients that failed together from retrying in lockstep.
        return random.uniform(0.5, 1.0) * min(MAX_BACKOFF_S, self.backoff * 2**attempt)

    def _connect_error(self, exc: Exception, attempts: int) -> ModelError:
        reason = _reason(exc, self._api_key)
        if isinstance(exc, self._httpx.ConnectTimeout):
            return ModelTimeoutError(
                f"cannot reach the model server at {self.base_url} (connect timed out, {attempts} attempts); "
                "start it or fix --base-url / OPENAI_BASE_URL"
            )
        return ModelUnavailableError(
            f"cannot reach the model server at {self.base_url} ({reason}); "
            "start it or fix --base-url / OPENAI_BASE_URL"
        )

    def _status_error(self, response: Any, *, attempts: int, model: str) -> ModelError | UserError:
        status = response.status_code
        detail = _error_detail(response, self._api_key)
        response.close()
        if status in (401, 403):
            if not self._api_key:
                return AuthenticationError(
                    f"the server at {self.base_url} requires an API key ({status}); "
                    "set OPENAI_API_KEY or pass --api-key"
                )
            return AuthenticationError(
                f"the server at {self.base_url} rejected the API key ({status}); check OPENAI_API_KEY or --api-key"
            )
        if status == 404 and not model:
            return ModelSpecError(
                f"the server at {self.base_url} has no /models list (404); name the model as openai:MODEL "
                "and check that --base-url ends with /v1"
            )
        if status == 404:
            return ModelSpecError(
                f"the server at {self.base_url} has no model {model!r} (404{': ' + detail if detail else ''}); "
                "check the name in openai:MODEL and that --base-url ends with /v1"
            )
        if status == 429:
            return ModelUnavailableError(
                f"the server at {self.base_url} is rate limiting (429) after {attempts} attempts; wait and retry"
                + (f" ({detail})" if detail else "")
            )
        if status >= 500:
            return ModelUnavailableError(
                f"the model server at {self.base_url} failed ({status}) after {attempts} attempts"
                + (f": {detail}" if detail else "")
            )
        return ModelError(
            f"the model server at {self.base_url} refused the request ({status})" + (f": {detail}" if detail else "")
        )

    def _read_message(self, response: Any) -> str:
        try:
            data = response.json()
            return data["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelError(
                f"the server at {self.base_url} sent an answer that is not an OpenAI chat completion"
            ) from None

    def _read_sse(self, response: Any) -> Iterator[str]:
        httpx = self._httpx
        try:
            for line in response.iter_lines():
                # SSE: blank lines end events, ':' lines are comments; only `data:` carries chunks.
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    return
                try:
                    chunk = json.loads(payload)
                except ValueError:
                    continue
                if "error" in chunk:
                    raise ModelError(
                        f"the model server at {self.base_url} failed while streaming: "
                        f"{_scrub(_message_of(chunk['error']), self._api_key)}"
                    )
                for choice in chunk.get("choices") or ():
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        yield piece
        except httpx.TimeoutException:
            raise ModelTimeoutError(
                f"the model server at {self.base_url} stalled for over {self.timeout:g} s while streaming; "
                "raise the timeout or use a smaller/faster model"
            ) from None
        except httpx.TransportError as exc:
            raise ModelUnavailableError(
                f"the connection to the model server at {self.base_url} broke while streaming "
                f"({_reason(exc, self._api_key)})"
            ) from None


def _fallback_messages(prompt: Prompt) -> list[dict]:
    # Callers normally pass ready-made messages; this keeps a bare Prompt(question, sources) usable.
    sources = "\n\n".join(f"[{s.n}] {s.title}\n{s.text}" for s in prompt.sources)
    content = f"Sources:\n{sources}\n\nQuestion: {prompt.question}" if sources else prompt.question
    return [{"role": "user", "content": content}]


def _parse_retry_after(value: str) -> float | None:
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _scrub(text: str, secret: str | None) -> str:
    text = " ".join(str(text).split())
    if secret:
        text = text.replace(secret, "***")
    return text[:300]


def _message_of(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def _error_detail(response: Any, secret: str | None) -> str:
    """The server's own explanation of an error status, as one scrubbed line ('' when it gave none)."""
    try:
        response.read()
    except Exception:  # a body cut off mid-read still leaves the status code to report
        return ""
    try:
        data = response.json()
    except ValueError:
        return _scrub(response.text, secret)
    if isinstance(data, dict):
        return _scrub(_message_of(data.get("error", data.get("detail", data))), secret)
    return _scrub(str(data), secret)


def _reason(exc: Exception, secret: str | None) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "unknown host"
    return _scrub(str(exc) or type(exc).__name__, secret)


_OPTIONS = frozenset({
    "base_url", "api_key", "timeout", "connect_timeout", "max_retries", "backoff", "context_tokens", "source_tokens",
    "transport",
})


def factory(name: str, **options: Any) -> OpenAIModel:
    return OpenAIModel(name, **checked_options("openai", options, _OPTIONS))


register_provider("openai", factory)
