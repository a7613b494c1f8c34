"""Errors that reach a user.

Every failure a user can cause (a bad model file, a bad setting, a prompt that does not
fit) is raised as a SemcoderError whose message is one plain paragraph: what happened,
and what to do about it. The CLI prints it without a traceback; the server shows it in
a hover or a window/showMessage.
"""

from __future__ import annotations


class SemcoderError(Exception):
    """A failure explained in words a user understands."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if not self.hint:
            return self.message
        # The hint is a sentence of its own: end the message with one first.
        end = "" if self.message.rstrip().endswith((".", "!", "?")) else "."
        return f"{self.message.rstrip()}{end} {self.hint}"


class ModelError(SemcoderError):
    """The model file is missing, unreadable, corrupt or unsupported."""


class SettingsError(SemcoderError):
    """A setting has a value the program cannot use."""


class PromptTooLongError(SemcoderError):
    """The prompt does not fit in the model's context window."""


class GenerationError(SemcoderError):
    """The engine failed while generating."""


class CancelledError(SemcoderError):
    """Generation was cancelled by the caller."""
