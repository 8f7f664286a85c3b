"""Distillation for serving: a smaller student trained on a run's soft predictions
(:mod:`headstart.distill.students`), judged against the teacher and written as a run directory
(:mod:`headstart.distill.distill`)."""
