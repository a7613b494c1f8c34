"""An earlier test that merely uses a class of the module under test (`p = Point(1, 2)` of
a plain dataclass, `Cart().add(...)`, `Account("t", 1)`) silenced every later check of that
module's functions: any read of a name the file binds from the module, other than its
functions of no state, counted as reading what may hold state. A class whose definition
keeps no state (its methods change `self` alone, no list, dict or set of the class's own, a
harmless decorator, no metaclass, nothing it reaches keeps state: calls.class_state_reason)
is harmless to use now. Anything unclear keeps the old answer, no verdict. Every fixture's
truth is pytest's."""

from __future__ import annotations

import asyncio

from lsp_helpers import EXEC_ON, diagnostics_for, judged_asserts, line_of, open_document, pytest_outcomes, running_server, wait_for

GEO = '''from dataclasses import dataclass


@dataclass
class Point:
    x: float
    y: float

    def norm2(self):
        return self.x ** 2 + self.y ** 2


def clamp(v, lo, hi):
    return max(lo, min(v, hi))
'''

GEO_TEST = '''from geo import Point, clamp


def test_point():
    p = Point(1, 2)
    assert p.norm2() == 5


def test_clamp():
    assert clamp(5, 0, 3) == 4
'''

SHOP = '''import functools
from dataclasses import dataclass, field
from typing import List


class OutOfStock(Exception):
    pass


@dataclass(frozen=True)
class Item:
    name: str
    price: float
    qty: int = 1

    def subtotal(self):
        return self.price * self.qty


@dataclass
class Cart:
    items: List[Item] = field(default_factory=list)
    discount: float = 0.0

    def add(self, item):
        self.items.append(item)
        return item

    @property
    def total(self):
        return round(sum(i.subtotal() for i in self.items) * (1 - self.discount), 2)


@functools.total_ordering
class Account:
    rate = 0.02

    def __init__(self, owner, balance=0):
        self.owner = owner
        self.balance = balance
        self.history = []

    def deposit(self, amount):
        if amount <= 0:
            raise ValueError("amount must be positive")
        self.balance += amount
        self.history.append(amount)
        return self.balance

    def take(self, amount):
        if amount > self.balance:
            raise OutOfStock(amount)
        self.balance -= amount
        return self.balance

    def __eq__(self, other):
        return self.balance == other.balance

    def __lt__(self, other):
        return self.balance < other.balance


def apply_coupon(total, code):
    if code == "HALF":
        return total / 2
    return total


if __name__ == "__main__":
    print(Cart().add(Item("a", 1.0)))
'''

SHOP_TEST = '''import unittest

import pytest

import shop
from shop import Account, Cart, Item, OutOfStock, apply_coupon


class TestAccount(unittest.TestCase):
    def test_deposit(self):
        a = Account("t", 1)
        self.assertEqual(a.deposit(2), 3)

    def test_format(self):
        self.assertEqual(apply_coupon(10, "HALF"), 4)


def test_cart():
    c = Cart(discount=0.5)
    c.add(Item("a", 1.0, 2))
    c.items[0].subtotal()
    assert c.total == 1.0
    assert shop.Item("b", 2.0).subtotal() == 2.0


def test_overdraw():
    with pytest.raises(OutOfStock):
        Account("a", 1).take(2)
    assert Account("b") < Account("c", 3)


def test_coupon():
    assert apply_coupon(10, "HALF") == 6
    assert shop.apply_coupon(8, "NOPE") == 9
'''


def test_using_a_class_of_no_state_leaves_the_later_checksjudged_asserts(tmp_path):
    (tmp_path / "geo.py").write_text(GEO)
    (tmp_path / "test_geo.py").write_text(GEO_TEST)
    assert judged_asserts(tmp_path / "test_geo.py", [tmp_path]) == [("clamp(5, 0, 3)", "4")]
    assert pytest_outcomes(tmp_path, "test_geo.py") == {"test_point": "PASSED", "test_clamp": "FAILED"}

    (tmp_path / "shop.py").write_text(SHOP)
    (tmp_path / "test_shop.py").write_text(SHOP_TEST)
    assert judged_asserts(tmp_path / "test_shop.py", [tmp_path]) == [
        ('apply_coupon(10, "HALF")', "6"), ('shop.apply_coupon(8, "NOPE")', "9"), ('apply_coupon(10, "HALF")', "4")]
    assert pytest_outcomes(tmp_path, "test_shop.py") == {
        "test_deposit": "PASSED", "test_format": "FAILED", "test_cart": "PASSED", "test_overdraw": "PASSED",
        "test_coupon": "FAILED"}


# Each: a class that may hold state, or a use of a class that may change it; the later
# assert passes under pytest (it sees what the earlier test left), and a run alone would
# fail it: no verdict, as before.
NO_VERDICT = {
    "a list of the class's own, changed through an instance": {
        "app.py": 'class Config:\n    defaults = {"k": 1}\n\n\ndef get(key):\n    return Config.defaults[key]\n',
        "test_p.py": 'from app import Config, get\n\n\ndef test_a():\n    c = Config()\n    c.defaults["k"] = 2\n\n\n'
                     'def test_b():\n    assert get("k") == 2\n',
    },
    "an instance that holds the module's list": {
        "app.py": 'DEFAULTS = ["x"]\n\n\nclass Bag:\n    def __init__(self):\n        self.items = DEFAULTS\n\n\n'
                  'def last_default():\n    return DEFAULTS[-1]\n',
        "test_p.py": 'from app import Bag, last_default\n\n\ndef test_a():\n    b = Bag()\n    b.items.append("y")\n\n\n'
                     'def test_b():\n    assert last_default() == "y"\n',
    },
    "a class attribute set through type()": {
        "app.py": "class Point:\n    scale = 2\n\n\ndef scaled(x):\n    return x * Point.scale\n",
        "test_p.py": "from app import Point, scaled\n\n\ndef test_a():\n    p = Point()\n    type(p).scale = 3\n\n\n"
                     "def test_b():\n    assert scaled(2) == 6\n",
    },
    "a class attribute set by a helper of the test file": {
        "app.py": "class Point:\n    scale = 2\n\n\ndef scaled(x):\n    return x * Point.scale\n",
        "test_p.py": "from app import Point, scaled\n\n\ndef tweak():\n    Point.scale = 5\n\n\ndef test_a():\n    tweak()\n\n\n"
                     "def test_b():\n    assert scaled(2) == 10\n",
    },
    "a class attribute set by the test": {
        "app.py": "class Point:\n    scale = 2\n\n\ndef scaled(x):\n    return x * Point.scale\n",
        "test_p.py": "import app\nfrom app import scaled\n\n\ndef test_a():\n    app.Point.scale = 4\n\n\n"
                     "def test_b():\n    assert scaled(2) == 8\n",
    },
    "a method that keeps a cache": {
        "app.py": "import functools\n\n\nclass Rates:\n    @functools.lru_cache(maxsize=None)\n    def rate(self):\n"
                  "        return 2\n\n\ndef hits():\n    return Rates.rate.cache_info().misses\n",
        "test_p.py": "from app import Rates, hits\n\n\ndef test_a():\n    Rates().rate()\n\n\ndef test_b():\n    assert hits() == 1\n",
    },
    "a class whose methods change the module": {
        "app.py": "_LOG = []\n\n\nclass Widget:\n    def __init__(self):\n        _LOG.append(1)\n\n\n"
                  "def shout(text):\n    return text.upper()\n\n\ndef logged():\n    return len(_LOG)\n",
        "test_p.py": "from app import Widget, logged\n\n\ndef test_a():\n    Widget()\n\n\ndef test_b():\n    assert logged() == 1\n",
    },
}


def test_no_verdict_where_a_class_may_hold_state(tmp_path):
    for name, files in NO_VERDICT.items():
        folder = tmp_path / name.replace(" ", "_").replace("'", "").replace("(", "").replace(")", "")
        folder.mkdir()
        for file, text in files.items():
            (folder / file).write_text(text)
        assert judged_asserts(folder / "test_p.py", [folder]) == [], name
        assert set(pytest_outcomes(folder, "test_p.py").values()) == {"PASSED"}, name


async def test_the_server_judges_a_check_after_a_class_was_used(tmp_path):
    """Through the server: `clamp(5, 0, 3) == 4` after `p = Point(1, 2)` in an earlier test
    fails, as under pytest (it had no diagnostic)."""
    (tmp_path / "geo.py").write_text(GEO)
    path = tmp_path / "test_geo.py"
    path.write_text(GEO_TEST)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        await wait_for(lambda: len(diagnostics_for(client, uri)) == 1, timeout=60)
        await asyncio.sleep(1)
        assert [(d.range.start.line, d.message) for d in diagnostics_for(client, uri)] == [
            (line_of(GEO_TEST, "clamp(5, 0, 3) == 4"), "assert failed: clamp(5, 0, 3) returned 3, expected 4")]
