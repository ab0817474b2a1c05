"""The official pix2pix and CycleGAN datasets, read from their published archives.

    python -m core.train translation --dataset official --official facades --direction BtoA --download
    python -m core.train translation --model cyclegan --dataset official --official horse2zebra

pix2pix archives (``<name>.tar.gz``) hold ``<name>/train|val|test/*.jpg`` with A on the left half and B on the
right half of each image; CycleGAN archives (``<name>.zip``) hold ``<name>/trainA|trainB|testA|testB/``. An archive
(or its extracted folder) is looked for in ``$GENLAB_DATASETS/<name>`` (default ``~/.cache/genlab/datasets``);
it is extracted there on first use (members that would land outside the folder are refused). With ``download``
it is fetched from the authors' server first; offline that fails with a message saying where to put the file.
The authors publish no checksums, so the archive is checked by opening it.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

SERVER = "http://efrosgans.eecs.berkeley.edu"
PIX2PIX = ("facades", "cityscapes", "maps", "edges2shoes", "edges2handbags", "night2day")
CYCLEGAN = ("horse2zebra", "apple2orange", "summer2winter_yosemite", "monet2photo", "cezanne2photo",
            "ukiyoe2photo", "vangogh2photo", "iphone2dslr_flower", "maps", "cityscapes", "facades")


def archive_name(name: str, model: str) -> tuple[str, str]:
    """(file name, URL) of the official archive of ``name`` for ``model`` ("pix2pix" or "cyclegan")."""
    if model == "pix2pix":
        if name not in PIX2PIX:
            raise ValueError(f"unknown pix2pix dataset {name!r}; official ones: {', '.join(PIX2PIX)}")
        return f"{name}.tar.gz", f"{SERVER}/pix2pix/datasets/{name}.tar.gz"
    if name not in CYCLEGAN:
        raise ValueError(f"unknown CycleGAN dataset {name!r}; official ones: {', '.join(CYCLEGAN)}")
    return f"{name}.zip", f"{SERVER}/cyclegan/datasets/{name}.zip"


def _safe_extract(archive: Path, into: Path) -> None:
    """Extract a .zip or .tar.gz whose every member stays inside ``into``."""
    into = into.resolve()

    def inside(member: str) -> bool:
        target = (into / member).resolve()
        return target == into or into in target.parents

    try:
        if archive.suffix == ".zip":
            with zipfile.ZipFile(archive) as z:
                bad = [m for m in z.namelist() if not inside(m)]
                if bad:
                    raise ValueError(f"{archive.name} has members outside its folder (e.g. {bad[0]!r}); refused")
                z.extractall(into)
        else:
            with tarfile.open(archive, "r:gz") as t:
                members = t.getmembers()
                bad = [m.name for m in members if not inside(m.name) or m.issym() or m.islnk()]
                if bad:
                    raise ValueError(f"{archive.name} has links or members outside its folder (e.g. {bad[0]!r}); refused")
                t.extractall(into, members=members)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise ValueError(f"{archive} is not a readable archive ({type(exc).__name__}: {exc}); delete it and "
                         "download again") from None


def official_root(name: str, model: str, root=None, download: bool = False) -> Path:
    """The extracted folder of an official dataset (``.../<name>/<name>``), extracting or downloading it first.

    Raises:
        FileNotFoundError: neither the folder nor the archive is there and ``download`` is False.
        ConnectionError: ``download`` is True but the server cannot be reached (offline).
        ValueError: an unknown name, or a corrupt or unsafe archive.
    """
    from core.data.standard import default_root

    file_name, url = archive_name(name, model)
    folder = Path(root).expanduser() if root else default_root(name)
    extracted = folder / name
    if extracted.is_dir():
        return extracted
    archive = folder / file_name
    if not archive.is_file():
        if not download:
            raise FileNotFoundError(f"the {name} dataset is not in {folder}: put {file_name} there (from {url}), "
                                    "or add --download to fetch it")
        _fetch(url, archive)
    _safe_extract(archive, folder)
    if not extracted.is_dir():
        raise ValueError(f"{file_name} did not contain a {name}/ folder; is it the official archive?")
    return extracted


def _fetch(url: str, target: Path, timeout: float = 30.0) -> None:
    import shutil
    import urllib.error
    import urllib.request

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise ConnectionError(f"could not download {url} ({getattr(exc, 'reason', exc)}); the machine seems "
                              f"offline. Copy {target.name} into {target.parent} by hand, or train on the faces "
                              "world instead") from None
    partial.replace(target)
