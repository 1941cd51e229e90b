"""Every network Studio uses: the catalog, and the store that fetches, verifies, caches and loads them.

Engines call ``default_store().load(model_id, device)``. Importing this
package does not import torch.
"""

from studio.core.models.errors import ModelError
from studio.core.models.store import InstallRecord, ModelStatus, ModelStore, default_store

__all__ = ["InstallRecord", "ModelError", "ModelStatus", "ModelStore", "default_store"]
