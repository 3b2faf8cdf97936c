# Warm-start study: settings, registered targets and input functions of rules/warmstart.smk.

WARMSTART = config["warmstart"]
WARMSTART_DIR = "results/warmstart"
WARMSTART_PROBLEMS = list(WARMSTART["problems"])
WARMSTART_TABLE = expand("results/tables/warmstart.{ext}", ext=["csv", "md"])
WARMSTART_ITERATIONS = expand("results/figures/warmstart_iterations.{ext}", ext=["png", "pdf"])
WARMSTART_TRANSFER = "results/figures/warmstart_transfer.png"
WARMSTART_PROBLEM = "|".join(map(re.escape, WARMSTART_PROBLEMS))
if WARMSTART["transfer_figure"]["problem"] not in WARMSTART_PROBLEMS:
    raise ValueError(
        f"warmstart.transfer_figure.problem: {WARMSTART['transfer_figure']['problem']!r} is "
        f"not one of warmstart.problems ({', '.join(WARMSTART_PROBLEMS)})"
    )
if WARMSTART["reference"]["problem"] not in WARMSTART_PROBLEMS:
    raise ValueError(
        f"warmstart.reference.problem: {WARMSTART['reference']['problem']!r} is not one of "
        f"warmstart.problems ({', '.join(WARMSTART_PROBLEMS)})"
    )

register_study("warmstart", [*WARMSTART_TABLE, *WARMSTART_ITERATIONS, WARMSTART_TRANSFER])


def warmstart_images():
    """The COCO images (data.coco.images, else the zip `retrieve` downloads); the bundled
    photographs ship with their packages and have no input file."""
    if WARMSTART["source"] != "coco":
        return {}
    return {"images": config["data"]["coco"]["images"] or raw_file("coco/val2017.zip")}


def warmstart_settings(*keys, problem=None):
    """The parts of the `warmstart` section a rule reads (each rule is given only those),
    with one problem's settings as `problem`."""
    out = {key: WARMSTART[key] for key in keys}
    if problem is not None:
        out["problem"] = WARMSTART["problems"][problem]
    return out


def warmstart_models(wildcards):
    """Model files of the learned initializers evaluated, for one problem."""
    rules = {
        "learned_potentials": "potential_model",
        "learned_plan": "plan_model",
    }
    return {
        name: f"{WARMSTART_DIR}/{wildcards.problem}/{model}.npz"
        for name, model in rules.items()
        if name in WARMSTART["initializers"]
    }


def warmstart_evaluations(wildcards=None):
    return {problem: f"{WARMSTART_DIR}/{problem}/evaluation.json" for problem in WARMSTART_PROBLEMS}
