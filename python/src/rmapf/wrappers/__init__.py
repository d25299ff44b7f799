"""pogema 1.4.0's ``pogema.wrappers`` package: the metric wrappers (:mod:`.metrics`) and the
multi-agent time limit (:mod:`.multi_time_limit`), for code that wraps an env with them itself.
``pogema_v0`` already applies both (rmapf computes the metrics in Rust)."""
