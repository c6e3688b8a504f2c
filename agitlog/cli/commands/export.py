"""`agitlog export`: a session out of agitlog, as one self-contained HTML file."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from agitlog.cli.options import JsonOption, RepoOption, SessionArg, open_repo
from agitlog.errors import UsageError


def export_cmd(
    session: SessionArg = None,
    html: Annotated[Optional[Path], typer.Option("--html", help="Write one self-contained HTML replay to this file.")] = None,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Export a session: `--html FILE` for a replay anyone can open offline in a browser."""
    from agitlog.cli import render_export

    if html is None:
        raise UsageError("say what to export", hint="agitlog export SESSION --html session.html")
    from agitlog.sharing.export.html import export_html

    render_export.render_html_export(export_html(open_repo(repo), session=session, output=html), json_out=json_out)
    return 0
