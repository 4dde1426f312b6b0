"""Constant tuning: a program's numeric literals as parameters, searched on the training set."""
