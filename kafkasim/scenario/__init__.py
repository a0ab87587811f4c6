"""Scenario files: strict YAML loading (``yamlsafe``), validation into frozen models, running.

A scenario is data, never code: it is read by a YAML 1.2 safe loader that keeps the line and
column of every node, so every error reads ``file:line:col: path: problem``.
"""
