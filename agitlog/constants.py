"""Names shared by every part of agitlog: ref namespace, format versions, environment variables."""
from __future__ import annotations

VERSION = "0.1.0"

# Storage format (docs/format.md) and event schema (docs/events.md) versions.
FORMAT_VERSION = 1
EVENT_VERSION = 1

REF_PREFIX = "refs/agent-sessions/"
STATE_DIRNAME = "agitlog"          # under the git common dir: journals, caches
JOURNAL_DIRNAME = "journal"

# Trailers on the commits agitlog writes.
TRAILER_SESSION = "Agitlog-Session"
TRAILER_KIND = "Agitlog-Kind"
TRAILER_STEP = "Agitlog-Step"
TRAILER_EVENT = "Agitlog-Event"
TRAILER_FORMAT = "Agitlog-Format"
KIND_STEP = "step"
KIND_RECORD = "record"

RECORD_META_FILE = "session.toml"
RECORD_EVENTS_FILE = "events.jsonl"
RECORD_ATTACHMENTS_DIR = "attachments"

# The identity on agitlog's own commits, so recording never depends on the user's git config.
COMMIT_NAME = "agitlog"
COMMIT_EMAIL = "agitlog@localhost"

# Environment exported to the recorded process (the wire protocol, docs/events.md).
ENV_SESSION = "AGITLOG_SESSION"
ENV_ADDR = "AGITLOG_ADDR"
ENV_PORT = "AGITLOG_PORT"
ENV_TOKEN = "AGITLOG_TOKEN"
ENV_AGENT = "AGITLOG_AGENT"
ENV_SPAN = "AGITLOG_SPAN"
ENV_REPO = "AGITLOG_REPO"
ENV_TRACEPARENT = "TRACEPARENT"
ENV_DECISION = "AGITLOG_DECISION"  # the decision scope a process was started in (agitlog.decision)
ENV_BIN = "AGITLOG_BIN"            # the `agitlog` command that records this process (capture/shim.py)
ENV_REPLAY_TOOLS = "AGITLOG_REPLAY_TOOLS"  # set by `agitlog rerun --replay-tools`

DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
# Untracked files that look like credentials are never snapshotted (matched on the file name).
DEFAULT_SECRET_FILES = (".env", ".env.*", "*.pem", "*.key", "id_rsa*", "id_ed25519*", "id_ecdsa*", "id_dsa*")

STATUS_RUNNING = "running"
STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_INTERRUPTED = "interrupted"
STATUS_KILLED = "killed"
STATUS_CRASHED = "crashed"
STATUS_DAMAGED = "damaged"  # a record that failed validation (agitlog.store.models): listed, removable, not read
STATUSES = (STATUS_RUNNING, STATUS_OK, STATUS_FAILED, STATUS_INTERRUPTED, STATUS_KILLED, STATUS_CRASHED,
            STATUS_DAMAGED)

# Test-only fault injection (agitlog.store.recovery.crash_point): the named step SIGKILLs the process.
ENV_CRASH_AT = "AGITLOG_TEST_CRASH_AT"

TRAILER_LINK = "Agent-Session"       # on the user's own commits: the sessions their changes came from
HOOK_MARKER = "# agitlog hook:"     # the first lines of every git hook script agitlog installs
ENV_RERUN_ISOLATION = "AGITLOG_RERUN_ISOLATION"  # "none": run a rerun at its sandbox path, without a mount namespace

# Request fields that differ from run to run without changing what the model is asked (ids, a
# client's own metadata): left out when a rerun matches requests and when runs are compared.
# "stream" and "stream_options" stay: they change the bytes served.
VOLATILE_REQUEST_FIELDS = frozenset({"user", "metadata", "safety_identifier", "prompt_cache_key",
                                     "client_metadata"})  # client_metadata: Codex's session, turn ids
# The same, deeper (JSON paths): ids a client gives the items it sends (Codex: a fresh msg_<uuid> per
# message and run); ids of items that came from a recorded answer are the same in a rerun anyway.
# Gemini CLI names each function call the model sent without an id "<tool>__<tool>_<Date.now()>_<n>",
# and sends that id back with the call and its result.
VOLATILE_REQUEST_PATHS = ("$.input[*].id", "$.contents[*].parts[*].functionCall.id",
                          "$.contents[*].parts[*].functionResponse.id")
# Text a coding agent's own tools put into what it sends back to the model, different on every run
# (Codex's exec_command output header): (regex, what it stands for) when requests are matched.
VOLATILE_REQUEST_TEXT = (
    (r"Chunk ID: [0-9a-f]+", "Chunk ID: <id>"),
    (r"Wall time: [0-9.]+ seconds", "Wall time: <t> seconds"),
    # Gemini CLI's run_shell_command result names the process ids it ran
    (r"Process Group PGID: \d+", "Process Group PGID: <pid>"),
    (r"Background PIDs: \d+(?:, \d+)*", "Background PIDs: <pids>"),
)
