"""One module per chapter: the pipeline a chapter notebook calls (training, evaluation, tables, claims, chapter figures and explorers)."""
