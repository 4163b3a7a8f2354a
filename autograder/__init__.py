"""Autograder for the course: reference implementations, checks and the grading CLI.

* ``autograder.core``      comparison, tolerances, messages, scoring helpers
* ``autograder.reference`` reference computations (TensorFlow ops, Keras models)
* ``autograder.checks.*``  one module per chapter: public and hidden checks
"""
