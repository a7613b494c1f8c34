"""`semcoder data build`: seeds -> real runs -> PyX / PyX-R records, decontaminated, resumable."""

from __future__ import annotations

import ast
import http.server
import json
import random
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from semcoder_inference import formats
from semcoder_inference.parsers import AnswerParser, RefinedParser, output_from_answer
from semcoder_training.data.build import BuildConfig, build
from semcoder_training.data.decontam import Decontaminator
from semcoder_training.data.inject import BUG_KINDS, inject_bugs
from semcoder_training.data.mutate import mutate_inputs, mutate_value, parse_arguments
from semcoder_training.data.seeds import generate_seeds, load_seeds

from conftest import CRUXEVAL, REPO_ROOT


def _run(code: str, call: str):
    namespace: dict = {}
    exec(compile(code, "<seed>", "exec"), namespace)
    return eval(call, namespace)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data")
    build(BuildConfig(out_dir=out, generated_seeds=24, workers=2, progress=False, holdout=0.2))
    return out


# ----------------------------------------------------------------------------- parts


def test_generated_seeds_run_and_differ():
    seeds = generate_seeds(24, seed=3)
    assert len({s.seed_id for s in seeds}) == 24
    for s in seeds:
        assert s.description and s.inputs
        for args in s.inputs:
            _run(s.source, f"{s.function}({args})")  # every seed input really runs


def test_mutation_keeps_types():
    rng = random.Random(0)
    for value in [3, -2.5, "abc", [1, 2, 3], ("a", 1), {"k": 1}, True, []]:
        for _ in range(20):
            mutated = mutate_value(value, rng)
            assert type(mutated) is type(value)
    new = mutate_inputs(["[1, 2], 'ab'"], 5, rng)
    assert len(new) == 5 and len(set(new)) == 5 and "[1, 2], 'ab'" not in new
    for args in new:
        values = parse_arguments(args)
        assert isinstance(values[0], list) and isinstance(values[1], str)


def test_every_bug_kind_is_injected():
    source = (
        "def f(xs, k):\n"
        "    total = 0\n"
        "    for i in range(len(xs)):\n"
        "        if xs[i] > k:\n"
        "            total += xs[i] * 2\n"
        "    return total\n"
    )
    variants = list(inject_bugs(source, "f"))
    assert {v.kind for v in variants} == set(BUG_KINDS)
    for v in variants:
        ast.parse(v.source)
        assert v.source != v.fixed
        assert v.fixed == ast.unparse(ast.parse(source)) + "\n"
        assert 1 <= v.buggy_line <= len(v.source.splitlines())


def test_seeds_from_a_folder_and_a_jsonl(tmp_path):
    (tmp_path / "mod.py").write_text(
        "def double(x):\n    '''Twice x.'''\n    return x * 2\n\n"
        "def unused(y):\n    return y\n\n"
        "assert double(3) == 6\nprint(double(-1), double(3))\n")
    seeds = load_seeds(tmp_path)
    assert [(s.function, s.inputs, s.description) for s in seeds] == [("double", ["3", "-1"], "Twice x.")]
    jsonl = tmp_path / "seeds.jsonl"
    jsonl.write_text(json.dumps({"code": "def g(a, b):\n    return a + b\n", "inputs": ["1, 2"]}) + "\n")
    assert [(s.function, s.inputs) for s in load_seeds(jsonl)] == [("g", ["1, 2"])]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(Exception, match="Line 1 .* not valid JSON"):
        load_seeds(bad)


def test_decontamination_matches_renamed_copies():
    rows = _rows(CRUXEVAL)
    d = Decontaminator([r["code"] for r in rows])
    renamed = rows[0]["code"].replace("nums", "values").replace("output", "pairs")
    assert d.reason(renamed) == "ast"
    # one statement added: no longer the same AST, but most token n-grams are shared
    lines = rows[7]["code"].splitlines()
    changed = "\n".join(lines[:1] + ["    unused_counter = 0"] + lines[1:])
    assert d.reason(changed) is not None
    assert d.reason("def g(tree):\n    return sorted(tree.leaves(), key=lambda n: n.depth)\n") is None


# ----------------------------------------------------------------------------- the build


def test_datasheet_counts_match_the_files(built):
    sheet = json.loads((built / "datasheet.json").read_text())
    pyx, pyx_r = _rows(built / "pyx.jsonl"), _rows(built / "pyx_r.jsonl")
    per_task = {k: sum(1 for r in pyx if r[k] is not None) for k in ("nl", "fwd_mnl", "bwd_mnl")}
    per_task["fault"] = len(pyx_r)
    assert sheet["records_per_task"] == {k: v for k, v in per_task.items() if v}
    assert per_task["fwd_mnl"] >= 20 and per_task["bwd_mnl"] >= 20 and per_task["fault"] >= 10
    assert sheet["heldout_pyx_r"] == len(_rows(built / "heldout" / "pyx_r.jsonl")) > 0
    assert "| fwd_mnl |" in (built / "datasheet.md").read_text()
    # exactly one instruction field per PyX row, and no duplicates
    for r in pyx:
        assert sum(r[k] is not None for k in ("nl", "fwd_mnl", "bwd_mnl")) == 1
    keys = [json.dumps([r["nl"], r["fwd_mnl"], r["bwd_mnl"], r["response"]]) for r in pyx]
    assert len(keys) == len(set(keys))
    # held-out seeds never appear in the training files
    held = {r["seed_id"] for r in _rows(built / "heldout" / "pyx_r.jsonl")}
    assert held.isdisjoint({r["seed_id"] for r in pyx + pyx_r})


def test_forward_records_are_the_servers_prompt_and_the_real_answer(built):
    rows = [r for r in _rows(built / "pyx.jsonl") if r["fwd_mnl"]]
    for r in rows:
        code = r["fwd_mnl"].split("[PYTHON]\n", 1)[1].split("\nassert ", 1)[0]
        code = re.sub(r" # \[L\d+\]$", "", code, flags=re.M)
        call = re.search(r"^assert (.*) == \?\?$", r["fwd_mnl"], re.M).group(1)
        # training prompt + response continues exactly the prompt the server sends
        full = formats.training_prompt("fwd_mnl", r["fwd_mnl"]) + r["response"]
        assert full.startswith(formats.forward_prompt(code, call).text)
        parser = AnswerParser()
        parser.feed(r["response"])
        answer = output_from_answer(parser.answer)
        assert eval(formats.restore_string_quotes(answer)) == _run(code, call)
        # every [Lk] the monologue names is a labelled line of the program
        labels = formats.label_lines(code).label_to_line
        assert set(int(k) for k in re.findall(r"\[L(\d+)\]", r["response"])) <= set(labels)


def test_backward_records_answer_with_an_input_that_gives_the_output(built):
    rows = [r for r in _rows(built / "pyx.jsonl") if r["bwd_mnl"]]
    for r in rows:
        code = r["bwd_mnl"].split("PYTHON]\n", 1)[1].split("\nassert ", 1)[0]
        output = re.search(r"^assert f\(\?\?\) == (.*)$", r["bwd_mnl"], re.M).group(1)
        parser = AnswerParser()
        parser.feed(r["response"])
        call = parser.answer.removeprefix("assert ").split(" == ")[0]
        assert _run(code, call) == eval(output)
        assert formats.training_prompt("bwd_mnl", r["bwd_mnl"]).endswith("[MONOLOGUE]\n")


def _stated_values_are_real(rows: list[dict], tracer) -> int:
    """Each value a record states (forward: `x` is assigned `v`, `x = v`; backward and PyX-R:
    `x` is `v`, `x = v`) is the whole value the variable had in a fresh trace whose values
    are not cut (max_repr 100000): a value stated cut ("...") matches none. Returns how many
    were checked."""
    checked = 0
    for r in rows:
        if r.get("fwd_mnl"):
            code = re.sub(r" # \[L\d+\]$", "", r["fwd_mnl"].split("[PYTHON]\n", 1)[1].split("\nassert ", 1)[0], flags=re.M)
            call = formats.restore_string_quotes(re.search(r"^assert (.*) == \?\?$", r["fwd_mnl"], re.M).group(1))
            text = r["response"]
            stated = re.findall(r"`([A-Za-z_]\w*)` (?:is assigned|is updated to) `([^`]*)`", text)
        elif r.get("bwd_mnl"):
            code = r["bwd_mnl"].split("PYTHON]\n", 1)[1].split("\nassert ", 1)[0]
            parser = AnswerParser()
            parser.feed(r["response"])
            call = formats.restore_string_quotes(parser.answer.removeprefix("assert ").split(" == ")[0])
            text = r["response"]
            stated = re.findall(r"`([A-Za-z_]\w*)` is `([^`]*)`", text)
        elif r.get("fault"):
            code = r["fault"].split("### Buggy Solution\n```python\n", 1)[1].split("\n```", 1)[0]
            failed = r["fault"].split("### Failed Test\n```python\n", 1)[1].split("\n```", 1)[0]
            call = re.match(r"retv = (\w+\(.*\))\nassert retv == ", failed, re.S).group(1)
            text = r["response"].split("### Root Cause Analysis", 1)[0]  # the simulation
            stated = re.findall(r"`([A-Za-z_]\w*)` is `([^`]*)`", text)
        else:
            continue
        stated += re.findall(r"`([A-Za-z_]\w*) = ([^`]*)`", text)
        trace = tracer.trace_call(code, call)
        real = {(name, formats.swap_string_quotes(value)) for e in trace["events"]
                for name, value in {**e["changes"], **(e.get("globals") or {})}.items()}
        assert stated and set(stated) <= real, (set(stated) - real, r["response"])
        checked += len(stated)
    return checked


def test_monologue_values_are_the_real_values(built):
    """Each value a monologue or a PyX-R simulation states (`x` is assigned `v`, `x = v`) is
    in the real trace, whole."""
    from semcoder_inference.tracer import Limits, Tracer

    pyx = _rows(built / "pyx.jsonl")
    rows = ([r for r in pyx if r["fwd_mnl"]][:6] + [r for r in pyx if r["bwd_mnl"]][:6]
            + _rows(built / "pyx_r.jsonl")[:6])
    with Tracer(limits=Limits(max_repr=100_000)) as tracer:
        assert _stated_values_are_real(rows, tracer) > 0


def test_repair_records_fail_then_get_fixed(built):
    from semcoder_inference.tracer import Tracer

    rows = _rows(built / "pyx_r.jsonl")
    assert {r["bug_kind"] for r in rows} >= {"off_by_one", "wrong_return", "dropped_statement"}
    with Tracer() as tracer:
        for r in rows[:12]:
            buggy = r["fault"].split("### Buggy Solution\n```python\n", 1)[1].split("\n```", 1)[0]
            failed = r["fault"].split("### Failed Test\n```python\n", 1)[1].split("\n```", 1)[0]
            args = re.match(r"retv = \w+\((.*)\)\nassert retv == ", failed, re.S).group(1)
            expected = failed.split("assert retv == ", 1)[1]
            bad = tracer.trace_call(buggy, f"{r['function']}({args})", expect=expected)
            assert not (bad["status"] == "ok" and bad["assertion"]["passed"])  # the test really fails
            parser = RefinedParser()
            parser.feed(r["response"])
            for test in r["tests"]:  # the [Refined] program passes every test
                good = tracer.trace_call(parser.code, f"{r['function']}({test['args']})", expect=test["expected"])
                assert good["status"] == "ok" and good["assertion"]["passed"]
            assert "### Execution Simulation" in r["response"] and "### Root Cause Analysis" in r["response"]


def test_hf_datasets_loads_the_output(built):
    import datasets  # in the test extra
    pyx = datasets.load_dataset("json", data_files=str(built / "pyx.jsonl"), split="train")
    pyx_r = datasets.load_dataset("json", data_files=str(built / "pyx_r.jsonl"), split="train")
    assert len(pyx) == len(_rows(built / "pyx.jsonl")) and {"nl", "fwd_mnl", "bwd_mnl", "response"} <= set(pyx.column_names)
    assert len(pyx_r) == len(_rows(built / "pyx_r.jsonl")) and {"fault", "response"} <= set(pyx_r.column_names)


def test_a_cruxeval_function_fed_as_a_seed_is_dropped(tmp_path):
    rows = _rows(CRUXEVAL)
    seeds = tmp_path / "seeds.jsonl"
    with seeds.open("w") as f:
        f.write(json.dumps({"code": rows[3]["code"], "inputs": [rows[3]["input"]]}) + "\n")
        renamed = rows[0]["code"].replace("nums", "numbers")
        f.write(json.dumps({"code": renamed, "inputs": [rows[0]["input"]]}) + "\n")
        f.write(json.dumps({"code": "def area(w, h):\n    if w < 0 or h < 0:\n        return None\n    return w * h * 1.0\n",
                            "inputs": ["2, 3"]}) + "\n")
    sheet = build(BuildConfig(out_dir=tmp_path / "out", seeds_path=seeds, workers=1, progress=False, holdout=0.0))
    assert sheet["counts"]["seeds_contaminated"] == 2
    texts = (tmp_path / "out" / "pyx.jsonl").read_text() + (tmp_path / "out" / "pyx_r.jsonl").read_text()
    assert "text_list" not in texts and "numbers.count" not in texts and "area" in texts


def test_inputs_that_exceed_the_limits_are_dropped(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps({"code": "def f(n):\n    while n != 0:\n        n = n - 1\n    return n\n",
                                 "inputs": ["3", "-1", "5"]}) + "\n")
    sheet = build(BuildConfig(out_dir=tmp_path / "out", seeds_path=seeds, workers=1, progress=False,
                              mutations_per_seed=0, timeout_s=1.0, holdout=0.0))
    assert sheet["counts"]["inputs_kept"] == 2
    assert sum(v for k, v in sheet["counts"].items() if k.startswith("inputs_") and k not in ("inputs_kept", "inputs_ok")) == 1
    calls = {re.search(r"assert (f\(.*\)) == \?\?", r["fwd_mnl"]).group(1) for r in _rows(tmp_path / "out" / "pyx.jsonl") if r["fwd_mnl"]}
    assert calls == {"f(3)", "f(5)"}


def test_an_interrupted_build_resumes(tmp_path):
    out = tmp_path / "out"
    first = build(BuildConfig(out_dir=out, generated_seeds=8, workers=1, progress=False))
    progress = out / "work" / "progress.jsonl"
    lines = progress.read_text().splitlines()
    # as if killed after three seeds, in the middle of writing the fourth line
    progress.write_text("\n".join(lines[:3]) + "\n" + lines[3][:40])
    (out / "pyx.jsonl").unlink()
    second = build(BuildConfig(out_dir=out, generated_seeds=8, workers=2, progress=False))
    assert second["counts"]["seeds_resumed"] == 3
    assert second["records_per_task"] == first["records_per_task"]


def test_cli_data_build(tmp_path):
    out = tmp_path / "cli"
    proc = subprocess.run([sys.executable, "-m", "semcoder_inference.cli", "data", "build", "--out", str(out),
                           "--count", "4", "--workers", "1"], capture_output=True, text=True, timeout=180, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "records" in proc.stdout and (out / "datasheet.md").exists()
    assert "seeds" in proc.stderr  # the tqdm progress bar goes to stderr
    bad = subprocess.run([sys.executable, "-m", "semcoder_inference.cli", "data", "build", "--out", str(out),
                          "--seeds", str(tmp_path / "missing")], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr


# ----------------------------------------------------------------------------- teacher


class _Teacher(http.server.BaseHTTPRequestHandler):
    """A completions endpoint whose monologue answer is right for every other prompt."""

    count = 0

    def log_message(self, *args):
        pass

    def _json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/v1/models":
            self._json(200, {"data": [{"id": "teacher"}]})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/v1/completions":
            self._json(404, {"error": "not found"})
            return
        prompt = body["prompt"]
        code = re.sub(r" # \[L\d+\]$", "", prompt.split("[PYTHON]\n", 1)[1].split("\nassert ", 1)[0], flags=re.M)
        call = re.search(r"^assert (.*) == \?\?$", prompt, re.M).group(1)
        type(self).count += 1
        value = repr(_run(code, call)) if type(self).count % 2 else "'surely wrong'"
        text = (f"The teacher reads the code and runs `{call}` in its head.\n[/MONOLOGUE]\n"
                f"[ANSWER]\nassert {call} == {formats.swap_string_quotes(value)}\n[/ANSWER]")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for i in range(0, len(text), 7):
            chunk = {"choices": [{"text": text[i:i + 7], "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b'data: {"choices": [{"text": "", "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n')


def test_teacher_monologues_are_kept_only_when_their_answer_is_right(tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Teacher)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        sheet = build(BuildConfig(out_dir=tmp_path, generated_seeds=3, workers=1, progress=False, holdout=0.0,
                                  decontaminate=False, teacher_url=f"http://127.0.0.1:{httpd.server_port}"))
    finally:
        httpd.shutdown()
        httpd.server_close()
    accepted, rejected = sheet["counts"]["teacher_accepted"], sheet["counts"]["teacher_rejected"]
    assert accepted >= 1 and rejected >= 1 and accepted + rejected == _Teacher.count
    teacher_rows = [r for r in _rows(tmp_path / "pyx.jsonl") if r["generator"] == "teacher"]
    assert len(teacher_rows) == accepted
    for r in teacher_rows:
        assert "The teacher reads the code" in r["response"] and "surely wrong" not in r["response"]


def test_forward_monologue_of_generators_exceptions_and_threads():
    """The training monologue states each step's own facts: a generator's yields, the value
    sent into it, its own return value (not the wrapping call's), the exception each step
    raised, and nothing of the threads the function starts."""
    from kernel_probes import threads_refused_here
    from semcoder_inference.tracer import Tracer
    from semcoder_training.data.monologue import forward_monologue

    generator = ("def f(n):\n    total = 0\n    for i in range(n):\n        got = yield i\n        total += got\n"
                 "    try:\n        int('x')\n    except ValueError:\n        pass\n    return total\n")
    call = "g.send(5) if (g := f(1)) and next(g) == 0 else None"
    starter = ("import threading\n\ndef f(n):\n    if n:\n        t = threading.Thread(target=f, args=(0,))\n"
               "        t.start()\n        t.join()\n    return n\n")
    with Tracer(workers=1) as tracer:
        trace = tracer.trace_call(generator, call)
        threaded = tracer.trace_call(starter, "f(1)")
        if threads_refused_here(tracer, threaded):
            threaded = None
    assert trace["status"] == "exception" and trace["exception"]["type"] == "StopIteration"
    text = forward_monologue(generator, call, trace, formats.label_lines(generator))
    assert ("5. [L8]: the function yields `0`.\n"
            "6. [L8]: the function resumes after its `yield`; `got` is `5`.\n"
            "7. [L9] (iteration 1): after this line runs, `total` is `5`.\n") in text
    assert "11. [L11]: `ValueError` is raised.\n" in text  # caught: not the run's StopIteration
    assert "15. [L14]: the function returns `5`.\n" in text  # its own value, not the call's
    if threaded is not None:
        assert any(e.get("thread") for e in threaded["events"])
        text = forward_monologue(starter, "f(1)", threaded, formats.label_lines(starter))
        assert text.count("the function is called") == 1 and "`n = 0`" not in text
        assert text.count(": the function returns") == 1


def test_forward_monologue_states_module_globals_and_places():
    """A global the function changes, and a change deep inside a long local, are stated as
    the trace lists them: `the global ...`, and by the place's own name."""
    from semcoder_inference.tracer import Tracer
    from semcoder_training.data.monologue import forward_monologue

    source = ("seen = []\n\ndef f(n):\n    grid = [[0] * 12 for _ in range(12)]\n    grid[6][n] = 1\n"
              "    seen.append(n)\n    return grid[6]\n")
    with Tracer(workers=1) as tracer:
        trace = tracer.trace_call(source, "f(3)")
    text = forward_monologue(source, "f(3)", trace, formats.label_lines(source))
    assert "[L9]: after this line runs, `grid[6][3]` is `1`." in text
    assert "[L10]: after this line runs, the global `seen` is `[3]`." in text


# ----------------------------------------------------------------------------- review fixes


def test_no_record_states_a_cut_value(tmp_path):
    """Values longer than the hover limit are traced whole (`t`, 322 characters; `xs`, 60
    items) and stated whole; a run whose value is still cut at the build's max_repr gives no
    forward or backward record (its input still tests the PyX-R rows), and no PyX-R row
    simulates a run with a cut value."""
    from semcoder_inference.tracer import Limits, Tracer

    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps(row) + "\n" for row in [
        {"code": "def f(s):\n    t = s * 40\n    return len(t)\n", "inputs": ["'abcdefgh'"], "description": "x"},
        {"code": "def f(n):\n    xs = list(range(n))\n    return sum(xs)\n", "inputs": ["60"], "description": "y"},
        {"code": "def g(s):\n    t = s * 400\n    return len(t)\n", "inputs": ["'abcdefgh'"], "description": "z"},
    ]))
    out = tmp_path / "out"
    sheet = build(BuildConfig(out_dir=out, seeds_path=seeds, workers=1, progress=False, holdout=0.0,
                              mutations_per_seed=1, decontaminate=False))
    pyx, pyx_r = _rows(out / "pyx.jsonl"), _rows(out / "pyx_r.jsonl")
    for r in pyx + pyx_r:
        assert "..." not in r["response"] and "…" not in r["response"]
    text = "".join(r["response"] for r in pyx)
    assert '`t` is assigned `"' + "abcdefgh" * 40 + '"`' in text
    assert "`xs` is assigned `" + str(list(range(60))) + "`" in text
    assert not any("g(" in (r["fwd_mnl"] or r["bwd_mnl"] or "") for r in pyx)  # 3200 characters: cut
    assert sheet["counts"]["records_dropped_cut_value"] >= 2
    with Tracer(limits=Limits(max_repr=100_000)) as tracer:
        assert _stated_values_are_real([r for r in pyx if not r["nl"]] + pyx_r, tracer) > 0


def test_monologue_cut_value_detection():
    from semcoder_training.data.monologue import cut_values, may_be_cut

    assert not may_be_cut("[0, 1, 2]", 120) and not may_be_cut("'abc'", 120) and not may_be_cut("<Box items=[1]>", 120)
    for text in ["'abc...xyz'", "[0, 1, ..., 59]", "[[[[[[[...]]]]]]]", "<repr timed out>", "<int with 5000 bits>",
                 "<Node object>", "x" * 118]:
        assert may_be_cut(text, 120), text
    trace = {"function": "f", "status": "ok", "return": {"repr": "3", "literal": True}, "truncated": {},
             "events": [{"line": 1, "depth": 0, "function": "f", "iteration": None, "kind": "call", "changes": {"n": "3"}},
                        {"line": 2, "depth": 0, "function": "f", "iteration": None, "kind": "line",
                         "changes": {"xs": "[0, 1, ..., 9]"}}]}
    assert cut_values(trace, 120) == ["[0, 1, ..., 9]"]
    trace["events"].pop()
    assert cut_values(trace, 120) == []
    trace["truncated"] = {"return": True}
    assert cut_values(trace, 120) == ["3"]


def test_repair_simulation_counts_iterations_and_says_where_it_raised():
    """The header's last pass, which ends the loop, is no iteration; the exception's line is
    the one the steps name; the answer's code
    spans all use double quotes."""
    from semcoder_inference.tracer import Tracer
    from semcoder_training.data.inject import BugVariant
    from semcoder_training.data.monologue import forward_monologue
    from semcoder_training.data.records import repair_record

    loops = ("def f(n):\n    total = 0\n    for x in range(n):\n        total += x\n    i = 0\n"
             "    while i < 2:\n        i += 1\n    return total + i\n")
    recursion = "def f(n):\n    if n == 0:\n        return 0\n    return f(n + 1) + 1\n"
    sets = "def f(a, b):\n    return {a, 'zz'}\n"
    with Tracer(workers=1) as tracer:
        looped = tracer.trace_call(loops, "f(3)")
        deep = tracer.trace_call(recursion, "f(1)")
        wrong = tracer.trace_call(sets, "f('x', 'y')")
    text = forward_monologue(loops, "f(3)", looped, formats.label_lines(loops), labelled=False)
    assert re.findall(r"line 3 \(iteration (\d+)\)", text) == ["1", "2", "3"]
    assert "line 3: the loop ends." in text and "(iteration 4)" not in text
    assert re.findall(r"line 6 \(iteration (\d+)\)", text) == ["1", "2"]
    assert "line 6: the loop condition is false, so the loop ends." in text and "line 6 (iteration 3)" not in text

    # (Python's own traceback ends at the call's line 4; the tracer's once ended at the
    # `def` line 1 of a frame that never began: either way the steps name line 4)
    assert deep["status"] == "exception" and deep["exception"]["line"] == 4
    bug = BugVariant("off_by_one", 4, "`n - 1` was changed to `n + 1`", recursion,
                     fixed=recursion.replace("n + 1", "n - 1"), buggy_line=4)
    row = repair_record("p", recursion, bug.fixed, "f", "1", "1", deep, bug, bug_kind="off_by_one")
    simulation, analysis = row["response"].split("### Root Cause Analysis", 1)
    assert "line 4: `RecursionError` is raised." in simulation
    assert "`RecursionError: maximum recursion depth exceeded` at line 4" in analysis
    assert "at line 1 " not in analysis.split("(", 1)[0]

    bug = BugVariant("wrong_variable", 2, "`{a, b, 'zz'}` was changed to `{a, 'zz'}`", sets,
                     fixed=sets.replace("{a, 'zz'}", "{a, b, 'zz'}"), buggy_line=2)
    row = repair_record("p", sets, bug.fixed, "f", "'x', 'y'", "{'x', 'zz', 'y'}", wrong, bug, bug_kind="wrong_variable")
    analysis = row["response"].split("### Root Cause Analysis", 1)[1].split("### Bug Fixing", 1)[0]
    spans = re.findall(r"`([^`]*)`", analysis)
    assert '{"x", "zz", "y"}' in spans and all("'" not in span for span in spans), analysis


def test_a_work_folder_resumes_only_under_its_settings(tmp_path):
    """Seeds finished under other settings are not reused: the build says which setting
    changed, and the datasheet always describes the records."""
    from semcoder_inference.errors import SemcoderError

    out = tmp_path / "out"
    first = build(BuildConfig(out_dir=out, generated_seeds=3, workers=1, progress=False, holdout=0.0, decontaminate=False))
    config = json.loads((out / "work" / "config.json").read_text())
    assert config["max_inputs_per_seed"] == 4 and config["random_seed"] == 0
    with pytest.raises(SemcoderError, match=r"max_inputs_per_seed \(--max-inputs\): 4 then, 1 now") as caught:
        build(BuildConfig(out_dir=out, generated_seeds=3, workers=1, progress=False, holdout=0.0, decontaminate=False,
                          max_inputs_per_seed=1, max_bugs_per_seed=0))
    assert "max_bugs_per_seed" in str(caught.value) and "delete" in caught.value.hint
    assert json.loads((out / "datasheet.json").read_text())["records_total"] == first["records_total"]
    # the same settings (other workers, holdout) resume it
    again = build(BuildConfig(out_dir=out, generated_seeds=3, workers=2, progress=False, holdout=0.0, decontaminate=False))
    assert again["counts"]["seeds_resumed"] == 3 and again["records_per_task"] == first["records_per_task"]
    # a work folder an older builder began (no recorded settings) is not reused either
    (out / "work" / "config.json").unlink()
    with pytest.raises(SemcoderError, match="did not record its settings"):
        build(BuildConfig(out_dir=out, generated_seeds=3, workers=1, progress=False, holdout=0.0, decontaminate=False))
    # a fresh folder under the new settings: what the datasheet says
    fresh = build(BuildConfig(out_dir=tmp_path / "fresh", generated_seeds=3, workers=1, progress=False, holdout=0.0,
                              decontaminate=False, max_inputs_per_seed=1, max_bugs_per_seed=0))
    assert fresh["config"]["max_inputs_per_seed"] == 1 and fresh["records_per_task"]["fault"] == 0
    assert fresh["records_per_task"]["fwd_mnl"] <= 3


def test_seeds_keep_the_constants_and_helpers_they_use(tmp_path):
    """A function that reads a module constant or calls a helper is cut out with them, as the
    server's prompts cut it (context.slice_function), and gives records; an input that still
    fails is counted under its exception's name."""
    from semcoder_inference.context import slice_function

    code = ("import math\nRATE = 3\n\ndef helper(x):\n    return x + 1\n\ndef scaled(x):\n    return x * RATE\n\n"
            "def bumped(x):\n    return helper(x) * 2\n\ndef area(r):\n    return round(math.pi * r * r, 2)\n\n"
            "def broken(x):\n    return x + MISSING\n\n"
            "assert scaled(2) == 6\nassert bumped(3) == 8\nprint(area(2))\nprint(helper(1))\nprint(broken(1))\n")
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "mod.py").write_text(code)
    seeds = {s.function: s for s in load_seeds(folder)}
    assert set(seeds) == {"helper", "scaled", "bumped", "area", "broken"}
    for name, seed in seeds.items():
        assert seed.source == slice_function(code, name, path=str(folder / "mod.py"), workspace_root=str(folder)).text + "\n"
    assert "RATE = 3" in seeds["scaled"].source and "def helper" in seeds["bumped"].source
    sheet = build(BuildConfig(out_dir=tmp_path / "out", seeds_path=folder, workers=1, progress=False, holdout=0.0,
                              mutations_per_seed=0, decontaminate=False))
    calls = {re.search(r"assert (\w+)\(.*\) == \?\?", r["fwd_mnl"]).group(1)
             for r in _rows(tmp_path / "out" / "pyx.jsonl") if r["fwd_mnl"]}
    assert calls == {"helper", "scaled", "bumped", "area"}
    assert sheet["counts"]["inputs_exception"] == 1 and sheet["counts"]["exception_NameError"] == 1
    assert "| exception_NameError | 1 |" in (tmp_path / "out" / "datasheet.md").read_text()


def test_mutated_set_inputs_do_not_depend_on_the_hash_seed():
    """Python orders a set of strings by hash, which changes with PYTHONHASHSEED: mutated
    inputs (and so the whole build) must not."""
    import os

    script = ("import random\nfrom semcoder_training.data.mutate import mutate_inputs\n"
              "print(mutate_inputs([\"{'apple', 'kiwi', 'plum', 'fig', 'pear', 'lime'}, 2\"], 8, random.Random(5)))\n")
    outputs = set()
    for hash_seed in ("1", "2", "3"):
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONHASHSEED": hash_seed})
        assert proc.returncode == 0, proc.stderr
        outputs.add(proc.stdout)
    assert len(outputs) == 1, outputs


def test_builds_with_the_same_seed_give_the_same_text_for_sets_of_strings(tmp_path):
    """The runs' own hash order is the build's --seed (Tracer(hash_seed=...)): a function
    whose value follows a set of strings' order gives the same records build after build."""
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "mod.py").write_text(
        "def uniq(words):\n    seen = set(words)\n    return list(seen)\n\n"
        "print(uniq(['apple', 'kiwi', 'plum', 'fig', 'pear', 'lime', 'date']))\n")
    texts = []
    for run, seed in enumerate((0, 0, 1)):
        build(BuildConfig(out_dir=tmp_path / f"out{run}", seeds_path=folder, workers=1, progress=False, holdout=0.0,
                          mutations_per_seed=0, decontaminate=False, random_seed=seed))
        texts.append((tmp_path / f"out{run}" / "pyx.jsonl").read_text())
    assert "seen` is assigned" in texts[0]
    assert texts[0] == texts[1] and texts[0] != texts[2]
