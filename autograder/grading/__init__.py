"""Grading a cohort with nbgrader: intake, sandboxed parallel autograding, feedback, reports.

* ``cli``           ``python -m autograder grade CHAPTER [SUBMISSIONS]``
* ``intake``        folders and LMS zips -> checked, repaired submissions
* ``template``      the chapter's source + gradebook, made once
* ``runner``        N worker subprocesses at a time, time and memory backstops, records
* ``worker``        one submission: nbgrader ``Autograde`` in a scratch course
* ``sandbox``       scratch folders, kernelspec, Linux namespaces when available
* ``kernel_boot``   the grading kernel's entry point; ``guard``: audit hook and tamper guard
* ``preprocessors`` guard cells, deadline, dead kernels; ``integrity``: static scan
* ``feedback``      hidden tests removed; ``records``: JSON, CSV; ``report``: HTML
"""
