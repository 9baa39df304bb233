"""edgelearn.experiment."""
