"""The end of a run: its metrics as JSON and its curves as a PNG.

``write_metrics`` writes whatever dict it is given (final metrics, the
configuration, curves, times) as indented JSON. ``plot_curves`` draws the
training loss against the step (left) and each eval AUC against the step
(one panel each, to the right) with matplotlib, without a display.
"""
import json
import os


def write_metrics(path, metrics):
    """metrics (JSON-serialisable dict) -> path; the directory is made."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(metrics, f, indent=1, sort_keys=True)
        f.write("\n")


def plot_curves(path, title, loss_curve, auc_curves, targets=None):
    """A PNG: the training loss [(step, loss)] and, one panel each, the eval
    AUC curves {name: [(step, auc)]}; targets {name: auc} are drawn dashed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(auc_curves)
    fig, axes = plt.subplots(1, 1 + len(names), figsize=(4.6 * (1 + len(names)), 4.2))
    steps, losses = zip(*loss_curve)
    axes[0].plot(steps, losses, color="tab:blue")
    axes[0].set(title="training loss", xlabel="step", ylabel="mean loss since the last point")
    for ax, name, color in zip(axes[1:], names, ("tab:orange", "tab:green", "tab:red")):
        steps, aucs = zip(*auc_curves[name])
        ax.plot(steps, aucs, marker="o", markersize=3, color=color, label="eval AUC")
        if targets and name in targets:
            ax.axhline(targets[name], color="gray", linestyle="--",
                       label="target %.3f" % targets[name])
        ax.set(title="%s: eval AUC (last %.4f)" % (name, aucs[-1]), xlabel="step", ylabel="AUC")
        ax.legend(loc="lower right")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
