"""The training device from a user's choice: ``"auto"`` (or ``None``), ``"cpu"``, ``"cuda"``,
``"cuda:N"`` or ``"mps"``, checked against what this machine has."""

from __future__ import annotations

import torch

_DEVICE_CHOICES = "'auto' (or None), 'cpu', 'cuda', 'cuda:N', 'mps'"


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"`` -> the current CUDA device if available, else CPU.

    ``"cuda"`` resolves to an indexed device (``cuda:0``) so that equal devices compare equal.
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    if isinstance(device, str):
        try:
            dev = torch.device(device.strip())
        except RuntimeError:
            raise ValueError(
                f"unknown device {device!r}; expected one of {_DEVICE_CHOICES}"
            ) from None
    elif isinstance(device, torch.device):
        dev = device
    else:
        raise TypeError(
            f"device must be a str, torch.device or None, not {type(device).__name__}; "
            f"expected one of {_DEVICE_CHOICES}"
        )
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {str(device)!r} was requested but CUDA is not available here "
                f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}, "
                f"{torch.cuda.device_count()} GPU(s) visible); use device='cpu' or 'auto'"
            )
        index = torch.cuda.current_device() if dev.index is None else dev.index
        if index >= torch.cuda.device_count():
            raise RuntimeError(
                f"device {str(device)!r} was requested but only {torch.cuda.device_count()} "
                f"CUDA device(s) are visible (cuda:0 .. cuda:{torch.cuda.device_count() - 1})"
            )
        return torch.device("cuda", index)
    if dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise RuntimeError(
                f"device {str(device)!r} was requested but MPS is not available here; "
                "use device='cpu' or 'auto'"
            )
        return torch.device("mps")
    raise ValueError(f"unsupported device {str(device)!r}; expected one of {_DEVICE_CHOICES}")
