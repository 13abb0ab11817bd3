"""Settings package: `base` reads the environment; `test` and `production` override."""
