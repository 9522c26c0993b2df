"""The writing steps use cases share: one version registered from files
(``registration.py``) and a model's requested stages (``stages.py``)."""
