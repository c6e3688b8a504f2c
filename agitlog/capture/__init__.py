"""Recording a run: the runner, the event channel, snapshots, the SDK and the LLM proxy."""
