"""The ``handconv`` commands: one thin module per command over the library.

Each module named in :data:`COMMANDS` provides ``add_parser(subparsers)``, which
adds its subparser with examples in its ``--help`` and sets ``func`` (called with
the parsed namespace, returning an exit code). Shared option types live in
:mod:`handconv.commands.args`. Command modules import heavy libraries
(matplotlib, TensorFlow, ...) inside their functions so that ``handconv --help``
stays fast. The library never imports from here.

A new command: one module here and one line in :data:`COMMANDS`.
"""

#: Command modules, in the order ``handconv --help`` lists them.
COMMANDS = [
    "handconv.commands.demo",
    "handconv.commands.explain",
    "handconv.commands.kernels",
    "handconv.commands.filter",
    "handconv.commands.verify",
    "handconv.commands.modes",
    "handconv.commands.train_digits",
]
