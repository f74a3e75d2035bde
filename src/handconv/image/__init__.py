"""Photos through any kernel: Pillow I/O, ``filter`` and the ``handconv filter`` command.

Nothing heavy is imported here (Pillow, tqdm and matplotlib load where they are
used), so ``import handconv.image`` and ``handconv --help`` stay fast.
"""

from __future__ import annotations

from .sample import sample_photo, sample_photo_path

__all__ = ["sample_photo", "sample_photo_path"]
