"""Capture of LLM API traffic: a local recording proxy, wire-format parsing and in-process re-routing.

Import the submodules directly (`agitlog.capture.llm.proxy`, `agitlog.capture.llm.wire`, `agitlog.capture.llm.inject`); this
package module imports nothing so that `agitlog run` pays only for what it uses.
"""
