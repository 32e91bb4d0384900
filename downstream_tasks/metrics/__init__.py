"""Task metrics that mirror s3prl's definitions (text metrics for PR, ASR and SF live in
:mod:`downstream_tasks.metrics.text`)."""
