"""start_asc_pipeline(): mxRec's call that starts key processing.

Here the key pipeline has no thread of its own: its stateless half runs inside
tf.data (get_asc_insert_func) and its stateful half inside the step, so a
script that forgets this call still trains, and one that makes it gets a last
check of its FeatureSpec lookups before the first step.
"""

from mx_rec.util.initialize import get_config


def start_asc_pipeline():
    """Checks that every table a FeatureSpec lookup uses still exists; returns the features."""
    config = get_config()
    for feature, table in config.looked_up_features.items():
        table.check_usable()
    return sorted(config.looked_up_features)
