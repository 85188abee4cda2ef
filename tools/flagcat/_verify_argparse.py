"""Runs INSIDE a throwaway engine venv: feeds commands to the real parser, prints verdicts as JSON.

Usage: <venv>/bin/python _verify_argparse.py vllm|sglang IN.json OUT.json
IN: [{"where": ..., "args": [...]}]; OUT: [{"where": ..., "ok": bool, "detail": str}].
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Any


class _Rejected(Exception):
    pass


def _parse(parse: Any, args: list[str]) -> Any:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return parse(args)
    except SystemExit as e:  # argparse's error(): exit 2 with a usage line on stderr
        raise _Rejected(
            err.getvalue().strip().splitlines()[-1] if err.getvalue() else str(e)
        ) from e


def _check_speculative_config(config: dict[str, Any]) -> None:
    """The JSON's keys are SpeculativeConfig's fields and its method one vLLM names (what
    SpeculativeConfig(**config) would check first; the rest needs the model's own config)."""
    import dataclasses
    import typing

    from vllm.config.speculative import SpeculativeConfig, SpeculativeMethod

    unknown = set(config) - {f.name for f in dataclasses.fields(SpeculativeConfig)}
    if unknown:
        raise _Rejected(f"--speculative-config: unknown keys {sorted(unknown)}")
    methods = set(typing.get_args(SpeculativeMethod))
    if config.get("method") not in methods | {None}:
        raise _Rejected(f"--speculative-config: unknown method {config.get('method')!r}")


def vllm_checker() -> Any:
    import vllm.platforms as platforms
    from vllm.platforms.interface import UnspecifiedPlatform

    class _CudaTyped(UnspecifiedPlatform):
        device_type = "cuda"
        device_name = "cuda"

    platforms._current_platform = _CudaTyped()
    platforms.current_platform = platforms._current_platform
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.entrypoints.common.cli_args import validate_parsed_serve_args
    from vllm.reasoning import ReasoningParserManager
    from vllm.tool_parsers import ToolParserManager
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    top = FlexibleArgumentParser(description="vLLM CLI")
    sub = top.add_subparsers(required=False, dest="subparser")
    ServeSubcommand().subparser_init(sub)

    def check(args: list[str]) -> str:
        # The image's ENTRYPOINT is `vllm serve`, so the container sees `serve <args>`.
        ns = _parse(top.parse_args, ["serve", *args])
        validate_parsed_serve_args(ns)
        tools = ToolParserManager.list_registered()
        if ns.tool_call_parser and ns.tool_call_parser not in tools:
            raise _Rejected(f"invalid tool call parser: {ns.tool_call_parser}")
        reasoning = getattr(ns, "reasoning_parser", "") or ""
        if reasoning and reasoning not in ReasoningParserManager.list_registered():
            raise _Rejected(f"invalid reasoning parser: {reasoning}")
        spec = ""
        if ns.speculative_config:
            _check_speculative_config(ns.speculative_config)
            spec = f" speculative_config={ns.speculative_config!r}"
        nodes = ""
        if ns.nnodes > 1:  # as the multi-node ranks read their place (a LeaderWorkerSet's pods)
            nodes = (
                f" pp={ns.pipeline_parallel_size} nnodes={ns.nnodes} node_rank={ns.node_rank} "
                f"master={ns.master_addr}:{ns.master_port} headless={ns.headless}"
            )
        return f"parsed: model={ns.model_tag!r} tp={ns.tensor_parallel_size} tool_parser={ns.tool_call_parser!r}{spec}{nodes}"

    return check


def sglang_checker() -> Any:
    import argparse

    import sglang.srt.arg_groups.serving_hook as serving_hook
    from sglang.srt.function_call.parser_names import TOOL_CALL_PARSER_NAMES
    from sglang.srt.server_args import ServerArgs

    parser = argparse.ArgumentParser()
    ServerArgs.add_cli_args(parser)
    src = Path(serving_hook.__file__).read_text(encoding="utf-8")

    def check(args: list[str]) -> str:
        ns = _parse(parser.parse_args, args)
        server_args = ServerArgs.from_cli_args(ns)
        tool = getattr(server_args, "tool_call_parser", None)
        if tool and tool != "auto" and tool not in TOOL_CALL_PARSER_NAMES:
            raise _Rejected(f"tool-call parser {tool!r} not in the registry")
        note = ""
        if tool and f'"{tool}":' in src.split("deprecated_tool_call_parsers", 1)[-1][:200]:
            note = f" (tool parser {tool!r} is a deprecated alias: rewritten at start-up)"
        if ns.speculative_algorithm:
            note += (
                f" speculative={ns.speculative_algorithm} steps={ns.speculative_num_steps} "
                f"topk={ns.speculative_eagle_topk} draft_tokens={ns.speculative_num_draft_tokens}"
            )
        if server_args.nnodes > 1:
            note += (
                f" pp={server_args.pp_size} nnodes={server_args.nnodes} "
                f"node_rank={server_args.node_rank} dist_init_addr={server_args.dist_init_addr}"
            )
        return f"parsed: model={ns.model_path!r} tp={ns.tp_size} tool_parser={tool!r}{note}"

    return check


def main() -> None:
    kind, src, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    check = {"vllm": vllm_checker, "sglang": sglang_checker}[kind]()
    results = []
    for item in json.loads(src.read_text(encoding="utf-8")):
        try:
            results.append({"where": item["where"], "ok": True, "detail": check(item["args"])})
        except _Rejected as e:
            results.append({"where": item["where"], "ok": False, "detail": str(e)})
        except Exception as e:  # validation errors of the engine itself (TypeError, ValueError...)
            results.append(
                {"where": item["where"], "ok": False, "detail": f"{type(e).__name__}: {e}"}
            )
    out.write_text(json.dumps(results), encoding="utf-8")


if __name__ == "__main__":
    main()
