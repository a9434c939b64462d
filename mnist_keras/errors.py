"""Exceptions a user can cause, each mapped to a CLI exit code.

The CLI turns any :class:`MnistKerasError` into a one-line ``Error: ...``
message with its ``exit_code`` and no traceback; anything else is a bug.
"""


class MnistKerasError(Exception):
    """Base class for errors caused by input the user can fix."""

    exit_code = 1


class DataError(MnistKerasError):
    """MNIST files are missing, corrupt, or do not match their checksums."""

    exit_code = 2


class ModelFileError(MnistKerasError):
    """A model path is missing, not a model, or not a 28x28x1 -> 10 classifier."""

    exit_code = 2


class TrainingError(MnistKerasError):
    """Training could not finish (for example the loss became NaN)."""

    exit_code = 1


class ExportError(MnistKerasError):
    """An export cannot start: unknown variant, unwritable output folder, bad option."""

    exit_code = 2


class ServeError(MnistKerasError):
    """The web page's server could not start (port in use, bad address)."""

    exit_code = 1


class VerificationError(MnistKerasError):
    """An exported model lost more accuracy than allowed against its Keras model."""

    exit_code = 3
