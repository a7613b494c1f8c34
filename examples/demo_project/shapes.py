"""A small module to try SemCoder on: hover a function or a call."""

from units import to_cm


def rectangle_area(width, height):
    area = width * height
    return area


def perimeter(sides):
    total = 0
    for side in sides:
        total += side
    return total


def average(values):
    """Return the arithmetic mean of `values`.

    >>> average([2, 4, 6])
    4.0
    """
    total = sum(values)
    count = len(values) - 1  # bug: off by one
    return total / count


def label(width_in, height_in):
    # semcoder: label(2, 3)
    w = round(to_cm(width_in), 1)
    h = round(to_cm(height_in), 1)
    return f"{w} x {h} cm"


assert rectangle_area(3, 4) == 12
assert average([1, 2, 3]) == 2.0

if __name__ == "__main__":
    print(perimeter([3, 4, 5]))
    print(label(2, 3))
