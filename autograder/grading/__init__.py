"""Grading a cohort with nbgrader: intake, sandboxed parallel autograding, feedback, reports.

* ``cli``           ``python -m autograder grade CHAPTER [SUBMISSIONS]``
* ``intake``        folders and LMS zips -> checked, repaired submissions
* ``template``      the chapter's source + gradebook, made once
* ``runner``        N worker subprocesses at a time, time and memory backstops, records
* ``worker``        one submission: nbgrader ``Autograde`` in a scratch course
* ``sandbox``       each worker's slot folders, kernelspec, Linux namespaces when available
* ``kernel_boot``   the slot's kernel launcher: sandboxed and preloaded once, forks a kernel per
                    submission; ``launcher``: its worker side (a jupyter_client provisioner)
* ``guard``         audit hook and tamper guard, installed in every forked kernel
* ``preprocessors`` guard cells, deadline, dead kernels; ``integrity``: static scan
* ``feedback``      hidden tests removed; ``records``: JSON, CSV; ``report``: HTML
"""
