"""Pure-Python references of the compiled core, used by the contract tests only."""
