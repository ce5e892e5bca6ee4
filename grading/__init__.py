"""Instructor tooling: make the student copies and grade submissions that may be hostile.

Kept apart from ``utils`` (which students import). One module per step:

- ``notebook``: the markers in ``solutions/`` and what role each cell plays;
- ``generate``: the student copy (``exercises/``) from a solution;
- ``probe``: the recorder the hidden probes use (self-contained);
- ``match``: which assignment a submitted file is;
- ``assemble``: what is actually run for a submission: its cells, and the probes apart;
- ``sandbox``: bubblewrap, limits, a user of its own for every run;
- ``runner``: the plain-Python program inside the sandbox: the cells, then the probes;
- ``execute``: one run in the sandbox, driven and timed from outside, its values out;
- ``forbid``: which functions an answer may not use, read from its source;
- ``judge``: the grader's verdict, from the recorded values and the reference's;
- ``report``: gradebook CSV, verdict JSON, written answers, terminal lines (hostile names escaped);
- ``feedback``: the feedback HTML page (sanitised, capped, time-limited);
- ``result``: one submission's outcome, as written to its JSON file;
- ``cluster``: the Dask workers' check and the task each runs (local processes or a cluster);
- ``batch`` / ``__main__``: many submissions, in parallel, from the command line.

Conventions in ``solutions/NN_name.ipynb`` (see the README's teaching section):

- ``### BEGIN SOLUTION`` / ``### END SOLUTION`` around answer code (replaced by
  ``# YOUR CODE HERE`` / ``raise NotImplementedError()``) and written answers
  (``YOUR ANSWER HERE``);
- ``# CHECK q (n points)`` starts a visible self-check: it names question ``q`` and its
  points, tests properties only, and never counts for the grade;
- ``# PROBE q`` starts a hidden cell (dropped from the student copy) that runs the student's
  code on inputs the student never sees and records the results with ``probe.record``;
  ``# PROBE SETUP`` is the hidden cell that imports the recorder;
- ``# SOLUTION ONLY`` (code) or ``<!-- SOLUTION ONLY -->`` (markdown) as the first line
  keeps a cell out of the student copy;
- ``# SKIP WHEN GRADING`` as the first line: a slow cell the grader does not run.
"""
