"""Bad configurations are refused before any job runs, one line per problem naming its key
path, never the schema; schema limits agree with the solver's own checks."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import pytest
import yaml
from conftest import DEFAULT_CONFIG, ROOT

from hiref import AuthorsSettings, HiRefConfig
from hiref import workflow_config as wc
from hiref.datasets import synthetic
from hiref.settings import properties, setting
from hiref.validation import check_config

SCHEMA = wc.load_schema(ROOT / "config" / "schema.yaml")
# Studies the rules files register (register_study("name", ...)).
STUDIES = {name for smk in (ROOT / "rules").glob("*.smk")
           for name in re.findall(r'register_study\(\s*"(\w+)"', smk.read_text())}
# What rules/*.smk register: the synthetic pairs and the real datasets the defaults name.
DATASETS = {*synthetic.PAIRS, *(
    name for experiment in yaml.safe_load(DEFAULT_CONFIG.read_text())["experiments"].values()
    for name in experiment["datasets"]
)}


def checked(change: dict) -> dict:
    """The default config with ``change`` merged in (as a user's --configfile would be),
    schema-validated and checked like the Snakefile does."""
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())

    def merge(base, update):
        for key, value in update.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value

    merge(config, copy.deepcopy(change))
    wc.validate(config, SCHEMA)
    wc.check_experiments(config, DATASETS, STUDIES, SCHEMA)
    return config


def synthetic_settings(settings):
    return {"experiments": {"synthetic": {"settings": settings}}}


BAD = {
    # change -> fragments of the one-line message
    "unknown top-level key": ({"colour": "red"}, ["config: Additional properties", "'colour'"]),
    "wrong cost": ({"experiments": {"synthetic": {"cost": "manhattan"}}},
                   ["experiments.synthetic.cost", "'manhattan' is not one of"]),
    "empty datasets": ({"experiments": {"synthetic": {"datasets": []}}},
                       ["experiments.synthetic.datasets"]),
    "n not a list": ({"experiments": {"scaling": {"n": 1024}}}, ["experiments.scaling.n"]),
    "negative seed": ({"experiments": {"scaling": {"seeds": [-1]}}},
                      ["experiments.scaling.seeds.0", "minimum"]),
    "LOT scale_cost not a rule": ({"methods": {"lot": {"scale_cost": "meen"}}},
                                  ["methods.lot.scale_cost", "'meen'"]),
    "LOT scale_cost not positive": ({"methods": {"lot": {"scale_cost": 0}}},
                                    ["methods.lot.scale_cost"]),
    "seed of 2^64": ({"experiments": {"scaling": {"seeds": [0, 2**64]}}},
                     ["experiments.scaling.seeds.1", "maximum of 18446744073709551615"]),
    "unknown method setting": ({"methods": {"sinkhorn": {"epsilom": 0.1}}},
                               ["methods.sinkhorn", "'epsilom'"]),
    "depth the solver refuses": ({"methods": {"hiref_refined": {"depth": 1}}},
                                 ["methods.hiref_refined.depth", "less than the minimum of 2"]),
    "bad sweep value": ({"methods": {"minibatch": {"batch_size": [0]}}},
                        ["methods.minibatch.batch_size"]),
    "gpu count negative": ({"resources": {"gpu": -1}}, ["resources.gpu"]),
    # Per-experiment settings: the same schema as `methods`, named by their own key path.
    "setting of wrong type": (synthetic_settings({"hiref": {"max_rank": "big"}}),
                              ["experiments.synthetic.settings.hiref.max_rank",
                               "'big' is not of type 'integer'"]),
    "max_n as text": (synthetic_settings({"sinkhorn": {"max_n": "all"}}),
                      ["experiments.synthetic.settings.sinkhorn.max_n", "'all'"]),
    "typo in experiment setting": (synthetic_settings({"hiref": {"max_rnk": 8}}),
                                   ["experiments.synthetic.settings.hiref", "'max_rnk'"]),
    "depth 1 in an experiment": (synthetic_settings({"hiref_refined": {"depth": 1}}),
                                 ["experiments.synthetic.settings.hiref_refined.depth"]),
    "settings of unknown method": (synthetic_settings({"simplex": {}}),
                                   ["experiments.synthetic.settings", "'simplex'"]),
    # Settings by n: each entry's settings under the same schema; a bound is required.
    "setting by n of wrong type": (
        {"experiments": {"scaling": {"settings_by_n": {
            "hiref": [{"up_to_n": 100, "settings": {"max_rank": "big"}}]}}}},
        ["experiments.scaling.settings_by_n.hiref[0].settings.max_rank", "'big'"]),
    "setting by n without its bound": (
        {"experiments": {"scaling": {"settings_by_n": {"hiref": [{"settings": {}}]}}}},
        ["experiments.scaling.settings_by_n.hiref.0", "'up_to_n' is a required property"]),
    "settings by n of unknown method": (
        {"experiments": {"scaling": {"settings_by_n": {
            "simplex": [{"up_to_n": None, "settings": {}}]}}}},
        ["experiments.scaling.settings_by_n", "'simplex'"]),
    "unknown method": ({"experiments": {"synthetic": {"methods": ["hiref", "simplex"]}}},
                       ["experiments.synthetic.methods", "'simplex'", "bspot"]),
    "label value refused": ({"experiments": {"synthetic": {"methods": ["minibatch-0"]}}},
                            ["experiments.synthetic.methods[minibatch-0].batch_size",
                             "less than the minimum of 1"]),
    "label on a method without sweep": ({"experiments": {"synthetic": {"methods": ["exact-4"]}}},
                                        ["'exact-4'"]),
    "unknown dataset": ({"experiments": {"scaling": {"datasets": ["mnist"]}}},
                        ["experiments.scaling.datasets", "'mnist'", "halfmoon_scurve"]),
    "unknown experiment in run": ({"run": ["synthetc"]}, ["run", "'synthetc'", "scaling"]),
    "unknown figure experiment": ({"figures": {"alignment": "nope"}}, ["figures.alignment"]),
    "alignment label refused": ({"figures": {"alignment_methods": ["minibatch-0"]}},
                                ["figures.alignment_methods[minibatch-0]"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_configuration_is_one_clear_line(case):
    change, fragments = BAD[case]
    with pytest.raises(wc.ConfigError) as err:
        checked(change)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert "$defs" not in message and "description" not in message  # never the schema
    assert len(message) < 600, message


def test_every_problem_is_listed_at_once():
    with pytest.raises(wc.ConfigError) as err:
        checked({"run": ["synthetc"], **synthetic_settings({"hiref": {"max_rank": "big"}})})
    assert "'synthetc'" in str(err.value) and "max_rank" in str(err.value)


def test_valid_configs_get_defaults_without_sharing_them():
    config = checked({})
    assert config["resources"]["gpu"] == 1 and config["methods"]["exact"]["max_n"] == 4096
    experiments = config["experiments"]
    # Each experiment gets its own copy of a default, never the schema's object.
    assert experiments["synthetic"]["n_by_dataset"] is not experiments["coco"]["n_by_dataset"]
    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    checked(paper)


#: Each HiRef variant's schema block and the settings class whose constructor checks it:
#: hiref (the authors' algorithm) has AuthorsSettings (min_iter 1, so that the smallest
#: max_iter is tried alone), hiref_refined (ours) HiRefConfig.
HIREF_BLOCKS = {name: SCHEMA["properties"]["methods"]["properties"][name]["properties"]
                for name in ("hiref", "hiref_refined")}
SETTINGS_CLASSES = {"hiref": lambda **kw: AuthorsSettings(**{"min_iter": 1, **kw}),
                    "hiref_refined": lambda **kw: check_config(HiRefConfig(**kw))}


@pytest.mark.parametrize("method, field", [
    (method, field) for method, fields in HIREF_BLOCKS.items() for field, spec in fields.items()
    if spec.get("type") == "integer" and field != "max_n"
])
def test_schema_limits_are_the_solvers(method, field):
    """The smallest value the schema accepts is the smallest the solver accepts."""
    low = HIREF_BLOCKS[method][field]["minimum"]
    SETTINGS_CLASSES[method](**{field: low})
    with pytest.raises(ValueError):
        SETTINGS_CLASSES[method](**{field: low - 1})


def test_schedule_limits_are_the_solvers():
    schedule = HIREF_BLOCKS["hiref_refined"]["schedule"]
    check_config(HiRefConfig(schedule=(schedule["items"]["minimum"],)))
    with pytest.raises(ValueError):
        check_config(HiRefConfig(schedule=(schedule["items"]["minimum"] - 1,)))
    assert schedule["minItems"] == 1
    with pytest.raises(ValueError):
        check_config(HiRefConfig(schedule=()))


def test_every_key_is_documented_with_a_default():
    """Every key has a description and a default (unless the user must give it); a null
    default says what null means."""
    for path, description, default in wc.schema_keys(SCHEMA):
        assert description, f"{path}: no description in config/schema.yaml"
        if default is None and not path.endswith("<name>"):
            assert "null" in description.lower(), f"{path}: what does null mean?"


def test_config_readme_lists_every_key():
    readme = (ROOT / "config" / "README.md").read_text()
    marker = "<!-- generated by"
    assert readme.split(marker)[1].split("\n", 2)[2] == wc.keys_markdown(SCHEMA), (
        "config/README.md is out of date: run `make config-docs`"
    )


def test_schema_has_no_stray_keywords():
    """A comma in an unquoted YAML flow mapping splits a description into a stray key."""
    keywords = {"description", "type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                "default", "enum", "items", "minItems", "uniqueItems", "additionalProperties",
                "properties", "required", "$ref", "oneOf", "pattern", "minProperties",
                "propertyNames"}

    def walk(node, path):
        if "properties" in node:
            for name, child in node["properties"].items():
                stray = set(child) - keywords
                assert not stray, f"{path}.{name}: stray keys {stray}"
                walk(child, f"{path}.{name}")

    walk(SCHEMA, "config")
    for name, definition in SCHEMA["$defs"].items():
        walk(definition, f"$defs.{name}")


def test_a_settings_field_reaches_the_schema_with_its_doc_type_limits_and_default():
    """A field declared with a plain default and described in the class docstring (as a new
    solver setting may be) is documented, typed and defaulted like one given by `setting`."""

    @dataclass(frozen=True)
    class Settings:
        """Settings of a solver.

        Attributes:
          steps, sweeps: how many ``steps``,
            at most.
          ratio: (its `setting` doc is used instead).
        """

        steps: int = 3
        sweeps: tuple[int, ...] | None = None
        ratio: float = setting(0.5, "A ratio.", exclusiveMinimum=0, maximum=1)

    assert properties(Settings()) == {
        "steps": {"description": "how many `steps`, at most.", "type": "integer", "default": 3},
        "sweeps": {"description": "how many `steps`, at most.", "type": ["array", "null"],
                   "items": {"type": "integer"}, "default": None},
        "ratio": {"description": "A ratio.", "type": "number", "exclusiveMinimum": 0,
                  "maximum": 1, "default": 0.5},
    }
