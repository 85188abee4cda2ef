"""Extract llama-server's options from llama.cpp's common/arg.cpp (the release's source text).

common_params_parser_init() declares every option as `add_opt(common_arg({names}, [neg names
| value hints], help, handler).set_examples(...).set_env(...))`, some inside
`if (ex == LLAMA_EXAMPLE_X) {...} else {...}`. We scan it with a small C++-aware tokenizer
(strings, chars, comments, balanced brackets), keep the options that reach the server example,
and read enumerated values off the handler bodies (`value == "x"`, is_truthy/is_falsey/is_autoy)
where the handler rejects everything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SERVER = "LLAMA_EXAMPLE_SERVER"
COMMON = "LLAMA_EXAMPLE_COMMON"


@dataclass
class _Cursor:
    text: str
    pos: int = 0


def _skip_literal(text: str, i: int) -> int:
    """Index after the string/char literal or comment starting at i (or i if none)."""
    if text.startswith("//", i):
        j = text.find("\n", i)
        return len(text) if j < 0 else j + 1
    if text.startswith("/*", i):
        return text.index("*/", i) + 2
    if text.startswith('R"', i):
        m = re.compile(r'R"([^(]*)\(').match(text, i)
        if m:
            end = ")" + m.group(1) + '"'
            return text.index(end, m.end()) + len(end)
    ch = text[i]
    if ch in "\"'":
        j = i + 1
        while text[j] != ch:
            j += 2 if text[j] == "\\" else 1
        return j + 1
    return i


def _matching(text: str, i: int) -> int:
    """Index of the bracket closing the one at i."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    stack = [pairs[text[i]]]
    j = i + 1
    while stack:
        k = _skip_literal(text, j)
        if k != j:
            j = k
            continue
        ch = text[j]
        if ch in pairs:
            stack.append(pairs[ch])
        elif ch in ")}]" and ch != stack.pop():
            raise ValueError(f"unbalanced bracket at {j}")
        j += 1
    return j - 1


def _strip_comments(text: str) -> str:
    """Drop // and /* */ comments (their quotes are not option names), keep literals."""
    out, j = [], 0
    while j < len(text):
        k = _skip_literal(text, j)
        if k != j:
            if not text.startswith(("//", "/*"), j):
                out.append(text[j:k])
            j = k
            continue
        out.append(text[j])
        j += 1
    return "".join(out)


def _split_top(text: str) -> list[str]:
    """Split on commas that are not nested in brackets or literals."""
    parts, depth, start, j = [], 0, 0, 0
    while j < len(text):
        k = _skip_literal(text, j)
        if k != j:
            j = k
            continue
        ch = text[j]
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:j].strip())
            start = j + 1
        j += 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _strings(text: str) -> list[str]:
    return [bytes(m.group(1), "utf-8").decode("unicode_escape") for m in _STRING.finditer(text)]


def _is_string_expr(part: str) -> bool:
    return bool(re.fullmatch(r'(\s*"(?:[^"\\]|\\.)*"\s*)+', part))


def _truthy_sets(source: str) -> dict[str, list[str]]:
    """The words is_truthy/is_falsey/is_autoy accept, read off their definitions."""
    sets: dict[str, list[str]] = {}
    for fn in ("is_truthy", "is_falsey", "is_autoy"):
        m = re.search(r"bool common_arg_utils::" + fn + r"\([^)]*\)\s*\{", source)
        if not m:
            continue
        body = source[m.end() - 1 : _matching(source, m.end() - 1) + 1]
        sets[fn] = _strings(body)
    return sets


def _parser_body(source: str) -> str:
    m = re.search(r"common_params_context common_params_parser_init\(", source)
    if not m:
        raise ValueError("common_params_parser_init not found in arg.cpp")
    start = source.index("{", _matching(source, m.end() - 1))
    return source[start + 1 : _matching(source, start)]


def _eval_ex_condition(cond: str, example: str) -> bool | None:
    """Value of an `if` condition that only tests `ex`, else None (unknown: both branches)."""
    if not re.search(r"\bex\b", cond):
        return None
    expr = re.sub(r"\bex\s*==\s*(LLAMA_EXAMPLE_\w+)", lambda m: str(m.group(1) == example), cond)
    expr = re.sub(r"\bex\s*!=\s*(LLAMA_EXAMPLE_\w+)", lambda m: str(m.group(1) != example), expr)
    expr = expr.replace("||", " or ").replace("&&", " and ").replace("!", " not ")
    if re.search(r"[A-Za-z_]\w*", re.sub(r"\b(True|False|and|or|not)\b", "", expr)):
        return None
    return bool(eval(expr, {"__builtins__": {}}, {}))  # only True/False/and/or/not remain


def _add_opt_calls(body: str, example: str) -> list[tuple[str, str | None]]:
    """(add_opt argument text, enclosing non-`ex` condition) reachable for `example`."""
    found: list[tuple[str, str | None]] = []

    def walk(text: str, cond_note: str | None) -> None:
        j = 0
        while j < len(text):
            k = _skip_literal(text, j)
            if k != j:
                j = k
                continue
            if text.startswith("add_opt(", j) and (j == 0 or not text[j - 1].isalnum()):
                open_at = j + len("add_opt")
                close_at = _matching(text, open_at)
                found.append((text[open_at + 1 : close_at], cond_note))
                j = close_at + 1
                continue
            m = re.compile(r"\bif\s*\(").match(text, j)
            if m and (j == 0 or not (text[j - 1].isalnum() or text[j - 1] == "_")):
                cond_open = m.end() - 1
                cond_close = _matching(text, cond_open)
                cond = text[cond_open + 1 : cond_close]
                rest = cond_close + 1
                while text[rest].isspace():
                    rest += 1
                if text[rest] != "{":
                    j = rest
                    continue
                then_close = _matching(text, rest)
                then_body = text[rest + 1 : then_close]
                after = then_close + 1
                else_body = None
                em = re.compile(r"\s*else\s*\{").match(text, after)
                if em:
                    else_open = em.end() - 1
                    else_close = _matching(text, else_open)
                    else_body = text[else_open + 1 : else_close]
                    after = else_close + 1
                verdict = _eval_ex_condition(cond, example)
                note = None if verdict is not None else cond.strip()
                if verdict is not False:
                    walk(then_body, note or cond_note)
                if else_body is not None and verdict is not True:
                    walk(else_body, (f"!({note})" if note else None) or cond_note)
                j = after
                continue
            j += 1

    walk(body, None)
    return found


def _chained_calls(text: str) -> dict[str, str]:
    """`.set_examples({...}).set_env("X")` after the common_arg(...) -> {method: args}."""
    calls: dict[str, str] = {}
    for m in re.finditer(r"\.(\w+)\(", text):
        open_at = m.end() - 1
        calls[m.group(1)] = text[open_at + 1 : _matching(text, open_at)]
    return calls


def _handler_kind(handler: str) -> str:
    sig = handler[: handler.index(")") + 1] if ")" in handler else handler
    params = sig[sig.index("(") + 1 : -1] if "(" in sig else ""
    kinds = [p.strip() for p in params.split(",")[1:]]
    if not kinds:
        return "void"
    if len(kinds) == 2:
        return "str_str"
    if re.search(r"\bbool\b", kinds[0]):
        return "bool"
    if re.search(r"\bint\b", kinds[0]):
        return "int"
    return "string"


def _enumerated(handler: str, truthy: dict[str, list[str]]) -> tuple[list[str] | None, list[str]]:
    """(closed choices, special words besides numbers) read off a string handler's body."""
    body = handler[handler.index("{") :] if "{" in handler else handler
    compared = re.findall(r'\bvalue\s*==\s*"((?:[^"\\]|\\.)*)"', body)
    compared += re.findall(r'"((?:[^"\\]|\\.)*)"\s*==\s*value\b', body)
    for fn, words in truthy.items():
        if re.search(r"\b" + fn + r"\(\s*value\s*\)", body):
            compared += words
    words = list(dict.fromkeys(compared))
    if not words:
        return None, []
    numeric = re.search(r"std::sto[ifdlu]|std::stoul|atoi|strtol", body)
    rejects = re.search(r"\bthrow\b|arg_removed|invalid_argument", body)
    if numeric:
        return None, words
    if rejects:
        return words, []
    return None, words


def _examples(arg: str, source: str) -> list[str]:
    """Example enums named in `arg`, resolving a variable such as `mmproj_examples`."""
    arg = arg.strip()
    if re.fullmatch(r"[A-Za-z_]\w*", arg) and not arg.startswith("LLAMA_EXAMPLE_"):
        m = re.search(r"\b" + arg + r"\s*=\s*\{([^}]*)\}", source)
        if not m:
            raise ValueError(f"cannot resolve example list {arg!r} in arg.cpp")
        arg = m.group(1)
    return re.findall(r"LLAMA_EXAMPLE_\w+", arg)


def extract(source: str, example: str = SERVER) -> dict[str, Any]:
    """The catalogue body (positional, options) for `example` from arg.cpp text."""
    truthy = _truthy_sets(source)
    options: list[dict[str, Any]] = []
    for call, cond in _add_opt_calls(_parser_body(source), example):
        call = call.strip()
        if not call.startswith("common_arg("):
            continue
        ctor_open = len("common_arg")
        ctor_close = _matching(call, ctor_open)
        parts = _split_top(_strip_comments(call[ctor_open + 1 : ctor_close]))
        chained = _chained_calls(call[ctor_close + 1 :])
        examples = _examples(chained.get("set_examples", COMMON), source)
        excludes = _examples(chained.get("set_excludes", ""), source)
        if not (example in examples or COMMON in examples) or example in excludes:
            continue
        if "set_preset_only" in chained:
            continue  # preset files only, not argv
        names = _strings(parts[0])
        negatives: list[str] = []
        hints: list[str] = []
        rest = parts[1:]
        if rest and rest[0].startswith("{"):
            negatives = _strings(rest[0])
            rest = rest[1:]
        handler = rest[-1]
        kind = _handler_kind(handler)
        # Value hints are the string literals before the help expression.
        if kind in ("string", "int"):
            hints = _strings(rest[0]) if _is_string_expr(rest[0]) and len(rest) >= 3 else []
        elif kind == "str_str":
            hints = [s for p in rest[:2] for s in _strings(p)]
        help_text = " ".join(_strings(rest[-2])) if len(rest) >= 2 else ""
        removed = "arg_removed(" in handler
        deprecated = removed or "DEPRECATED" in help_text or "deprecated" in help_text.lower()[:80]
        choices: list[str] | None = None
        special: list[str] = []
        if kind == "string":
            choices, special = _enumerated(handler, truthy)
        env = _strings(chained["set_env"])[0] if "set_env" in chained else None
        takes_value = kind in ("string", "int", "str_str")
        type_name = {"int": "int", "string": "str", "str_str": "str"}.get(kind)
        if kind == "string" and special and re.search(r"std::stoi", handler):
            type_name = "int"
        note = None
        if deprecated:
            note = help_text.split("\n")[0][:200]
        if cond:
            note = ((note + "; ") if note else "") + f"only when `{cond}` holds in this build"
        options.append(
            {
                "names": names,
                "takes_value": takes_value,
                "type": type_name,
                "choices": choices,
                "deprecated": deprecated,
                "canonical": None,
                "negatable": bool(negatives),
                "negative_names": negatives,
                "nargs": 2 if kind == "str_str" else None,
                "metavar": " ".join(hints) or None,
                "default": None,
                "choices_source": "handler in common/arg.cpp" if choices else None,
                "special_values": special,
                "env": env,
                "repeatable": False,
                "removed": removed,
                "note": note,
            }
        )
    return {"positional": [], "options": options, "deprecated_values": {}}


def help_spellings(help_text: str) -> set[str]:
    """Option spellings listed by `llama-server --help` (first column of each entry)."""
    found: set[str] = set()
    for line in help_text.splitlines():
        if not line.startswith("-") or line.startswith("---"):
            continue
        head = re.split(r"\s{2,}", re.sub(r",\s+", ",", line), maxsplit=1)[0]
        found |= {tok.split(" ")[0] for tok in head.split(",") if tok.startswith("-")}
    return found
