"""The columns of a UCI Census-Income (KDD) line and what the example makes of them.

A raw line holds 42 comma-separated fields (no header). Field names follow
the UCI description, in snake case; they are also the feature names of the
TFRecord files ``census.py`` writes (and of examples/configs/mmoe_census.config).

* ``NUMERIC``: 7 numbers, dense features (float32).
* ``RAW_CATEGORICAL``: 32 columns, each a category string (some, like the
  industry and occupation recodes or the year, are codes written as
  numbers: still categories). Each becomes one int64 id (census.py).
* ``BUCKETS``: each numeric column once more, as a category: which of
  ``NUM_BUCKETS`` training quantile ranges of its non-zero values it falls
  in, or 0 for zero (census.py), named ``<column>_bucket``.
* ``marital_stat`` and ``income``: the sources of the two labels,
  ``marital`` (1 = "Never married") and ``income`` (1 = "50000+.").
* ``instance_weight``: the survey's sampling weight, not an attribute of
  the person: not used.
"""
import tensorflow as tf

RAW_COLUMNS = (
    "age", "class_of_worker", "detailed_industry_recode",
    "detailed_occupation_recode", "education", "wage_per_hour",
    "enroll_in_edu_inst_last_wk", "marital_stat", "major_industry_code",
    "major_occupation_code", "race", "hispanic_origin", "sex",
    "member_of_a_labor_union", "reason_for_unemployment",
    "full_or_part_time_employment_stat", "capital_gains", "capital_losses",
    "dividends_from_stocks", "tax_filer_stat", "region_of_previous_residence",
    "state_of_previous_residence", "detailed_household_and_family_stat",
    "detailed_household_summary_in_household", "instance_weight",
    "migration_code_change_in_msa", "migration_code_change_in_reg",
    "migration_code_move_within_reg", "live_in_this_house_1_year_ago",
    "migration_prev_res_in_sunbelt", "num_persons_worked_for_employer",
    "family_members_under_18", "country_of_birth_father",
    "country_of_birth_mother", "country_of_birth_self", "citizenship",
    "own_business_or_self_employed",
    "fill_inc_questionnaire_for_veterans_admin", "veterans_benefits",
    "weeks_worked_in_year", "year", "income")

NUMERIC = ("age", "wage_per_hour", "capital_gains", "capital_losses",
           "dividends_from_stocks", "num_persons_worked_for_employer",
           "weeks_worked_in_year")
# Heavy-tailed amounts: log(1 + x) before standardising.
LOG_SCALED = ("wage_per_hour", "capital_gains", "capital_losses",
              "dividends_from_stocks")
UNUSED = ("instance_weight",)
LABEL_SOURCES = ("income", "marital_stat")
NUM_BUCKETS = 16
BUCKETS = tuple(name + "_bucket" for name in NUMERIC)
RAW_CATEGORICAL = tuple(c for c in RAW_COLUMNS if c not in NUMERIC + UNUSED + LABEL_SOURCES)
# The id columns: the raw categorical ones, then the buckets.
CATEGORICAL = RAW_CATEGORICAL + BUCKETS

# The tasks, as TFRecord int64 features (0/1).
LABEL_NAMES = ("income", "marital")
# What the raw income column may hold: "- 50000." (0) or "50000+." (1).
INCOME_VALUES = {"- 50000.": 0, "50000+.": 1}
NEVER_MARRIED = "Never married"


def parse_spec():
    """tf.io.parse_example features of one TFRecord row (census.py's output)."""
    spec = {name: tf.io.FixedLenFeature([], tf.int64) for name in LABEL_NAMES}
    spec.update((name, tf.io.FixedLenFeature([], tf.float32)) for name in NUMERIC)
    spec.update((name, tf.io.FixedLenFeature([], tf.int64)) for name in CATEGORICAL)
    return spec
