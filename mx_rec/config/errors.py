"""ConfigError: what is wrong with a pipeline config, field by field."""

from typing import NamedTuple


class Problem(NamedTuple):
    """One thing wrong: `path` is the field's dotted path (list entries as
    [i]), e.g. "train_config.optimizer_config[0].adam_optimizer.beta1", or ""
    for the file as a whole; `message` says what is wrong and what is allowed."""

    path: str
    message: str

    def __str__(self):
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(ValueError):
    """A pipeline config that cannot be used. `problems` lists every Problem
    found; `source` names the config (a file path, or a description)."""

    def __init__(self, problems, source=""):
        self.problems = tuple(problems)
        self.source = source
        where = f"pipeline config {source}" if source else "pipeline config"
        if len(self.problems) == 1:
            text = f"{where}: {self.problems[0]}"
        else:
            text = f"{where}: {len(self.problems)} problems\n" + "\n".join(
                f"  {problem}" for problem in self.problems)
        super().__init__(text)

    @classmethod
    def at(cls, path, message):
        """A ConfigError with one Problem."""
        return cls([Problem(path, message)])


class Problems:
    """Collects the problems of several independent checks: each check that
    raises ConfigError adds its problems, and raise_if_any() raises them all."""

    def __init__(self):
        self.found = []

    def check(self, function, *args):
        """function(*args), recording a ConfigError it raises; returns its
        result, or None when it raised."""
        try:
            return function(*args)
        except ConfigError as error:
            self.found.extend(error.problems)
            return None

    def add(self, path, message):
        self.found.append(Problem(path, message))

    def check_name(self, name, seen, path):
        """Adds a problem at `path` if `name` is empty or in `seen` (the names
        of the entries before); adds it to `seen`."""
        if not name:
            self.add(path, "is required")
        elif name in seen:
            self.add(path, f"{name!r} is listed twice")
        seen.add(name)

    def raise_if_any(self, source=""):
        if self.found:
            raise ConfigError(self.found, source)
