"""``agitlog.session()``: a program that records itself, without ``agitlog run`` around it."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from agitlog import git
from agitlog.capture.channel import ChannelServer
from agitlog.capture.connection import CLIENT
from agitlog.capture.shim import child_env, ensure_shim
from agitlog.constants import ENV_ADDR, ENV_AGENT, ENV_PORT, ENV_SESSION, ENV_SPAN, ENV_TOKEN
from agitlog.constants import STATUS_FAILED, STATUS_INTERRUPTED, STATUS_OK
from agitlog.capture.lifecycle import finish_session, start_session
from agitlog.store.recovery import recover_sessions


def _reach_agitlog(repository: git.Repo) -> dict[str, str]:
    """PATH and AGITLOG_BIN as `agitlog run` sets them, so subprocesses can call `agitlog emit`."""
    reach = child_env({"PATH": os.environ.get("PATH", os.defpath)}, ensure_shim(repository.state_dir))
    return {key: value for key, value in reach.items() if os.environ.get(key) != value}


@contextmanager
def recorded_session(*, name: str | None, agent: str | None, repo: str | os.PathLike[str] | None) -> Iterator[str]:
    cwd = Path(repo or os.getcwd()).absolute()
    repository = git.find_repo(cwd)
    recover_sessions(repository)
    live = start_session(repository, command=[sys.executable, *sys.argv], cwd=cwd, name=name, agent=agent)
    channel = ChannelServer(live.recorder)
    channel.start()
    exported = {ENV_SESSION: live.id, ENV_ADDR: f"127.0.0.1:{channel.port}", ENV_PORT: str(channel.port),
                ENV_TOKEN: channel.token, ENV_AGENT: live.meta["agent"], ENV_SPAN: live.meta["root_span"]}
    exported |= _reach_agitlog(repository)
    saved = {key: os.environ.get(key) for key in exported}
    os.environ.update(exported)  # subprocesses started inside the session record into it too
    CLIENT.configure(exported[ENV_ADDR], exported[ENV_TOKEN])
    status, exit_code = STATUS_OK, 0
    try:
        yield live.id
    except KeyboardInterrupt:
        status, exit_code = STATUS_INTERRUPTED, 130
        raise
    except BaseException:
        status, exit_code = STATUS_FAILED, 1
        raise
    finally:
        CLIENT.configure(None, None)
        channel.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        finish_session(live, status=status, exit_code=exit_code)
