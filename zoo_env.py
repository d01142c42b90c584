"""TensorFlow process defaults for the zoo's command line, and for applications that opt in.

`import zoo` changes nothing in its host process. The `zoo` command (whose entry point is
`main` here) and the benchmarks run with:

    TF_ENABLE_ONEDNN_OPTS=1   oneDNN kernels: on the 2-core AVX2 CPU the zoo is developed on,
                              roughly half the step time of TensorFlow's default (Eigen) for the
                              byte autoencoder and the LSTMs (see the README's speed tables)
    TF_CPP_MIN_LOG_LEVEL=3    oneDNN's fusion of a dense layer, its residual sum and ReLU makes
                              grappler log a spurious "empty op name" error per trace; Python
                              errors still raise

Both must be set before TensorFlow is first imported, which is why this module lives outside
the `zoo` package (importing `zoo` imports TensorFlow). An application opts in with

    import zoo_env; zoo_env.apply()     # first thing, before importing tensorflow or zoo

or by setting the variables itself; variables already set are left as they are.
"""
from __future__ import annotations

import os
import sys
import warnings

DEFAULTS = {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def apply(defaults: dict[str, str] | None = None) -> dict[str, str]:
    """Set each default that is not set yet; returns the values now in the environment.

    Warns when TensorFlow is already imported, because the settings then have no effect."""
    values = DEFAULTS if defaults is None else defaults
    if "tensorflow" in sys.modules:
        warnings.warn("zoo_env.apply() was called after TensorFlow was imported; TF_ENABLE_ONEDNN_OPTS "
                      "and TF_CPP_MIN_LOG_LEVEL only take effect before it", RuntimeWarning, stacklevel=2)
    for key, value in values.items():
        os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in values}


def main(argv=None) -> int:
    """The `zoo` command: apply the defaults, then run `zoo.cli`."""
    import signal

    apply()
    # Importing TensorFlow takes seconds in which Ctrl-C may land, and some imported code catches
    # every exception (KeyboardInterrupt included) and carries on: remember the signal itself.
    interrupted = []

    def on_sigint(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    import threading

    main_thread = threading.current_thread() is threading.main_thread()  # signal.signal needs it
    previous = signal.signal(signal.SIGINT, on_sigint) if main_thread else None
    try:
        from zoo.cli import main as run
    except KeyboardInterrupt:
        interrupted.append(signal.SIGINT)
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)
    if interrupted:
        print("zoo: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, as zoo.cli.main returns it
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
