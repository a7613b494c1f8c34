"""Small geometry helpers: the example module for `semcoder predict`.

Try:
    semcoder predict examples/shapes.py --call "circle_area(2, 'm')"
    semcoder predict examples/shapes.py --call "triangle_kind(2, 3, 2)"
    semcoder predict examples/shapes.py --call "Rectangle(2, 3).describe()"
    semcoder predict-input examples/shapes.py --function polygon_perimeter --output 12
"""

import math

UNIT_SCALE = {"mm": 0.1, "cm": 1.0, "m": 100.0}


def to_cm(value, unit):
    """A length in `unit`, converted to centimetres."""
    return value * UNIT_SCALE[unit]


def circle_area(radius, unit="cm"):
    r = to_cm(radius, unit)
    return round(math.pi * r * r, 2)


def polygon_perimeter(sides):
    total = 0
    for length in sides:
        total += length
    return total


def triangle_kind(a, b, c):
    if a == b == c:
        return "equilateral"
    if a == b or b == c:  # bug: a == c is isosceles too
        return "isosceles"
    return "scalene"


class Rectangle:
    """An axis-aligned rectangle, sizes in centimetres."""

    def __init__(self, width, height):
        self.width = width
        self.height = height

    def area(self):
        return self.width * self.height

    def scaled(self, factor):
        return Rectangle(self.width * factor, self.height * factor)

    def describe(self):
        return f"{self.width}x{self.height} ({self.area()} cm2)"


if __name__ == "__main__":
    print(circle_area(2, "m"))
    print(polygon_perimeter([3, 4, 5]))
    print(Rectangle(2, 3).describe())
    assert triangle_kind(2, 3, 2) == "isosceles", "a == c should be isosceles"
