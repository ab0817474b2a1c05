"""Put GenLab on a Hugging Face Space.

    python scripts/deploy_space.py USER/SPACE [--token hf_...] [--private] [--admin-token SECRET] [--dry-run]

Uploads the files git tracks (the app, core/, demos/, the bundled checkpoints/, requirements.txt and the README,
whose front matter is the Space's configuration) except the tests, CI and benchmarks, with ``huggingface_hub``.
On the Space the app runs in public mode (``SYSTEM=spaces``): training needs the admin token, which
``--admin-token`` stores as the Space secret ``GENLAB_ADMIN_TOKEN``. ``--dry-run`` lists what would be sent.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXCLUDED = ("tests/", ".ci/", "benchmarks/", "docs/", "scripts/", ".device/", ".gitignore")


def space_files(root: Path = ROOT) -> list[str]:
    """The repository's tracked files that a Space needs (relative paths, sorted)."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    names = [n for n in tracked.decode().split("\0") if n]
    return sorted(n for n in names if not n.startswith(EXCLUDED) and (root / n).is_file())


def check_front_matter(root: Path = ROOT) -> dict:
    """The README's Space configuration (the YAML block at its top), checked against this checkout."""
    import gradio

    text = (root / "README.md").read_text()
    if not text.startswith("---\n"):
        raise SystemExit("README.md has no Space front matter (a --- block at the top)")
    fields = dict(line.split(":", 1) for line in text.split("---\n")[1].splitlines() if ":" in line)
    fields = {k.strip(): v.strip().strip('"') for k, v in fields.items()}
    if fields.get("sdk") != "gradio" or not (root / fields.get("app_file", "")).is_file():
        raise SystemExit("README.md front matter: sdk must be gradio and app_file an existing file")
    if fields.get("sdk_version") != gradio.__version__:
        raise SystemExit(f"README.md front matter pins gradio {fields.get('sdk_version')}, this checkout runs "
                         f"{gradio.__version__}: make them agree")
    return fields


def deploy(repo_id: str, token: str | None = None, private: bool = False, admin_token: str | None = None,
           dry_run: bool = False, api=None) -> list[str]:
    """Create (or reuse) the Space ``repo_id`` and upload :func:`space_files`; return the uploaded paths."""
    check_front_matter()
    files = space_files()
    if dry_run:
        return files
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(ROOT), repo_id=repo_id, repo_type="space", allow_patterns=files,
                      commit_message="Deploy GenLab")
    if admin_token:
        api.add_space_secret(repo_id, "GENLAB_ADMIN_TOKEN", admin_token,
                             description="GenLab: training on this public Space needs this token")
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo_id", help="the Space, as USER/NAME")
    parser.add_argument("--token", default=None, help="a Hugging Face write token (default: your saved login)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--admin-token", default=None, help="store GENLAB_ADMIN_TOKEN as a Space secret")
    parser.add_argument("--dry-run", action="store_true", help="list the files and stop")
    args = parser.parse_args(argv)
    if "/" not in args.repo_id:
        parser.error("repo_id must be USER/NAME")
    files = deploy(args.repo_id, args.token, args.private, args.admin_token, args.dry_run)
    size = sum((ROOT / f).stat().st_size for f in files) / 2**20
    verb = "would upload" if args.dry_run else "uploaded"
    print(f"{verb} {len(files)} files ({size:.0f} MiB) to https://huggingface.co/spaces/{args.repo_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
