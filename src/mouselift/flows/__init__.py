"""End-to-end flows built from the stage packages: the demo, ``reconstruct``, inference
(:mod:`.lift` — both checkpoints held together, the API ``infer`` and ``eval`` share —,
:mod:`.infer`, :mod:`.infer_video`)."""
