"""The one package that runs git. Every other module asks it by name; nothing else spawns git.

Output is read NUL-separated wherever git offers it, and leaked ``GIT_*`` variables (a hook's
``GIT_INDEX_FILE``, say) are stripped so they can never redirect what agitlog writes. Callers use
``from agitlog import git`` and ``git.<function>``; the submodules group the functions by concern.
"""
from __future__ import annotations

from agitlog.git.process import (  # noqa: F401
    EMPTY_TREE, Pending, ZERO_OID, git, no_git_env, start,
)
from agitlog.git.repo import (  # noqa: F401
    Repo, find_repo, find_repo_and_head, head_state, hooks_dir, resolve_commit, start_find_repo_and_head, resolve_tree,
)
from agitlog.git.objects import (  # noqa: F401
    CommitInfo, TreeEntry, add_trailers, cat_file, cat_files, commit_info, hash_blob, rev_before, commit_trailers, commit_tree, empty_tree, hash_files, ls_tree, ls_trees, mktree, new_object_ids, object_ids, parent_commit, rev_list, step_blobs, step_chain, tree_of,
)
from agitlog.git.refs import (  # noqa: F401
    RefInfo, delete_refs, drop_empty_packed_refs, is_ancestor, iter_refs, pack_refs, packed_refs_exists, reachable_from, ref_shas, ref_snapshot, refs_containing, refs_newest_first, snapshot_shas, update_ref, update_refs,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Loaded on first use: most commands never touch worktrees, diffs, remotes, the index, the reflog
# or config, and a read command has 60 ms to start.
_ON_FIRST_USE = {
    "index": ("add_blobs_to_index", "cached_blobs", "read_tree_into_index", "hash_worktree_file", "ignored_directories",
              "start_status_z", "start_worktree_status", "status_z", "update_index", "write_tree"),
    "diff": ("RawChange", "blame_porcelain", "changed_paths", "diff_changes", "diff_patch", "diff_text",
             "diff_tree_numstat", "diff_tree_numstat_many"),
    "worktrees": ("add_worktree", "bisect_run", "checkout_branch_at", "checkout_detached", "checkout_paths",
                  "clone_local", "copy_identity", "restore_worktree_from", "checkout_worktree_at", "is_worktree_clean", "remove_worktree"),
    "remotes": ("bundle_create", "bundle_heads", "bundle_verify", "fetch", "fetch_checked", "list_remotes", "ls_remote",
                "ls_remote_quietly", "objects_problem", "push", "push_in_background"),
    "reflog": ("ReflogEntry", "head_reflog_size", "read_head_reflog"),
    "config": ("config_add", "config_get", "config_get_all", "config_scope", "config_set", "config_unset_value"),
}
_MODULE_OF = {name: module for module, names in _ON_FIRST_USE.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'agitlog.git' has no attribute {name!r}")
    # __import__ with a fromlist returns the submodule itself; importlib would be one more import.
    value = getattr(__import__(f"agitlog.git.{module}", fromlist=[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value
