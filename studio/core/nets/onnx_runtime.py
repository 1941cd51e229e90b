"""onnxruntime sessions on the best device onnxruntime offers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

GPU_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


def onnx_session(path: Path, device: str | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` of the model at ``path``: on CUDA when this onnxruntime build has it and
    ``device`` is None (the best available) or a CUDA device, on the CPU otherwise."""
    import onnxruntime

    wanted = [CPU_PROVIDER] if device is not None and not device.startswith("cuda") else [GPU_PROVIDER, CPU_PROVIDER]
    available = onnxruntime.get_available_providers()
    return onnxruntime.InferenceSession(str(path), providers=[p for p in wanted if p in available])
