"""The JSON path and changed substring of each difference (rerun divergence, compare)."""
from __future__ import annotations

import json

from agitlog.capture.replaybook import Divergence
from agitlog.jsondiff import MISSING, describe_changes, json_changes


def test_each_differing_leaf_is_named_by_its_path() -> None:
    a = {"model": "m", "messages": [{"role": "user", "content": "worker a TASK"}], "n": 1, "gone": True}
    b = {"model": "m", "messages": [{"role": "user", "content": "worker b TASK"}], "n": 2, "new key": None}
    changes = json_changes(a, b)
    assert [c.path for c in changes] == ["$.messages[0].content", "$.n", "$.gone", '$["new key"]']
    assert changes[2].after is MISSING and changes[3].before is MISSING


def test_a_long_string_shows_the_change_with_context_not_its_start() -> None:
    prefix, suffix = "x" * 6000, "y" * 3000
    change = json_changes({"body": prefix + "OLD" + suffix}, {"body": prefix + "NEW" + suffix})[0]
    before, after = change.excerpts(context=10)
    assert before == "…xxxxxxxxxx[OLD]yyyyyyyyyy…" and after == "…xxxxxxxxxx[NEW]yyyyyyyyyy…"


def test_list_length_and_type_changes() -> None:
    changes = json_changes({"a": [1, 2]}, {"a": [1, 2, 3], "b": 1})
    assert [(c.path, c.before, c.after) for c in changes] == [("$.a[2]", MISSING, 3), ("$.b", MISSING, 1)]
    assert json_changes({"a": 1}, {"a": 1.0})[0].path == "$.a"  # 1 and 1.0 are different JSON
    assert json_changes({"a": True}, {"a": True}) == []


def test_divergence_report_is_short_and_points_at_the_change() -> None:
    body = {"model": "gpt", "messages": [{"role": "system", "content": "s" * 6000},
                                         {"role": "user", "content": "worker b WORKER-TASK"}]}
    changed = json.loads(json.dumps(body))
    changed["messages"][1]["content"] = "worker a WORKER-TASK"
    report = Divergence(call_index=1, expected=json.dumps(body), actual=json.dumps(changed)).describe()
    assert "$.messages[1].content" in report and "worker [b] WORKER-TASK" in report
    assert "worker [a] WORKER-TASK" in report and max(len(line) for line in report.splitlines()) < 200


def test_describe_changes_labels_both_sides() -> None:
    lines = describe_changes(json_changes({"k": "v1"}, {"k": "v2"}), labels=("recorded", "rerun"))
    assert lines == ["  $.k", "    recorded: v[1]", "    rerun:    v[2]"]


def test_fields_named_by_json_paths_are_left_out() -> None:
    from agitlog.jsondiff import without_paths

    body = {"input": [{"id": "msg_run1", "role": "user", "content": "hi"}, {"id": "msg_run2", "x": [1, 2]}],
            "client_metadata": {"turn": 3}, "odd key": 1, "keep": True}
    out = without_paths(body, ("$.input[*].id", "$.client_metadata", '$["odd key"]', "$.input[1].x[0]", "$.nope.x"))
    assert out == {"input": [{"role": "user", "content": "hi"}, {"x": [2]}], "keep": True}
    assert body["input"][0]["id"] == "msg_run1"  # the original is not changed


def test_rerun_matching_leaves_out_volatile_and_configured_fields() -> None:
    from agitlog.capture.llm.wire import canonical_request

    def request(run: int) -> bytes:
        return json.dumps({"model": "m", "client_metadata": {"session": run}, "input": [{"id": f"msg-{run}"}],
                           "messages": [{"id": f"item-{run}", "content": "same"}]}).encode()

    # client_metadata and Codex's $.input[*].id are left out always; the messages' ids only by config
    assert canonical_request(request(1)) != canonical_request(request(2))
    assert canonical_request(request(1), ("$.messages[*].id",)) == canonical_request(request(2), ("$.messages[*].id",))
    assert '"client_metadata"' not in canonical_request(request(1)) and "msg-1" not in canonical_request(request(1))
