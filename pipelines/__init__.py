"""Named, ready-made recipes: one file per recipe, each with ``build(**settings)`` and ``GRID``.

Settings every recipe accepts (and may ignore): ``image_size``, ``device``,
``epochs``, ``batch_size``, ``augment``, ``random_state``, ``progress``; the CNN
recipes also take ``backbone`` and ``weights`` (the command line passes them only
when ``--backbone`` / ``--weights`` are given).
"""
