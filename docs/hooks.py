"""MkDocs hooks: the repository's generated/ folder (pictures, workbooks) joins the site.

The pages link to generated files as ``../generated/NAME`` so that the Markdown renders on
GitHub too (docs/ is beside generated/); on the site those files are added as
``generated/NAME`` and the links rewritten to match, so ``mkdocs build --strict`` resolves them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parent.parent
GENERATED = REPO / "generated"


def on_files(files: Files, config: Any) -> Files:
    """Every file under generated/ (subfolders too) as the site's generated/NAME."""
    for path in sorted(GENERATED.rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in path.parts):
            continue
        uri = "generated/" + path.relative_to(GENERATED).as_posix()
        if files.get_file_from_path(uri) is None:
            files.append(File(uri, src_dir=str(REPO), dest_dir=config["site_dir"],
                              use_directory_urls=config["use_directory_urls"]))
    return files


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """``../generated/NAME`` (the path on GitHub) → ``generated/NAME`` (the path on the site)."""
    return markdown.replace("../generated/", "generated/")
