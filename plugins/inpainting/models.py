"""The inpainting network Studio trains and ships, as a catalog entry, and its weights file format.

The weights are float16 safetensors (buffers such as batch-norm statistics stay
float32) whose metadata names the network's shape. Studio trains them itself
(``studio train inpainting``, configuration in ``training.toml``) and ships them in
``assets/``; until a release puts the file there the model is simply not
installed. A release is one command on a finished run's model, or on the last
checkpoint of a run that goes on::

    scripts/release_model.py inpainting release WEIGHTS [--licenses data/photos/LICENSES.md]
    scripts/release_model.py inpainting release --checkpoint RUN_DIR [--licenses ...]

It copies the file into ``assets/`` and prints the sha256 and size to pin in
:data:`WEIGHTS_SHA256` and :data:`WEIGHTS_SIZE_MB`: the store installs the file
only when it matches them, like every model.

Nothing here imports torch until a network is built.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core.models.spec import BundledFile, ModelSpec
from studio.core.nets.shape import shaped_by_weights
from studio.core.training import Release, checkpoint_network, float16_weights, release_main, release_weights

if TYPE_CHECKING:
    from studio_plugins.inpainting.net import NetConfig, PConvUNet

MODEL_ID = "pconv_inpaint"
BUILDER = "studio_plugins.inpainting.models:build"
ARCHITECTURE = "pconv_unet"  # the weights file's "architecture" metadata
ASSETS = Path(__file__).with_name("assets")
WEIGHTS = ASSETS / f"{MODEL_ID}.safetensors"
PHOTO_LICENSES = ASSETS / f"{MODEL_ID}-photos.md"  # every training photograph's source and license
WEIGHTS_SHA256 = "62dba76a9bd9f5135c8f6bc9bed111517c1968cebc426ecf602804d3c0d5639b"  # pinned by a release
WEIGHTS_SIZE_MB = 9.4  # the size the release printed
CHECKPOINT_NET = "net"  # the network's name in a training checkpoint

SPECS = (
    ModelSpec(
        id=MODEL_ID,
        title="Partial-convolution inpainting (Studio)",
        description=(
            "Fills the holes painted over a picture: a U-Net of partial convolutions (Liu et al. 2018) that Studio "
            "trained on photographs."
        ),
        builder=BUILDER,
        sources=(BundledFile(str(WEIGHTS), WEIGHTS_SHA256),),
        license=(
            "MIT (Studio's weights). The training photographs keep their own licenses: CC-BY-SA, CC-BY, CC0 and "
            "public domain (Debian gcompris-qt-data), BSD-3-Clause (opencv-doc, scikit-image, scikit-learn), GPL-2+ "
            "and CC-BY-SA-4.0 (mate-backgrounds), BSD-2-Clause (enlightenment-data), GPL-2+, LGPL and CC-BY-SA "
            "(plasma-workspace-wallpapers, lxqt-themes, hugin-data); each photograph's source, author and license "
            f"is listed in {PHOTO_LICENSES.name} beside the weights"
        ),
        provenance=(
            "Trained from scratch by Studio with `studio train inpainting` on about 330 photographs that Debian "
            "packages and Python packages ship (data/photos, gathered by packaging/training_photos.py), with the "
            "paper's loss on VGG16 features, 40,000 steps of 8 crops of 128 px (about 10 hours on two CPU cores); "
            "the configuration is plugins/inpainting/training.toml, the run data/runs/inpaint-v1"
        ),
        size_mb=WEIGHTS_SIZE_MB,
    ),
)


def build() -> PConvUNet:
    """An inpainting network that takes its shape (levels, width) from the weights loaded into it.

    The store builds a network before it reads the weights, and every model trained
    from this one shares this builder, so one builder serves every shape.
    """
    from studio_plugins.inpainting.net import PConvUNet

    return shaped_by_weights(PConvUNet(), config_of, ("encoder", "decoder"))


def config_of(state: Mapping[str, Any], prefix: str = "") -> NetConfig:
    """The shape of the :class:`PConvUNet` whose state dict (keys under ``prefix``) is ``state``."""
    from studio_plugins.inpainting.net import NetConfig

    first = state.get(f"{prefix}encoder.0.conv.conv.weight")
    if first is None:
        raise ValueError("these weights are not a partial-convolution U-Net's (they have no encoder.0 layer)")
    layer = re.compile(rf"{re.escape(prefix)}encoder\.\d+\.conv\.conv\.weight")
    return NetConfig(levels=sum(1 for name in state if layer.fullmatch(name)), width=int(first.shape[0]))


def weights_bytes(net: PConvUNet, metadata: Mapping[str, str] | None = None) -> bytes:
    """``net``'s weights as safetensors: parameters in float16, buffers as they are, the shape in the metadata."""
    shape = {"architecture": ARCHITECTURE, "levels": str(net.config.levels), "width": str(net.config.width)}
    return float16_weights(net, {**(metadata or {}), **shape})


def checkpoint_weights(run_dir: Path) -> bytes:
    """The network of a training run's last checkpoint as a weights file (float16, its step and run in the
    metadata); a ValueError when the run has no checkpoint yet."""
    state, step = checkpoint_network(run_dir, CHECKPOINT_NET)
    net = build()
    net.load_state_dict(state, strict=True)
    return weights_bytes(net, {"base": "", "steps": str(step), "run": Path(run_dir).name})


def write_release(weights: Path, licenses: Path | None = None) -> Release:
    """Copy a trained model's weights file into ``assets/`` (and the photographs' license list, when given).

    The file must be weights of this network as ``studio train inpainting`` emits them:
    it is loaded into a fresh network first, and its metadata must match its shape.
    """
    done = release_weights(weights, WEIGHTS, _checked_config)
    if licenses is not None:
        shutil.copyfile(licenses, PHOTO_LICENSES)
    return done


def _checked_config(state: dict[str, Any], metadata: dict[str, str]) -> NetConfig:
    """The shape of the network whose weights are ``state``, once its ``metadata`` agrees and it loads."""
    config = config_of(state)
    named = (metadata.get("architecture"), metadata.get("levels"), metadata.get("width"))
    if named != (ARCHITECTURE, str(config.levels), str(config.width)):
        raise ValueError(f"its metadata {metadata} does not describe the {config} its tensors have")
    build().load_state_dict(state, strict=True)
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """``scripts/release_model.py inpainting release WEIGHTS | --checkpoint RUN_DIR [--licenses FILE]``."""
    return release_main(
        argv,
        prog="scripts/release_model.py inpainting",
        pin_in=__file__,
        release=lambda weights, options: write_release(weights, options.licenses),
        checkpoint_weights=checkpoint_weights,
        options=lambda command: command.add_argument(
            "--licenses", type=Path, help="the training photographs' LICENSES.md, shipped beside it"
        ),
    )
