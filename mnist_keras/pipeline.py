"""What ``mnist-keras fit`` does, as one function: train, evaluate, publish with a model card.

``run(config)`` is the whole job behind the command, so a Python caller gets
exactly what the command line gets::

    from mnist_keras.pipeline import run
    from mnist_keras.train import FitConfig

    result = run(FitConfig(model="fast", limit=3000))
    print(result.run_dir, result.evaluation["splits"]["test"]["accuracy"])

It sits below ``train`` and ``evaluate`` because it calls both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .artifacts import published_record
from .train import FitConfig, fit, kept_epoch, publish, published_model, saved_config


@dataclass
class RunResult:
    """What a finished ``fit`` produced.

    Attributes:
        run_dir: the run folder (None on a non-chief worker of a multi-worker run, which writes none).
        config: the settings it ran with (recipe resolved).
        kept: the history row of the epoch whose weights became ``model.keras``.
        published: what happened in ``saved_models/`` (a line for the terminal), if anything.
        evaluation: the ``eval/metrics.json`` summary, unless evaluation was skipped.
    """

    run_dir: Path | None
    config: FitConfig | None = None
    kept: dict | None = None
    published: str | None = None
    evaluation: dict | None = None


def run(config: FitConfig, *, evaluate: bool = True) -> RunResult:
    """Train ``config``, evaluate the kept model into ``<run>/eval/``, then publish it as ``config.publish`` says.

    A published model gets its model card (``saved_models/<model>.md``, see
    :mod:`mnist_keras.card`) written from this run, so replacing a published
    model always replaces its card too.

    Raises:
        MnistKerasError: as :func:`mnist_keras.train.fit` (bad options, data, a run folder in the way);
            TrainingError if the loss became NaN.
    """
    run_dir = fit(config)
    if run_dir is None:
        return RunResult(None)
    saved = saved_config(run_dir)
    result = RunResult(run_dir, saved, kept_epoch(saved, run_dir))
    if evaluate:
        from .evaluate import evaluate_model

        result.evaluation = evaluate_model(run_dir, data_dir=saved.data_dir)
    result.published = publish(saved, run_dir)
    target = published_model(saved, run_dir)
    if target is not None:
        from . import card

        card.write(card.record(published_record(target), model_path=target, root=Path.cwd(),
                               evaluation=result.evaluation), target)  # fmt: skip
    return result
