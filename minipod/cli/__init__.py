"""The `minipod` command: kubectl's verbs, columns, messages and exit codes.

main.py is the entry point and the fast path of `up -d` and `delete pod`
(the standard library's C halves only); parser.py is the full argparse CLI,
which imports each verb's module when that verb runs; views/ renders what
supervisors recorded (get, describe, logs, ps, inspect: one module each).

May import: every other layer. Imports inside functions are allowed here,
and only here, to keep each command's start-up short; each says so.
"""
