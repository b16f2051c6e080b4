"""affectlens on a Ray cluster (issue 15): camera workers as Ray actors, offline inputs as Ray
tasks. Ray is an optional extra (``pip install 'affectlens[cluster]'``): nothing outside this
package imports it, and this package imports it only when a cluster is asked for, so the
embedded default (one machine, local processes) stays as small as it was.

Layers: this package sits above the live service and the offline analysis (it drives both)
and below the command line, which is the only caller (``serve --cluster``,
``analyze --cluster``); pyproject.toml's import-linter contract checks it.
"""
