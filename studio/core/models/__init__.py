"""Every network Studio uses: the catalog, and the store that fetches, verifies, caches and loads them.

Engines call ``ctx.models.load(model_id, device)`` on the store the host created. Importing this
package does not import torch.
"""

from studio.core.models.errors import ModelError
from studio.core.models.store import InstallRecord, ModelStatus, ModelStore

__all__ = ["InstallRecord", "ModelError", "ModelStatus", "ModelStore"]
