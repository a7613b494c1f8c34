"""The CancelToken every engine honours: a flag, a time stamp, and wake-up callbacks."""

from __future__ import annotations

import threading

from semcoder_inference.engine import CancelToken


def test_cancel_runs_registered_callbacks_once_and_records_the_time():
    token, calls = CancelToken(), []
    token.on_cancel(lambda: calls.append("a"))
    removed = token.on_cancel(lambda: calls.append("removed"))
    removed()
    assert not token.cancelled and token.cancelled_at is None
    token.cancel()
    token.cancel()  # a second cancel changes nothing
    assert token.cancelled and token.cancelled_at is not None
    assert calls == ["a"]


def test_callback_registered_after_cancel_runs_at_once():
    token, calls = CancelToken(), []
    token.cancel()
    token.on_cancel(lambda: calls.append("late"))
    assert calls == ["late"]


def test_cancel_from_another_thread_wakes_a_blocked_waiter():
    import queue

    token, box = CancelToken(), queue.SimpleQueue()
    token.on_cancel(lambda: box.put("woken"))
    threading.Timer(0.05, token.cancel).start()
    assert box.get(timeout=5) == "woken"
