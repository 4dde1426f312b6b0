"""Prompt assembly from the text templates in ``templates/``."""
