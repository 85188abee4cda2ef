"""Runs INSIDE a throwaway engine venv: builds the real argparse parser, prints its options as JSON.

Usage: <venv>/bin/python _introspect_argparse.py vllm|sglang OUT.json (engines log to stdout)
Standard library plus the engine only; never imported by ling_compose.
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import re
import sys
from pathlib import Path
from typing import Any

# "Deprecated. Use ...", "(Deprecated, use ...)", "--x is deprecated and ...".
_DEPRECATED = re.compile(r"^\(?deprecated\b|^\S+ is deprecated\b", re.IGNORECASE)
_USE_INSTEAD = re.compile(r"[Uu]se (--[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])")


def _type_name(t: Any) -> str | None:
    """A readable name for an argparse `type` callable (closures named by what they wrap)."""
    if t is None:
        return None
    if isinstance(t, functools.partial):
        return _type_name(t.func)
    if t is json.loads:
        return "json"
    qual = getattr(t, "__qualname__", None) or type(t).__name__
    inner = [c.cell_contents for c in (getattr(t, "__closure__", None) or ())]
    inner_callables = [c for c in inner if callable(c)]
    if qual.startswith("optional_type.") and inner_callables:
        return f"optional[{_type_name(inner_callables[0])}]"
    if qual.startswith("parse_type.") and inner_callables:
        return _type_name(inner_callables[0])
    if "parse_dataclass" in qual or qual == "json_list_type":
        return "json"
    if qual == "union_dict_and_str":
        return "json|str"
    if "<lambda>" in qual:
        return "str"
    return qual.split(".")[-1]


def _text(value: Any) -> str | None:
    if value is None or value is argparse.SUPPRESS:
        return None
    if isinstance(value, str | int | float | bool):
        return str(value)
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    # Whole config objects as defaults are noise in a flag catalogue.
    return text if len(text) <= 80 else None


def _choices(action: argparse.Action) -> list[str] | None:
    if action.choices is None:
        return None
    values = [("None" if c is None else str(c)) for c in action.choices]
    # A set's iteration order changes per process; sort it so regeneration is stable.
    return sorted(values) if isinstance(action.choices, set | frozenset) else values


def describe(parser: argparse.ArgumentParser, deprecated_actions: set[Any]) -> dict[str, Any]:
    """Every option of `parser` in the catalogue's option shape."""
    by_action: dict[int, list[str]] = {}
    for spelling, action in parser._option_string_actions.items():
        by_action.setdefault(id(action), []).append(spelling)
    options: list[dict[str, Any]] = []
    positional: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if not action.option_strings:
            positional.append(action.dest)
            continue
        spellings = by_action.get(id(action), list(action.option_strings))
        # Negative spellings: BooleanOptionalAction's --no-x, vLLM's hidden --no-enable-x.
        negatives = set(getattr(action, "negative_option_strings", ()) or ())
        if isinstance(action, argparse.BooleanOptionalAction):
            negatives |= {
                s for s in spellings if s.startswith("--no-") and "--" + s[5:] in spellings
            }
        visible = [s for s in action.option_strings if s not in negatives]
        hidden = [s for s in spellings if s not in visible and s not in negatives]
        names = visible + hidden
        help_text = action.help if isinstance(action.help, str) else ""
        is_dep = action in deprecated_actions or "Deprecated" in type(action).__name__
        first_sentence = help_text.split("\n")[0][:200]
        if not is_dep and _DEPRECATED.search(help_text):
            is_dep = True
        canonical = None
        if is_dep:
            new_flag = getattr(action, "new_flag", None)
            m = _USE_INSTEAD.search(help_text)
            target_name = new_flag if isinstance(new_flag, str) else (m.group(1) if m else None)
            target = parser._option_string_actions.get(target_name or "")
            # Only a plain rename (same value shape) is canonicalised; other advice stays a note.
            if (
                target is not None
                and target is not action
                and ((target.nargs == 0) == (action.nargs == 0))
            ):
                canonical = target_name
        takes_value = action.nargs != 0
        nargs = action.nargs if action.nargs not in (None, 0) else None
        type_name = _type_name(action.type) if takes_value else None
        if takes_value and type_name is None:
            type_name = "str"
        metavar = action.metavar if isinstance(action.metavar, str) else None
        choices = _choices(action)
        choices_source = "argparse choices" if choices is not None else None
        if choices is None and isinstance(action.metavar, list | tuple):
            # vLLM shows `Literal[...] | str` fields as a metavar list; the engine validates
            # the value after parsing, so these are the values it accepts.
            choices = [str(c) for c in action.metavar]
            choices_source = "Literal type of the config field (validated after parsing)"
        options.append(
            {
                "names": names,
                "takes_value": takes_value,
                "type": type_name,
                "choices": choices,
                "deprecated": bool(is_dep),
                "canonical": canonical,
                "negatable": bool(negatives),
                "negative_names": sorted(negatives),
                "nargs": nargs,
                "metavar": metavar,
                "default": _text(action.default) if takes_value else None,
                "choices_source": choices_source,
                "special_values": [],
                "env": None,
                "repeatable": isinstance(action, argparse._AppendAction | argparse._CountAction),
                "removed": False,
                "note": first_sentence if is_dep else None,
            }
        )
    return {"positional": positional, "options": options, "allow_abbrev": parser.allow_abbrev}


def _option(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(o for o in doc["options"] if name in o["names"])


def vllm() -> dict[str, Any]:
    # No GPU here: give vLLM a CUDA-typed stand-in platform so DeviceConfig resolves; only
    # --mm-processor-device's choices read the device type while the parser is built.
    import vllm.platforms as platforms
    from vllm.platforms.interface import UnspecifiedPlatform

    class _CudaTyped(UnspecifiedPlatform):
        device_type = "cuda"
        device_name = "cuda"

    platforms._current_platform = _CudaTyped()  # type: ignore[attr-defined]
    platforms.current_platform = platforms._current_platform  # type: ignore[attr-defined]

    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.model_executor.layers.quantization import QUANTIZATION_METHODS
    from vllm.reasoning import ReasoningParserManager
    from vllm.tool_parsers import ToolParserManager
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    top = FlexibleArgumentParser(description="vLLM CLI")
    sub = top.add_subparsers(required=False, dest="subparser")
    serve = ServeSubcommand().subparser_init(sub)
    doc = describe(serve, set(getattr(serve, "_deprecated", set())))
    tool = _option(doc, "--tool-call-parser")
    tool["choices"] = sorted(ToolParserManager.list_registered())
    tool["choices_source"] = (
        "ToolParserManager.list_registered() (vllm/tool_parsers/__init__.py); checked at "
        "server start when --enable-auto-tool-choice is set"
    )
    reasoning = _option(doc, "--reasoning-parser")
    reasoning["choices"] = [*sorted(ReasoningParserManager.list_registered()), "none"]
    reasoning["choices_source"] = (
        "ReasoningParserManager.list_registered() (vllm/reasoning/__init__.py), plus `none` "
        "(parse_reasoning_parser maps it to unset); checked at server start"
    )
    quant = _option(doc, "--quantization")
    quant["choices"] = [*QUANTIZATION_METHODS, "None"]
    quant["choices_source"] = (
        "QUANTIZATION_METHODS (vllm/model_executor/layers/quantization/__init__.py); "
        "checked when the model config is built"
    )
    max_len = _option(doc, "--max-model-len")
    max_len["special_values"] = ["auto", "-1"]
    model = _option(doc, "--model")
    model["deprecated"] = True
    model["note"] = (
        "with `vllm serve`, give the model as the positional argument; --model will be removed"
    )
    doc["deprecated_values"] = {}
    return doc


def sglang() -> dict[str, Any]:
    import sglang.srt.arg_groups.serving_hook as serving_hook
    from sglang.srt.server_args import ServerArgs

    parser = argparse.ArgumentParser()
    ServerArgs.add_cli_args(parser)
    doc = describe(parser, set())
    for name in ("--tool-call-parser", "--reasoning-parser"):
        _option(doc, name)["choices_source"] = (
            "argparse choices (sglang/srt/function_call/parser_names.py, "
            "sglang/srt/parser/reasoning_parser_names.py)"
        )
    doc["deprecated_values"] = {"--tool-call-parser": _sglang_deprecated_tool_parsers(serving_hook)}
    return doc


def _sglang_deprecated_tool_parsers(module: Any) -> dict[str, str]:
    """The literal `deprecated_tool_call_parsers = {...}` in handle_deprecated_args."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "deprecated_tool_call_parsers" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, dict)
            return {str(k): str(v) for k, v in value.items()}
    raise SystemExit("deprecated_tool_call_parsers not found in " + str(module.__file__))


if __name__ == "__main__":
    kind, out = sys.argv[1], sys.argv[2]
    result = {"vllm": vllm, "sglang": sglang}[kind]()
    Path(out).write_text(json.dumps(result) + "\n", encoding="utf-8")
