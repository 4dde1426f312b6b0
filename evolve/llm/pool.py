"""A weighted pool of models: each proposal draws one model by weight."""

from __future__ import annotations

import random

from evolve.config import ModelEntry


class ModelPool:
    def __init__(self, models: list[ModelEntry]):
        if not models:
            raise ValueError("the model pool is empty")
        self.models = list(models)

    def pick(self, rng: random.Random) -> ModelEntry:
        return rng.choices(self.models, weights=[m.weight for m in self.models])[0]
