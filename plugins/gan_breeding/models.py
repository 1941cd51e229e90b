"""The style-based generator Studio trains and ships, as a catalog entry, and its weights file format;
and the catalog entry of a generator an artist brings (``gan_generator``, see ``generators.py``).

The weights are the generator's moving average (what training keeps for use) as
float16 safetensors, its mean style ``w_avg`` in float32, and its shape in the
metadata. Studio trains them itself on pictures its Generative rules plugin
renders (``studio train gan_breeding``, configuration in ``training.toml``) and
ships them in ``assets/``; until a release puts the file there the model is simply
not installed. A release is one command on a finished run's model, or on the last
checkpoint of a run that goes on::

    scripts/release_model.py gan_breeding release WEIGHTS
    scripts/release_model.py gan_breeding release --checkpoint RUN_DIR

It copies the file into ``assets/`` and prints the sha256 and size to pin in
:data:`WEIGHTS_SHA256` and :data:`WEIGHTS_SIZE_MB`: the store installs the file
only when it matches them, like every model.

Nothing here imports torch until a network is built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core.models.spec import BundledFile, ModelSpec, UserFile
from studio.core.nets.shape import shaped_by_weights
from studio.core.training import Release, checkpoint_network, float16_weights, release_main, release_weights

if TYPE_CHECKING:
    from studio_plugins.gan_breeding.stylegan import GeneratorConfig, StyleGenerator

MODEL_ID = "rules_gan64"
IMPORTED_ID = "gan_generator"  # a generator an artist brings (``studio models import gan_generator FILE``)
ONNX_SUFFIX = ".onnx"
TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript")
"""The endings of the generator files an artist brings: ONNX's, or TorchScript's."""
BUILDER = "studio_plugins.gan_breeding.models:build"
ARCHITECTURE = "style_generator"  # the weights file's "architecture" metadata
CHECKPOINT_NET = "G_ema"  # the network a training checkpoint holds that ships (the moving average)
ASSETS = Path(__file__).with_name("assets")
WEIGHTS = ASSETS / f"{MODEL_ID}.safetensors"
WEIGHTS_SHA256 = "be7e5036f8c27fd10e697f34a9bf931d4929f9030701759a1474966aae13b8bd"  # pinned by a release
WEIGHTS_SIZE_MB = 8.2  # the size the release printed

SPECS = (
    ModelSpec(
        id=MODEL_ID,
        title="Style-based generator of generative-rules art (Studio)",
        description=(
            "A style-based generator (after StyleGAN2) of 64 x 64 pictures in the manner of Studio's Generative "
            "rules: L-system plants and curves, Mondrian-like compositions, ridgelines and flow fields. Coarse, "
            "middle and fine styles can come from different parents."
        ),
        builder=BUILDER,
        sources=(BundledFile(str(WEIGHTS), WEIGHTS_SHA256),),
        license="MIT (Studio's weights; trained on images Studio's own Generative rules plugin rendered)",
        provenance=(
            "Trained from scratch by Studio with `studio train gan_breeding` on pictures rendered by its "
            "Generative rules plugin (`make gan-data`, plugins/gan_breeding/rules_data.py); the configuration is "
            "plugins/gan_breeding/training.toml, the release 24,084 steps (the run gan-v2, then gan-v3 from it, "
            "whose last 3,753 steps ran without noise as gan-v3-quiet; an early model; "
            "plugins/gan_breeding/assets/rules_gan64.md)"
        ),
        size_mb=WEIGHTS_SIZE_MB,
    ),
    ModelSpec(
        id=IMPORTED_ID,
        title="Generator you bring: TorchScript or ONNX",
        description=(
            "Your own generator network, exported as TorchScript (torch.jit.save) or ONNX, with a JSON sidecar "
            'beside it giving its latent size and output range, e.g. {"latent_size": 512, "output_range": [-1, 1]}'
        ),
        builder="studio_plugins.gan_breeding.generators:from_files",
        sources=(
            UserFile(
                "generator.onnx",
                "a TorchScript (.pt) or ONNX (.onnx) generator with its JSON sidecar beside it (same name, .json)",
                companions="studio_plugins.gan_breeding.generators:generator_files",
                suffixes=(ONNX_SUFFIX, *TORCHSCRIPT_SUFFIXES),
            ),
        ),
        license="yours (the file you imported)",
        provenance="Imported from your own file with `studio models import gan_generator FILE [--as NAME]`",
        size_mb=0.0,
        format="files",
        default=False,
    ),
)


def build() -> StyleGenerator:
    """A style-based generator that takes its shape from the weights loaded into it.

    The store builds a network before it reads the weights, and every model trained
    from this one shares this builder, so one builder serves every shape.
    """
    from studio_plugins.gan_breeding.stylegan import StyleGenerator

    return shaped_by_weights(StyleGenerator(), config_of, ("mapping_net", "blocks", "const", "w_avg"))


def config_of(state: Mapping[str, Any], prefix: str = "") -> GeneratorConfig:
    """The shape of the :class:`StyleGenerator` whose state dict (keys under ``prefix``) is ``state``."""
    from studio_plugins.gan_breeding.stylegan import GeneratorConfig

    first, const = state.get(f"{prefix}mapping_net.0.weight"), state.get(f"{prefix}const")
    if first is None or const is None:
        raise ValueError("these weights are not a style-based generator's (they have no mapping_net.0 or const)")
    names = re.compile(rf"{re.escape(prefix)}(mapping_net|blocks)\.(\d+)\.")
    counts: dict[str, int] = {}
    for name in state:
        found = names.match(name)
        if found:
            counts[found[1]] = max(counts.get(found[1], 0), int(found[2]) + 1)
    blocks = counts.get("blocks", 0)
    last = state.get(f"{prefix}blocks.{blocks - 1}.layers.0.conv.weight")
    if last is None:
        raise ValueError("these weights are not a style-based generator's (its synthesis blocks are missing)")
    return GeneratorConfig(
        resolution=4 << (blocks - 1),
        z_dim=int(first.shape[1]),
        w_dim=int(first.shape[0]),
        mapping_layers=counts["mapping_net"],
        channels=int(const.shape[0]),
        fine_channels=int(last.shape[0]),
    )


def weights_bytes(net: StyleGenerator, metadata: Mapping[str, str] | None = None) -> bytes:
    """``net``'s weights as safetensors: parameters in float16, ``w_avg`` in float32, the shape in the metadata."""
    shape = {"architecture": ARCHITECTURE} | {name: str(value) for name, value in asdict(net.config).items()}
    return float16_weights(net, {**(metadata or {}), **shape})


def checkpoint_weights(run_dir: Path) -> bytes:
    """The generator (its moving average) of a training run's last checkpoint as a weights file, its step and run
    in the metadata; a ValueError when the run has no checkpoint yet."""
    state, step = checkpoint_network(run_dir, CHECKPOINT_NET)
    net = build()
    net.load_state_dict(state, strict=True)
    return weights_bytes(net, {"base": "", "steps": str(step), "run": Path(run_dir).name})


def write_release(weights: Path) -> Release:
    """Copy a trained generator's weights file into ``assets/``.

    The file must be weights of this network as ``studio train gan_breeding`` emits
    them: it is loaded into a fresh network first, and its metadata must match its shape.
    """
    return release_weights(weights, WEIGHTS, _checked_config)


def _checked_config(state: dict[str, Any], metadata: dict[str, str]) -> GeneratorConfig:
    """The shape of the generator whose weights are ``state``, once its ``metadata`` agrees and it loads."""
    config = config_of(state)
    named = {field.name: metadata.get(field.name) for field in fields(config)}
    if metadata.get("architecture") != ARCHITECTURE or named != {k: str(v) for k, v in asdict(config).items()}:
        raise ValueError(f"its metadata {metadata} does not describe the {config} its tensors have")
    build().load_state_dict(state, strict=True)
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """``scripts/release_model.py gan_breeding release WEIGHTS | --checkpoint RUN_DIR``."""
    return release_main(
        argv,
        prog="scripts/release_model.py gan_breeding",
        pin_in=__file__,
        release=lambda weights, _options: write_release(weights),
        checkpoint_weights=checkpoint_weights,
    )
