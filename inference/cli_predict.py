"""`semcoder predict` and `semcoder predict-input`: SemCoder's view of a call, in the terminal.

    semcoder predict FILE --call "f(1, 2)"          forward monologue, then "answer: <value>"
    semcoder predict-input FILE --function f --output "3"

The monologue streams to stdout as the model writes it; the parsed answer follows on its own
line. Everything else (model loading, the tiny-model label) goes to stderr, so stdout can be
piped. The model is `--model`, else $SEMCODER_MODEL, else the locally built tiny test model.

Exit status (as `semcoder trace`: 0 a result, 1 it ran but gave none, 2 a usage error):
0 when the model finished an answer that states a value ("answer: VALUE"); 1 when it gave
none that can be used, and the answer line says why: "(none: ...)" no [ANSWER] block,
"(incomplete: ...)" cut off by --max-tokens or stopped before [/ANSWER], "(unparsed: ...)" /
"(no input: ...)" an answer that states no value or input; 2 for bad arguments, files or models.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import io
import os
import sys
import tokenize
from pathlib import Path

from .engine import GenerationParams
from .errors import SemcoderError, SettingsError
from .sources import read_python

MODEL_ENV = "SEMCODER_MODEL"
CACHE_ENV = "SEMCODER_CACHE"  # where the tiny test model is built (default <repo>/.cache)
SUGGESTED_MODEL = "tensorblock/semcoder_s_1030-GGUF:semcoder_s_1030-Q4_K_M.gguf"
TINY_LABEL = (
    "Using the tiny model built locally for tests: it has random weights, so the text below is "
    f"noise. Set {MODEL_ENV} to a SemCoder GGUF for real predictions, for example:\n"
    f"    semcoder model pull {SUGGESTED_MODEL}\n"
    f"    export {MODEL_ENV}={SUGGESTED_MODEL}"
)

EXIT_STATUS = (
    "exit status: 0 an answer with a value; 1 no usable answer (none, cut off by --max-tokens, "
    "or stating no value), said on the answer line; 2 bad arguments, file or model"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    predict = subparsers.add_parser(
        "predict",
        help="predict what a call returns, streaming SemCoder's step-by-step monologue",
        description="Predict the result of a call with SemCoder's forward monologue. The function "
        "and the helpers, classes, constants and imports it uses are sent to the model; the "
        "monologue streams to stdout, then the parsed answer is printed as 'answer: ...'.",
        epilog=EXIT_STATUS,
    )
    predict.add_argument("file", metavar="FILE", help="the Python module that defines the function")
    predict.add_argument("--call", required=True, help='the call to predict, e.g. "f(1, 2)"')
    predict.add_argument(
        "--function",
        help="the function or Class.method to predict (default: taken from --call, e.g. "
        "'Rect(2, 3).area()' -> Rect.area)",
    )
    _add_model_options(predict)
    predict.set_defaults(handler=_predict)

    backward = subparsers.add_parser(
        "predict-input",
        help="find an input that makes a function return a given output (backward monologue)",
        description="Ask SemCoder for an input with which FUNCTION returns OUTPUT. The reasoning "
        "streams to stdout, then the call with the found input is printed as 'answer: ...'.",
        epilog=EXIT_STATUS,
    )
    backward.add_argument("file", metavar="FILE", help="the Python module that defines the function")
    backward.add_argument(
        "--function",
        required=True,
        help="a top-level function (not a method: SemCoder's input format, `assert f(??) == OUTPUT`, "
        "has no place for an instance)",
    )
    backward.add_argument("--output", required=True, help='the expected return value, e.g. "[1, 2]"')
    _add_model_options(backward)
    backward.set_defaults(handler=_predict_input)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    defaults = GenerationParams()
    parser.add_argument(
        "--model",
        help=f"a .gguf path or OWNER/REPO:FILE.gguf (default: ${MODEL_ENV}, else the tiny test model)",
    )
    parser.add_argument("--max-tokens", type=int, default=defaults.max_tokens, help=f"default {defaults.max_tokens}")
    parser.add_argument("--temperature", type=float, default=defaults.temperature, help=f"default {defaults.temperature}")
    parser.add_argument("--top-p", type=float, default=defaults.top_p, help=f"default {defaults.top_p}")
    parser.add_argument("--seed", type=int, default=None, help="sampling seed (default: random)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: automatic)")
    parser.add_argument("--gpu-layers", type=int, default=0, help="layers on the GPU: 0 = CPU, -1 = all")
    parser.add_argument("--n-ctx", type=int, default=4096, help="context window in tokens (default 4096)")
    parser.add_argument(
        "--workspace",
        help="folder that `from pkg.mod import x` resolves against (default: the nearest folder "
        "above FILE with pyproject.toml, setup.py or .git)",
    )
    parser.add_argument("--show-prompt", action="store_true", help="print the prompt on stderr first")


# ---------------------------------------------------------------------------------------------
# Model resolution


def _repo_root() -> Path:
    """The source checkout this package runs from (editable install), else the current folder."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def check_model_option(explicit: str | None) -> None:
    """An empty --model is a mistake (an unset shell variable, say), not a request for the default."""
    if explicit is not None and not explicit.strip():
        raise SettingsError(
            "--model is empty.",
            hint=f"Give a .gguf path or OWNER/REPO:FILE.gguf, or leave --model out to use ${MODEL_ENV}.",
        )


def check_model_env() -> str:
    """$SEMCODER_MODEL, stripped; "" when unset or empty (`SEMCODER_MODEL=` unsets it, as
    the shell's habit is). Only spaces is refused: a mistake, not a request for the tiny
    test model."""
    value = os.environ.get(MODEL_ENV)
    if value and not value.strip():
        raise SettingsError(
            f"${MODEL_ENV} is set but blank (only spaces).",
            hint=f"Set it to a .gguf path or OWNER/REPO:FILE.gguf, or unset it (`unset {MODEL_ENV}`) to use the tiny test model.",
        )
    return (value or "").strip()


def resolve_model_spec(explicit: str | None) -> tuple[str, bool]:
    """(model spec, is_tiny): --model, else $SEMCODER_MODEL, else the tiny test model."""
    check_model_option(explicit)
    if explicit:
        return explicit.strip(), False
    from_env = check_model_env()
    if from_env:
        return from_env, False
    print(TINY_LABEL, file=sys.stderr, flush=True)
    try:
        from semcoder_training.tiny import ensure_tiny_model  # only needed for this fallback
    except ImportError as exc:
        raise SemcoderError(
            f"No model given and the tiny test model cannot be built here ({exc}).",
            hint=f"Pass --model or set {MODEL_ENV} to a SemCoder GGUF (get one with "
            f"`semcoder model pull {SUGGESTED_MODEL}`), or install the training extra "
            "(`pip install -e '.[train]'`) to build the tiny test model.",
        ) from None
    cache = Path(os.environ.get(CACHE_ENV) or _repo_root() / ".cache")
    folder = cache / "tiny-models"
    where = f"${CACHE_ENV} ({cache})" if os.environ.get(CACHE_ENV) else str(cache)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        what = f"cannot be created: {blocking} is a file, not a folder" if blocking is not None else (
            f"cannot be created: {exc.strerror or exc}")
        raise SettingsError(
            f"The tiny test model is built in {folder}, which {what}.",
            hint=f"Point {CACHE_ENV} at a writable folder, or give a model with --model or ${MODEL_ENV}.",
        ) from None
    try:
        tiny = ensure_tiny_model(folder)
    except OSError as exc:
        raise SettingsError(
            f"Cannot build the tiny test model in {where}: {exc.strerror or exc}.",
            hint=f"Point {CACHE_ENV} at a writable folder, or give a model with --model or ${MODEL_ENV}.",
        ) from None
    return str(tiny.gguf_q8_0), True


def _make_engine(args: argparse.Namespace):
    spec, _ = resolve_model_spec(args.model)
    from .llama_engine import LlamaCppEngine  # loads llama.cpp; only when a model is needed

    return LlamaCppEngine(spec, n_ctx=args.n_ctx, n_threads=args.threads, n_gpu_layers=args.gpu_layers)


def _params(args: argparse.Namespace) -> GenerationParams:
    from .validation import check_generation_params

    params = GenerationParams(
        max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p, seed=args.seed
    )
    check_generation_params(params)
    return params


# ---------------------------------------------------------------------------------------------
# Inputs


def _read_module(file: str) -> tuple[str, Path]:
    path = Path(file).expanduser()
    source = read_python(path)  # (a BOM or a coding line, as Python reads the file)
    check_source_text(source, path)
    return source, path.resolve()


def check_source_text(source: str, path: Path) -> None:
    """Refuse a file Python itself cannot compile for what it is, not for its syntax: one that
    holds a NUL byte is binary data (or text in an encoding with NUL bytes, such as UTF-16)."""
    if "\x00" not in source:
        try:
            ast.parse(source)
        except (RecursionError, MemoryError):
            raise SettingsError(
                f"{path} is nested too deeply for Python to parse (a very long expression, such as a "
                "sum of thousands of terms, or deeply nested brackets); Python itself could not run it.",
                hint="Split the long expression into several statements.",
            ) from None
        except (SyntaxError, ValueError):
            pass  # reported where the function is looked up, naming the line
        return
    if "\x00" in source:
        line = source.count("\n", 0, source.index("\x00")) + 1
        raise SettingsError(f"{path} holds a NUL byte (at line {line}): it is binary data, not Python source.",
                            hint="Give a Python source file (UTF-8, or the encoding its coding line declares).")


def _workspace_for(path: Path, explicit: str | None) -> str:
    if explicit:
        return explicit
    for folder in path.parents:
        if any((folder / marker).exists() for marker in ("pyproject.toml", "setup.py", ".git")):
            return str(folder)
    return str(path.parent)


def _has_comment(text: str) -> bool:
    try:
        return any(tok.type == tokenize.COMMENT for tok in tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return False


def _expression(option: str, text: str, example: str) -> ast.expr:
    """`text` as one Python expression, or a SettingsError: it goes into the prompt's
    assertion, where a comment would hide the rest of the line and a second statement or a
    cut-off value would make the program the model reads invalid."""
    if not text.strip():
        raise SettingsError(f"{option} is empty; write {example}.")
    try:
        expression = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError):
        raise SettingsError(f"{option} {text!r} is not a Python expression; write {example}.") from None
    if _has_comment(text):
        raise SettingsError(f"{option} {text!r} holds a comment; give only the expression, e.g. {example}.")
    return expression


def check_call(call: str) -> ast.Call:
    """--call as one Python call expression (SettingsError otherwise)."""
    expression = _expression("--call", call, 'a call such as "f(1, 2)"')
    if not isinstance(expression, ast.Call):
        raise SettingsError(f"--call {call!r} is not a call; write it as \"f(1, 2)\".")
    return expression


def check_output(output: str) -> None:
    """--output as one Python expression (SettingsError otherwise)."""
    _expression("--output", output, 'a Python value such as "[1, 2]" or "\'abc\'"')


def check_function(function: str, source: str, path: Path, *, methods: bool = True) -> None:
    """Refuse, before a model is loaded, a function the module does not define at its top
    level (or a method of a class that is not there). A module that does not parse is left
    to the slicer, which still finds functions outside the broken part."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return
    functions = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    owner, dot, _ = function.partition(".")
    if (not dot and function in functions) or (dot and methods and owner in classes):
        return
    listed = list(functions)
    if methods:
        listed += [f"{name}.{item.name}" for name, node in classes.items() for item in node.body
                   if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))]
    known = ", ".join(dict.fromkeys(listed)) or "none"
    what = "a top-level function, or a method as `Class.method`" if methods else "a top-level function"
    raise SettingsError(f"There is no function `{function}` at the top level of {path.name}. "
                        f"Functions there: {known}. Name {what}.")


def function_from_call(call: str, source: str) -> str:
    """The function a call runs: `f(1)` -> f; `Rect(2, 3).area()` or `Rect.area(r)` -> Rect.area
    when Rect is a class in `source`."""
    func = check_call(call).func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        owner = func.value.func if isinstance(func.value, ast.Call) else func.value
        try:
            classes = {node.name for node in ast.parse(source).body if isinstance(node, ast.ClassDef)}
        except SyntaxError:
            classes = set()  # the slicer reports the syntax error properly
        if isinstance(owner, ast.Name) and owner.id in classes:
            return f"{owner.id}.{func.attr}"
    raise SettingsError(
        f"Cannot tell which function --call {call!r} runs.",
        hint="Name it with --function NAME (or --function Class.method).",
    )


# ---------------------------------------------------------------------------------------------
# Handlers


def _progress(fraction: float, message: str) -> None:
    if fraction in (0.0, 1.0) or message.startswith("loading"):
        print(f"[{fraction * 100:3.0f}%] {message}", file=sys.stderr, flush=True)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def answer_line(final, args: argparse.Namespace, unusable: str = "unparsed") -> tuple[str, int]:
    """The "answer: ..." line for the final event, and the exit status: 0 only for a finished
    answer with a value; otherwise the line says plainly what is missing and why (1)."""
    if final is not None and final.complete and final.value is not None:
        return f"answer: {final.value}", 0
    if final is None:
        return "answer: (none: the model did not write an [ANSWER] block)", 1
    reason = final.reason or "the model did not write an [ANSWER] block"
    stats = final.stats
    if stats is not None and stats.finish_reason == "length":
        capped = getattr(args, "capped_to", None)
        if capped:
            reason += (f" (--max-tokens {args.max_tokens} was capped to {capped[0]} by the {capped[1]}-token "
                       "context; raise --n-ctx for a longer answer)")
        else:
            reason += f" (--max-tokens {args.max_tokens}; raise it for a longer answer)"
    if not final.answer:
        return f"answer: (none: {reason})", 1
    if not final.complete:
        return f"answer: (incomplete: {reason}; it got as far as: {_one_line(final.answer)})", 1
    return f"answer: ({unusable}: {reason}; the model wrote: {_one_line(final.answer)})", 1


def _run(args: argparse.Namespace, events_for, unusable: str = "unparsed") -> int:
    engine = _make_engine(args)
    try:
        engine.load(_progress)
        ended_with_newline = True
        final = None
        for event in events_for(engine):
            if event.kind == "delta":
                sys.stdout.write(event.text)
                sys.stdout.flush()
                ended_with_newline = event.text.endswith("\n")
            elif event.kind == "answer":
                final = event
        if not ended_with_newline:
            sys.stdout.write("\n")
        line, status = answer_line(final, args, unusable)
        print(line, flush=True)
        if final is not None and final.context is not None and final.context.dropped:
            print(
                "note: left out of the prompt to fit the context: " + ", ".join(final.context.dropped),
                file=sys.stderr,
            )
        return status
    finally:
        engine.close()


def _capped(engine, build, params: GenerationParams, args: argparse.Namespace | None = None):
    """(the built prompt, the parameters to generate with). A --max-tokens larger than the
    room the context leaves next to the prompt is capped to that room, as the engines cap
    it (docs/engines.md), and stderr says so; only a prompt that does not fit even with one
    token of answer is refused."""
    from .errors import PromptTooLongError

    try:
        return build(params), params
    except PromptTooLongError as exc:
        too_long = exc  # (the name `exc` is gone once the handler ends)
        try:
            built = build(dataclasses.replace(params, max_tokens=1))
        except PromptTooLongError:
            raise too_long from None
    room = engine.n_ctx - engine.count_tokens(built.text)
    if room < 1:
        raise too_long
    print(f"note: --max-tokens {params.max_tokens} capped to {room}: the room the {engine.n_ctx}-token context "
          "leaves next to the prompt (raise --n-ctx for more)", file=sys.stderr, flush=True)
    if args is not None:
        args.capped_to = (room, engine.n_ctx)  # for the answer line
    return built, dataclasses.replace(params, max_tokens=room)


def _predict(args: argparse.Namespace) -> int:
    from .predict import build_output_prompt, predict_output

    # Everything that needs no model is checked first: a typo must not cost a model load.
    source, path = _read_module(args.file)
    check_call(args.call)  # also when --function names the function
    function = args.function or function_from_call(args.call, source)
    check_function(function, source, path)
    check_model_option(args.model)
    check_model_env()
    params = _params(args)
    workspace = _workspace_for(path, args.workspace)

    def events(engine):
        build = lambda p: build_output_prompt(engine, source, function, args.call, p, path=str(path),  # noqa: E731
                                              workspace_root=workspace)
        built, fitted = _capped(engine, build, params, args)
        if args.show_prompt:
            print(built.text, file=sys.stderr, flush=True)
        return predict_output(engine, source, function, args.call, fitted, context=built.context, path=str(path))

    return _run(args, events)


def _predict_input(args: argparse.Namespace) -> int:
    from .predict import build_input_prompt, check_input_function, predict_input

    source, path = _read_module(args.file)
    check_input_function(args.function)
    check_function(args.function, source, path, methods=False)
    check_output(args.output)
    check_model_option(args.model)
    check_model_env()
    params = _params(args)
    workspace = _workspace_for(path, args.workspace)

    def events(engine):
        build = lambda p: build_input_prompt(engine, source, args.function, args.output, p, path=str(path),  # noqa: E731
                                             workspace_root=workspace)
        built, fitted = _capped(engine, build, params, args)
        if args.show_prompt:
            print(built.text, file=sys.stderr, flush=True)
        return predict_input(engine, source, args.function, args.output, fitted, context=built.context, path=str(path))

    return _run(args, events, unusable="no input")
