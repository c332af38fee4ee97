"""Optuna's side of benches/tpe_proposal.rs: the median time of TPESampler proposing one trial
(study.ask() with every parameter sampled) for each given history, univariate and
multivariate, constant liar on. Input: a JSON file written by the bench; output: JSON
{"FINISHED/univariate": ms, "FINISHED/multivariate": ms, ...} on stdout."""
import json
import statistics
import sys
import time
import warnings

import optuna
from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                  IntDistribution)

warnings.filterwarnings("ignore")
optuna.logging.set_verbosity(optuna.logging.ERROR)

DISTRIBUTIONS = {
    "train.learning_rate": FloatDistribution(1e-5, 1e-1, log=True),
    "lora.lora_dropout": FloatDistribution(0.0, 0.5),
    "train.batch_size": IntDistribution(4, 64, step=4),
    "lora.r": CategoricalDistribution([2, 4, 8, 16, 32, 64]),
    "lora.lora_alpha": IntDistribution(1, 64),
    "lora.target_modules": CategoricalDistribution(["q,v", "q,k,v,o", "q"]),
}


def study_with(trials, multivariate, seed):
    sampler = optuna.samplers.TPESampler(
        seed=seed, multivariate=multivariate, constant_liar=True)
    study = optuna.create_study(sampler=sampler)
    for t in trials:
        state = (optuna.trial.TrialState.COMPLETE if t["value"] is not None
                 else optuna.trial.TrialState.RUNNING)
        study.add_trial(optuna.trial.create_trial(
            params=t["params"], distributions=DISTRIBUTIONS, value=t["value"],
            state=state))
    return study


def main():
    spec = json.load(open(sys.argv[1]))
    result = {}
    for s in spec["studies"]:
        for mode, multivariate in (("univariate", False), ("multivariate", True)):
            times = []
            for i in range(spec["repeats"]):
                study = study_with(s["trials"], multivariate, i)
                start = time.perf_counter()
                trial = study.ask()
                for name, dist in DISTRIBUTIONS.items():
                    trial._suggest(name, dist)
                times.append((time.perf_counter() - start) * 1e3)
            result[f"{s['finished']}/{mode}"] = statistics.median(times)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
