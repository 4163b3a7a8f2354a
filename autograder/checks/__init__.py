"""Chapter checks, called from the notebooks' test cells."""
