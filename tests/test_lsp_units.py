"""Fast checks of the server's pure parts: settings validation, finding calls, results."""

from __future__ import annotations

from semcoder_lsp.calls import analyse, byte_col, call_at, function_called_at, utf16_col
from semcoder_lsp.results import CALLED, _code, differences, expectation_failure, normalise_value
from semcoder_lsp.settings import Settings, parse_settings


def test_settings_accept_nested_wrapped_and_dotted_keys():
    nested, problems = parse_settings({"model": {"maxTokens": 100}, "execution": {"enabled": True}})
    assert problems == [] and nested.model.maxTokens == 100 and nested.execution.enabled
    wrapped, _ = parse_settings({"semcoder": {"model": {"temperature": 0}}})
    assert wrapped.model.temperature == 0.0
    dotted, _ = parse_settings({"execution.timeoutSeconds": 2, "model.gpuLayers": 3})
    assert dotted.execution.timeoutSeconds == 2.0 and dotted.model.gpuLayers == 3


def test_bad_settings_name_the_setting_and_keep_defaults():
    settings, problems = parse_settings({"model": {"contextSize": 10, "threads": True, "path": 5},
                                         "execution": {"memoryMB": "lots"}, "unknown": 1})
    assert settings == Settings()
    assert len(problems) == 4
    assert any('"model.contextSize" must be an integer between 512 and 131072 (got 10); using 4096' in p
               for p in problems)
    assert any('"execution.memoryMB"' in p and '"lots"' in p for p in problems)
    _, problems = parse_settings(["not", "an", "object"])
    assert problems and "must be an object" in problems[0]


def test_preload_is_a_list_of_module_names():
    settings, problems = parse_settings({"execution": {"preload": ["numpy", "pandas", "numpy"]}})
    assert problems == [] and settings.execution.preload == ("numpy", "pandas")
    for bad in ("numpy", ["os; import evil"], ["../x"], [1], ["m"] * 33):
        settings, problems = parse_settings({"execution": {"preload": bad}})
        assert settings.execution.preload == () and len(problems) == 1
        assert problems[0].startswith('SemCoder: setting "execution.preload" must be a list of at most 32 module '
                                      'names, such as ["numpy", "pandas"]')
        assert problems[0].endswith("; using [].")


def test_calls_from_asserts_doctests_comments_and_cursor():
    source = (
        'def f(a, b=2):\n'
        '    """\n'
        '    >>> f(1)\n'
        '    3\n'
        '    """\n'
        '    return a + b\n'
        '# semcoder: f(5, b=1)\n'
        'assert f(2) == 4\n'
        'assert 7 == f(3, 4)\n'
        'x = f(len("ab"))\n'
        'y = [f("é", "😀")]\n'
    )
    info = analyse(source)
    found = {(c.origin, c.call, c.expected) for c in info.calls}
    assert found == {("doctest", "f(1)", "3"), ("comment", "f(5, b=1)", None),
                     ("assert", "f(2)", "4"), ("assert", "f(3, 4)", "7")}
    assert call_at(info, 9, 6) is None  # f(len("ab")): not literal arguments
    line = source.splitlines()[10]
    site = call_at(info, 10, byte_col(line, 6))
    assert site is not None and site.call == 'f("é", "😀")'
    # columns: LSP counts UTF-16 units, ast counts UTF-8 bytes
    assert byte_col("é😀x", 3) == len("é😀".encode()) and utf16_col("é😀x", len("é😀".encode())) == 3


def test_calls_with_other_values_are_found_to_be_watched():
    source = (
        "class Cart:\n"
        "    def total(self):\n        return 1\n"
        "    def size(self):\n        return 2\n"
        "class Box:\n"
        "    def size(self):\n        return 3\n"
        "def f(x):\n    return x\n"
        "c = Cart()\n"
        "print(f(c), c.total())\n"
        "c.size()\n"
        "f(\n    c)\n"
    )
    info = analyse(source)
    line = source.splitlines()[11]
    site = function_called_at(info, 11, line.index("f(c)") + 1)
    assert (site.function, site.call, site.watched, site.line) == ("f", "f(c)", True, 11)
    site = function_called_at(info, 11, line.index("total"))
    assert (site.function, site.call) == ("Cart.total", "c.total()")
    assert function_called_at(info, 11, 0) is None  # print is not the file's
    assert function_called_at(info, 12, 3) is None  # two classes have size: which one is unknown
    site = function_called_at(info, 14, 5)  # inside a call spread over two lines: its first line
    assert site.function == "f" and site.line == 13


def test_expectations_and_differences_compare_values_not_text():
    ok = {"status": "ok", "call": "f(1)", "return": {"repr": "[1, 2]", "literal": True}}
    assert expectation_failure(ok, "[1,2]") is None
    assert expectation_failure(ok, "[2, 1]") == "assert failed: f(1) returned [1, 2], expected [2, 1]"
    raised = {"status": "exception", "call": "f(0)", "exception": {"type": "ValueError", "message": "bad"}}
    assert expectation_failure(raised, None) == "f(0) raised ValueError: bad"
    assert normalise_value("'a'") == normalise_value('"a"')
    actual = [{"line": 3, "values": {"x": "1 → 2"}, "source": "actual"}]
    predicted = [{"line": 3, "values": {"x": "3"}, "source": "predicted"}]
    diffs = differences(ok, actual, predicted, "[1, 2]")
    assert diffs == [{"line": 3, "what": "value", "name": "x", "predicted": "3", "actual": "1 → 2"}]


def test_an_assert_is_judged_by_the_sandbox_comparison_and_a_doctest_by_its_text():
    """`assertion` (call == expected, evaluated in the sandbox) decides an assert; without
    one only literals are compared, with ==; a doctest compares what it prints."""
    def ok(got, assertion=None):
        return {"status": "ok", "call": "f(1)", "return": {"repr": got}, "assertion": assertion}

    passed = {"passed": True, "expected_repr": "2", "actual_repr": "2.0"}
    assert expectation_failure(ok("2.0", passed), "2") is None
    failed = {"passed": False, "expected_repr": "7", "actual_repr": "6"}
    assert expectation_failure(ok("6", failed), "2 * 3 + 1") == "assert failed: f(1) returned 6, expected 2 * 3 + 1 (7)"
    assert expectation_failure(ok("6", {**failed, "expected_repr": "5"}), "5") == \
        "assert failed: f(1) returned 6, expected 5"
    raised = {"passed": False, "expected_repr": None, "error": "NameError: name 'X' is not defined"}
    assert expectation_failure(ok("6", raised), "X") == \
        "assert failed: f(1) returned 6, but the expected value X raised NameError: name 'X' is not defined"
    ambiguous = {"passed": False, "expected_repr": None, "error": "ValueError: ambiguous"}
    assert expectation_failure(ok("array([1, 2])", ambiguous), "[1, 2]") == \
        "assert failed: f(1) returned array([1, 2]), and comparing it with the expected value [1, 2] raised " \
        "ValueError: ambiguous"
    # no assertion: literals compare with ==, an expression (a test's local) says nothing
    assert expectation_failure(ok("2.0"), "2") is None and expectation_failure(ok("True"), "1") is None
    assert expectation_failure(ok("2.5"), "2") == "assert failed: f(1) returned 2.5, expected 2"
    assert expectation_failure(ok("6"), "want") is None
    # a doctest: text, as doctest compares it (the sandbox's verdict is not asked for)
    assert expectation_failure(ok("2.0", passed), "2", doctest=True) == "doctest failed: f(1) returned 2.0, expected 2"
    # (doctest compares the repr's text: `'a'` is not `"a"`, as a real doctest run says)
    assert expectation_failure(ok("'a'"), '"a"', doctest=True) == "doctest failed: f(1) returned 'a', expected \"a\""


def test_the_expected_value_an_assert_compares_in_the_sandbox():
    from semcoder_lsp.tracing import sandbox_expectation

    source = (
        "N = 4\n"
        "def f(x):\n"
        '    """\n'
        "    >>> f(1)\n"
        "    2\n"
        '    """\n'
        "    return x * 2\n"
        "def test_f():\n"
        "    want = 4\n"
        "    assert f(2) == want\n"
        "    assert f(2) == N\n"
        "assert f(2) == N\n"
        "assert f(2) == 2 * 2\n"
        "R = f(2)\n"
        "assert f(2) == R\n"
        "if __name__ == '__main__':\n"
        "    M = 4\n"
        "    assert f(2) == M\n"
        "assert f(2) == NOT_DEFINED\n"
        "assert f(2) >= N\n"
        "assert f(2) in (N, R)\n"
        "assert not f(2)\n"
        "ITEMS = [1]\n"
        "ITEMS.append(2)\n"
        "assert f(1) == len(ITEMS)\n"
        "assert f(1) <= len(ITEMS)\n"
    )
    info = analyse(source)
    expects = {(c.origin, c.line): sandbox_expectation(info, c) for c in info.calls}
    # A doctest compares text. A test's local, or a global only a statement that a replayed
    # call does not run binds (an assignment that calls, the __main__ block), cannot be
    # evaluated where the call runs; a name the file never binds can (and raises). A
    # condition around the call, and the truth of the value, are checks of the value.
    def check(condition: str) -> dict:
        return {"check": f"lambda {CALLED}: (\n{condition}\n)"}

    assert expects == {("doctest", 3): {}, ("assert", 9): {}, ("assert", 10): {"expect": "N"},
                       ("assert", 11): {"expect": "N"}, ("assert", 12): {"expect": "2 * 2"}, ("assert", 14): {},
                       ("assert", 17): {}, ("assert", 18): {"expect": "NOT_DEFINED"},
                       ("assert", 19): check(f"{CALLED} >= N"), ("assert", 20): {},
                       ("assert", 24): {}, ("assert", 25): {},
                       ("assert", 21): check(f"not {CALLED}")}


def test_code_spans_show_any_text_literally():
    assert _code("__init__") == "`__init__`" and _code("<Node object>") == "`<Node object>`"
    assert _code("a`b") == "``a`b``" and _code("x = '``'") == "```x = '``'```"
    assert _code("`x") == "`` `x ``" and _code(" a ") == "`  a  `" and _code("") == "` `"
    assert _code("two\nlines") == "`two lines`"


async def test_a_model_job_whose_caller_stops_waiting_is_cancelled():
    """A cancelled request cancels the task awaiting the worker; the generation must stop
    rather than run on for nobody."""
    import asyncio
    import threading

    from semcoder_inference.engine import CancelToken
    from semcoder_lsp.worker import ModelWorker

    worker = ModelWorker()
    started, stopped = threading.Event(), threading.Event()
    cancel = CancelToken()

    def generate() -> str:
        started.set()
        while not cancel.cancelled:  # a generation checks its token between tokens
            if stopped.wait(0.01):
                break
        return "cancelled" if cancel.cancelled else "ran on"

    try:
        task = asyncio.ensure_future(worker.submit(generate, cancel=cancel))
        while not started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()
        for _ in range(200):
            if cancel.cancelled:
                break
            await asyncio.sleep(0.01)
        assert cancel.cancelled
    finally:
        stopped.set()
        worker.close()


def test_a_shared_prediction_s_steps_follow_their_function_where_it_is_now():
    """A prediction is shared (and cached) by the function's code, wherever the function
    stands; its steps name document lines of when it was made. Moved down by three lines
    (an import added above), the function's own lines move with it; a helper's do not."""
    from semcoder_lsp.calls import analyse
    from semcoder_lsp.predictions import PredictionRun, _finished_run
    from semcoder_lsp.tracing import moved_steps

    before = "def area(w, h):\n    a = w * h\n    return a\n"
    after = "import os\n\n\n" + before
    made = analyse(before).functions["area"]
    now = analyse(after).functions["area"]
    run = PredictionRun("key", "area", "area(3, 4)", status="complete", function_start=made.start,
                        steps=[{"index": 1, "text": "a = 12", "lines": [1], "mentions": [["a", "12"]]},
                               {"index": 2, "text": "helper", "lines": [40], "mentions": []}])
    cached = _finished_run("key", "area", "area(3, 4)", run.to_dict())  # as the cache gives it back
    moved = moved_steps(cached.to_dict()["steps"], cached.to_dict()["functionStart"], now)
    assert [step["lines"] for step in moved] == [[4], [40]]
    assert moved_steps(run.to_dict()["steps"], made.start, made) == run.to_dict()["steps"]
    assert moved_steps(run.to_dict()["steps"], None, now) == run.to_dict()["steps"]  # (older cache entries)


def test_a_loop_s_values_end_with_the_last_one():
    """A long loop showed its first four values and "…": where it ended (the sum it was
    building) never appeared."""
    from semcoder_lsp.results import actual_line_states

    events = [{"kind": "call", "line": 0, "depth": 0, "function": "f", "changes": {"n": "100"}}]
    events += [{"kind": "line", "line": 2, "depth": 0, "function": "f", "changes": {"acc": str(total)}}
               for total in (1, 5, 14, 30, 55, 328350)]
    states = actual_line_states({"events": events, "status": "ok"}, "f", 0, 3)
    assert {s["line"]: s["values"] for s in states}[2] == {"acc": "1 → 5 → 14 → … → 328350"}


def test_asserts_run_as_conditions_or_blank_alone_keeping_lines():
    """A top-level assert is blanked, or run as an expression of its condition, alone: a
    statement sharing its line stays (`x = 1; assert ...; y = 3`), and every line keeps
    its number (the traced call is found by its line)."""
    import ast

    from semcoder_lsp.execution import without_top_level_asserts

    text = ('x = 1; assert f(x) == 2, "m"; y = 3\nassert (\n    g(1)\n    == 2\n), "why"\n'
            'assert h(\n  1) == 3\nz = 4\n')
    tree = ast.parse(text)
    asserts = tuple(node for node in tree.body if isinstance(node, ast.Assert))
    blanked = without_top_level_asserts(text, tree)
    assert blanked == "x = 1; pass; y = 3\n\n\n\n\n\n\nz = 4\n"
    running = without_top_level_asserts(text, tree, asserts)
    assert running == "x = 1; (f(x) == 2); y = 3\n\n(g(1)\n    == 2)\n\n(h(\n  1) == 3)\nz = 4\n"
    for out in (blanked, running):
        ast.parse(out)


def test_a_value_text_too_long_to_parse_is_compared_as_text_and_costs_no_memory():
    """A run's value texts are parsed as literals to compare them (ast.literal_eval costs
    some 470 bytes a character): a forged 6 MB expected value once took the server 1.4 GB
    and seconds on its event loop. Past MAX_PARSED_CHARS a text is not parsed."""
    import resource

    from semcoder_lsp.results import MAX_PARSED_CHARS, same_literal

    big = "[" + "0," * 3_000_000 + "]"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    trace = {"status": "ok", "call": "f()", "return": {"repr": "2", "literal": True}, "events": [], "truncated": {},
             "assertion": {"passed": False, "expected_repr": big, "actual_repr": "2"}}
    assert expectation_failure(trace, "1").startswith("assert failed: f() returned 2, expected 1 ([0,0,")
    assert same_literal(big, big) is None and normalise_value(big)[0] == "text"
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) < 200 * 1024  # KiB: under 200 MB
    within = "[" + "1," * (MAX_PARSED_CHARS // 2 - 1) + "]"
    assert same_literal(within, within) is True
