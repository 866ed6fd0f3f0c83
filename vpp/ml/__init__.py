"""Machine learning: forecasting (darts) and, later, optimisation."""
