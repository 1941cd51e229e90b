"""Release a network Studio trained into its plugin's assets: ``scripts/release_model.py PLUGIN release ...``.

    .venv/bin/python scripts/release_model.py inpainting release --checkpoint data/runs/inpaint-v1 \
        --licenses data/photos/LICENSES.md
    .venv/bin/python scripts/release_model.py gan_breeding release data/runs/gan-v1-model.safetensors

It prints the sha256 and size to pin in the plugin's ``models.py``.
"""

import importlib
import sys

PLUGINS = ("inpainting", "gan_breeding")

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in PLUGINS:
        sys.exit(f"usage: scripts/release_model.py {{{','.join(PLUGINS)}}} release WEIGHTS | --checkpoint RUN_DIR")
    sys.exit(importlib.import_module(f"studio_plugins.{sys.argv[1]}.models").main(sys.argv[2:]))
