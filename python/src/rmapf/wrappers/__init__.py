"""pogema 1.4.0's ``pogema.wrappers`` package: the metric wrappers (:mod:`.metrics`), the
multi-agent time limit (:mod:`.multi_time_limit`) and the history recorder
(:mod:`.persistence`), for code that wraps an env with them itself. ``pogema_v0`` already applies
the first two (rmapf computes the metrics in Rust) and, with ``persistent=True``, records the
history itself."""
