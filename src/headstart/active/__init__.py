"""Active learning after a run: rank an unlabeled pool for labeling (:mod:`headstart.active.select`,
:mod:`headstart.active.query`) and merge the returned labels into the next fit
(:mod:`headstart.active.add_labels`, a data-layer function that imports nothing above ``headstart.data``)."""
