"""Methods of top-level classes: found, called, traced, predicted and repaired like functions.

A method is named `Class.method`; its calls build a fresh instance, `Class(1).method(2)`,
or name the class for a static or class method, `Class.method(2)`; a property is read on a
fresh instance, `Class(1).prop`; `Class(1)` is a call of `Class.__init__`.
"""

from __future__ import annotations

import pytest
from lsprotocol import types

from lsp_helpers import EXEC_ON, hover, line_of, open_document, replay_env, request, running_server, wait_for
from semcoder_lsp.calls import CLASS_METHOD, METHOD, PROPERTY, STATIC_METHOD, analyse, byte_col, call_at
from semcoder_lsp.code_actions import extract_function, replace_function
from semcoder_lsp.results import actual_line_states, render_markdown


BASKET = '''class Basket:
    """Items with prices."""

    def __init__(self, prices):
        self.prices = list(prices)

    def total(self, discount):
        """
        >>> Basket([4, 6]).total(10)
        9
        """
        subtotal = sum(self.prices)
        cut = subtotal * discount // 100
        return subtotal - cut

    @staticmethod
    def tax(amount):
        # semcoder: Basket.tax(200)
        rate = 8
        return amount * rate // 100

    def cheapest(self):
        low = min(self.prices)
        return low

    @classmethod
    def empty(cls):
        # semcoder: Basket.empty()
        made = cls([])
        return made

    @property
    def count(self):
        n = len(self.prices)
        return n

    @count.setter
    def count(self, value):
        raise AttributeError("read only")


def total(values):
    return sum(values)


assert Basket([10, 20, 30]).total(50) == 30
assert Basket([5, 7]).cheapest() == 6
assert total([1]) == 1
assert Basket([1, 2, 3]).count == 3
assert Basket.total(50) == 0
kept = Basket([len("ab")]).total(1)
'''

# What the model answers for Basket([10, 20, 30]).total(50), in the forward prompt's labels:
# the prompt shows the class header [L5], __init__ [L6]-[L7], then total: its `def` [L9],
# its docstring (ending at [L13]) and its body [L14]-[L16].
TOTAL_MONOLOGUE = """1. `Basket` is built with `prices = [10, 20, 30]`. [L6]
2. At [L7], `self.prices = [10, 20, 30]`.
3. The method `total` is called with `discount = 50`. [L9]
4. At [L14], `subtotal = 60`.
5. At [L15], `cut = 30`.
6. At [L16], the method returns `30`.
[/MONOLOGUE]
[ANSWER]
assert Basket([10, 20, 30]).total(50) == 30
[/ANSWER]
"""

FIXED_CHEAPEST = '''### Execution Simulation
`min([5, 7])` is `5`, but the assert expects `6`: the method should average the two cheapest.
### Root Cause Analysis
It returns the minimum instead of the mean of the two lowest prices.
[Refined]
```python
class Basket:
    def __init__(self, prices):
        self.prices = list(prices)

    def cheapest(self):
        low = sorted(self.prices)[:2]
        return sum(low) // len(low)
```
[/Refined]
'''


def test_methods_are_found_with_their_kind_and_calls():
    info = analyse(BASKET)
    total, tax = info.functions["Basket.total"], info.functions["Basket.tax"]
    assert set(info.functions) == {"Basket.__init__", "Basket.total", "Basket.tax", "Basket.cheapest",
                                   "Basket.empty", "Basket.count", "total"}
    # a property is its getter (the setter shares its name)
    assert info.functions["Basket.count"].kind == PROPERTY
    assert info.functions["Basket.count"].def_line == line_of(BASKET, "def count(self)")
    assert total.kind == METHOD and tax.kind == STATIC_METHOD and info.functions["Basket.empty"].kind == CLASS_METHOD
    assert not info.functions["total"].is_method
    assert total.source.startswith("def total(self, discount):\n") and total.indent == "    "
    assert tax.start == line_of(BASKET, "@staticmethod") and tax.def_line == line_of(BASKET, "def tax")
    assert info.function_at(line_of(BASKET, "cut = subtotal")) is total
    found = {(c.function, c.origin, c.call, c.expected) for c in info.calls}
    # Not calls: an instance method named on its class, a constructor with a non-literal argument.
    assert found == {
        ("Basket.total", "assert", "Basket([10, 20, 30]).total(50)", "30"),
        ("Basket.cheapest", "assert", "Basket([5, 7]).cheapest()", "6"),
        ("total", "assert", "total([1])", "1"),
        ("Basket.total", "doctest", "Basket([4, 6]).total(10)", "9"),
        ("Basket.tax", "comment", "Basket.tax(200)", None),
        ("Basket.empty", "comment", "Basket.empty()", None),
        ("Basket.count", "assert", "Basket([1, 2, 3]).count", "3"),
        # the instances those calls build are known calls of __init__ (nothing to expect)
        ("Basket.__init__", "assert", "Basket([1, 2, 3])", None),
        ("Basket.__init__", "assert", "Basket([10, 20, 30])", None),
        ("Basket.__init__", "assert", "Basket([5, 7])", None),
        ("Basket.__init__", "doctest", "Basket([4, 6])", None),
    }


def test_the_cursor_picks_the_method_or_the_constructor():
    info = analyse(BASKET)
    line = line_of(BASKET, "assert Basket([10, 20, 30]).total")
    text = BASKET.splitlines()[line]
    on_method = call_at(info, line, byte_col(text, text.index(".total") + 2))
    on_class = call_at(info, line, byte_col(text, text.index("Basket") + 2))
    assert (on_method.function, on_method.call, on_method.expected) == (
        "Basket.total", "Basket([10, 20, 30]).total(50)", "30")
    assert (on_class.function, on_class.call) == ("Basket.__init__", "Basket([10, 20, 30])")
    line = line_of(BASKET, "assert Basket([1, 2, 3]).count")
    text = BASKET.splitlines()[line]
    on_property = call_at(info, line, text.index("count") + 1)
    assert (on_property.function, on_property.call, on_property.expected) == (
        "Basket.count", "Basket([1, 2, 3]).count", "3")
    kept = line_of(BASKET, "kept = ")
    assert call_at(info, kept, BASKET.splitlines()[kept].index("total") + 1) is None


def test_a_repaired_method_goes_back_into_its_class_indented():
    info = analyse(BASKET)
    fn = info.functions["Basket.cheapest"]
    code = FIXED_CHEAPEST.split("```python\n")[1].split("```")[0]
    new_fn = extract_function(code, "Basket.cheapest")
    assert new_fn == "def cheapest(self):\n    low = sorted(self.prices)[:2]\n    return sum(low) // len(low)"
    # a model that answers with the method alone is understood too
    assert extract_function(new_fn, "Basket.cheapest") == new_fn
    new_text, rng = replace_function(info, fn, new_fn)
    assert (rng.start.line, rng.end.line) == (fn.start, fn.end)
    assert "\n    def cheapest(self):\n        low = sorted(self.prices)[:2]\n" in new_text
    after = analyse(new_text)
    assert set(after.functions) == set(info.functions)
    assert after.functions["Basket.cheapest"].source == new_fn + "\n"


def test_older_pythons_name_method_frames_without_the_class():
    events = [{"line": 12, "depth": 0, "function": name, "changes": {"subtotal": "60"}, "kind": "line"}
              for name in ("total",)]
    states = actual_line_states({"events": events}, "Basket.total", 11, 13)
    assert states == [{"line": 12, "values": {"subtotal": "60"}, "source": "actual"}]
    assert actual_line_states({"events": events}, "Other.total", 20, 30) == []
    assert actual_line_states({"events": [dict(events[0], function="Other.total")]}, "Basket.total", 11, 13) == []


def test_a_thread_running_the_same_function_is_another_run_whose_values_stay_out():
    own = {"line": 12, "depth": 0, "function": "Basket.total", "changes": {"subtotal": "60"}, "kind": "line"}
    threaded = [own, dict(own, changes={"subtotal": "99"}, thread=1)]
    assert actual_line_states({"events": threaded}, "Basket.total", 11, 13) == [
        {"line": 12, "values": {"subtotal": "60"}, "source": "actual"}]


def test_a_loop_changing_a_new_place_each_time_shows_the_first_places_and_how_many_more():
    """(and a module global the line changed is named `global NAME`, its places capped the
    same way)"""
    events = [{"line": 5, "depth": 0, "function": "f", "kind": "line", "changes": {f"grid[{i}][0]": "1"}}
              for i in range(7)]
    events.append({"line": 5, "depth": 0, "function": "f", "kind": "line", "changes": {"i": "7", "cart.total": "3"},
                   "globals": {"calls": "2"}})
    events += [{"line": 5, "depth": 0, "function": "f", "kind": "line", "changes": {},
                "globals": {f"BOARD[{i}][{i}]": "0"}} for i in range(6)]
    (state,) = actual_line_states({"events": events}, "f", 1, 9)
    assert state["values"] == {"grid[0][0]": "1", "grid[1][0]": "1", "grid[2][0]": "1", "grid[3][0]": "1",
                               "i": "7", "cart.total": "3", "global calls": "2",
                               "global BOARD[0][0]": "0", "global BOARD[1][1]": "0", "global BOARD[2][2]": "0",
                               "global BOARD[3][3]": "0",
                               "grid[…]": "… (3 more places)", "global BOARD[…]": "… (2 more places)"}


def test_a_value_whose_repr_breaks_lines_reads_on_one_line():
    """numpy's repr of a matrix breaks its lines; a table cell or an inlay hint cannot."""
    events = [{"line": 2, "depth": 0, "function": "f", "kind": "line",
               "changes": {"m": "array([[1., 0.],\n       [0., 1.]])", "s": "'a\\nb'"}}]
    (state,) = actual_line_states({"events": events}, "f", 1, 3)
    assert state["values"] == {"m": "array([[1., 0.], [0., 1.]])", "s": "'a\\nb'"}


def test_the_hover_says_when_the_trace_stopped_early():
    """A run whose tracer stopped recording (trace_stopped) still shows its own result, and
    says why its table ends early."""
    why = "the tracer could not go on (TypeError: a bug of ours); the run went on untraced"
    result = {"call": "f(1)", "callSource": "assert", "lineStates": [],
              "actual": {"status": "ok", "return": {"repr": "4"}, "trace_stopped": why}}
    text = render_markdown(result, ["def f(n):", "    return n + 3"])
    assert "returned `4`" in text and f"⚠ The trace stops early: {why}." in text


GRID = """\
def mark(n):
    grid = [[0] * 10 for _ in range(10)]
    grid[5][n] += 1
    for i in range(8):
        grid[i][9] = i
    return grid[5]

assert mark(2) == [0, 0, 1, 0, 0, 0, 0, 0, 0, 5]
"""


async def test_hover_names_the_place_a_line_changed_inside_a_long_value(tmp_path):
    """The grid's text is cut: the hover says which cell each line changed."""
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "grid.py", GRID)
        value = await hover(client, uri, line_of(GRID, "def mark"), 5)
        assert "returned `[0, 0, 1, 0, 0, 0, 0, 0, 0, 5]`" in value
        assert "| `grid[5][2] = 1` |" in value
        # (grid[0][9] = 0 puts an equal number there: no change)
        assert ("| `grid[1][9] = 1`, `grid[2][9] = 2`, `grid[3][9] = 3`, `grid[4][9] = 4`, "
                "`grid[…] = … (3 more places)` |") in value


TREE = """\
from .shapes import Leaf


class Tree:
    def __init__(self, name):
        self.name = name
        self.leaves = []

    def __repr__(self):
        return f"Tree({self.name!r})"


def grow(name, n):
    tree = Tree(name)
    for i in range(n):
        tree.leaves.append(Leaf(i))
    return len(tree.leaves)

assert grow("oak", 2) == 2
"""


async def test_hover_in_a_package_resolves_relative_imports_and_shows_what_a_repr_leaves_out(tmp_path):
    """A file of a package, with a relative import, hovered in the editor: the run finds the
    package's other module, and the tree's appends (which its own __repr__ does not show)
    are named by their place. Its __init__, which only the asserts' calls reach, is traced
    where they reach it."""
    (tmp_path / "garden").mkdir()
    (tmp_path / "garden" / "__init__.py").write_text("")
    (tmp_path / "garden" / "shapes.py").write_text("class Leaf:\n    def __init__(self, i):\n        self.i = i\n\n"
                                                   "    def __repr__(self):\n        return f'Leaf({self.i})'\n")
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "garden" / "trees.py", TREE)
        value = await hover(client, uri, line_of(TREE, "def grow"), 5)
        assert "returned `2`" in value, value
        assert "| 16 `tree.leaves.append(Leaf(i))` | `tree.leaves = [Leaf(0)] → [Leaf(0), Leaf(1)]` |" in value
        # An __init__ no assert calls itself: traced where the file's asserts reach it.
        built = await hover(client, uri, line_of(TREE, "self.leaves = []"), 10)
        assert "(traced where the file's asserts call it, from line 14)" in built, built
        assert "| 5 `def __init__(self, name):` | `self = <Tree object>`, `name = 'oak'` |" in built
        assert "| 6 `self.name = name` | `self = Tree('oak')` |" in built and "| 7 `self.leaves = []` | `self.leaves = []` |" in built


async def test_hover_in_a_method_shows_its_real_trace(tmp_path):
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "basket.py", BASKET)
        value = await hover(client, uri, line_of(BASKET, "cut = subtotal"), 10)
        assert "`Basket([10, 20, 30]).total(50)` (from an assert)" in value
        assert "returned `30`" in value
        assert "subtotal = 60" in value and "cut = 30" in value
        assert "`self = <Basket prices=[10, 20, 30]>`, `discount = 50`" in value
        assert "self.prices = list" not in value  # only total's own lines, not __init__'s
        # a static method, called on the class by a comment
        value = await hover(client, uri, line_of(BASKET, "rate = 8"), 8)
        assert "`Basket.tax(200)`" in value and "returned `16`" in value and "rate = 8" in value
        # a property, read on the instance an assert builds
        value = await hover(client, uri, line_of(BASKET, "n = len(self.prices)"), 10)
        assert "`Basket([1, 2, 3]).count` (from an assert)" in value and "n = 3" in value and "returned `3`" in value
        # a class method
        value = await hover(client, uri, line_of(BASKET, "made = cls([])"), 10)
        assert "`Basket.empty()`" in value and "made = <Basket prices=[]>" in value
        # __init__, through the instance an assert builds
        value = await hover(client, uri, line_of(BASKET, "self.prices = list"), 10)
        assert "`Basket([10, 20, 30])`" in value and "self = <Basket prices=[10, 20, 30]>" in value
        # inlay hints: each method's values at the end of its own lines
        hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=60, character=0))))
        labels = {(h.position.line, h.label) for h in hints}
        assert (line_of(BASKET, "subtotal = sum"), "subtotal = 60") in labels
        assert (line_of(BASKET, "rate = 8"), "rate = 8") in labels
        assert (line_of(BASKET, "self.prices = list"), "self = <Basket prices=[10, 20, 30]>") in labels


async def test_a_method_without_a_call_says_how_to_give_one(tmp_path):
    source = ("class Counter:\n    def bump(self, n):\n        return n + 1\n\n"
              "    @property\n    def zero(self):\n        return 0\n")
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "counter.py", source)
        value = await hover(client, uri, 2, 10)
        assert "No known call for `Counter.bump`" in value and "`# semcoder: Counter(...).bump(...)`" in value
        lenses = await client.text_document_code_lens_async(types.CodeLensParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        assert [(l.range.start.line, l.command.title, l.command.arguments[0]["example"]) for l in lenses] == [
            (1, "SemCoder: supply a call…", "Counter(...).bump(...)"), (5, "SemCoder: supply a call…", "Counter(...).zero")]
        value = await hover(client, uri, 6, 10)
        assert "`# semcoder: Counter(...).zero`" in value
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="semcoder.setCall",
            arguments=[{"uri": uri, "function": "Counter.bump", "call": "Counter().bump(4)"}]))
        assert result == {"ok": True}
        trace = await request(client, "semcoder/trace", {"textDocument": {"uri": uri},
                                                         "position": {"line": 2, "character": 8}})
        assert trace["function"] == "Counter.bump" and trace["actual"]["return"]["repr"] == "5"
        with pytest.raises(Exception, match="is a method"):
            await request(client, "semcoder/predictInput", {
                "textDocument": {"uri": uri}, "function": "Counter.bump", "output": "5"})


async def test_a_failing_method_is_a_diagnostic_and_its_repair_is_verified(tmp_path):
    async with running_server(tmp_path, env=replay_env(tmp_path, FIXED_CHEAPEST), init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "basket.py", BASKET)
        assert_line = line_of(BASKET, "assert Basket([5, 7]).cheapest()")
        await wait_for(lambda: any(d.range.start.line == assert_line for d in client.diagnostics.get(uri, [])))
        diag = next(d for d in client.diagnostics[uri] if d.range.start.line == assert_line)
        assert diag.message == "assert failed: Basket([5, 7]).cheapest() returned 5, expected 6"
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=diag.range,
            context=types.CodeActionContext(diagnostics=[diag])))
        resolved = await client.code_action_resolve_async(actions[0])
        assert resolved.title == "Repair with SemCoder (verified)"
        (edit,) = resolved.edit.changes[uri]
        fn = analyse(BASKET).functions["Basket.cheapest"]
        assert (edit.range.start.line, edit.range.end.line) == (fn.start, fn.end)
        assert edit.new_text == ("    def cheapest(self):\n        low = sorted(self.prices)[:2]\n"
                                 "        return sum(low) // len(low)")
        # the prompt showed the class, since the failing call builds an instance
        result = await request(client, "semcoder/repair", {
            "textDocument": {"uri": uri}, "position": {"line": assert_line, "character": 0}})
        assert result["function"] == "Basket.cheapest"
        assert result["failedTest"] == "retv = Basket([5, 7]).cheapest()\nassert retv == 6"


async def test_a_method_prediction_lands_on_the_method_lines(tmp_path):
    async with running_server(tmp_path, env=replay_env(tmp_path, TOTAL_MONOLOGUE), init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "basket.py", BASKET)
        result = await request(client, "semcoder/trace", {
            "textDocument": {"uri": uri}, "function": "Basket.total", "call": "Basket([10, 20, 30]).total(50)"})
        lines = [s["lines"] for s in result["predicted"]["steps"]]
        assert lines == [[line_of(BASKET, "def __init__")], [line_of(BASKET, "self.prices = list")],
                         [line_of(BASKET, "def total")], [line_of(BASKET, "subtotal = sum")],
                         [line_of(BASKET, "cut = subtotal")], [line_of(BASKET, "return subtotal - cut")]]
        assert result["predicted"]["output"] == "30" and result["actual"]["return"]["repr"] == "30"
        assert result["differences"] == []
        assert "Prediction matches the actual run" in result["markdown"]


GENERATOR = (
    "def gen_squares(n):\n"
    "    for i in range(n):\n"
    "        sq = i * i\n"
    "        yield sq\n"
    "\n"
    "assert list(gen_squares(4)) == [0, 1, 4, 9]\n"
)


async def test_hover_on_a_generator_function_shows_its_body_run(tmp_path):
    """Calling a generator function runs none of its body: the hover showed `returned
    <generator object gen_squares>` and no steps. A call alone is drawn as list() would
    draw it; the assert's is drawn by its own condition (`list(gen_squares(4)) == ...`),
    whose run the trace shows, with the assert's verdict."""
    alone = GENERATOR.replace("assert list(gen_squares(4)) == [0, 1, 4, 9]", "# semcoder: gen_squares(4)")
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "squares.py", alone)
        value = await hover(client, uri, line_of(alone, "sq = i * i"), 8)
        assert "yielded `[0, 1, 4, 9]` (a generator, drawn with `list()`)" in value
        assert "`sq = 0 → 1 → 4 → 9`" in value, value
        uri = open_document(client, tmp_path / "test_squares.py", GENERATOR)
        value = await hover(client, uri, line_of(GENERATOR, "sq = i * i"), 8)
        assert "✓ the assert passes: `list(gen_squares(4)) == [0, 1, 4, 9]` is true" in value
        assert "`sq = 0 → 1 → 4 → 9`" in value, value


NO_ARGUMENTS = (
    "def area(w, h):\n"
    "    return w * h\n"
    "\n"
    "def test_area():\n"
    "    got = area(2, 3)\n"
    "    assert got == 6\n"
    "\n"
    "def greet(name='you', *rest, **more):\n"
    "    text = 'hi ' + name\n"
    "    return text\n"
)


async def test_a_function_that_takes_no_arguments_is_traced_with_none(tmp_path):
    """`f()` is a call of a function whose parameters all have defaults: hovering a test
    function said "No known call for `test_area`"."""
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "zero.py", NO_ARGUMENTS)
        value = await hover(client, uri, line_of(NO_ARGUMENTS, "got = area(2, 3)"), 8)
        assert "`test_area()` (the test, run alone on the file's definitions)" in value, value
        assert "`got = 6`" in value and "returned `None`" in value
        value = await hover(client, uri, line_of(NO_ARGUMENTS, "text = 'hi '"), 8)
        assert "returned `'hi you'`" in value
        # one that needs its arguments is called as the file's tests call it
        value = await hover(client, uri, line_of(NO_ARGUMENTS, "return w * h"), 8)
        assert "`area(2, 3)` (recorded from the file's tests)" in value, value


async def test_a_trace_request_whose_call_calls_another_function_is_refused(tmp_path):
    """`semcoder/trace` with `function: area` and `call: other(1)` traced `other` and
    labelled (and kept) the result as area's latest trace."""
    source = "def area(w, h):\n    return w * h\n\ndef other(x):\n    return x\n"
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, tmp_path / "two.py", source)
        with pytest.raises(Exception) as refused:
            await request(client, "semcoder/trace", {"textDocument": {"uri": uri}, "function": "area",
                                                     "call": "other(1)"})
        assert "`other(1)` calls `other`, not `area`" in str(refused.value)
        fine = await request(client, "semcoder/trace", {"textDocument": {"uri": uri}, "function": "area",
                                                        "call": "area(2, 3)"})
        assert fine["actual"]["return"]["repr"] == "6"
