"""Lint a container command against the pinned engine version's flag catalogue.

Mirrors how each real parser reads its argv (argparse for vLLM and SGLang, llama.cpp's own
loop in common/arg.cpp), so a command that passes here is one the engine accepts, and the
emitted list uses canonical spellings only.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ling_compose.errors import FlagError
from ling_compose.flags.catalog import FlagCatalog, FlagOption, load_catalog


@dataclass(frozen=True)
class LintResult:
    """The canonicalised argument list and what was changed or is doubtful about it."""

    args: list[str]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Syntax:
    """How a parser family tokenises argv (checked against the real parsers by verify.py)."""

    abbreviations: bool  # argparse allow_abbrev: unique prefixes of --long names
    underscores: bool  # `--max_model_len` read as `--max-model-len`
    equals_form: bool  # `--opt=value`
    value_may_look_like_option: bool  # llama.cpp takes the next argv verbatim
    dotted_json: bool  # vLLM: `--compilation-config.mode 3`, `-O3` for --optimization-level


_SYNTAX: dict[str, _Syntax] = {
    "vllm": _Syntax(True, True, True, False, True),
    "sglang": _Syntax(True, False, True, False, False),
    "llamacpp": _Syntax(False, True, False, True, False),
}

# argparse's own rule for "a negative number, not an option".
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


def lint_args(backend: str, version: str, args: Sequence[str]) -> LintResult:
    """Check `args` (what follows the entrypoint) against `backend` `version`.

    Raises FlagError for an unknown option (naming the nearest), an invalid choice (listing
    the valid ones), a missing value or a stray positional. Deprecated option names and
    deprecated choice values are replaced by their canonical forms, each with a warning.
    """
    catalog = load_catalog(backend, version)
    return _Linter(catalog, _SYNTAX[backend]).run(list(args))


class _Linter:
    def __init__(self, catalog: FlagCatalog, syntax: _Syntax) -> None:
        self.cat = catalog
        self.syn = syntax
        self.where = f"{catalog.backend} {catalog.version}"
        self.out: list[str] = []
        self.warnings: list[str] = []
        self.seen: dict[str, str] = {}

    # -- driver ---------------------------------------------------------------------------

    def run(self, args: list[str]) -> LintResult:
        positionals: list[str] = []
        i = 0
        while i < len(args):
            tok = args[i]
            if tok == "--" and not self.syn.value_may_look_like_option:
                positionals += args[i + 1 :]
                self.out += args[i:]
                break
            if self._looks_like_option(tok):
                i = self._option(args, i)
                continue
            positionals.append(tok)
            self.out.append(tok)
            i += 1
        self._check_positionals(positionals)
        return LintResult(args=self.out, warnings=self.warnings)

    def _check_positionals(self, positionals: list[str]) -> None:
        allowed = len(self.cat.positional)
        if len(positionals) > allowed:
            stray = positionals[allowed]
            slots = ", ".join(self.cat.positional) or "none"
            raise FlagError(
                f"{self.where}: unexpected positional argument {stray!r} "
                f"(positional arguments: {slots})",
                hint="is it the value of an option that takes none, or a missing `--`?",
            )

    def _looks_like_option(self, tok: str) -> bool:
        if not tok.startswith("-") or tok == "-":
            return False
        if self.syn.value_may_look_like_option:
            return not _NEGATIVE_NUMBER.match(tok)
        # argparse: negative numbers and strings with spaces are positionals.
        return not _NEGATIVE_NUMBER.match(tok) and not (" " in tok and tok not in self.cat.index)

    # -- one option -----------------------------------------------------------------------

    def _option(self, args: list[str], i: int) -> int:
        tok = args[i]
        if self.syn.dotted_json and tok.startswith("-O") and not tok.startswith("-O."):
            # vLLM rewrites -O3 / -O=3 / -O 3 to --optimization-level before argparse sees it.
            level = tok[3:] if tok.startswith("-O=") else tok[2:]
            nxt = i + 1
            if not level and i + 1 < len(args) and args[i + 1] in ("0", "1", "2", "3"):
                level, nxt = args[i + 1], i + 2
            if level and "--optimization-level" in self.cat.index:
                self.warnings.append(
                    f"{tok} is vLLM shorthand; emitted --optimization-level {level}"
                )
                self.out += ["--optimization-level", level]
                return nxt
        name, explicit = tok, None
        if self.syn.equals_form and "=" in tok:
            name, explicit = tok.split("=", 1)
        if self.syn.dotted_json and name.startswith("--") and "." in name:
            return self._dotted(args, i, name, explicit)
        opt, negative, spelled = self._resolve(name)
        if opt.removed:
            raise FlagError(
                f"{self.where}: {name} has been removed",
                hint=opt.note or "drop it; see docs/flags.md for the catalogue",
            )
        spelled = self._deprecated_name(opt, spelled)
        self._note_repeat(opt, spelled)
        if not opt.takes_value or negative:
            if explicit is not None:
                raise FlagError(
                    f"{self.where}: {spelled} takes no value (got {tok!r})",
                    hint=f"write {spelled} alone",
                )
            self.out.append(spelled)
            return i + 1
        values, nxt = self._take_values(opt, spelled, args, i, explicit)
        values = [self._check_value(opt, spelled, v) for v in values]
        if explicit is not None:
            self.out.append(f"{spelled}={values[0]}")
        else:
            self.out.append(spelled)
            self.out += values
        return nxt

    def _resolve(self, name: str) -> tuple[FlagOption, bool, str]:
        """(option, negative form?, spelling to emit) for what the user wrote."""
        hit = self.cat.index.get(name)
        if hit:
            return hit[0], hit[1], name
        if self.syn.underscores and name.startswith("--") and "_" in name:
            dashed = name.replace("_", "-")
            hit = self.cat.index.get(dashed)
            if hit:
                self.warnings.append(f"{name} written with underscores; emitted as {dashed}")
                return hit[0], hit[1], dashed
        if self.syn.abbreviations and name.startswith("--") and len(name) > 2:
            spellings = [n for n in self.cat.index if n.startswith(name)]
            options = {id(self.cat.index[n][0]) for n in spellings}
            if len(options) == 1:
                full = min(spellings, key=len)
                self.warnings.append(
                    f"{name} is an abbreviation the parser accepts only while it stays unique; "
                    f"emitted as {full}"
                )
                opt, negative = self.cat.index[full]
                return opt, negative, full
            if len(options) > 1:
                raise FlagError(
                    f"{self.where}: ambiguous option {name}: could match "
                    + ", ".join(sorted(spellings)[:8]),
                    hint="write the full option name",
                )
        raise FlagError(
            f"{self.where}: unknown option {name}",
            hint=self._suggest(name),
        )

    def _suggest(self, name: str) -> str:
        longs = [n for n in self.cat.index if n.startswith("--")] or list(self.cat.index)
        close = difflib.get_close_matches(name, longs, n=3, cutoff=0.6)
        if close:
            return "did you mean " + " or ".join(close) + "?"
        return f"see the {self.where} catalogue (docs/flags.md) for the options it accepts"

    def _deprecated_name(self, opt: FlagOption, spelled: str) -> str:
        if not opt.deprecated:
            return spelled
        if opt.canonical:
            self.warnings.append(
                f"{spelled} is deprecated in {self.where}; emitted {opt.canonical}"
            )
            return opt.canonical
        detail = f": {opt.note}" if opt.note else ""
        self.warnings.append(f"{spelled} is deprecated in {self.where}{detail}")
        return spelled

    def _note_repeat(self, opt: FlagOption, spelled: str) -> None:
        if opt.repeatable:
            return
        key = opt.name
        if key in self.seen:
            self.warnings.append(
                f"{spelled} given more than once (also as {self.seen[key]}); the last one wins"
            )
        self.seen[key] = spelled

    # -- values ---------------------------------------------------------------------------

    def _take_values(
        self, opt: FlagOption, spelled: str, args: list[str], i: int, explicit: str | None
    ) -> tuple[list[str], int]:
        if explicit is not None:
            return [explicit], i + 1
        nargs = opt.nargs
        if nargs == "?":
            if i + 1 < len(args) and not self._looks_like_option(args[i + 1]):
                return [args[i + 1]], i + 2
            return [], i + 1
        if nargs in ("*", "+"):
            j = i + 1
            while j < len(args) and not self._looks_like_option(args[j]):
                j += 1
            if nargs == "+" and j == i + 1:
                raise self._missing(opt, spelled)
            return args[i + 1 : j], j
        count = nargs if isinstance(nargs, int) else 1
        values = args[i + 1 : i + 1 + count]
        if len(values) < count or any(self._is_missing(v) for v in values):
            raise self._missing(opt, spelled)
        return values, i + 1 + count

    def _is_missing(self, value: str) -> bool:
        if self.syn.value_may_look_like_option:
            # llama.cpp would swallow the next option as the value; that is never meant.
            return value in self.cat.index
        return self._looks_like_option(value)

    def _missing(self, opt: FlagOption, spelled: str) -> FlagError:
        shape = "|".join(opt.choices) if opt.choices else (opt.metavar or opt.type or "VALUE")
        return FlagError(
            f"{self.where}: {spelled} needs a value",
            hint=f"write {spelled} {shape}",
        )

    def _check_value(self, opt: FlagOption, spelled: str, value: str) -> str:
        value = self._deprecated_value(opt, spelled, value)
        if opt.choices is not None:
            if value not in opt.choices:
                raise FlagError(
                    f"{self.where}: invalid value {value!r} for {spelled}",
                    hint="valid values: " + ", ".join(opt.choices),
                )
            return value
        if value in opt.special_values:
            return value
        if opt.type in ("int", "float") and not _parses_as(opt.type, value):
            extra = f" or one of {', '.join(opt.special_values)}" if opt.special_values else ""
            raise FlagError(
                f"{self.where}: {spelled} expects {'an' if opt.type == 'int' else 'a'} "
                f"{opt.type}, got {value!r}",
                hint=f"write a number{extra}",
            )
        return value

    def _deprecated_value(self, opt: FlagOption, spelled: str, value: str) -> str:
        for name in opt.names:
            table = self.cat.deprecated_values.get(name)
            if table and value in table:
                new = table[value]
                self.warnings.append(
                    f"{spelled} {value} is a deprecated alias in {self.where}; emitted {new}"
                )
                return new
        return value

    def _dotted(self, args: list[str], i: int, name: str, explicit: str | None) -> int:
        """vLLM's `--json-arg.key value` form: the base option must take JSON."""
        base = name.split(".", 1)[0]
        opt, _, spelled_base = self._resolve(base)
        if not opt.takes_value or not (opt.type or "").startswith(("json", "optional[json")):
            raise FlagError(
                f"{self.where}: {name}: {base} does not take a JSON object",
                hint=f"write {base} VALUE",
            )
        spelled = spelled_base + name[len(base) :]
        if explicit is not None:
            self.out.append(f"{spelled}={explicit}")
            return i + 1
        if i + 1 >= len(args):
            raise self._missing(opt, spelled)
        self.out += [spelled, args[i + 1]]
        return i + 2


def _parses_as(kind: str, value: str) -> bool:
    try:
        int(value) if kind == "int" else float(value)
    except ValueError:
        return False
    return True
