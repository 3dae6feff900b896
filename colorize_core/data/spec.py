"""What a registered data set is, and the error every data set step raises.

These sit below the registry (``datasets``), the manifests (``manifest``) and the download
(``download``) so that each of them can name a spec without importing the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path


class DatasetError(RuntimeError):
    """A data set could not be found, downloaded or verified; the message says how to fix it."""


@dataclass(frozen=True)
class Processing:
    """How a data set's files are made from its archive's members, when they are not copied as is.

    ``apply`` maps a member's bytes to the file's bytes and raises ValueError for a member it cannot
    process. ``made_with`` names the libraries that made the manifest's hashes, since another
    version of them may write other bytes for the same picture.
    """

    apply: Callable[[bytes], bytes]
    made_with: str


@dataclass(frozen=True)
class DatasetSpec:
    """One registered data set.

    ``url`` is the data set's archive, or for a data set made from several archives
    (``photos_wild``) a mapping of archive names to URLs, and then each manifest row's
    ``archive`` names the one its ``origin`` is in. ``manifest`` is a resource name under
    ``colorize_core/data/registry/``, or a ``Path`` to a manifest file on disk (for a test's or a
    user's own archive).
    """

    name: str
    # GitHub archive(s) of one commit; the single top-level folder of each is stripped
    url: str | Mapping[str, str]
    description: str
    citation: str  # where it comes from, its licence, and what to cite
    image_size: int  # default side length, in pixels, that experiments resize to
    manifest: str | Path
    processing: Processing | None = None  # None: the archive's members are the files, unchanged

    @property
    def shown_url(self) -> str:
        """The archive URL(s), as messages name them."""
        return " and ".join(archive_urls(self.url).values())


def archive_urls(url: str | Mapping[str, str]) -> dict[str | None, str]:
    """Archive name -> URL; a single archive is named None, as its manifest rows name none."""
    return {None: url} if isinstance(url, str) else dict(url)
