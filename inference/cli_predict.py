"""`semcoder predict` and `semcoder predict-input`: SemCoder's view of a call, in the terminal.

    semcoder predict FILE --call "f(1, 2)"          forward monologue, then "answer: <value>"
    semcoder predict-input FILE --function f --output "3"

The monologue streams to stdout as the model writes it; the parsed answer follows on its own
line. Everything else (model loading, the tiny-model label) goes to stderr, so stdout can be
piped. The model is `--model`, else $SEMCODER_MODEL, else the locally built tiny test model.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from pathlib import Path

from .engine import GenerationParams
from .errors import SemcoderError, SettingsError

MODEL_ENV = "SEMCODER_MODEL"
CACHE_ENV = "SEMCODER_CACHE"  # where the tiny test model is built (default <repo>/.cache)
SUGGESTED_MODEL = "tensorblock/semcoder_s_1030-GGUF:semcoder_s_1030-Q4_K_M.gguf"
TINY_LABEL = (
    "Using the tiny model built locally for tests: it has random weights, so the text below is "
    f"noise. Set {MODEL_ENV} to a SemCoder GGUF for real predictions, for example:\n"
    f"    semcoder model pull {SUGGESTED_MODEL}\n"
    f"    export {MODEL_ENV}={SUGGESTED_MODEL}"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    predict = subparsers.add_parser(
        "predict",
        help="predict what a call returns, streaming SemCoder's step-by-step monologue",
        description="Predict the result of a call with SemCoder's forward monologue. The function "
        "and the helpers, classes, constants and imports it uses are sent to the model; the "
        "monologue streams to stdout, then the parsed answer is printed as 'answer: ...'.",
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
    )
    backward.add_argument("file", metavar="FILE", help="the Python module that defines the function")
    backward.add_argument("--function", required=True, help="the function (or Class.method)")
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


def resolve_model_spec(explicit: str | None) -> tuple[str, bool]:
    """(model spec, is_tiny): --model, else $SEMCODER_MODEL, else the tiny test model."""
    if explicit:
        return explicit, False
    from_env = os.environ.get(MODEL_ENV, "").strip()
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
    tiny = ensure_tiny_model(cache / "tiny-models")
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
    try:
        return path.read_text(encoding="utf-8"), path.resolve()
    except FileNotFoundError:
        raise SemcoderError(f"There is no file {file}.", hint="Give the path of a Python module.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SemcoderError(f"Cannot read {file}: {exc}.") from None


def _workspace_for(path: Path, explicit: str | None) -> str:
    if explicit:
        return explicit
    for folder in path.parents:
        if any((folder / marker).exists() for marker in ("pyproject.toml", "setup.py", ".git")):
            return str(folder)
    return str(path.parent)


def function_from_call(call: str, source: str) -> str:
    """The function a call runs: `f(1)` -> f; `Rect(2, 3).area()` or `Rect.area(r)` -> Rect.area
    when Rect is a class in `source`."""
    try:
        expression = ast.parse(call.strip(), mode="eval").body
    except SyntaxError:
        raise SettingsError(f"--call {call!r} is not a Python expression; write a call such as \"f(1, 2)\".") from None
    if not isinstance(expression, ast.Call):
        raise SettingsError(f"--call {call!r} is not a call; write it as \"f(1, 2)\".")
    func = expression.func
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


def _run(args: argparse.Namespace, events_for) -> int:
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
        if final is not None and final.value:
            print(f"answer: {final.value}", flush=True)
        else:
            print("answer: (none: the model did not write an [ANSWER] block)", flush=True)
        if final is not None and final.context is not None and final.context.dropped:
            print(
                "note: left out of the prompt to fit the context: " + ", ".join(final.context.dropped),
                file=sys.stderr,
            )
        return 0
    finally:
        engine.close()


def _predict(args: argparse.Namespace) -> int:
    from .predict import build_output_prompt, predict_output

    source, path = _read_module(args.file)
    function = args.function or function_from_call(args.call, source)
    params = _params(args)
    workspace = _workspace_for(path, args.workspace)

    def events(engine):
        built = build_output_prompt(engine, source, function, args.call, params, path=str(path), workspace_root=workspace)
        if args.show_prompt:
            print(built.text, file=sys.stderr, flush=True)
        return predict_output(engine, source, function, args.call, params, context=built.context, path=str(path))

    return _run(args, events)


def _predict_input(args: argparse.Namespace) -> int:
    from .predict import build_input_prompt, predict_input

    source, path = _read_module(args.file)
    params = _params(args)
    workspace = _workspace_for(path, args.workspace)

    def events(engine):
        built = build_input_prompt(engine, source, args.function, args.output, params, path=str(path), workspace_root=workspace)
        if args.show_prompt:
            print(built.text, file=sys.stderr, flush=True)
        return predict_input(engine, source, args.function, args.output, params, context=built.context, path=str(path))

    return _run(args, events)
