"""Exceptions a user can cause, each mapped to a CLI exit code.

The CLI turns any :class:`MnistKerasError` into a one-line ``Error: ...``
message with its ``exit_code`` and no traceback; anything else is a bug.
The codes follow click's own convention (docs/cli.md, "Exit codes"): 2 for a bad
option or input the user can fix (click uses 2 for its own usage errors),
1 for a failure during the work, 3 for an export that failed its accuracy
check.
"""

EXIT_FAILURE = 1  # the work was attempted and failed
EXIT_BAD_INPUT = 2  # a bad option, file or folder: fix it and run again
EXIT_ACCURACY_CHECK = 3  # an exported model lost more accuracy than allowed


class MnistKerasError(Exception):
    """Base class for errors caused by input the user can fix."""

    exit_code = EXIT_BAD_INPUT


class DataError(MnistKerasError):
    """MNIST files are missing, corrupt, or do not match their checksums."""


class ModelFileError(MnistKerasError):
    """A model path is missing, not a model, or not a 28x28x1 -> 10 classifier."""


class TrainingError(MnistKerasError):
    """Training could not finish (for example the loss became NaN)."""

    exit_code = EXIT_FAILURE


class ExportError(MnistKerasError):
    """An export cannot start: unknown variant, unwritable output folder, bad option."""


class ServeError(MnistKerasError):
    """The web page's server could not start (port in use, bad address): pick another."""


class VerificationError(MnistKerasError):
    """An exported model lost more accuracy than allowed against its Keras model."""

    exit_code = EXIT_ACCURACY_CHECK


class MissingExtraError(MnistKerasError):
    """A command needs an optional dependency group (an extra) that is not installed."""
