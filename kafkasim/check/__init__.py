"""Readers of a trace: delivery outcomes, anomalies and expectations.

Everything here reads only a :class:`~kafkasim.sim.trace.Trace`, never the model, so a
saved ``trace.jsonl`` gives the same verdict as the run that wrote it.
"""
