"""CIFAR-10 and CIFAR-100 in torchvision's on-disk format (downloaded on request)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .container import Data, from_tensors
from .roots import ENV_DATA, DatasetCorrupt, DatasetNotFound, _base_roots, _bulleted

# Per-channel constants of the original code (REFERENCE.md, "Augmentation (CIFAR)").
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)


def _load_cifar(
    name: str, cls_name: str, num_classes: int, root, download: bool, device: torch.device
) -> Data:
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    files = [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    roots = _base_roots(root)
    found = next((r for r in roots if all((r / cls.base_folder / f).is_file() for f in files)), None)
    if found is None and not download:
        raise DatasetNotFound(
            f"{name} was not found. Looked for {cls.base_folder}/ with "
            f"{', '.join(files)} under:\n{_bulleted(roots)}\n"
            f"To get it, load with download=True (notebooks / papermill: `-p download true`), "
            f"which downloads {cls.url} into {roots[0]}; or pass root= (or set ${ENV_DATA}) "
            f"to a folder that contains {cls.base_folder}/."
        )
    where = found if found is not None else roots[0]
    try:
        if found is None:
            where.mkdir(parents=True, exist_ok=True)
        train = cls(str(where), train=True, download=found is None)
        test = cls(str(where), train=False, download=False)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted"
        raise DatasetCorrupt(
            f"{name} files under {where / cls.base_folder} failed torchvision's integrity "
            f"(md5) check ({err}). Delete that folder and load with download=True to fetch "
            f"the genuine files."
        ) from err
    except OSError as err:  # no network, permission denied, ...
        raise DatasetNotFound(
            f"{name} was not found under:\n{_bulleted(roots)}\nand downloading {cls.url} "
            f"into {where} failed: {err}"
        ) from err

    def tensors(ds) -> tuple[Tensor, Tensor]:
        images = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        return images, torch.as_tensor(ds.targets, dtype=torch.int64)

    return from_tensors(
        name,
        *tensors(train),
        *tensors(test),
        num_classes=num_classes,
        mean=CIFAR_MEAN,
        std=CIFAR_STD,
        device=device,
    )


def _load_cifar10(root, download: bool, device: torch.device) -> Data:
    return _load_cifar("cifar10", "CIFAR10", 10, root, download, device)


def _load_cifar100(root, download: bool, device: torch.device) -> Data:
    # The original code normalised CIFAR-100 with CIFAR-10's constants; kept for fidelity.
    return _load_cifar("cifar100", "CIFAR100", 100, root, download, device)
