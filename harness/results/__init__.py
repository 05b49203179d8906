"""What a run measured: typed records, histograms, repetitions and noise, comparisons between runs."""
