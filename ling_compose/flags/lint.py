"""Lint a container command against the pinned engine version's flag catalogue.

Mirrors how each real parser reads its argv (argparse for vLLM and SGLang, llama.cpp's own
loop in common/arg.cpp), so a command that passes here is one the engine accepts, and the
emitted list uses canonical spellings only. How a parser reads argv and converts values is the
engine's (its ParserRules, built from the checks below, in engines/<engine>.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

from ling_compose.engines import registry
from ling_compose.errors import FlagError
from ling_compose.flags.catalog import FlagCatalog, FlagOption


class LintResult(NamedTuple):
    """The canonicalised argument list, what was changed or is doubtful about it, every
    argument the engine would reject (`errors`, in order), and which option each token that
    names one reaches: (index in the input, canonical name, spelling written)."""

    args: list[str]
    warnings: list[str]
    errors: list[FlagError]
    options: list[tuple[int, str, str]]


ValueCheck = Callable[[str], str | None]


class ParserRules(NamedTuple):
    """How one engine's parser tokenises argv (checked against the real parsers by
    tools/flagcat/verify.py), and how it converts values: catalogue `type` -> check. A check
    returns None when the engine accepts the value, a phrase for what it expects when it
    refuses it, or "~" + a note when it accepts it but reads something else than was written.
    Types not listed (str, nullable_str, ...) take any text."""

    abbreviations: bool  # argparse allow_abbrev: unique prefixes of --long names
    underscores: bool  # `--max_model_len` read as `--max-model-len`
    equals_form: bool  # `--opt=value`
    value_may_look_like_option: bool  # llama.cpp takes the next argv verbatim
    dotted_json: bool  # vLLM: `--compilation-config.mode 3`, `-O3` for --optimization-level
    value_checks: Mapping[str, ValueCheck] = MappingProxyType({})


# argparse's own rule for "a negative number, not an option".
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


def check_args(engine: str, version: str, args: Sequence[str]) -> LintResult:
    """Check `args` (what follows the entrypoint) against `engine` `version`, reporting every
    problem in `errors` instead of stopping at the first: an unknown option (naming the
    nearest), an ambiguous or misleading abbreviation, an invalid choice (listing the valid
    ones), a value the option's type rejects, a missing value, a stray positional. Deprecated
    option names and choice values are replaced by their canonical forms, each with a warning.
    Raises FlagError only when no catalogue exists for that version.
    """
    found = registry.get(engine)
    return _Linter(found.flag_catalog(version), found.parser_rules).run(list(args))


def lint_args(engine: str, version: str, args: Sequence[str]) -> LintResult:
    """check_args, raising FlagError when the engine would reject any argument (the message
    lists all of them; the hint is the first one's)."""
    result = check_args(engine, version, args)
    if result.errors:
        first = result.errors[0]
        raise FlagError("\n".join(e.message for e in result.errors), hint=first.hint)
    return result


class _Linter:
    def __init__(self, catalog: FlagCatalog, rules: ParserRules) -> None:
        self.cat = catalog
        self.syn = rules
        self.checks = rules.value_checks
        self.where = f"{catalog.backend} {catalog.version}"
        self.out: list[str] = []
        self.warnings: list[str] = []
        self.errors: list[FlagError] = []
        self.options: list[tuple[int, str, str]] = []
        self.seen: dict[str, str] = {}
        self.index = 0  # position of the option being read, for `options`

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
                self.index = i
                try:
                    i = self._option(args, i)
                except FlagError as err:
                    # Report it and read on from the next option: its values go with it.
                    self.errors.append(err)
                    self.out.append(tok)
                    i += 1
                    while i < len(args) and not self._looks_like_option(args[i]):
                        self.out.append(args[i])
                        i += 1
                continue
            positionals.append(tok)
            self.out.append(tok)
            i += 1
        self._check_positionals(positionals)
        return LintResult(self.out, self.warnings, self.errors, self.options)

    def _check_positionals(self, positionals: list[str]) -> None:
        allowed = len(self.cat.positional)
        if len(positionals) > allowed:
            stray = positionals[allowed]
            slots = ", ".join(self.cat.positional) or "none"
            self.errors.append(
                FlagError(
                    f"{self.where}: unexpected positional argument {stray!r} "
                    f"(positional arguments: {slots})",
                    hint="is it the value of an option that takes none, or a missing `--`?",
                )
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
        self.options.append((self.index, opt.name, name))
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
        values = [self._value_or_report(opt, spelled, v) for v in values]
        if explicit is not None:
            self.out.append(f"{spelled}={values[0]}")
        else:
            self.out.append(spelled)
            self.out += values
        return nxt

    def _resolve(self, name: str) -> tuple[FlagOption, bool, str]:
        """(option, negative form?, spelling to emit) for what the user wrote: an exact
        spelling (aliases and short forms are in the index), `_` for `-` where the parser
        rewrites it, or a prefix where argparse's allow_abbrev takes it (see _abbreviation)."""
        hit = self.cat.index.get(name)
        if hit:
            return hit[0], hit[1], name
        dashed = name
        if self.syn.underscores and name.startswith("--") and "_" in name:
            # vLLM (FlexibleArgumentParser.parse_args) and llama.cpp (common_params_parse_ex)
            # rewrite `_` to `-` in `--` names before looking them up.
            dashed = name.replace("_", "-")
            hit = self.cat.index.get(dashed)
            if hit:
                self.warnings.append(f"{name} written with underscores; emitted as {dashed}")
                return hit[0], hit[1], dashed
        if self.syn.abbreviations and dashed.startswith("--") and len(dashed) > 2:
            found = self._abbreviation(name, dashed)
            if found is not None:
                return found
        raise FlagError(
            f"{self.where}: unknown option {name}",
            hint=self._suggest(dashed),
        )

    def _abbreviation(self, name: str, dashed: str) -> tuple[FlagOption, bool, str] | None:
        """argparse's allow_abbrev (True for both parsers at the pinned versions: vLLM's
        FlexibleArgumentParser does not change it, SGLang's prepare_server_args builds a plain
        ArgumentParser) takes a prefix when exactly one option *spelling* starts with it; two
        spellings of the same option are ambiguous too (Lib/argparse.py _parse_optional in
        3.11-3.13, consume_optional in 3.14)."""
        spellings = sorted(n for n in self.cat.index if n.startswith(dashed))
        if len(spellings) > 1:
            raise FlagError(
                f"{self.where}: ambiguous option {name}: could match "
                + ", ".join(spellings[:8])
                + (", ..." if len(spellings) > 8 else ""),
                hint="write the full option name",
            )
        if not spellings:
            return None
        full = spellings[0]
        opt, negative = self.cat.index[full]
        meant = _skipped_word_matches(dashed, [n for n in self.cat.index if n not in opt.names])
        if meant:
            raise FlagError(
                f"{self.where}: {name} is read as {full} (argparse takes a unique prefix), "
                f"not as {' or '.join(meant)}",
                hint=f"write the full option name: {' or '.join([*meant, full])}",
            )
        self.warnings.append(
            f"{name} is an abbreviation the parser accepts only while it stays unique; "
            f"emitted as {full}"
        )
        return opt, negative, full

    def _suggest(self, name: str) -> str:
        import difflib  # only for a misspelt option

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

    def _value_or_report(self, opt: FlagOption, spelled: str, value: str) -> str:
        """The value to emit; a value the engine refuses is reported and kept, and the
        arguments after it are read as usual."""
        try:
            return self._check_value(opt, spelled, value)
        except FlagError as err:
            self.errors.append(err)
            return value

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
        check = self.checks.get(opt.type or "str")
        problem = check(value) if check else None
        if problem is not None and problem.startswith("~"):
            self.warnings.append(f"{spelled} {value!r}: {problem[1:]}")
        elif problem is not None:
            extra = f" (or one of {', '.join(opt.special_values)})" if opt.special_values else ""
            raise FlagError(
                f"{self.where}: {spelled} expects {problem}, got {value!r}",
                hint=f"write {problem}{extra}",
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


def _skipped_word_matches(dashed: str, others: list[str]) -> list[str]:
    """Options the user more likely meant than the prefix match: the written name is one of
    them with a single inner word left out. E.g. vLLM's `--tool-parser` is a unique prefix of
    `--tool-parser-plugin`, but reads as `--tool-call-parser` without `call`;
    `--disable-access-log` is a prefix of `--disable-access-log-for-endpoints` (which takes a
    value) and `--disable-uvicorn-access-log` without `uvicorn`."""
    words = dashed[2:].split("-")
    found = []
    for other in others:
        theirs = other[2:].split("-") if other.startswith("--") else []
        if len(theirs) == len(words) + 1 and any(
            theirs[:i] + theirs[i + 1 :] == words for i in range(1, len(theirs) - 1)
        ):
            found.append(other)
    return sorted(found)


# -- value types: the checks engines build their ParserRules.value_checks from ---------------------


def python_value(convert: Callable[[str], object], expects: str) -> ValueCheck:
    def check(value: str) -> str | None:
        try:
            convert(value)
        except (ValueError, TypeError, ArithmeticError):
            return expects
        return None

    return check


def optional(check: ValueCheck) -> ValueCheck:
    # vLLM optional_type (vllm/engine/arg_utils.py): "" and "None" mean unset.
    return lambda value: None if value in ("", "None") else check(value)


def json_or_text(value: str) -> str | None:
    # vLLM union_dict_and_str: only text that looks like an object is parsed as JSON.
    return JSON(value) if re.match(r"(?s)^\s*{.*}\s*$", value) else None


def json_object(value: str) -> str | None:
    try:
        return None if isinstance(json.loads(value), dict) else "a JSON object"
    except ValueError:
        return "a JSON object"


JSON = python_value(json.loads, "JSON")
INTEGER = python_value(int, "an integer")
NUMBER = python_value(float, "a number")


def human_int(suffixes: str, binary: dict[str, int]) -> ValueCheck:
    """Integers with size suffixes; vLLM (vllm/utils/argparse_utils.py human_readable_int):
    k/m/g/t decimal, K/M/G/T binary; SGLang (sglang/srt/utils/common.py): k/M/G/T decimal,
    Ki/Mi/Gi/Ti binary. Decimals only with the decimal ones."""
    pattern = re.compile(rf"(\d+(?:\.\d+)?)({suffixes})")

    def check(value: str) -> str | None:
        match = pattern.fullmatch(value.strip())
        if match:
            if match.group(2) in binary and "." in match.group(1):
                return f"an integer (no decimals with {match.group(2)})"
            return None
        return INTEGER(value) and "an integer, optionally with a size suffix such as 4k"

    return check


def stoi(value: str) -> str | None:
    """llama.cpp reads integers with std::stoi (common/arg.cpp): leading blanks and a sign,
    then digits; it stops at the first other character and fails beyond 32 bits."""
    match = re.match(r"[ \t\n\v\f\r]*[+-]?\d+", value)
    if match is None or not -(2**31) <= int(match.group()) < 2**31:
        return "an integer"
    if match.end() != len(value):
        return f"~llama.cpp reads it as {int(match.group())} and ignores the rest"
    return None


# Python's argparse as it reads argv by default (allow_abbrev, `--opt=value`, a value never an
# option) and converts the plain types; vLLM's and SGLang's rules start from it.
ARGPARSE = ParserRules(
    abbreviations=True,
    underscores=False,
    equals_form=True,
    value_may_look_like_option=False,
    dotted_json=False,
    value_checks=MappingProxyType({"int": INTEGER, "float": NUMBER, "json": JSON}),
)
