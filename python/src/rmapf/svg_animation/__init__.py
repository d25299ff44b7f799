"""pogema 1.4.0's ``pogema.svg_animation`` package path (see :mod:`rmapf.animation`)."""
