"""NEAT training stage: losses (paper eqs. 3-8), the trainer, baselines, reward models and evaluation."""
