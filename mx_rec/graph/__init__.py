"""Automatic graph modification (zero-code-change mode).

modifier.py  the public call and Estimator/MonitoredTrainingSession hook
pending.py   lookups built with modify_graph=True, waiting to be moved
iterators.py the iterator feeding a lookup, and its keyed replacement
surgery.py   rerouting consumers between tensors (TF private API, isolated)
"""
