"""Stand-in for the vLLM / SGLang / llama.cpp servers: their CLI checks, readiness and OpenAI API.

Standard library only; runs inside the stand-in images built by build.py. It loads no model: it
reproduces what ling_compose's `up`, health wait and smoke test observe from outside.

Environment:
  STANDIN_LOAD_SECONDS   time spent "loading the model" (default 2)
  STANDIN_WARMUP_SECONDS SGLang only: /health answers 503 this long after the port opens (default 1)
  STANDIN_CRASH_AFTER    exit 1 after this many seconds of loading, with an error log line
  STANDIN_NEVER_READY=1  stay in the loading phase forever
  STANDIN_TTFT_SECONDS   pace of answers: time from a request's arrival to its first token (default 0)
  STANDIN_TOKEN_SECONDS  pace of answers: time between tokens (default 0)
  STANDIN_TOKENS_PER_CHUNK  tokens per streamed chunk, as speculative decoding (MTP) sends them
                         (default 1); see Pace
  STANDIN_CATALOG        the flag catalogue JSON (default /opt/standin/catalogs/<backend>.json)
  STANDIN_REPORT         JSON {figure: value} (keys of the engine's report_figures in
                         ling_compose/engines/<engine>.py): the cache the "engine" reports at
                         start-up, printed in that engine's own log format (see start_up_report)
  STANDIN_METRICS_VERSION  whose metric names /metrics writes (default: the backend's pinned
                         version; `b9049-lj-70bfa23` for the llama.cpp fork's); see Metrics
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

CATALOG_FILES = {
    "vllm": "vllm-0.33.0.json",
    "sglang": "sglang-0.5.23.json",
    "llamacpp": "llamacpp-b11434.json",
}

# The stand-in "model" writes tool calls the way Ling-2.6-flash does (Qwen2.5/Hermes JSON inside
# <tool_call> tags); only these parsers turn that text into structured tool_calls.
MATCHING_PARSERS = {
    "vllm": {"hermes", "qwen3_json"},
    "sglang": {"qwen", "qwen25", "hermes"},
}

# argparse-style exit code for bad arguments (vLLM, SGLang); llama.cpp exits 1.
BAD_ARGS_EXIT = {"vllm": 2, "sglang": 2, "llamacpp": 1}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# The engines' own printf-style formats (C printf for llama.cpp, %-logging for vLLM), kept as
# such so that the stand-in's lines are byte for byte what the engines print.
VLLM_CAPACITY = "%s KV cache size: %s tokens, Maximum concurrency for %s tokens per request: %.2fx"
LLAMA_OFFLOADED = "load_tensors: offloaded %d/%d layers to GPU"
LLAMA_MODEL_BUFFER = "load_tensors: %12s model buffer size = %8.2f MiB"
LLAMA_CTX_SEQ = "llama_context: n_ctx_seq             = %u"
LLAMA_KV_BUFFER = "llama_kv_cache: %10s KV buffer size = %8.2f MiB"
LLAMA_RS_BUFFER = "llama_memory_recurrent: %10s RS buffer size = %8.2f MiB"


def start_up_report(backend: str, args: dict[str, Any], figures: dict[str, float]) -> list[str]:
    """The lines each engine logs about its cache once it has profiled the GPU, in its format
    at the pinned version (file:line as in ling_compose/engines/<engine>.py)."""
    f, pid = figures, os.getpid()
    lines: list[str] = []
    if backend == "vllm":
        stamp = time.strftime("%m-%d %H:%M:%S")  # vllm/logger.py _DATE_FORMAT
        context = int(args.get("--max-model-len") or 0)
        if "kv_cache_gib" in f:  # gpu_worker.py:773, format_gib = str(round(GiB, 2))
            lines.append(
                f"(Worker pid={pid}) INFO {stamp} [gpu_worker.py:773] "
                f"Available KV cache memory: {round(f['kv_cache_gib'], 2)} GiB"
            )
        if "kv_cache_tokens" in f:  # v1/core/kv_cache_utils.py:1148
            tokens, conc = f"{int(f['kv_cache_tokens']):,}", f.get("max_concurrency", 0.0)
            capacity = VLLM_CAPACITY % ("GPU", tokens, f"{context:,}", conc)
            lines.append(f"(EngineCore pid={pid}) INFO {stamp} [kv_cache_utils.py:1148] {capacity}")
    elif backend == "sglang":
        stamp = "[" + time.strftime("%Y-%m-%d %H:%M:%S") + " TP0] "  # utils/common.py
        tokens = int(f.get("kv_cache_tokens", 0))
        if "kv_cache_gib" in f:  # mem_cache/memory_pool.py:2094-2097
            lines.append(
                stamp + f"KV Cache is allocated. dtype: torch.bfloat16, #tokens: {tokens}, "
                f"KV size: {f['kv_cache_gib']:.2f} GB"
            )
        if "state_gib" in f:  # mem_cache/memory_pool.py:1005-1009
            lines.append(
                stamp + "Mamba Cache is allocated. max_mamba_cache_size: 0, conv_state size: "
                f"0.00GB, ssm_state size: {f['state_gib']:.2f}GB "
            )
        if "kv_cache_tokens" in f:  # managers/scheduler.py:1269-1276
            running = int(f.get("max_running_requests", 0))
            lines.append(
                stamp + f"max_total_num_tokens={tokens}, chunked_prefill_size=8192, "
                f"max_prefill_tokens=16384, max_running_requests={running}, "
                f"context_len={int(args.get('--context-length') or 0)}, available_gpu_mem=10.00 GB"
            )
    else:
        if "gpu_weights_gib" in f:  # src/llama-model.cpp:1926 and :1932
            lines.append(LLAMA_OFFLOADED % (33, 33))
            lines.append(LLAMA_MODEL_BUFFER % ("CUDA0", f["gpu_weights_gib"] * 1024))
        if f.get("host_weights_gib"):
            lines.append(LLAMA_MODEL_BUFFER % ("CPU_Mapped", f["host_weights_gib"] * 1024))
        if "context_per_slot" in f:  # src/llama-context.cpp:312
            lines.append(LLAMA_CTX_SEQ % int(f["context_per_slot"]))
        if "kv_cache_gib" in f:  # src/llama-kv-cache.cpp:291
            lines.append(LLAMA_KV_BUFFER % ("CUDA0", f["kv_cache_gib"] * 1024))
        if "state_gib" in f:  # src/llama-memory-recurrent.cpp:124
            lines.append(LLAMA_RS_BUFFER % ("CUDA0", f["state_gib"] * 1024))
    return lines


class BadArgs(Exception):
    pass


def load_catalog(backend: str) -> dict[str, Any]:
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.environ.get("STANDIN_CATALOG") or os.path.join(
        here, "catalogs", CATALOG_FILES[backend]
    )
    with open(path, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _norm(name: str, backend: str) -> str:
    # vLLM's FlexibleArgumentParser accepts `--max_model_len` for `--max-model-len`.
    if backend == "vllm" and name.startswith("--"):
        return "--" + name[2:].replace("_", "-")
    return name


def parse_args(backend: str, argv: list[str], catalog: dict[str, Any]) -> dict[str, Any]:
    """Check argv against the catalogue; return {canonical option name: value} + '_positional'."""
    by_name: dict[str, tuple[dict[str, Any], bool]] = {}  # name -> (option, value when a flag)
    for opt in catalog.get("options", []):
        if opt.get("removed"):
            continue  # the real parser no longer knows it
        for name in opt.get("names", []):
            by_name[_norm(name, backend)] = (opt, not name.startswith("--no-"))
        for name in opt.get("negative_names") or []:
            by_name[_norm(name, backend)] = (opt, False)
    values: dict[str, Any] = {"_positional": []}
    deprecated = catalog.get("deprecated_values") or {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-") and len(arg) > 1 and not _is_number(arg):
            name, eq, inline = arg.partition("=")
            name = _norm(name, backend)
            found = by_name.get(name)
            if found is None:
                raise BadArgs(_unrecognised(backend, arg))
            opt, flag_on = found
            names = [_norm(n, backend) for n in opt["names"]]
            if opt.get("takes_value"):
                if eq:
                    value: Any = inline
                elif opt.get("nargs") in ("+", "*"):
                    # argparse nargs="+": every following argument up to the next option.
                    taken = []
                    while i + 1 < len(argv) and not (
                        argv[i + 1].startswith("-") and not _is_number(argv[i + 1])
                    ):
                        i += 1
                        taken.append(argv[i])
                    if not taken and opt.get("nargs") == "+":
                        raise BadArgs(_missing_value(backend, name))
                    value = taken[0] if len(taken) == 1 else " ".join(taken)
                else:
                    if i + 1 >= len(argv):
                        raise BadArgs(_missing_value(backend, name))
                    i += 1
                    value = argv[i]
                choices = opt.get("choices")
                if choices and value not in choices:
                    raise BadArgs(_bad_choice(backend, name, value, choices))
                dep = _deprecated(deprecated, opt, value)
                if dep:
                    log(f"WARNING {name} {value} is deprecated; using {dep}")
                    value = dep
                for n in names:
                    values[n] = value
            else:
                if eq:
                    raise BadArgs(_unrecognised(backend, arg))
                for n in names:
                    values[n] = flag_on
        else:
            values["_positional"].append(arg)
        i += 1
    allowed = len(catalog.get("positional", []))
    if len(values["_positional"]) > allowed:
        extra = " ".join(values["_positional"][allowed:])
        raise BadArgs(_unrecognised(backend, extra))
    return values


def _is_number(arg: str) -> bool:
    try:
        float(arg)
    except ValueError:
        return False
    return True


def _deprecated(deprecated: dict[str, Any], opt: dict[str, Any], value: str) -> str | None:
    for name in opt["names"]:
        table = deprecated.get(name) or deprecated.get(name.lstrip("-").replace("-", "_"))
        if isinstance(table, dict) and value in table:
            new = table[value]
            return str(new) if new else None
    return None


def _unrecognised(backend: str, arg: str) -> str:
    if backend == "llamacpp":
        return f"error: invalid argument: {arg}"
    return f"error: unrecognized arguments: {arg}"


def _missing_value(backend: str, name: str) -> str:
    if backend == "llamacpp":
        return f'error while handling argument "{name}": expected value for argument'
    return f"error: argument {name}: expected one argument"


def _bad_choice(backend: str, name: str, value: str, choices: list[str]) -> str:
    if backend == "llamacpp":
        return f'error while handling argument "{name}": invalid value: {value}'
    shown = ", ".join(repr(c) for c in choices)
    return f"error: argument {name}: invalid choice: {value!r} (choose from {shown})"


class Server:
    """Readiness state machine plus the served settings read off the command line."""

    def __init__(self, backend: str, args: dict[str, Any]) -> None:
        self.backend = backend
        self.args = args
        self.loaded = False
        self.warm = False
        pos = args["_positional"]
        self.metrics = Metrics(backend, args, os.environ.get("STANDIN_METRICS_VERSION"))
        if backend == "vllm":
            self.model = args.get("--model") or (pos[0] if pos else "facebook/opt-125m")
            self.served = args.get("--served-model-name") or self.model
            self.port = int(args.get("--port") or 8000)
            self.host = args.get("--host") or "0.0.0.0"
            auto = bool(args.get("--enable-auto-tool-choice"))
            parser = args.get("--tool-call-parser")
            self.tool_parsing = auto and parser in MATCHING_PARSERS["vllm"]
            self.auto_tools = auto and parser is not None
        elif backend == "sglang":
            self.model = args.get("--model-path") or args.get("--model") or "unset"
            self.served = args.get("--served-model-name") or self.model
            self.port = int(args.get("--port") or 30000)
            # SGLang binds 127.0.0.1 unless told otherwise: unreachable from outside a container.
            self.host = args.get("--host") or "127.0.0.1"
            parser = args.get("--tool-call-parser")
            self.tool_parsing = parser in MATCHING_PARSERS["sglang"]
            self.auto_tools = True
        else:
            self.model = (
                args.get("--model")
                or args.get("--hf-repo")
                or os.environ.get("LLAMA_ARG_MODEL")
                or "models/7B/ggml-model-f16.gguf"
            )
            self.served = args.get("--alias") or os.path.basename(str(self.model))
            self.port = int(args.get("--port") or os.environ.get("LLAMA_ARG_PORT") or 8080)
            self.host = args.get("--host") or os.environ.get("LLAMA_ARG_HOST") or "127.0.0.1"
            jinja = args.get("--jinja")
            self.tool_parsing = jinja is not False
            self.auto_tools = True

    # -- run ---------------------------------------------------------------------------------
    def run(self) -> int:
        load_s = float(os.environ.get("STANDIN_LOAD_SECONDS", "2"))
        warmup_s = float(os.environ.get("STANDIN_WARMUP_SECONDS", "1"))
        crash_after = os.environ.get("STANDIN_CRASH_AFTER")
        never = os.environ.get("STANDIN_NEVER_READY") == "1"
        log(f"INFO stand-in {self.backend} serving {self.served!r} (model {self.model!r})")
        httpd: ThreadingHTTPServer | None = None
        if self.backend == "llamacpp":
            # llama-server opens its port at once and answers 503 until the model is loaded.
            httpd = self._listen()
            log(f"main: HTTP server is listening, hostname: {self.host}, port: {self.port}")
            log("main: loading model")
        else:
            log("INFO Loading model weights ...")
        start = time.monotonic()
        while never or time.monotonic() - start < load_s:
            if crash_after is not None and time.monotonic() - start >= float(crash_after):
                log("ERROR torch.OutOfMemoryError: CUDA out of memory (stand-in crash during load)")
                log(f"STANDIN_EXIT_AT {time.time():.6f}")
                return 1
            time.sleep(0.05)
        report = os.environ.get("STANDIN_REPORT")
        if report:
            for line in start_up_report(self.backend, self.args, json.loads(report)):
                log(line)
        self.loaded = True
        if self.backend == "llamacpp":
            log("main: model loaded")
            log(f"main: server is listening on http://{self.host}:{self.port}")
            self.warm = True
        elif self.backend == "vllm":
            httpd = self._listen()
            self.warm = True
            log(f"INFO Starting vLLM API server on http://{self.host}:{self.port}")
            log("INFO:     Application startup complete.")
        else:
            httpd = self._listen()
            log(f"INFO Uvicorn running on http://{self.host}:{self.port}")
            time.sleep(warmup_s)
            self.warm = True
            log("INFO The server is fired up and ready to roll!")
        assert httpd is not None
        # For bench/bench_up.py: the moment readiness began, on the clock the host shares.
        log(f"STANDIN_READY_AT {time.time():.6f}")
        while True:
            time.sleep(3600)

    def _listen(self) -> ThreadingHTTPServer:
        server = self

        class Handler(_Handler):
            owner = server

        ThreadingHTTPServer.address_family = socket.AF_INET
        ThreadingHTTPServer.daemon_threads = True
        # socketserver's default listen backlog is 5: a burst of bench connections beyond it
        # waits a TCP retransmit (1 s) for its turn. Real servers listen with a deep backlog.
        ThreadingHTTPServer.request_queue_size = 1024
        httpd = ThreadingHTTPServer((self.host, self.port), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return httpd


class _Handler(BaseHTTPRequestHandler):
    owner: Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log("access: " + (format % args))

    # -- helpers -----------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode())

    def _error(self, status: int, message: str, etype: str) -> None:
        if self.owner.backend == "llamacpp":
            self._json(status, {"error": {"code": status, "message": message, "type": etype}})
        else:
            self._json(
                status,
                {
                    "object": "error",
                    "message": message,
                    "type": etype,
                    "param": None,
                    "code": status,
                },
            )

    def _loading(self) -> bool:
        s = self.owner
        if s.backend == "llamacpp" and not s.loaded:
            self._json(
                503,
                {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}},
            )
            return True
        return False

    # -- routes ------------------------------------------------------------------------------
    def do_GET(self) -> None:
        if self._loading():
            return
        s = self.owner
        path = self.path.split("?")[0]
        if path == "/health":
            if s.backend == "sglang" and not s.warm:
                self._send(503, b"")
            elif s.backend == "llamacpp":
                self._json(200, {"status": "ok"})
            else:
                self._send(200, b"")
        elif path == "/v1/models" and s.backend == "llamacpp":
            self._json(200, _llamacpp_models(s.served))
        elif path == "/v1/models":
            self._json(
                200,
                {
                    "object": "list",
                    "data": [
                        {
                            "id": s.served,
                            "object": "model",
                            "created": int(time.time()),
                            "owned_by": s.backend,
                            "root": s.model,
                        }
                    ],
                },
            )
        elif path == "/version" and s.backend == "vllm":
            self._json(200, {"version": "0.33.0"})
        elif path == "/metrics":
            self._metrics()
        else:
            self._not_found()

    def _metrics(self) -> None:
        """/metrics as each engine gates it: SGLang only with --enable-metrics (404 without),
        llama-server only with --metrics (501) and behind its API key (401)."""
        s = self.owner
        if s.backend == "sglang" and not s.args.get("--enable-metrics"):
            self._not_found()
        elif s.backend == "llamacpp" and not s.args.get("--metrics"):
            # tools/server/server-context.cpp L5025-5026 of b11434; 501 not_supported_error.
            message = "This server does not support metrics endpoint. Start it with `--metrics`"
            self._error(501, message, "not_supported_error")
        elif s.backend == "llamacpp" and not self._llamacpp_key_ok():
            # tools/server/server-http.cpp L289-299: 401, its own JSON and charset.
            self._error(401, "Invalid API Key", "authentication_error")
        else:
            self._send(200, s.metrics.exposition(s.served).encode(), Metrics.CONTENT_TYPE)

    def _llamacpp_key_ok(self) -> bool:
        key = self.owner.args.get("--api-key") or os.environ.get("LLAMA_API_KEY")
        if not key:
            return True
        given = self.headers.get("Authorization") or self.headers.get("X-Api-Key") or ""
        return given.removeprefix("Bearer ") == key

    def _not_found(self) -> None:
        # llama-server's wording (tools/server/server-http.cpp); the others' is not checked here.
        message = "File Not Found" if self.owner.backend == "llamacpp" else "Not Found"
        self._error(404, message, "not_found_error")

    def do_POST(self) -> None:
        arrived = time.monotonic()
        if self._loading():
            return
        s = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.split("?")[0] != "/v1/chat/completions":
            self._not_found()
            return
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            self._error(400, "invalid JSON body", "invalid_request_error")
            return
        # llama-server's checks and words (tools/server/server-common.cpp, std::invalid_argument
        # answered as 400); vLLM's and SGLang's validation errors are not imitated in detail.
        if "messages" not in req:
            self._error(400, "'messages' is required", "invalid_request_error")
            return
        if not isinstance(req["messages"], list):
            self._error(400, "Expected 'messages' to be an array", "invalid_request_error")
            return
        model = req.get("model")
        if s.backend != "llamacpp" and model not in (s.served, None):
            self._error(404, f"The model `{model}` does not exist.", "NotFoundError")
            return
        tools = req.get("tools") or []
        choice = req.get("tool_choice", "auto" if tools else "none")
        forced = req.get("tool_choice", "auto") != "auto"
        if s.backend == "llamacpp" and not s.tool_parsing and (tools or forced):
            # llama-server b11434 without --jinja refuses tools (tools/server/server-common.cpp,
            # a std::runtime_error, hence 500 server_error).
            field = "tools" if tools else "tool_choice"
            self._error(500, f"{field} param requires --jinja flag", "server_error")
            return
        if s.backend == "vllm" and tools and choice == "auto" and not s.auto_tools:
            self._error(
                400,
                '"auto" tool choice requires --enable-auto-tool-choice and '
                "--tool-call-parser to be set",
                "BadRequestError",
            )
            return
        messages = req.get("messages") or [{}]
        answering = (messages[-1] or {}).get("role") == "tool"
        call = _pick_call(tools, choice) if tools and choice != "none" and not answering else None
        rid = "chatcmpl-" + uuid.uuid4().hex[:24]
        # vLLM and SGLang force "required" (and a named tool) with a JSON schema and parse that
        # output themselves, whatever --tool-call-parser says (vLLM docs "Required Function
        # Calling"; SGLang function_call/json_array_parser.py); llama.cpp always parses with
        # its template's parser.
        parse = s.tool_parsing or (s.backend != "llamacpp" and choice != "auto")
        pace = Pace.of_request(req, arrived)
        s.metrics.started()
        try:
            if req.get("stream"):
                tokens = self._stream(rid, s.served, call, parse, answering, pace)
            else:
                body = _completion(rid, s.served, call, parse, answering, pace)
                tokens = body["usage"]["completion_tokens"]
                if s.backend == "llamacpp":
                    body = _llamacpp_completion(body)
                self._json(200, body)
        finally:
            s.metrics.finished()
        s.metrics.served(pace, tokens)

    def _stream(
        self,
        rid: str,
        model: str,
        call: dict[str, Any] | None,
        parse: bool,
        answering: bool,
        pace: Pace,
    ) -> int:
        """Stream the answer; return how many tokens it carried."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def send(body: dict[str, Any]) -> None:
            self.wfile.write(b"data: " + json.dumps(body).encode() + b"\n\n")
            self.wfile.flush()

        def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
            send(
                {
                    "id": rid,
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
            )

        # (delta, tokens it carries): a tool-call delta counts as one token, whatever its size.
        deltas: list[tuple[dict[str, Any], int]]
        if call is not None and parse:
            # The call's header (id, name), then its arguments in two pieces.
            args = json.dumps(call["arguments"])
            half = len(args) // 2
            header = {
                "index": 0,
                "id": "call_" + uuid.uuid4().hex[:12],
                "type": "function",
                "function": {"name": call["name"], "arguments": ""},
            }
            deltas = [({"tool_calls": [header]}, 1)]
            deltas += [
                ({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, 1)
                for piece in (args[:half], args[half:])
            ]
            finish = "tool_calls"
        else:
            tokens = pace.tokens(_text(call, answering))
            # The first token comes alone (from the prefill), later chunks carry `per_chunk`.
            groups = [tokens[:1]] + [
                tokens[i : i + pace.per_chunk] for i in range(1, len(tokens), pace.per_chunk)
            ]
            deltas = [({"content": "".join(g)}, len(g)) for g in groups if g]
            finish = (
                "stop" if pace.max_tokens is None or len(tokens) < pace.max_tokens else "length"
            )
        # vLLM's first chunk carries the role and comes with the first token (serving.py,
        # `first_iteration`); a chunk goes out when its last token is due.
        pace.wait_for(0)
        chunk({"role": "assistant", "content": ""})
        emitted = 0
        for delta, size in deltas:
            pace.wait_for(emitted + size - 1)
            chunk(delta)
            emitted += size
        chunk({}, finish)
        if pace.include_usage:
            send(
                {
                    "id": rid,
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [],
                    "usage": pace.usage(emitted),
                }
            )
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        return emitted


class Pace:
    """How fast and how long an answer is: the STANDIN_* pace settings and the request's limits.

    Answers are made of tokens (one word each; usage counts one token per word of the prompt).
    Token i is due at arrival + TTFT + i x token time, so delays do not add up. `max_tokens`
    caps an answer and `ignore_eos: true` makes it exactly `max_tokens` long, as the real
    engines do. A stream ends with a usage chunk (`"choices": []`) when
    `stream_options.include_usage` is true, as vLLM, SGLang and llama-server send it.
    """

    def __init__(
        self,
        arrived: float,
        ttft_s: float,
        token_s: float,
        per_chunk: int,
        max_tokens: int | None,
        ignore_eos: bool,
        include_usage: bool,
        prompt_tokens: int,
    ) -> None:
        self.arrived = arrived
        self.ttft_s = ttft_s
        self.token_s = token_s
        self.per_chunk = max(1, per_chunk)
        self.max_tokens = max_tokens
        self.ignore_eos = ignore_eos
        self.include_usage = include_usage
        self.prompt_tokens = prompt_tokens

    @classmethod
    def of_request(cls, req: dict[str, Any], arrived: float) -> Pace:
        limit = req.get("max_completion_tokens") or req.get("max_tokens")
        options = req.get("stream_options") or {}
        prompt = 0
        for message in req.get("messages") or []:
            content = (message or {}).get("content")
            if isinstance(content, str):
                prompt += len(content.split())
        return cls(
            arrived,
            float(os.environ.get("STANDIN_TTFT_SECONDS", "0")),
            float(os.environ.get("STANDIN_TOKEN_SECONDS", "0")),
            int(os.environ.get("STANDIN_TOKENS_PER_CHUNK", "1")),
            int(limit) if limit else None,
            bool(req.get("ignore_eos")),
            bool(options.get("include_usage")) if isinstance(options, dict) else False,
            prompt,
        )

    def tokens(self, text: str) -> list[str]:
        """The answer as tokens: the text's words, cut at max_tokens, or repeated up to it with
        ignore_eos."""
        words = _words(text)
        if self.max_tokens is None:
            return words
        if self.ignore_eos:
            return [words[i % len(words)] for i in range(self.max_tokens)]
        return words[: self.max_tokens]

    def due(self, token_index: int) -> float:
        """When token `token_index` (0 = the first) is due, on the monotonic clock."""
        return self.arrived + self.ttft_s + token_index * self.token_s

    def wait_for(self, token_index: int) -> None:
        """Sleep until token `token_index` (0 = the first) is due."""
        delay = self.due(token_index) - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def usage(self, completion_tokens: int) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
        }


class Metrics:
    """What /metrics writes: the metric names of ling_compose.monitoring.metrics for this engine
    version (build.py copies them into the image as catalogs/metrics.json), in the Prometheus
    text format, with values from the requests served so far (their pace, not a clock's)."""

    # llama-server's (tools/server/server-context.cpp L5077 of b11434); Prometheus 3 refuses a
    # scrape without a Content-Type it knows.
    CONTENT_TYPE = "text/plain; version=0.0.4"
    PINNED: ClassVar[dict[str, str]] = {"vllm": "0.33.0", "sglang": "0.5.23", "llamacpp": "b11434"}
    BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
    # One value per label: a stand-in has one engine, one rank, ...
    LABEL_VALUES: ClassVar[dict[str, str]] = {
        "engine": "0",
        "engine_type": "unified",
        "finished_reason": "length",
    }

    def __init__(self, backend: str, args: dict[str, Any], version: str | None) -> None:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(here, "catalogs", "metrics.json")
        self.version = version or self.PINNED[backend]
        catalogue: dict[str, list[dict[str, Any]]] = {}
        if os.path.exists(path):  # absent when standin.py is imported outside an image
            with open(path, encoding="utf-8") as fh:
                catalogue = json.load(fh)
        self.names = catalogue.get(f"{backend} {self.version}", [])
        # vLLM records no engine stats with --disable-log-stats (v1/engine/async_llm.py L159).
        self.recorded = not (backend == "vllm" and args.get("--disable-log-stats"))
        capacity = args.get("--max-num-seqs") or args.get("--max-running-requests")
        self.capacity = int(capacity or args.get("--parallel") or 0)
        self.lock = threading.Lock()
        self.running = 0
        self.totals: dict[str, float] = {}
        self.observed: dict[str, list[float]] = {}
        self.window_start = time.monotonic()
        self.window_tokens = {"prompt_throughput": 0.0, "generation_throughput": 0.0}

    def started(self) -> None:
        with self.lock:
            self.running += 1

    def finished(self) -> None:
        with self.lock:
            self.running -= 1

    def served(self, pace: Pace, tokens: int) -> None:
        """Account for one answer of TOKENS tokens, at the times its pace made them due."""
        end = time.monotonic()
        first, last = pace.due(0), pace.due(max(tokens - 1, 0))
        # A chunk goes out when its last token is due: the first alone, then per_chunk each.
        step = pace.per_chunk
        ends = [0, *(min(i + step - 1, tokens - 1) for i in range(1, tokens, step))]
        gaps = [pace.due(b) - pace.due(a) for a, b in itertools.pairwise(ends)]
        observations = {
            "ttft_seconds": [first - pace.arrived],
            "itl_seconds": gaps,
            "tpot_seconds": [(last - first) / (tokens - 1)] if tokens > 1 else [],
            "e2e_seconds": [end - pace.arrived],
            "queue_seconds": [0.0],
        }
        added = {
            "prompt_tokens": pace.prompt_tokens,
            "generation_tokens": tokens,
            "requests_finished": 1,
            "prompt_seconds": first - pace.arrived,
            "generation_seconds": last - first,
            "decode_calls": tokens,
        }
        with self.lock:
            for measure, values in observations.items():
                self.observed.setdefault(measure, []).extend(values)
            for measure, value in added.items():
                self.totals[measure] = self.totals.get(measure, 0) + value
            self.window_tokens["prompt_throughput"] += pace.prompt_tokens
            self.window_tokens["generation_throughput"] += tokens

    def _gauge(self, measure: str, now: float) -> float:
        if measure == "requests_running":
            return self.running
        if measure == "kv_cache_usage":
            return self.running / self.capacity if self.capacity else 0.0
        if measure in self.window_tokens:
            return self.window_tokens[measure] / max(now - self.window_start, 1e-9)
        return 0.0  # nothing waits in a stand-in; the rest it does not model

    def exposition(self, served: str) -> str:
        now = time.monotonic()
        out: list[str] = []
        with self.lock:
            for metric in self.names if self.recorded else []:
                name, kind, measure = metric["name"], metric["kind"], metric["measures"]
                values = {"model_name": served, **self.LABEL_VALUES}
                labels = ",".join(f'{k}="{values.get(k, "0")}"' for k in metric["labels"])
                out += [f"# HELP {name} stand-in of {name}", f"# TYPE {name} {kind}"]
                if kind == "histogram":
                    seen = self.observed.get(measure, [])
                    for bound in [*self.BUCKETS, float("inf")]:
                        le = 'le="' + ("+Inf" if bound == float("inf") else repr(bound)) + '"'
                        count = sum(1 for v in seen if v <= bound)
                        out.append(f"{name}_bucket{{{_join(labels, le)}}} {count}")
                    out.append(f"{name}_sum{{{labels}}} {sum(seen)!r}")
                    out.append(f"{name}_count{{{labels}}} {len(seen)}")
                else:
                    value = (
                        self.totals.get(measure, 0)
                        if kind == "counter"
                        else self._gauge(measure, now)
                    )
                    out.append(
                        f"{name}{{{labels}}} {float(value)!r}"
                        if labels
                        else f"{name} {float(value)!r}"
                    )
            # Throughput gauges are averages since the previous scrape (llama-server resets its
            # window on every /metrics request: server-context.cpp L5052-5053).
            self.window_start = now
            self.window_tokens = dict.fromkeys(self.window_tokens, 0.0)
        return "\n".join(out) + "\n"


def _join(*parts: str) -> str:
    return ",".join(p for p in parts if p)


def _words(text: str) -> list[str]:
    """Split into words that keep their leading space, so that joining them gives the text."""
    out: list[str] = []
    for i, piece in enumerate(text.split(" ")):
        if i == 0:
            if piece:
                out.append(piece)
        else:
            out.append(" " + piece)
    return out


def _pick_call(tools: list[dict[str, Any]], choice: Any) -> dict[str, Any] | None:
    fns = [t.get("function") or {} for t in tools if t.get("type", "function") == "function"]
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        fns = [f for f in fns if f.get("name") == wanted] or fns
    if not fns:
        return None
    fn = fns[0]
    params = fn.get("parameters") or {}
    props = params.get("properties") or {}
    args: dict[str, Any] = {}
    for key in params.get("required") or list(props)[:1]:
        typ = (props.get(key) or {}).get("type", "string")
        enum = (props.get(key) or {}).get("enum")
        args[key] = (
            enum[0]
            if enum
            else {"string": "Paris", "integer": 3, "number": 2.5, "boolean": True}.get(typ, "x")
        )
    return {"name": fn.get("name", "tool"), "arguments": args}


def _text(call: dict[str, Any] | None, answering: bool = False) -> str:
    if answering:
        return "It is 18 degrees and cloudy in Paris (from the tool result)."
    if call is None:
        return "Hello! I am a stand-in model, ready to help."
    return "<tool_call>\n" + json.dumps(call) + "\n</tool_call>"


def _completion(
    rid: str,
    model: str,
    call: dict[str, Any] | None,
    parse: bool,
    answering: bool,
    pace: Pace,
) -> dict[str, Any]:
    if call is not None and parse:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_" + uuid.uuid4().hex[:12],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])},
                }
            ],
        }
        finish = "tool_calls"
        tokens = 3  # as streamed: the call's header and its arguments in two pieces
    else:
        words = pace.tokens(_text(call, answering))
        message = {"role": "assistant", "content": "".join(words), "tool_calls": []}
        finish = "stop" if pace.max_tokens is None or len(words) < pace.max_tokens else "length"
        tokens = len(words)
    pace.wait_for(tokens - 1)  # the whole answer, at the configured pace
    return {
        "id": rid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": pace.usage(tokens),
    }


def _llamacpp_models(served: str) -> dict[str, Any]:
    """/v1/models as llama-server b11434 shapes it (server-context.cpp get_res_models): an
    Ollama-style `models` list beside the OpenAI `data` list, with the model's metadata."""
    return {
        "models": [
            {
                "name": served,
                "model": served,
                "modified_at": "",
                "size": "",
                "digest": "",
                "type": "model",
                "description": "",
                "tags": [""],
                "capabilities": ["completion"],
                "parameters": "",
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": "",
                    "families": [""],
                    "parameter_size": "",
                    "quantization_level": "",
                },
            }
        ],
        "object": "list",
        "data": [
            {
                "id": served,
                "aliases": [served],
                "tags": [],
                "object": "model",
                "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
                "created": int(time.time()),
                "owned_by": "llamacpp",
                # Made-up figures of a 4-bit model of Ling-2.6-flash's size: the stand-in loads none.
                "meta": {
                    "vocab_type": 2,
                    "n_vocab": 157184,
                    "n_ctx": 32768,
                    "n_ctx_train": 131072,
                    "n_embd": 4096,
                    "n_params": 104_000_000_000,
                    "size": 57_000_000_000,
                    "ftype": "IQ4_NL - 4.5 bpw",
                },
            }
        ],
    }


def _llamacpp_completion(body: dict[str, Any]) -> dict[str, Any]:
    """A chat completion as llama-server adds to it: no empty tool_calls list, a build
    fingerprint, cached-token usage and its timings block."""
    for choice in body["choices"]:
        if not choice["message"].get("tool_calls"):
            choice["message"].pop("tool_calls", None)
    usage = body["usage"]
    usage["prompt_tokens_details"] = {"cached_tokens": 0}
    body["system_fingerprint"] = "b11434-unknown"
    body["timings"] = {
        "cache_n": 0,
        "prompt_n": usage["prompt_tokens"],
        "prompt_ms": 10.0,
        "prompt_per_token_ms": 10.0 / usage["prompt_tokens"],
        "prompt_per_second": usage["prompt_tokens"] / 0.01,
        "predicted_n": usage["completion_tokens"],
        "predicted_ms": 20.0,
        "predicted_per_token_ms": 20.0 / usage["completion_tokens"],
        "predicted_per_second": usage["completion_tokens"] / 0.02,
    }
    return body


def main(backend: str, argv: list[str]) -> int:
    try:
        catalog = load_catalog(backend)
        args = parse_args(backend, argv, catalog)
        if (
            backend == "vllm"
            and args.get("--enable-auto-tool-choice")
            and not args.get("--tool-call-parser")
        ):
            raise BadArgs(
                "TypeError: Error: --enable-auto-tool-choice requires --tool-call-parser to be set"
            )
        if backend == "vllm" and not args["_positional"] and not args.get("--model"):
            log("WARNING no model given; serving the default facebook/opt-125m")
    except BadArgs as err:
        prog = {"vllm": "vllm serve", "sglang": "launch_server.py", "llamacpp": "llama-server"}[
            backend
        ]
        if backend != "llamacpp":
            log(f"usage: {prog} [options]")
        log(f"{prog}: {err}" if backend != "llamacpp" else str(err))
        return BAD_ARGS_EXIT[backend]
    # PID 1 in a container ignores SIGTERM unless it installs a handler: without this,
    # `docker stop` would wait its full grace period.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        return Server(backend, args).run()
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
