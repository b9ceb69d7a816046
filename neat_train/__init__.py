"""NEAT training stage: losses (paper eqs. 3-8), the trainer, baselines, reward models and evaluation."""

#: per-step losses of a training run (written by ``NeatTrainer.log``, read by summaries and plots)
TRAIN_LOG = "train_log.jsonl"
