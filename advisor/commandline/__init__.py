"""What the command modules share: the one error-to-exit mapping (`exits`) and click parameter types for numbers
(`params`). Click is imported here and in the command modules only (advisor/cli.py, advisor/analyses/cli.py,
backends/commands.py, advisor/web/command.py); library code raises InputError and never exits."""
