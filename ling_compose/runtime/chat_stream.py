"""A streamed chat completion's deltas joined into the message they make (pure): the text, the
tool calls by index (name and arguments arrive in pieces), the finish reason. The smoke test
and bench read streams through it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class StreamedMessage:
    """Feed it each decoded `data:` event of one stream, in order."""

    def __init__(self) -> None:
        self.content = ""
        self.finish_reason: str | None = None
        self._calls: dict[int, dict[str, Any]] = {}

    def feed(self, event: Mapping[str, Any]) -> bool:
        """Join the event's deltas; True when it carried output (text, reasoning or a piece of
        a tool call), False for the role-only opening chunk, a usage chunk and the like."""
        carried = False
        for choice in event.get("choices") or []:
            choice = choice or {}
            delta = choice.get("delta") or {}
            text = delta.get("content") or ""
            reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
            parts = delta.get("tool_calls") or []
            carried = carried or bool(text or reasoning or parts)
            self.content += text
            for part in parts:
                call = self._calls.setdefault(
                    int(part.get("index", 0)), {"id": "", "function": {"name": "", "arguments": ""}}
                )
                call["id"] = part.get("id") or call["id"]
                fn = part.get("function") or {}
                call["function"]["name"] += fn.get("name") or ""
                call["function"]["arguments"] += fn.get("arguments") or ""
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
        return carried

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """The calls in index order, each as a completion's message lists it."""
        return [self._calls[i] for i in sorted(self._calls)]
