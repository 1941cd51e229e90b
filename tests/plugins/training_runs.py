"""What the tests of Studio's own training plugins share: their context, and a cancelled run resumed against the
same run made without a break."""

from collections.abc import Callable
from typing import Any

import pytest
import torch

from studio.core.cancel import Cancelled
from studio.core.models.store import ModelStore
from studio.core.training import TrainContext, load_checkpoint, open_run, saved_step, train_plugin


def context(run: Any, store: ModelStore, **options: Any) -> TrainContext:
    """A context for ``run`` on the CPU that previews every step."""
    return TrainContext(run.run_dir, preview_interval_s=0, device="cpu", models=store, **options)


def resumed_as_unbroken(
    plugin: Any, make_run: Callable[[str], Any], store: ModelStore, cancel_at: int, record: str
) -> dict[str, torch.Tensor]:
    """Cancel a run of ``make_run(name)`` at step ``cancel_at``, resume it to its end, and check it against the run
    made without a break: the same frame info ``record`` at every resumed step and the same last checkpoint, whose
    tensors are returned."""
    run = make_run("run")
    ctx = context(run, store, checkpoint_interval_s=0)

    def cancel(frame: Any) -> None:
        if frame.info.get("step") == cancel_at:
            ctx.cancel()

    with pytest.raises(Cancelled):
        train_plugin(plugin, run, ctx, cancel)
    assert saved_step(run.run_dir) == cancel_at
    resumed: dict[int, Any] = {}
    train_plugin(plugin, open_run(run.run_dir), context(run, store, checkpoint_interval_s=0),
                 lambda frame: resumed.setdefault(frame.info["step"], frame.info[record]))  # fmt: skip
    straight = make_run("straight")
    unbroken: dict[int, Any] = {}
    train_plugin(plugin, straight, context(straight, store),
                 lambda frame: unbroken.setdefault(frame.info["step"], frame.info[record]))  # fmt: skip
    assert list(resumed) == list(range(cancel_at + 1, max(unbroken) + 1))
    assert resumed == {step: unbroken[step] for step in resumed}
    ends = [load_checkpoint(folder).tensors for folder in (run.run_dir, straight.run_dir)]
    assert ends[0].keys() == ends[1].keys() and all(torch.equal(v, ends[1][k]) for k, v in ends[0].items())
    return ends[0]
