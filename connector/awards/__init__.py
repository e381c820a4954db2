"""Award decisions: the learner's evidence is evaluated against the school's templates, and every
earned template becomes one Award (unique per learner, template and version) plus its outbox rows,
written in the same transaction."""
