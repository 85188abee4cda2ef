"""HTTP to the served endpoint: the only module importing `requests`; never raises on transport errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

# `requests` is imported inside the calls below, not here: the CLI registers every command at
# start, and `render` must not pay ~150 ms for an HTTP library it never uses.


@dataclass(frozen=True)
class Response:
    """status None means no HTTP answer; `refused` tells "nothing listens yet" from other failures."""

    status: int | None
    body: str = ""
    error: str = ""
    refused: bool = False

    def json(self) -> Any:
        return json.loads(self.body)

    def describe(self) -> str:
        if self.status is None:
            return "connection refused" if self.refused else f"no answer ({self.error})"
        body = " ".join(self.body.split())
        return f"HTTP {self.status}" + (f" {body[:160]}" if body else "")


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _failure(err: requests.RequestException) -> Response:
    import requests

    refused = (
        isinstance(err, requests.ConnectionError)
        and not isinstance(err, requests.Timeout)
        and (
            "refused" in str(err).lower()
            or "reset" in str(err).lower()
            or "aborted" in str(err).lower()
        )
    )
    kind = type(err).__name__
    return Response(status=None, error=f"{kind}: {err}"[:300], refused=refused)


def get(url: str, timeout_s: float = 5.0, api_key: str | None = None) -> Response:
    import requests

    try:
        r = requests.get(url, timeout=timeout_s, headers=_headers(api_key))
    except requests.RequestException as err:
        return _failure(err)
    return Response(status=r.status_code, body=r.text)


def post_json(
    url: str, payload: dict[str, Any], timeout_s: float = 120.0, api_key: str | None = None
) -> Response:
    import requests

    try:
        r = requests.post(url, json=payload, timeout=timeout_s, headers=_headers(api_key))
    except requests.RequestException as err:
        return _failure(err)
    return Response(status=r.status_code, body=r.text)


@dataclass(frozen=True)
class EventStream:
    """A server-sent-events answer: the `data:` payloads decoded as JSON, up to `[DONE]`."""

    response: Response
    events: list[dict[str, Any]]
    done: bool


def post_sse(
    url: str, payload: dict[str, Any], timeout_s: float = 120.0, api_key: str | None = None
) -> EventStream:
    import requests

    try:
        with requests.post(
            url, json=payload, timeout=timeout_s, headers=_headers(api_key), stream=True
        ) as r:
            if r.status_code != 200:
                return EventStream(Response(r.status_code, r.text), [], False)
            events: list[dict[str, Any]] = []
            done = False
            for raw in _lines(r.iter_lines(decode_unicode=False)):
                if not raw.startswith("data:"):
                    continue
                data = raw[len("data:") :].strip()
                if data == "[DONE]":
                    done = True
                    break
                try:
                    events.append(json.loads(data))
                except ValueError:
                    return EventStream(Response(200, data, error="bad SSE JSON"), events, False)
            return EventStream(Response(200, ""), events, done)
    except requests.RequestException as err:
        return EventStream(_failure(err), [], False)


def _lines(raw: Iterator[bytes]) -> Iterator[str]:
    for line in raw:
        yield line.decode("utf-8", errors="replace")
