"""The pool's sending window for the worker's claim loop: pot_common.window's, which the operator's
campaign schedules share."""

from pot_common.window import in_window

__all__ = ["in_window"]
