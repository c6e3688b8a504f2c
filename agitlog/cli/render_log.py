"""The full `log` table (query/logcache.py) on screen. Apart from render_sessions, which loads the
typed metadata and the listing's dataclasses: the cached text is written without them."""
from __future__ import annotations

from agitlog.cli.output import is_tty, write_text

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any

    from agitlog.query.logcache import LogTable


def render_log_table(table: LogTable, *, filters: str = "", remote: Any = None) -> None:
    """Off a terminal the cached plain table as it is (its cells were escaped when the rows were
    built); on a terminal, or with no rows, what render_sessions makes of it."""
    if table.count and table.text is not None and not is_tty():
        write_text(table.text + "\n")
        return
    from agitlog.cli.render_sessions import render_log_cells

    render_log_cells(table, filters=filters, remote=remote)
