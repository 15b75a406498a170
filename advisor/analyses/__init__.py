"""The analyses of a verdict: how robust it is to the weights (sensitivity), what changes it (what-if), where the
rule base is weak over every answer (exhaustive), which question to ask next (adaptive), fitting the weights
to cases (calibrate), what each approach costs (costs), whether a prompt could do (promptfirst), and the bundle
that `recommend` and the reports show (bundle, with its commands in cli).

Each module imports its heavy dependencies (numpy, scikit-learn) itself, so importing this package is cheap.
"""
